"""PNG plots: each metric against latent dim (one line per configuration: model label and
protocol, error bars over seeds), disentanglement bar charts, and the image figures of the
figure runs (samples, reconstructions, interpolations, traversals, CVAE class grids) rendered
from the arrays stored beside their records.

Every figure colours a configuration by its model name (`colours.model_colour`: a fixed
colour per registered model, a hash-picked one for any other), so a model is one colour across
figures and results folders; its configurations with parameters differ by marker. File names are `identity.safe_filename` fragments (no ':', brackets, spaces).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vaebench.identity import dataset_label, row_key, safe_filename  # noqa: E402
from vaebench.metrics.catalog import (  # noqa: E402
    DISENTANGLEMENT_METRICS,
    describe_metric,
    direction_word,
    metric_unit,
)
from vaebench.report.colours import (  # noqa: E402,F401 (BUILTIN_COLOURS, OTHER_COLOURS: re-exported)
    BUILTIN_COLOURS,
    OTHER_COLOURS,
    model_colour,
    model_marker,
)
from vaebench.report.floor import floor_for, floors
from vaebench.report.table import row_metrics  # noqa: E402
from vaebench.store import atomic_write_bytes  # noqa: E402

LINESTYLES = ("-", "--", ":", "-.")  # per protocol id, when a plot has several
HATCHES = ("", "//", "..", "xx")
CVAE_PROBE_NOTE = "CVAE low by design: z is freed from the class"
PANELLED = ("bpd", "elbo", "iwae", "ppca_ll")  # likelihood scales: model families can lie far apart
PANEL_GAP = 1 / 3  # split where empty value range exceeds this share of the whole axis


def figure_stem(key: tuple, several_protocols: bool) -> str:
    """The file-name stem of a configuration's image figures (`row_key` key); the protocol id joins
    it only when the same dataset, model and latent dim has several protocols."""
    dataset, model, dim, protocol = key
    return "_".join(safe_filename(p) for p in (dataset, model, f"z{dim}", *([protocol] if several_protocols else [])))


def _save(fig, path: Path) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return str(path)


def _protocol(row: dict) -> str:
    return str(row.get("protocol") or "")


def _series_label(model: str, protocol: str, several: bool) -> str:
    return f"{model} (protocol {protocol})" if several and protocol else model


def _axis_label(metric: str) -> str:
    unit = metric_unit(metric)
    return f"{metric} [{unit}]" if unit else metric


def num_classes_by_dataset(records: list[dict]) -> dict[str, int]:
    """dataset label -> number of classes, from the records (`dataset.num_classes`); for records
    written before that field, from a CVAE class grid stored beside them (one column per class)."""
    out: dict[str, int] = {}
    for r in records:
        n = (r.get("dataset") or {}).get("num_classes")
        if n:
            out.setdefault(dataset_label(r["spec"]), int(n))
    for r in records:
        key = dataset_label(r["spec"])
        npz = Path(r.get("_path", "")).with_suffix(".npz")
        if key not in out and r.get("_path") and npz.is_file():
            with np.load(npz) as v:
                if "class_grid" in v.files:
                    out[key] = int(v["class_grid"].shape[1])
    return out


def metric_plots(rows: list[dict], out: Path, num_classes: dict[str, int] | None = None,
                 marks: list[dict] | None = None, all_floors: dict | None = None) -> list[str]:
    """One figure per (dataset, metric): a line per (model label, protocol id) over latent dims.
    `marks` ({dataset, metric, model, protocol, latent_dim, label}, from `recommend`): ringed points.
    `all_floors` (report.floor.floors): a sampled source's column gets its real-data floor as a line."""
    num_classes = num_classes or {}
    all_floors = all_floors or {}
    written = []
    for dataset in sorted({r["dataset"] for r in rows}):
        drows = [r for r in rows if r["dataset"] == dataset]
        for metric in row_metrics(drows):
            if metric in DISENTANGLEMENT_METRICS:
                continue  # bar charts, see disentanglement_bars
            higher, _ = describe_metric(metric)
            series: dict[tuple[str, str], list] = {}
            for r in drows:
                if f"{metric}_mean" in r:
                    series.setdefault((r["model"], _protocol(r)), []).append((r["latent_dim"], r[f"{metric}_mean"], r[f"{metric}_std"]))
            if not series:
                continue
            protocols = sorted({p for _, p in series})
            groups = value_groups(series) if metric in PANELLED else [sorted(series)]
            fig, axes = plt.subplots(1, len(groups), figsize=(6.0 if len(groups) == 1 else 4.4 * len(groups), 4.0),
                                     squeeze=False)
            dims = sorted({r["latent_dim"] for r in drows})
            dmarks = [m for m in marks or [] if m["dataset"] == dataset and m["metric"] == metric]
            title = f"{dataset}: {metric}" + ("" if higher is None else f" ({direction_word(higher)})")
            for ax, keys in zip(axes.flat, groups, strict=True):
                for model, protocol in keys:
                    pts = sorted(series[(model, protocol)])
                    d, m, s = (np.array(v, dtype=float) for v in zip(*pts, strict=False))
                    ax.errorbar(d, m, yerr=np.where(np.isnan(s), 0, s), marker=model_marker(model), capsize=3,
                                color=model_colour(model), linestyle=LINESTYLES[protocols.index(protocol) % len(LINESTYLES)],
                                label=_series_label(model, protocol, len(protocols) > 1))
                _draw_marks(ax, {k: series[k] for k in keys}, dmarks)
                ax.set_xscale("log", base=2)
                ax.set_xticks(dims, [str(d) for d in dims])
                ax.minorticks_off()
                ax.set_xlabel("latent dimension")
                ax.grid(alpha=0.3)
            ax0 = axes.flat[0]
            if metric == "probe_acc":
                title += _chance_line(ax0, num_classes.get(dataset), any(m.startswith("cvae") for m, _ in series))
            if (hit := floor_for(all_floors, dataset, metric)) is not None:
                for ax in axes.flat:
                    ax.axhline(hit[0], color="black", linestyle="--", linewidth=1, label=f"floor: {hit[1].label}")
            ax0.set_ylabel(_axis_label(metric))
            if len(groups) > 1:  # one legend per panel: each says which models it holds
                fig.suptitle(title + "; panels on their own scales", fontsize=10)
                for ax in axes.flat:
                    ax.legend(fontsize=7)
                fig.tight_layout()
            else:
                ax0.set_title(title, fontsize=10)
                ax0.legend(fontsize=8)
            written.append(_save(fig, out / f"{safe_filename(dataset)}_{safe_filename(metric)}.png"))
    return written


