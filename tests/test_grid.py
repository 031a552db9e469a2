"""Suite grids (models and datasets), declared dataset parameters, `--set protocol.KEY=VALUE`,
run ids that stay what they were, and no import circle between config and the model registry."""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from vaebench import __version__
from vaebench.config import apply_set_overrides, expand, load_suite, parse_suite
from vaebench.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = "examples.wide_decoder_vae:WideDecoderVAE"
BASE = {"name": "t", "datasets": ["digits"], "models": ["vae"], "latent_dims": [2, 3], "seeds": [0, 1]}


def suite(**change):
    return parse_suite({**BASE, **change})


# ---------------------------------------------------------------- model grids


def test_a_list_valued_model_parameter_is_a_grid():
    s = suite(models=[{"name": "vae", "beta": [1, 2, 4, 8]}])
    assert [m.params_dict() for m in s.models] == [{"beta": b} for b in (1.0, 2.0, 4.0, 8.0)]
    runs = expand(s)
    assert len(runs) == 4 * 2 * 2 and len({r.run_id for r in runs}) == len(runs)
    assert [r.to_dict()["model_label"] for r in runs[::4]] == ["vae", "vae[beta=2]", "vae[beta=4]", "vae[beta=8]"]


def test_several_list_valued_parameters_are_a_cartesian_product(plugin_registry):
    s = suite(models=[{"name": EXAMPLE, "beta": [1, 4], "width": [64, 128, 256]}, "pca"])
    got = [(m.params_dict().get("beta"), m.params_dict().get("width")) for m in s.models]
    assert got == [(1.0, 64), (1.0, 128), (1.0, 256), (4.0, 64), (4.0, 128), (4.0, 256), (None, None)]


@pytest.mark.parametrize(
    "models, message",
    [
        ([{"name": "vae", "beta": []}], r"beta: \[\] is an empty grid"),
        ([{"name": "vae", "beta": [[1], [2]]}], r"a list inside a grid is ambiguous; write a list-valued choice as \{value: \[1\]\}"),
        ([{"name": "vae", "beta": {"values": 1}}], r"must be \{value: X\}"),
        ([{"name": "vae", "beta": {"value": [1, 2]}}], r"model 'vae': beta must be a number"),  # a list, not a grid
        (["vae", {"name": "vae", "beta": 1}], "model 'vae' with parameters {'beta': 1.0} is listed twice"),
        ([{"name": "vae", "beta": [2, 2.0]}], "listed twice"),
    ],
)
def test_bad_grids_are_rejected_with_a_clear_message(models, message):
    with pytest.raises(UserError, match=message):
        suite(models=models)


