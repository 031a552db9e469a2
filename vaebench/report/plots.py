"""PNG plots: each metric against latent dim (one line per model, error bars over seeds), and
the image figures of the figure runs (samples, reconstructions, interpolations, traversals,
CVAE class grids) rendered from the arrays stored beside their records."""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vaebench.metrics.catalog import DISENTANGLEMENT_METRICS, describe_metric, direction_word  # noqa: E402
from vaebench.report.table import row_metrics  # noqa: E402
from vaebench.store import atomic_write_bytes  # noqa: E402


def _save(fig, path: Path) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return str(path)


def metric_plots(rows: list[dict], out: Path) -> list[str]:
    written = []
    for dataset in sorted({r["dataset"] for r in rows}):
        drows = [r for r in rows if r["dataset"] == dataset]
        for metric in row_metrics(drows):
            if metric in DISENTANGLEMENT_METRICS:
                continue  # bar charts, see disentanglement_bars
            higher, _ = describe_metric(metric)
            series = {}
            for r in drows:
                if f"{metric}_mean" in r:
                    series.setdefault(r["model"], []).append((r["latent_dim"], r[f"{metric}_mean"], r[f"{metric}_std"]))
            if not series:
                continue
            fig, ax = plt.subplots(figsize=(5.5, 3.8))
            for model, pts in sorted(series.items()):
                pts.sort()
                d, m, s = (np.array(v, dtype=float) for v in zip(*pts, strict=False))
                ax.errorbar(d, m, yerr=np.where(np.isnan(s), 0, s), marker="o", capsize=3, label=model)
            ax.set_xscale("log", base=2)
            dims = sorted({r["latent_dim"] for r in drows})
            ax.set_xticks(dims, [str(d) for d in dims])
            ax.set_xlabel("latent dimension")
            ax.set_ylabel(metric)
            ax.set_title(f"{dataset}: {metric}" + ("" if higher is None else f" ({direction_word(higher)})"), fontsize=10)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
            safe = metric.replace("[", "_").replace("]", "")
            written.append(_save(fig, out / f"{dataset}_{safe}.png"))
    return written


def disentanglement_bars(rows: list[dict], out: Path) -> list[str]:
    """One figure per (dataset, latent dim): a panel per disentanglement score, a bar per model
    (mean over seeds, error bar = sample std, seeds as dots)."""
    written = []
    keys = sorted({(r["dataset"], r["latent_dim"]) for r in rows if any(f"{m}_mean" in r for m in DISENTANGLEMENT_METRICS)})
    for dataset, dim in keys:
        drows = sorted((r for r in rows if r["dataset"] == dataset and r["latent_dim"] == dim), key=lambda r: r["model"])
        metrics = [m for m in DISENTANGLEMENT_METRICS if any(f"{m}_mean" in r for r in drows)]
        ncol = 3
        nrow = math.ceil(len(metrics) / ncol)
        fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 2.8 * nrow), squeeze=False)
        for ax, metric in zip(axes.flat, metrics, strict=False):
            have = [r for r in drows if f"{metric}_mean" in r]
            means = [r[f"{metric}_mean"] for r in have]
            stds = [0 if math.isnan(r[f"{metric}_std"]) else r[f"{metric}_std"] for r in have]
            xs = np.arange(len(have))
            ax.bar(xs, means, yerr=stds, capsize=3, color=[f"C{i}" for i in range(len(have))])
            ax.set_xticks(xs, [r["model"] for r in have], fontsize=8)
            ax.set_title(metric, fontsize=9)
            ax.grid(axis="y", alpha=0.3)
        for ax in axes.flat[len(metrics):]:
            ax.axis("off")
        fig.suptitle(f"{dataset}, latent dim {dim}: disentanglement (higher is better; mean ± std over seeds)", fontsize=10)
        fig.tight_layout()
        written.append(_save(fig, out / f"{dataset}_z{dim}_disentanglement.png"))
    return written


def _grid(images: np.ndarray, nrow: int) -> np.ndarray:
    """(N, C, H, W) uint8 -> one (rows*H, nrow*W) image with 1-pixel gaps."""
    n, _, h, w = images.shape
    rows = math.ceil(n / nrow)
    canvas = np.full((rows * (h + 1) + 1, nrow * (w + 1) + 1), 255, dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, nrow)
        canvas[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + c * (w + 1) : 1 + c * (w + 1) + w] = img[0]
    return canvas


def _image_fig(canvas: np.ndarray, title: str, path: Path, xlabel: str = "", ylabel: str = "") -> str:
    h, w = canvas.shape
    fig, ax = plt.subplots(figsize=(max(3.0, w / 40), max(2.0, h / 40) + 0.4))
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    return _save(fig, path)


def figure_plots(records: list[dict], out: Path) -> list[str]:
    """Image figures for the first seed of every (dataset, model, latent_dim) that stored them."""
    written, seen = [], set()
    for r in sorted(records, key=lambda r: (r["spec"]["seed"], r["run_id"])):
        s = r["spec"]
        key = (s["dataset"], s["model"], s["latent_dim"])
        npz = Path(r["_path"]).with_suffix(".npz")
        if key in seen or r.get("status") != "ok" or not npz.is_file():
            continue
        seen.add(key)
        v = np.load(npz)
        stem = f"{s['dataset']}_{s['model']}_z{s['latent_dim']}"
        tag = f"{s['dataset']} {s['model']} z={s['latent_dim']} seed={s['seed']}"
        written.append(_image_fig(_grid(v["samples"], 8), f"samples: {tag}", out / f"{stem}_samples.png"))
        rec = v["recon"]
        written.append(_image_fig(_grid(np.concatenate(rec), rec.shape[1]), f"test (top) / reconstruction (bottom): {tag}", out / f"{stem}_recon.png"))
        it = v["interpolation"]
        written.append(_image_fig(_grid(it.reshape(-1, *it.shape[2:]), it.shape[1]), f"latent interpolation: {tag}", out / f"{stem}_interpolation.png"))
        if "traversal" in v:
            t = v["traversal"]
            dims = v["traversal_dims"]
            written.append(_image_fig(_grid(t.reshape(-1, *t.shape[2:]), t.shape[1]), f"traversal of z[{dims[0]}] (rows) x z[{dims[1]}] (cols): {tag}",
                                      out / f"{stem}_traversal.png"))
        if "latent_traversal" in v:
            t, dims = v["latent_traversal"], v["latent_traversal_dims"]
            written.append(_image_fig(_grid(t.reshape(-1, *t.shape[2:]), t.shape[1]), f"one latent dim per row, swept -2.5..2.5: {tag}",
                                      out / f"{stem}_latent_traversal.png", ylabel="z[" + ",".join(str(int(d)) for d in dims) + "]"))
        if "class_grid" in v:
            g = v["class_grid"]
            written.append(_image_fig(_grid(g.reshape(-1, *g.shape[2:]), g.shape[1]), f"same z (rows) under every class (cols): {tag}",
                                      out / f"{stem}_class_grid.png", xlabel="class y", ylabel="z ~ N(0, I)"))
    return written


def write_plots(records: list[dict], rows: list[dict], out: Path) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    return metric_plots(rows, out) + disentanglement_bars(rows, out) + figure_plots(records, out)
