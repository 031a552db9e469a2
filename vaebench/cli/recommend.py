"""`python -m vaebench recommend DIR`: the latent dim each criterion chooses, per configuration.

Writes DIR/recommend.md and DIR/recommend.csv, then rebuilds the report so that the metric plots
and the site mark every choice (`report` marks them whenever DIR/recommend.csv exists).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from vaebench.errors import UserError

MIN_DIMS = 3


def add_parser(subparsers):
    p = subparsers.add_parser("recommend", help="choose the latent dim by each criterion for every configuration swept in DIR; "
                              "writes DIR/recommend.md and DIR/recommend.csv and marks the choices on the plots")
    p.add_argument("dir", type=Path)
    p.add_argument("--data-root", default=None, help="where the data set files are (PCA's Minka / explained-variance criteria load the train split)")
    p.set_defaults(handler=cmd_recommend)
    return p


def recommendations(folder: Path, data_root=None, skipped: list[str] | None = None) -> list[dict]:
    """The choices per configuration swept over at least MIN_DIMS latent dims. Configurations with
    fewer (a sweep still filling in) are left out and described in `skipped` when given; a
    folder with none that qualifies is a UserError."""
    from vaebench.data.base import pixels
    from vaebench.data.registry import load_dataset, resolve_dataset
    from vaebench.identity import row_key
    from vaebench.report import recommend as rec
    from vaebench.report.table import build_rows
    from vaebench.store import load_records

    records = load_records(folder)
    if not records:
        raise UserError(f"{folder}: no run records under {folder / 'runs'}; run a suite into it first")
    configs: dict[tuple, list[dict]] = defaultdict(list)
    for row in build_rows(records):
        if row["n_seeds"]:
            configs[(row["dataset"], row["model"], row["protocol"])].append(row)
    short = [f"{d} {m} (protocol {p}): latent dims {sorted(r['latent_dim'] for r in rows)}"
             for (d, m, p), rows in sorted(configs.items()) if len(rows) < MIN_DIMS]
    configs = {key: rows for key, rows in configs.items() if len(rows) >= MIN_DIMS}
    if not configs:
        raise UserError(f"{folder}: recommend needs at least {MIN_DIMS} latent dims per configuration; "
                        f"sweep more latent_dims for: {'; '.join(short)}")
    if skipped is not None:
        skipped.extend(short)
    spectra: dict[str, tuple] = {}
    results = []
    for (dataset, model, protocol), rows in sorted(configs.items()):
        spectrum = n = None
        if model == "pca":
            if dataset not in spectra:
                spec = next(r["spec"] for r in records if row_key(r["spec"])[0] == dataset)
                splits = load_dataset(resolve_dataset(spec["dataset"], spec.get("dataset_params")), data_root)
                spectra[dataset] = rec.train_spectrum(pixels(splits.train_x).numpy())
            spectrum, n = spectra[dataset]
        rows = sorted(rows, key=lambda r: r["latent_dim"])
        results.append({"dataset": dataset, "model": model, "protocol": protocol, "dims": [r["latent_dim"] for r in rows],
                        "choices": rec.recommend_configuration(rows, spectrum, n)})
    return results


def cmd_recommend(args) -> int:
    from vaebench.report import build_report
    from vaebench.report import recommend as rec
    from vaebench.store import atomic_write_text

    skipped: list[str] = []
    results = recommendations(args.dir, args.data_root, skipped)
    md = rec.to_markdown(results)
    if skipped:
        md += (f"\nLeft out (fewer than {MIN_DIMS} latent dims so far; run `recommend` again when their sweep has more): "
               + "; ".join(skipped) + ".\n")
    atomic_write_text(args.dir / "recommend.csv", rec.to_csv(results))
    atomic_write_text(args.dir / "recommend.md", md)
    print(md, end="")
    report = build_report(args.dir)
    print(f"{args.dir / 'recommend.md'}; {args.dir / 'recommend.csv'}; choices marked on {len(report['plots'])} plots and {report['site']}")
    return 0