def value_groups(series: dict) -> list[list[tuple]]:
    """The series keys split into panels where their value ranges (mean ± std) lie far apart: at
    each empty stretch wider than PANEL_GAP of the whole range, when that leaves a group whose own
    spread would be squeezed into under a quarter of a shared axis (e.g. PCA at 7.0–7.8 bits/dim
    and the VAEs at 5.86–6.05 share no panel, so the VAEs' differences are not flat lines). One
    group otherwise. Groups are in increasing value order."""
    spans = {}
    for key, pts in series.items():
        m = np.array([p[1] for p in pts], dtype=float)
        s = np.nan_to_num(np.array([p[2] for p in pts], dtype=float))
        lo, hi = np.nanmin(m - s), np.nanmax(m + s)
        if np.isfinite(lo) and np.isfinite(hi):
            spans[key] = (float(lo), float(hi))
    if len(spans) < 2:
        return [sorted(series)]
    total = max(h for _, h in spans.values()) - min(lo for lo, _ in spans.values())
    groups: list[list[tuple]] = []
    top = -math.inf
    for key in sorted(spans, key=lambda k: spans[k]):
        lo, hi = spans[key]
        if groups and lo - top <= PANEL_GAP * total:
            groups[-1].append(key)
        else:
            groups.append([key])
        top = max(top, hi) if len(groups[-1]) > 1 else hi
    def span(g):
        return max(spans[k][1] for k in g) - min(spans[k][0] for k in g)

    if len(groups) > 1 and not any(0 < span(g) < total / 4 for g in groups):
        return [sorted(series)]  # no panel would be squeezed flat: one axis reads fine
    groups = [sorted(g) for g in groups]
    rest = sorted(k for k in series if k not in spans)  # no finite value: with the first panel
    groups[0] = sorted(groups[0] + rest)
    return groups


def _draw_marks(ax, series: dict, marks: list[dict]) -> None:
    """A black ring at each marked point of a series, labelled with the criteria that chose it:
    one criterion a line, in a white box, alternately above and below the point (neighbouring
    dims on a log axis are close), so labels of adjacent points do not overlap."""
    at: dict[tuple, list[str]] = {}
    for mk in marks:
        pts = series.get((mk["model"], mk.get("protocol", "")), [])
        hit = [p for p in pts if p[0] == mk["latent_dim"]]
        if hit:
            at.setdefault((mk["latent_dim"], hit[0][1]), []).append(mk["label"].removeprefix("recommend: "))
    for i, ((dim, value), labels) in enumerate(sorted(at.items())):
        ax.plot([dim], [value], marker="o", markersize=13, markerfacecolor="none", markeredgecolor="black", linestyle="none")
        above = i % 2 == 0
        ax.annotate("\n".join(sorted(set(labels))), (dim, value), textcoords="offset points",
                    xytext=(8, 10 if above else -10), va="bottom" if above else "top", fontsize=6,
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "0.6", "alpha": 0.85},
                    arrowprops={"arrowstyle": "-", "color": "0.5", "lw": 0.6})


