"""Records → table (Markdown, CSV), plots and the static site (site/index.html).
`build_report(folder)` does all of it."""

from __future__ import annotations

from pathlib import Path

from vaebench.report.plots import write_plots
from vaebench.report.site import write_site
from vaebench.report.table import write_tables
from vaebench.store import load_records


def build_report(folder: Path) -> dict:
    records = load_records(folder)
    rows = write_tables(records, Path(folder))
    plots = write_plots(records, rows, Path(folder) / "plots")
    site = write_site(records, rows, Path(folder))  # after the plots: the page links the figures that exist
    return {"records": len(records), "rows": len(rows), "plots": plots, "site": str(site)}
