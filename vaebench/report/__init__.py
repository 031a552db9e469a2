"""Records → table (Markdown, CSV), plots and the static site (site/index.html).
`build_report(folder)` does all of it."""

from __future__ import annotations

from pathlib import Path

from vaebench.report.plots import write_plots
from vaebench.report.recommend import marks_from_csv
from vaebench.report.site import write_site
from vaebench.report.table import write_tables
from vaebench.store import load_records


def recommend_marks(folder: Path) -> list[dict]:
    """The choices of `vaebench recommend` (DIR/recommend.csv, when it exists) as plot marks."""
    path = folder / "recommend.csv"
    return marks_from_csv(path.read_text()) if path.is_file() else []


def build_report(folder: Path) -> dict:
    records = load_records(folder)
    rows = write_tables(records, Path(folder))
    marks = recommend_marks(Path(folder))
    plots = write_plots(records, rows, Path(folder) / "plots", marks)
    site = write_site(records, rows, Path(folder), marks)  # after the plots: the page links the figures that exist
    return {"records": len(records), "rows": len(rows), "plots": plots, "site": str(site)}
