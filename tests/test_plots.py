"""Plots: one line and one set of figures per configuration (row identity), safe file names,
one colour per model everywhere, units and directions from the catalogue, the probe's chance
line, traversal sweeps scaled to the code and labelled with their values."""

import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from vaebench.metrics.catalog import metric_unit
from vaebench.models.pca import PCAModel
from vaebench.report import plots
from vaebench.runner.visuals import make_visuals

PLUGIN = "tests.test_compare:ZIgnoringVAE"


@pytest.fixture
def figures(monkeypatch):
    """What every saved figure showed: file name -> title, axis labels, tick labels, legend, lines."""
    seen = {}

    def save(fig, path):
        axes = fig.axes
        ax = axes[0]
        legend = ax.get_legend()
        seen[path.name] = {
            "title": " ".join([a.get_title() for a in axes] + ([fig._suptitle.get_text()] if fig._suptitle else [])),
            "ylabel": ax.get_ylabel(), "xlabel": ax.get_xlabel(),
            "xticks": [t.get_text() for t in ax.get_xticklabels()], "yticks": [t.get_text() for t in ax.get_yticklabels()],
            "legend": [t.get_text() for t in legend.get_texts()] if legend else [],
            "colours": {c.get_label(): c.lines[0].get_color() for c in ax.containers if getattr(c, "lines", None) and c.lines[0] and c.get_label()},
            "markers": {c.get_label(): c.lines[0].get_marker() for c in ax.containers if getattr(c, "lines", None) and c.lines[0] and c.get_label()},
            "n_axes": len(axes), "panel_legends": [[t.get_text() for t in a.get_legend().get_texts()] for a in axes if a.get_legend()],
            "texts": [t.get_text() for a in axes for t in a.texts],
            "bar_colours": [[tuple(p.get_facecolor()) for p in c.patches] for a in axes for c in a.containers if hasattr(c, "patches")],
            "hlines": [line.get_ydata()[0] for line in ax.get_lines() if line.get_linestyle() == ":"],
            "size": tuple(fig.get_size_inches()),
            "image": ax.get_images()[0].get_array().shape if ax.get_images() else None,
        }
        plt.close(fig)
        return str(path)

    monkeypatch.setattr(plots, "_save", save)
    return seen


def _spec(model, label, params=None, dim=2, seed=0, protocol=None):
    protocol = protocol or {"lr": 0.003, "max_epochs": 60}
    return {"dataset": "digits", "model": model, "model_label": label, "model_params": params or {}, "latent_dim": dim,
            "seed": seed, "protocol": protocol}


def _visuals(k=2, prior=True):
    rng = np.random.default_rng(0)
    img = lambda *shape: rng.integers(0, 256, (*shape, 1, 8, 8), dtype=np.uint8)  # noqa: E731
    return {"samples": img(64), "recon": img(2, 16), "interpolation": img(8, 10), "traversal": img(10, 10),
            "traversal_dims": np.array([0, 1]), "traversal_values": np.stack([np.linspace(-2, 2, 10)] * 2),
            "latent_traversal": img(k, 10), "latent_traversal_dims": np.arange(k),
            "latent_traversal_values": np.stack([np.linspace(-2.5, 2.5, 10)] * k),
            "traversal_units": np.array("prior" if prior else "code")}


def _records(tmp_path, specs, metrics=None):
    records = []
    for i, spec in enumerate(specs):
        path = tmp_path / f"run{i}.json"
        np.savez(path.with_suffix(".npz"), **_visuals())
        records.append({"run_id": f"run{i}", "spec": spec, "status": "ok", "_path": str(path),
                        "dataset": {"name": "digits", "num_classes": 10}, "metrics": metrics or {"elbo": -20.0}})
    return records


def _row(model, dim=2, protocol="p1", **metrics):
    row = {"dataset": "digits", "model": model, "latent_dim": dim, "protocol": protocol, "n_seeds": 1}
    for name, value in metrics.items():
        row[f"{name}_mean"], row[f"{name}_std"] = value, float("nan")
    return row


def test_plugin_and_parameterised_models_get_safe_files_and_their_own_lines(tmp_path, figures):
    specs = [_spec(PLUGIN, PLUGIN), _spec("vae", "vae[beta=8]", {"beta": 8.0}), _spec("vae", "vae")]
    rows = [_row(m, d, elbo=-20.0 - d, kl=1.0) for m in (PLUGIN, "vae[beta=8]", "vae") for d in (2, 8)]
    written = plots.write_plots(_records(tmp_path, specs), rows, tmp_path / "plots")
    names = [p.rsplit("/", 1)[1] for p in written]
    assert names and not [n for n in names if re.search(r"[:\[\] ]", n)]
    # each configuration has its own image figures, and its own line in the metric plots
    for stem in ("digits_tests.test_compare_ZIgnoringVAE_z2", "digits_vae_beta=8_z2", "digits_vae_z2"):
        assert f"{stem}_samples.png" in names and f"{stem}_latent_traversal.png" in names
    assert sorted(figures["digits_elbo.png"]["legend"]) == sorted([PLUGIN, "vae", "vae[beta=8]"])


