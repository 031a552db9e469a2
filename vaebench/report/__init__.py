"""Records → table (Markdown, CSV) and plots. `build_report(folder)` does all of it."""

from __future__ import annotations

from pathlib import Path

from vaebench.report.plots import write_plots
from vaebench.report.table import write_tables
from vaebench.store import load_records


def build_report(folder: Path) -> dict:
    records = load_records(folder)
    rows = write_tables(records, Path(folder))
    plots = write_plots(records, rows, Path(folder) / "plots")
    return {"records": len(records), "rows": len(rows), "plots": plots}
