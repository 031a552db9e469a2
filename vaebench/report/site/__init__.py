"""A static results site: DIR/site/index.html (+ assets/) and a comparison page.

Static files only, no server, no network: the page's data is JSON embedded in the HTML (a
`<script type="application/json">` block, so it opens from file:// where fetch() is refused) and
the page is drawn by `static/vaebench.js`, about 300 lines of plain JavaScript written for this
(no library: what it does is a sortable, filterable table, small SVG line charts and a detail
panel; a library would be a vendored dependency larger than that, with a build or CDN habit).
Every link is relative and stays inside the results folder (`../plots/`, `../runs/`), so the
folder can be opened locally, zipped or published as it is (GitHub Pages: .github/workflows/pages.yml).

The comparison page is one self-contained file (script and style inlined), since it is written
wherever `compare --html OUT` points.
"""

from __future__ import annotations

from pathlib import Path

from vaebench.report.site.compare_data import compare_data
from vaebench.report.site.data import site_data
from vaebench.report.site.render import write_page

__all__ = ["write_compare_page", "write_site"]


def write_site(records: list[dict], rows: list[dict], folder: Path, marks: list[dict] | None = None) -> Path:
    """Writes folder/site/index.html and folder/site/assets/; returns the page's path.
    `marks`: points to ring on the metric charts (the hook for `recommend`), see `site_data`."""
    folder = Path(folder)
    return write_page(site_data(records, rows, folder, marks), folder / "site" / "index.html", inline=False)


def write_compare_page(cmp, out: Path) -> Path:
    """Writes the comparison page of a `compare.Comparison` to out (one file)."""
    out = Path(out)
    return write_page(compare_data(cmp, title=f"vaebench compare: {out.stem}"), out, inline=True)