def test_protocol_in_the_legend_only_when_a_plot_has_several(tmp_path, figures):
    plots.metric_plots([_row("vae", elbo=-20.0), _row("ae", elbo=-21.0)], tmp_path)
    assert sorted(figures["digits_elbo.png"]["legend"]) == ["ae", "vae"]
    plots.metric_plots([_row("vae", protocol="aaaa1111", elbo=-20.0), _row("vae", protocol="bbbb2222", elbo=-21.0)], tmp_path)
    assert sorted(figures["digits_elbo.png"]["legend"]) == ["vae (protocol aaaa1111)", "vae (protocol bbbb2222)"]


def test_a_model_has_one_colour_in_every_figure_and_folder(tmp_path, figures):
    assert plots.model_colour("vae") == plots.BUILTIN_COLOURS["vae"]
    assert plots.model_colour(PLUGIN) == plots.model_colour(PLUGIN) in plots.OTHER_COLOURS
    plots.metric_plots([_row(m, elbo=-20.0) for m in ("ae", "cvae", "pca", "vae")], tmp_path / "a")
    first = figures["digits_elbo.png"]["colours"]
    plots.metric_plots([_row(m, elbo=-20.0) for m in ("vae", "vae[beta=8]")], tmp_path / "b")  # another folder, fewer models
    second = figures["digits_elbo.png"]["colours"]
    assert first["vae"] == second["vae"] == plots.BUILTIN_COLOURS["vae"]
    assert len(set(first.values())) == 4
    # a configuration's colour is its model's (the same in every folder); its marker tells it apart
    assert second["vae[beta=8]"] == second["vae"]
    markers = figures["digits_elbo.png"]["markers"]
    assert markers["vae"] == "o" and markers["vae[beta=8]"] != "o"
    plots.disentanglement_bars([_row(m, mig=0.3) for m in ("ae", "vae")], tmp_path / "c")
    bars = figures["digits_z2_disentanglement.png"]["bar_colours"][0]
    assert bars == [matplotlib_rgba(plots.model_colour("ae")), matplotlib_rgba(plots.model_colour("vae"))]


def test_colours_come_from_the_model_name_and_skip_yellow():
    assert plots.model_colour("vae[likelihood=continuous_bernoulli]") == plots.model_colour("vae")
    assert plots.model_colour("cvae[likelihood=continuous_bernoulli]") == plots.model_colour("cvae") != "#F0E442"
    from vaebench.models.registry import MODELS
    from vaebench.report.colours import MODEL_COLOURS

    assert set(MODELS) <= set(MODEL_COLOURS) and len(set(MODEL_COLOURS.values())) == len(MODEL_COLOURS)
    assert "#F0E442" not in set(MODEL_COLOURS.values()) | set(plots.OTHER_COLOURS)


def test_bpd_far_apart_families_get_their_own_panels(tmp_path, figures):
    """PCA at 7.0-7.8 bits/dim, the VAEs at 5.86-6.05: on one axis the VAEs' differences are flat."""
    dims = (2, 8, 32)
    rows = [_row("pca", d, bpd=v) for d, v in zip(dims, (7.8, 7.3, 7.0), strict=True)]
    rows += [_row("vae", d, bpd=v) for d, v in zip(dims, (6.05, 5.9, 5.86), strict=True)]
    rows += [_row("cvae", d, bpd=v) for d, v in zip(dims, (6.0, 5.88, 5.87), strict=True)]
    plots.metric_plots(rows, tmp_path)
    fig = figures["digits_bpd.png"]
    assert fig["n_axes"] == 2 and sorted(map(sorted, fig["panel_legends"])) == [["cvae", "vae"], ["pca"]]
    # values that share a scale keep one axis
    plots.metric_plots([_row(m, d, bpd=6 + 0.1 * i + 0.01 * d) for i, m in enumerate(("vae", "cvae")) for d in dims], tmp_path)
    assert figures["digits_bpd.png"]["n_axes"] == 1


def test_recommend_labels_of_neighbouring_points_alternate_above_and_below(tmp_path, figures):
    rows = [_row("ae", d, mse=0.1 / d) for d in (2, 4, 8, 16, 32)]
    marks = [{"dataset": "digits", "metric": "mse", "model": "ae", "protocol": "p1", "latent_dim": d, "label": f"recommend: {c}"}
             for d, c in ((8, "mse_knee"), (8, "mse_90pct"), (16, "mse_95pct"), (16, "mse_99pct"))]
    plots.metric_plots(rows, tmp_path, marks=marks)
    assert figures["digits_mse.png"]["texts"] == ["mse_90pct\nmse_knee", "mse_95pct\nmse_99pct"]


def matplotlib_rgba(colour):
    from matplotlib.colors import to_rgba

    return to_rgba(colour)