def _chance_line(ax, n_classes: int | None, has_cvae: bool) -> str:
    """Draws the chance accuracy 1 / n_classes; returns what the title adds."""
    extra = ""
    if n_classes:
        ax.axhline(1 / n_classes, color="black", linestyle=":", linewidth=1, label=f"chance (1/{n_classes})")
    if has_cvae:
        extra = f"\n{CVAE_PROBE_NOTE}"
    return extra


def disentanglement_bars(rows: list[dict], out: Path) -> list[str]:
    """One figure per (dataset, latent dim): a panel per disentanglement score, a bar per
    configuration (mean over seeds, error bar = sample std), coloured by model."""
    written = []
    keys = sorted({(r["dataset"], r["latent_dim"]) for r in rows if any(f"{m}_mean" in r for m in DISENTANGLEMENT_METRICS)})
    for dataset, dim in keys:
        drows = sorted((r for r in rows if r["dataset"] == dataset and r["latent_dim"] == dim), key=lambda r: (r["model"], _protocol(r)))
        protocols = sorted({_protocol(r) for r in drows})
        several = len(protocols) > 1
        metrics = [m for m in DISENTANGLEMENT_METRICS if any(f"{m}_mean" in r for r in drows)]
        ncol = 3
        nrow = math.ceil(len(metrics) / ncol)
        fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 2.9 * nrow), squeeze=False)
        for ax, metric in zip(axes.flat, metrics, strict=False):
            have = [r for r in drows if f"{metric}_mean" in r]
            means = [r[f"{metric}_mean"] for r in have]
            stds = [0 if math.isnan(r[f"{metric}_std"]) else r[f"{metric}_std"] for r in have]
            xs = np.arange(len(have))
            bars = ax.bar(xs, means, yerr=stds, capsize=3, color=[model_colour(r["model"]) for r in have])
            for bar, r in zip(bars, have, strict=True):  # a second protocol of a model: hatched
                bar.set_hatch(HATCHES[protocols.index(_protocol(r)) % len(HATCHES)])
            ax.set_xticks(xs, [r["model"] + (f"\n{_protocol(r)}" if several else "") for r in have], fontsize=7,
                          rotation=30, ha="right", rotation_mode="anchor")
            ax.set_title(metric, fontsize=9)
            ax.set_ylabel(metric_unit(metric), fontsize=8)
            ax.grid(axis="y", alpha=0.3)
        for ax in axes.flat[len(metrics):]:
            ax.axis("off")
        fig.suptitle(f"{dataset}, latent dim {dim}: disentanglement (higher is better; mean ± std over seeds)", fontsize=10)
        fig.tight_layout()
        written.append(_save(fig, out / f"{safe_filename(dataset)}_z{dim}_disentanglement.png"))
    return written


# ---------------------------------------------------------------- image figures

TILE_INCHES = (0.55, 0.9)  # the size an image is drawn at, (smallest, largest): 8x8 digits readable
SEPARATOR_PT = 0.6  # white lines between images, thinner than a digit's stroke


def _tile_inches(h: int) -> float:
    return float(np.clip(h / 40, *TILE_INCHES))


def _image_fig(stack: np.ndarray, title: str, path: Path, *, xticks=None, yticks=None, xlabel: str = "",
               ylabel: str = "") -> str:
    """(rows, cols, C, H, W) uint8 -> a figure: the images edge to edge, thin white separators,
    optional per-column / per-row tick labels (sweep values)."""
    rows, cols, channels, h, w = stack.shape
    if channels == 3:  # colour images (CIFAR, SVHN, CelebA, the dSprites variants): RGB, not one channel
        canvas = stack.transpose(0, 3, 1, 4, 2).reshape(rows * h, cols * w, 3)
    else:
        canvas = stack[:, :, 0].transpose(0, 2, 1, 3).reshape(rows * h, cols * w)
    tile = _tile_inches(h)
    fig, ax = plt.subplots(figsize=(cols * tile * w / h + 1.2, rows * tile + 0.9))
    ax.imshow(canvas, cmap=None if channels == 3 else "gray", vmin=0, vmax=255, interpolation="nearest")
    for c in range(1, cols):
        ax.axvline(c * w - 0.5, color="white", linewidth=SEPARATOR_PT)
    for r in range(1, rows):
        ax.axhline(r * h - 0.5, color="white", linewidth=SEPARATOR_PT)
    ax.set_xticks(np.arange(cols) * w + (w - 1) / 2 if xticks is not None else [], xticks if xticks is not None else [], fontsize=7)
    ax.set_yticks(np.arange(rows) * h + (h - 1) / 2 if yticks is not None else [], yticks if yticks is not None else [], fontsize=7)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    return _save(fig, path)


