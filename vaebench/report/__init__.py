"""Records → table (Markdown, CSV), plots and the static site (site/index.html).
`build_report(folder)` does all of it."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from vaebench.errors import UserError


def recommend_marks(folder: Path) -> list[dict]:
    """The choices of `vaebench recommend` (DIR/recommend.csv, when it exists) as plot marks."""
    from vaebench.report.recommend import marks_from_csv

    path = folder / "recommend.csv"
    return marks_from_csv(path.read_text()) if path.is_file() else []


@contextmanager
def writing(step: str, folder: Path):
    """An OSError while writing `step` (a full disk, a read-only folder) becomes one line that
    says which step failed, that the run records are untouched (the report only reads them, and
    every file is written atomically: no torn or temporary files stay) and how to rebuild."""
    try:
        yield
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        raise UserError(f"writing the {step} failed ({exc.strerror or exc}{where}); the run records in {folder / 'runs'} "
                        f"are safe: free space (or fix the folder) and `python -m vaebench report {folder}` rebuilds "
                        "the table, plots and site") from None


def build_report(folder: Path, announce=None) -> dict:
    """Tables, plots and site from `folder`'s records; `announce(n_records)` is called once the
    records are read, before the (slow) plots."""
    from vaebench.store import load_records, mixed_code_line

    folder = Path(folder)
    records = load_records(folder)
    if announce is not None:
        announce(len(records))
    from vaebench.report.plots import write_plots  # matplotlib: imported only when plots are due
    from vaebench.report.site import write_site
    from vaebench.report.table import write_tables

    with writing("tables (table.md, table.csv)", folder):
        rows = write_tables(records, folder)
    marks = recommend_marks(folder)
    with writing("plots (plots/)", folder):
        plots = write_plots(records, rows, folder / "plots", marks)
    with writing("site (site/index.html)", folder):
        site = write_site(records, rows, folder, marks)  # after the plots: the page links the figures that exist
    return {"records": len(records), "rows": len(rows), "plots": plots, "site": str(site), "mixed_code": mixed_code_line(records)}
