"""`python -m vaebench list`: suites, models and datasets (with availability)."""

from __future__ import annotations

from vaebench.cli._args import add_data_root


def add_parser(subparsers):
    p = subparsers.add_parser("list", help="suites, models and datasets (with availability)")
    add_data_root(p)
    p.set_defaults(handler=cmd_list)
    return p


def cmd_list(args) -> int:
    from vaebench.config import available_suites, expand, load_suite
    from vaebench.data.registry import DATASETS, about, dataset_status
    from vaebench.models.registry import CITATIONS, MODELS

    print("suites:")
    for name in available_suites():
        s = load_suite(name)
        n = len(expand(s))
        print(f"  {name:<12} {n:>4} runs  {s.description}")
    print("models:")
    for name, (path, params) in MODELS.items():
        defaults = ", ".join(f"{k}={v}" for k, v in params.items()) or "no parameters"
        print(f"  {name:<12} {CITATIONS.get(name, '')}")
        print(f"  {'':<12} defaults: {defaults}  ({path})")
    print("datasets:")
    for name in DATASETS:
        ok, where = dataset_status(name, args.data_root)
        print(f"  {name:<14} {'available' if ok else 'MISSING  '}  {where}")
        if what := about(name):
            print(f"  {'':<14} {what}")
    return 0