def test_units_on_axes_and_no_direction_on_informational_metrics(tmp_path, figures):
    plots.metric_plots([_row("vae", elbo=-20.0, kl=2.0, mse=0.01, active_units=2, **{"fid_recon[digits-mlp]": 3.0})], tmp_path)
    assert "nats/image" in figures["digits_kl.png"]["ylabel"] and "nats/image" in figures["digits_elbo.png"]["ylabel"]
    assert "better" not in figures["digits_kl.png"]["title"] and "better" not in figures["digits_active_units.png"]["title"]
    assert "higher is better" in figures["digits_elbo.png"]["title"]
    assert "pixel MSE" in figures["digits_mse.png"]["ylabel"] and "count" in figures["digits_active_units.png"]["ylabel"]
    assert "FID" in figures["digits_fid_recon_digits-mlp.png"]["ylabel"]
    assert metric_unit("bpd_made_up") == "" and metric_unit("mig") == "score in [0, 1]"


def test_probe_plot_has_a_chance_line_and_says_why_the_cvae_is_low(tmp_path, figures):
    records = _records(tmp_path, [_spec("cvae", "cvae")])
    records[0]["dataset"]["num_classes"] = 7
    plots.write_plots(records, [_row("cvae", probe_acc=0.15), _row("vae", probe_acc=0.6)], tmp_path / "plots")
    fig = figures["digits_probe_acc.png"]
    assert fig["hlines"] == [pytest.approx(1 / 7)] and "chance (1/7)" in fig["legend"]
    assert "CVAE" in fig["title"] and "by design" in fig["title"] and "accuracy" in fig["ylabel"]
    # records written before num_classes: a stored CVAE class grid has one column per class
    del records[0]["dataset"]["num_classes"]
    np.savez(records[0]["_path"].replace(".json", ".npz"), **_visuals(), class_grid=np.zeros((8, 10, 1, 8, 8), np.uint8))
    assert plots.num_classes_by_dataset(records) == {"digits": 10}


def test_image_figures_are_readable_with_thin_separators_and_labelled_sweeps(tmp_path, figures):
    plots.write_plots(_records(tmp_path, [_spec("vae", "vae")]), [], tmp_path / "plots")
    recon = figures["digits_vae_z2_recon.png"]
    assert recon["image"] == (2 * 8, 16 * 8)  # images edge to edge: separators are lines, not pixel blocks
    assert recon["size"][0] >= 16 * 0.5 and recon["yticks"] == ["test", "recon"]
    grid = figures["digits_vae_z2_traversal.png"]
    assert grid["yticks"][0] == "-2" and grid["xticks"][-1] == "2" and grid["ylabel"] == "z[0]"
    rows = figures["digits_vae_z2_latent_traversal.png"]
    assert rows["yticks"] == ["z[0]: -2.5 … 2.5", "z[1]: -2.5 … 2.5"] and rows["xticks"][0] == "-2.5"


def test_pca_traversals_sweep_the_spread_of_the_train_codes(digits):
    """PCA's k-th code has variance = the k-th eigenvalue of the ML covariance and mean 0 on the
    train split (all 1257 digits train images are used), so the sweep is known in closed form."""
    model = PCAModel(digits.image_shape, 3).fit(digits.train_x)
    v = make_visuals(model, digits, seed=0)
    n = len(digits.train_x)
    std = torch.sqrt(model.eigenvalues * n / (n - 1)).numpy()  # sample std of the codes
    np.testing.assert_allclose(v["latent_traversal_values"], np.linspace(-2.5, 2.5, 10)[None] * std[:, None], atol=1e-9)
    d0, d1 = v["traversal_dims"]
    np.testing.assert_allclose(v["traversal_values"], np.linspace(-2, 2, 10)[None] * std[[d0, d1], None], atol=1e-9)
    assert str(v["traversal_units"]) == "code"
    # the 2-D grid decodes exactly those values (the other dims at the code mean, 0)
    z = torch.zeros(1, 3, dtype=torch.float64)
    z[0, d0], z[0, d1] = v["traversal_values"][0, 3], v["traversal_values"][1, 7]
    assert np.array_equal(v["traversal"][3, 7], (model.decode(z).clamp(0, 1)[0].numpy() * 255).round().astype(np.uint8))


def test_colour_images_are_drawn_in_colour(tmp_path):
    """3-channel figures (CIFAR, SVHN, CelebA, colour dSprites) show RGB, not their red channel."""
    import matplotlib.image as mpimg
    import numpy as np

    from vaebench.report.plots import _image_fig

    stack = np.zeros((1, 2, 3, 16, 16), dtype=np.uint8)
    stack[0, 0, 1] = 255  # a green image
    stack[0, 1, 2] = 255  # a blue image
    path = tmp_path / "rgb.png"
    _image_fig(stack, "rgb", path)
    img = mpimg.imread(path)[..., :3]
    green = (img[..., 1] > 0.9) & (img[..., 0] < 0.1) & (img[..., 2] < 0.1)
    blue = (img[..., 2] > 0.9) & (img[..., 0] < 0.1) & (img[..., 1] < 0.1)
    assert green.sum() > 100 and blue.sum() > 100
