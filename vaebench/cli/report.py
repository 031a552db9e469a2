"""`python -m vaebench report DIR`: rebuild the table, plots and site from DIR's run records."""

from __future__ import annotations

from pathlib import Path


def add_parser(subparsers):
    p = subparsers.add_parser("report", help="rebuild table.md, table.csv, plots/ and site/index.html from the run records in DIR")
    p.add_argument("dir", type=Path)
    p.set_defaults(handler=cmd_report)
    return p


def cmd_report(args) -> int:
    from vaebench.report import build_report

    report = build_report(args.dir, announce=lambda n: print(f"{n} records in {args.dir}: writing the table, plots and site",
                                                             flush=True))
    print(f"{report['records']} records -> {report['rows']} rows; {args.dir / 'table.md'}; {len(report['plots'])} plots; {report['site']}")
    if report["mixed_code"]:
        print(report["mixed_code"])
    return 0