def test_a_grid_in_a_suite_file_runs_from_the_cli(cli, tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text("name: grid\ndatasets: [digits]\nmodels: [{name: vae, beta: [1, 2, 4, 8]}, pca]\n"
                    "latent_dims: [2]\nseeds: [0]\nprotocol: {lr: 3e-4}\n")
    res = cli("run", "--suite", str(path), "--dry-run", "--out", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    ids = [line.split()[1] for line in res.stdout.splitlines() if line.startswith("todo")]
    assert len(ids) == len(set(ids)) == 5 and sum(i.startswith("digits-vae-z2-s0-") for i in ids) == 4
    assert load_suite(str(path)).protocol.lr == 3e-4  # YAML 1.2 floats: 3e-4 is a number, not a string


# ---------------------------------------------------------------- dataset parameters


@pytest.fixture
def toy(monkeypatch, digits):
    """A dataset declaring parameters (no shipped one does): digits, pixels scaled by `scale`."""
    from vaebench.data import registry

    calls = []

    def load(data_root=None, scale=1.0, sizes=(8, 8), flip=False):
        calls.append({"scale": scale, "sizes": sizes, "flip": flip})
        scaled = {f"{s}_x": getattr(digits, f"{s}_x") * scale for s in ("train", "val", "test")}
        return dataclasses.replace(digits, name="toy", checksum=f"{digits.checksum}-{scale}", **scaled)

    monkeypatch.setitem(registry.DATASETS, "toy", registry.Dataset(load, {"scale": 1.0, "sizes": [8, 8], "flip": False}))
    return calls


def test_dataset_parameters_are_declared_and_checked(toy):
    with pytest.raises(UserError, match=r"dataset 'toy' has no parameter\(s\) \['k'\]; its parameters: flip \(default False\), "
                                        r"scale \(default 1.0\), sizes \(default \[8, 8\]\)"):
        suite(datasets=[{"name": "toy", "k": 1}])
    with pytest.raises(UserError, match=r"dataset 'toy': parameter flip must be like its default False, got 'yes'"):
        suite(datasets=[{"name": "toy", "flip": "yes"}])
    with pytest.raises(UserError, match=r"dataset 'digits' has no parameter\(s\) \['k'\]; its parameters: none"):
        suite(datasets=[{"name": "digits", "k": 1}])
    with pytest.raises(UserError, match="dataset 'toy' with parameters .* is listed twice"):
        suite(datasets=["toy", {"name": "toy", "scale": 1}])


def test_an_undeclared_dataset_parameter_exits_2_from_the_cli(cli, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ndatasets: [{name: digits, noise: 0.1}]\nmodels: [pca]\nlatent_dims: [2]\nseeds: [0]\n")
    res = cli("run", "--suite", str(path), "--dry-run", "--out", str(tmp_path / "out"))
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr == f"error: {path}: dataset 'digits' has no parameter(s) ['noise']; its parameters: none\n"


def test_dataset_grids_and_list_valued_parameters(toy):
    s = suite(datasets=[{"name": "toy", "scale": [0.5, 1], "sizes": {"value": [4, 4]}}])
    assert [d.params_dict() for d in s.datasets] == [{"flip": False, "scale": s_, "sizes": (4, 4)} for s_ in (0.5, 1.0)]
    assert [str(d) for d in s.datasets] == ["toy[scale=0.5,sizes=(4,4)]", "toy[sizes=(4,4)]"]
    s = suite(datasets=[{"name": "toy", "sizes": [{"value": [4]}, {"value": [8, 8]}]}, "digits"])
    assert [str(d) for d in s.datasets] == ["toy[sizes=(4)]", "toy", "digits"]


def test_dataset_parameters_reach_the_loader_the_record_reproduce_and_the_table(toy, tmp_path):
    from vaebench.cli.reproduce import rebuild_spec
    from vaebench.report.table import build_rows
    from vaebench.runner.sweep import run_suite
    from vaebench.store import load_records

    s = parse_suite({"name": "toy", "datasets": [{"name": "toy", "scale": [0.5, 1.0]}], "models": ["pca"],
                     "latent_dims": [2], "seeds": [0], "protocol": {"fid_backbone": "none", "num_threads": 1}})
    summary = run_suite(s, tmp_path, quiet=True)
    assert (summary.finished, summary.diverged) == (2, 0)
    assert sorted(c["scale"] for c in toy) == [0.5, 1.0] and all(c["sizes"] == (8, 8) for c in toy)
    records = sorted(load_records(tmp_path), key=lambda r: r["spec"]["dataset_params"]["scale"])
    assert [r["spec"]["dataset_params"] for r in records] == [{"flip": False, "scale": s_, "sizes": [8, 8]} for s_ in (0.5, 1.0)]
    assert [r["spec"]["dataset_label"] for r in records] == ["toy[scale=0.5]", "toy"]
    assert records[0]["metrics"]["mse"] != records[1]["metrics"]["mse"]  # the loader's data, not one shared copy
    for r in records:
        assert rebuild_spec(r).run_id == r["run_id"]
    assert [row["dataset"] for row in build_rows(records)] == ["toy", "toy[scale=0.5]"]


# ---------------------------------------------------------------- run ids that stay


def _old_run_id(spec) -> str:
    """vaebench's run id before datasets had parameters (main at ed0ee55)."""
    import torch

    identity = {
        "dataset": spec.dataset, "model": spec.model.name, "model_params": spec.model.params_dict(),
        "latent_dim": spec.latent_dim, "seed": spec.seed, "protocol": spec.protocol.to_dict(),
        "vaebench": __version__, "torch": ".".join(torch.__version__.split("+")[0].split(".")[:2]),
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]
    return f"{spec.dataset}-{spec.model.name}-z{spec.latent_dim}-s{spec.seed}-{digest}"


SMOKE_IDS_0_1_0_TORCH_2_14 = [  # results/smoke/runs, made by main at ed0ee55
    "digits-pca-z2-s0-361933382bde", "digits-pca-z8-s0-4ab40627eb3d", "digits-ae-z2-s0-694993b5c3b6",
    "digits-ae-z8-s0-75e40f578dcc", "digits-vae-z2-s0-14eb026b7446", "digits-vae-z8-s0-3acd1150e50d",
    "digits-cvae-z2-s0-42eeacef671c", "digits-cvae-z8-s0-21796691686d",
]


def test_run_ids_of_datasets_without_parameters_are_unchanged():
    import torch

    for name in ("smoke", "latent_dim", "disentanglement"):
        for spec in expand(load_suite(name)):
            assert "dataset_params" not in spec.identity()
            assert spec.run_id == _old_run_id(spec), name
    if (__version__, torch.__version__[:4]) == ("0.1.0", "2.14"):  # the versions are part of every id
        assert [r.run_id for r in expand(load_suite("smoke"))] == SMOKE_IDS_0_1_0_TORCH_2_14


def test_dataset_parameters_enter_the_run_id(toy):
    default, half = expand(suite(datasets=[{"name": "toy", "scale": [1, 0.5]}], latent_dims=[2], seeds=[0]))
    assert default.identity()["dataset_params"] == {"flip": False, "scale": 1.0, "sizes": [8, 8]}
    assert len({default.run_id, half.run_id, _old_run_id(default)}) == 3


# ---------------------------------------------------------------- --set protocol.KEY=VALUE


def _ids(cli, tmp_path, *args, suite="smoke"):
    res = cli("run", "--suite", suite, "--dry-run", "--out", str(tmp_path / "out"), *args)
    assert res.returncode == 0, res.stderr
    return [line.split()[1] for line in res.stdout.splitlines() if line.startswith(("todo", "done"))]


def test_set_overrides_the_protocol_like_the_suite_file(cli, tmp_path):
    plain = _ids(cli, tmp_path)
    assert _ids(cli, tmp_path, "--set", "protocol.max_epochs=3") == _ids(cli, tmp_path, "--max-epochs", "3") != plain
    edited = tmp_path / "smoke.yaml"
    text = (ROOT / "vaebench" / "suites" / "smoke.yaml").read_text()
    edited.write_text(text.replace("lr: 0.003", "lr: 3e-4").replace("figure_latent_dims: [2]", "figure_latent_dims: [2, 8]"))
    both = _ids(cli, tmp_path, "--set", "protocol.lr=3e-4", "--set", "protocol.figure_latent_dims=[2,8]")
    assert both == _ids(cli, tmp_path, suite=str(edited)) and not set(both) & set(plain)


@pytest.mark.parametrize(
    "item, message",
    [
        ("protocol.lrr=1", "--set: unknown protocol key(s) ['lrr']"),
        ("protocol.lr=fast", "--set: protocol.lr must be a number, got 'fast'"),
        ("protocol.figure_latent_dims=[a]", "'protocol.figure_latent_dims' must be a list of integers"),
        ("model.beta=2", "--set model.beta=2: --set sets protocol fields only"),
        ("protocol.lr", "--set protocol.lr: expected protocol.KEY=VALUE"),
    ],
)
def test_bad_set_exits_2_naming_the_key(cli, tmp_path, item, message):
    res = cli("run", "--suite", "smoke", "--dry-run", "--out", str(tmp_path), "--set", item)
    assert res.returncode == 2 and message in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and res.stdout == ""


def test_set_in_process_values_and_repeats():
    s = load_suite("smoke")
    changed = apply_set_overrides(s, ["protocol.dci_estimator=gbt", "protocol.channels_last=true", "protocol.compile="])
    assert (changed.protocol.dci_estimator, changed.protocol.channels_last, changed.protocol.compile) == ("gbt", True, "")
    assert apply_set_overrides(s, None) is s
    with pytest.raises(UserError, match="protocol.lr is set twice"):
        apply_set_overrides(s, ["protocol.lr=1e-3", "protocol.lr=2e-3"])
    with pytest.raises(UserError, match="not valid YAML"):
        apply_set_overrides(s, ["protocol.lr=[1"])


# ---------------------------------------------------------------- no import circle


def _imports(module: str) -> set[str]:
    """The vaebench modules that `module` imports anywhere in its file (also inside functions)."""
    parts = module.split(".")
    path = ROOT.joinpath(*parts).with_suffix(".py")
    if not path.is_file():
        path = ROOT.joinpath(*parts, "__init__.py")
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("vaebench")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vaebench"):
            for a in node.names:  # `from vaebench.data import dsprites` imports a module
                sub = f"{node.module}.{a.name}"
                is_module = ROOT.joinpath(*sub.split(".")).with_suffix(".py").is_file()
                out.add(sub if is_module else node.module)
    return out


@pytest.mark.parametrize("module", ["vaebench.config", "vaebench.models.registry", "vaebench.models.plugin"])
def test_no_import_circle_through_config_and_the_model_registry(module):
    seen, stack = set(), [module]
    while stack:
        for dep in _imports(stack.pop()):
            assert dep != module, f"{module} imports itself through a circle (via a module it imports)"
            if dep not in seen:
                seen.add(dep)
                stack.append(dep)
