"""Candidate vs baseline: per-metric deltas, tolerances, Welch's t-test, regressions first.

Each side is a results folder (per-seed values from its run records, runs/*.json) or a
table.csv (means, sample stds and n_seeds). Semantics, the default tolerances and their
reasons are in docs/compare.md. One module per step:

- `tolerances`: defaults, tolerance files, `--tol` parsing, resolution per metric
- `sides`: reading a side (run records or table.csv) into rows of statistics
- `stats`: Welch's t-test and the verdict for one metric of one row
- `matching`: pairing candidate and baseline rows, judging every metric of each pair
- `render`: the Markdown report
"""

from vaebench.report.compare.matching import Comparison, Entry, compare
from vaebench.report.compare.render import to_markdown
from vaebench.report.compare.sides import Row, Side, Stat, load_side
from vaebench.report.compare.stats import DEFAULT_ALPHA, judge, welch_p
from vaebench.report.compare.tolerances import (
    DEFAULT_TOLERANCES,
    DIVERGED,
    Tolerance,
    default_tolerance,
    known_metric_names,
    load_tolerance_file,
    parse_tol_args,
    resolve_tolerances,
)

__all__ = [
    "DEFAULT_ALPHA", "DEFAULT_TOLERANCES", "DIVERGED", "Comparison", "Entry", "Row", "Side", "Stat",
    "Tolerance", "compare", "default_tolerance", "judge", "known_metric_names", "load_side",
    "load_tolerance_file", "parse_tol_args", "resolve_tolerances", "to_markdown", "welch_p",
]