def _fmt(values) -> list[str]:
    return [f"{v:.2g}" if abs(v) < 10 else f"{v:.0f}" for v in np.asarray(values, dtype=float)]


def _in_prior_units(v, record: dict) -> bool:
    if "traversal_units" in v.files:
        return str(v["traversal_units"]) == "prior"
    return "elbo" in (record.get("metrics") or {})  # records before the field: VAE/CVAE


def _traversal_figures(v, stem: str, tag: str, record: dict, out: Path) -> list[str]:
    written = []
    prior = _in_prior_units(v, record)
    stored = "traversal_values" in v.files or "latent_traversal_values" in v.files
    units = "prior units" if prior else f"code units ({'train-' if stored else ''}code mean ± k·std)"
    if "traversal" in v.files:
        dims = [int(d) for d in v["traversal_dims"]]
        if "traversal_values" in v.files:
            rv, cv = _fmt(v["traversal_values"][0]), _fmt(v["traversal_values"][1])
        else:  # records before the values were stored: the sweep in std multiples (prior: values)
            k = np.linspace(-2, 2, 10)
            rv = cv = _fmt(k) if prior else [f"{x:+.1f}σ" for x in k]
        written.append(_image_fig(v["traversal"], f"traversal of z[{dims[0]}] (rows) × z[{dims[1]}] (columns), {units}\n{tag}",
                                  out / f"{stem}_traversal.png", xticks=cv, yticks=rv,
                                  xlabel=f"z[{dims[1]}]", ylabel=f"z[{dims[0]}]"))
    if "latent_traversal" in v.files:
        t, dims = v["latent_traversal"], [int(d) for d in v["latent_traversal_dims"]]
        steps = t.shape[1]
        if "latent_traversal_values" in v.files:
            vals = v["latent_traversal_values"]
            ylab = [f"z[{d}]: {a} … {b}" for d, (a, b) in zip(dims, (_fmt([r[0], r[-1]]) for r in vals), strict=True)]
        else:
            ylab = [f"z[{d}]" for d in dims]
        k = np.linspace(-2.5, 2.5, steps)
        xt = _fmt(k) if prior else [f"{x:+.1f}σ" for x in k]
        how = "value, prior units" if prior else f"{'train-' if stored else ''}code mean + k·std of that dim"
        given = " (and its class)" if "class_grid" in v.files else ""  # a CVAE decodes under y
        written.append(_image_fig(t, f"one latent dim per row, swept ({how}); others at the first test image's code{given}\n{tag}",
                                  out / f"{stem}_latent_traversal.png", xticks=xt, yticks=ylab,
                                  xlabel="z value" if prior else "k (std of the codes)"))
    return written


def figure_plots(records: list[dict], out: Path) -> list[str]:
    """Image figures for the first seed of every configuration (row key) that stored them."""
    written, seen = [], set()
    ok = [r for r in records if r.get("status") == "ok" and Path(r.get("_path", "")).with_suffix(".npz").is_file()]
    protocols: dict[tuple, set] = {}
    for r in ok:
        key = row_key(r["spec"])
        protocols.setdefault(key[:3], set()).add(key[3])
    for r in sorted(ok, key=lambda r: (r["spec"]["seed"], r["run_id"])):
        s = r["spec"]
        key = row_key(s)
        if key in seen:
            continue
        seen.add(key)
        dataset, model, dim, protocol = key
        several = len(protocols[key[:3]]) > 1
        stem = figure_stem(key, several)
        tag = f"{dataset} {model} z={dim} seed={s['seed']}" + (f" protocol {protocol}" if several else "")
        with np.load(Path(r["_path"]).with_suffix(".npz")) as v:
            samples = v["samples"]
            written.append(_image_fig(samples.reshape(-1, 8, *samples.shape[1:]), f"samples: {tag}", out / f"{stem}_samples.png"))
            written.append(_image_fig(v["recon"], f"test images over their reconstructions: {tag}", out / f"{stem}_recon.png",
                                      yticks=["test", "recon"]))
            it = v["interpolation"]
            written.append(_image_fig(it, f"latent interpolation between two test images' codes: {tag}",
                                      out / f"{stem}_interpolation.png", xticks=_fmt(np.linspace(0, 1, it.shape[1])), xlabel="t"))
            written += _traversal_figures(v, stem, tag, r, out)
            if "class_grid" in v.files:
                g = v["class_grid"]
                written.append(_image_fig(g, f"same z (rows) under every class (columns): {tag}", out / f"{stem}_class_grid.png",
                                          xticks=[str(c) for c in range(g.shape[1])], xlabel="class y", ylabel="z ~ N(0, I)"))
    return written


def write_plots(records: list[dict], rows: list[dict], out: Path, marks: list[dict] | None = None) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    return (metric_plots(rows, out, num_classes_by_dataset(records), marks, floors(records)) + disentanglement_bars(rows, out)
            + figure_plots(records, out))
