"""Plug-in models (`--models package.module:Class`) and `reproduce RECORD.json`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

from vaebench.errors import UserError
from vaebench.models.plugin import plugin_model_spec, resolve_plugin
from vaebench.models.vae import VAE

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
HERE = "tests.test_reproduce_plugin"
EXAMPLE = "examples.wide_decoder_vae:WideDecoderVAE"


# ---------------------------------------------------------------- plug-ins used below


class ScaledVAE(VAE):
    """A valid plug-in: one extra hyper-parameter with a default."""

    def __init__(self, image_shape, latent_dim, num_classes=10, lr=1e-3, beta=1.0, prior_scale=1.0):
        super().__init__(image_shape, latent_dim, num_classes, lr, beta)
        self.prior_scale = prior_scale


class NoEncode(torch.nn.Module):
    likelihood, conditional = "bernoulli", False

    def __init__(self, image_shape, latent_dim, num_classes=10, lr=1e-3):
        super().__init__()

    def decode(self, z, y=None): ...

    def sample(self, n, y=None, generator=None): ...

    def fit(self, x): ...


class NotTrainable:
    likelihood, conditional = "bernoulli", False

    def __init__(self, image_shape, latent_dim, num_classes=10, lr=1e-3): ...

    def encode(self, x, y=None): ...

    def decode(self, z, y=None): ...

    def sample(self, n, y=None, generator=None): ...


class BadSignature(VAE):
    def __init__(self, latent_dim):
        super().__init__((1, 8, 8), latent_dim)


def not_a_class():
    return None


# ---------------------------------------------------------------- plug-ins


def _dry_run(capsys, models: str, tmp_path) -> list[str]:
    from vaebench.cli import main

    code = main(["run", "--suite", "smoke", "--models", models, "--latent-dims", "2", "--seeds", "0,1",
                 "--out", str(tmp_path / "res"), "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0, out
    return [line.split()[1] for line in out.splitlines() if line.startswith(("todo", "done"))]


def test_plugin_models_resolve_with_stable_run_ids(capsys, tmp_path, plugin_registry):
    ids = _dry_run(capsys, f"vae,{HERE}:ScaledVAE,{EXAMPLE}", tmp_path)
    assert len(ids) == 6
    plug = [i for i in ids if f"{HERE}:ScaledVAE" in i]
    assert [i.split(f"{HERE}:ScaledVAE-")[1][:6] for i in plug] == ["z2-s0-", "z2-s1-"]
    assert any(f"digits-{EXAMPLE}-z2-s0-" in i for i in ids)
    assert _dry_run(capsys, f"vae,{HERE}:ScaledVAE,{EXAMPLE}", tmp_path) == ids  # same command, same ids

    from vaebench.config import parse_model

    spec = parse_model(f"{HERE}:ScaledVAE")
    assert spec.params_dict() == {"beta": 1.0, "prior_scale": 1.0}  # defaults recorded
    assert parse_model({"name": f"{HERE}:ScaledVAE", "prior_scale": 1}) == spec  # int -> float like the registry
    assert parse_model({"name": f"{HERE}:ScaledVAE", "prior_scale": 2.0}) != spec
    assert resolve_plugin(f"{HERE}:ScaledVAE").__name__ == "ScaledVAE"


@pytest.mark.parametrize(
    "name, message",
    [
        ("no_such_pkg.models:MyVAE", "cannot import module 'no_such_pkg.models'"),
        (f"{HERE}:Missing", "has no attribute 'Missing'"),
        (f"{HERE}:not_a_class", "is a function, not a class"),
        (f"{HERE}:NoEncode", "does not implement the model interface: missing encode"),
        (f"{HERE}:NotTrainable", "cannot be trained"),
        (f"{HERE}:BadSignature", "constructor must be (image_shape, latent_dim"),
        ("examples.wide_decoder_vae:", "package.module:ClassName"),
    ],
)
def test_bad_plugins_are_user_errors(monkeypatch, name, message):
    monkeypatch.syspath_prepend(str(ROOT))
    with pytest.raises(UserError) as exc:
        plugin_model_spec(name, {})
    assert message in str(exc.value)


def test_bad_plugin_on_the_command_line_exits_2(capsys, tmp_path, plugin_registry):
    from vaebench.cli import main

    code = main(["run", "--suite", "smoke", "--models", f"vae,{HERE}:NoEncode", "--out", str(tmp_path), "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2 and "missing encode" in err and err.count("\n") == 1
    with pytest.raises(UserError, match=r"has no parameter\(s\) \['width2'\]"):
        plugin_model_spec(EXAMPLE, {"width2": 3})


def test_example_plugin_is_a_wider_vae(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    spec = plugin_model_spec(EXAMPLE, {"width": 64})
    assert spec.params_dict() == {"beta": 1.0, "width": 64}
    cls = resolve_plugin(EXAMPLE)
    for shape in ((1, 8, 8), (1, 28, 28)):
        model = cls(shape, 2, num_classes=10, lr=1e-3, **spec.params_dict())
        x = torch.rand(5, *shape)
        assert model.decode(torch.zeros(5, 2)).shape == x.shape
        out = model.objective(x)
        assert torch.isfinite(out["loss"]) and model.log_likelihood_bound(x).shape == (5,)
    assert model.decoder.head[0].out_features == 64


# ---------------------------------------------------------------- reproduce


def _reproduce(capsys, record: Path, **kw) -> tuple[int, str, str]:
    from vaebench.cli.reproduce import cmd_reproduce

    args = argparse.Namespace(record=record, data_root=None, accelerator=None, devices=1, out=None)
    for key, value in kw.items():
        setattr(args, key, value)
    code = cmd_reproduce(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def tiny_record(tmp_path_factory):
    from vaebench.config import load_suite, with_overrides
    from vaebench.runner.sweep import run_suite

    out = tmp_path_factory.mktemp("repro") / "res"
    suite = with_overrides(load_suite("smoke"), ["digits"], ["vae"], [2], [0], 2)
    torch.manual_seed(0)  # see test_reproduce_does_not_depend_on_the_global_rng
    run_suite(suite, out, quiet=True)
    (path,) = (out / "runs").glob("*.json")
    return path


def _snapshot(folder: Path) -> dict:
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_reproduce_gives_identical_metrics(capsys, tiny_record, tmp_path):
    before = _snapshot(tiny_record.parent.parent)
    torch.manual_seed(0)
    code, out, err = _reproduce(capsys, tiny_record, out=tmp_path / "again")
    assert code == 0, err
    stored = json.loads(tiny_record.read_text())
    n = len(stored["metrics"])
    assert f"{n} of {n} metrics identical" in out
    assert all(name in out for name in stored["metrics"])
    assert "run id" not in err  # the rebuilt run id is the record's
    assert _snapshot(tiny_record.parent.parent) == before  # the record's folder is untouched
    new = json.loads((tmp_path / "again" / "runs" / tiny_record.name).read_text())
    assert new["metrics"] == stored["metrics"]


def test_reproduce_does_not_depend_on_the_global_rng(capsys, tiny_record):
    torch.manual_seed(12345)
    code, out, _ = _reproduce(capsys, tiny_record)
    n = len(json.loads(tiny_record.read_text())["metrics"])
    assert code == 0 and f"{n} of {n} metrics identical" in out


def test_reproduce_warns_about_changed_provenance_and_run_id(capsys, tiny_record, tmp_path):
    record = json.loads(tiny_record.read_text())
    record["provenance"]["versions"]["torch"] = "1.0.0"
    record["provenance"]["device"] = "cpu (another one)"
    record["spec"]["protocol"]["iwae_k"] = 8  # the run id no longer matches this spec
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(record))
    torch.manual_seed(0)
    code, out, err = _reproduce(capsys, edited, accelerator="cpu")
    assert code == 0
    assert "torch version differs: stored 1.0.0" in err and "device differs" in err
    assert "rebuilt run id" in err and record["run_id"] in err
    assert "iwae" in out and "metric" in out


def test_reproduce_bad_records_are_user_errors(capsys, tmp_path, tiny_record):
    from vaebench.cli import main

    with pytest.raises(UserError, match="does not exist"):
        _reproduce(capsys, tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="unreadable"):
        _reproduce(capsys, bad)
    bad.write_text(json.dumps({"run_id": "x"}))
    with pytest.raises(UserError, match="not a vaebench run record"):
        _reproduce(capsys, bad)
    bad.write_text(json.dumps({"run_id": "x", "spec": {"dataset": "digits"}}))
    with pytest.raises(UserError, match="does not match vaebench/schemas/run_record.schema.json"):
        _reproduce(capsys, bad)
    with pytest.raises(UserError, match="the record's own results folder"):
        _reproduce(capsys, tiny_record, out=tiny_record.parent.parent)
    assert main(["reproduce", str(tmp_path / "none.json")]) == 2
    assert "error: run record" in capsys.readouterr().err


def test_plugin_records_rebuild_to_the_same_run_id(plugin_registry):
    from vaebench.cli.reproduce import rebuild_spec
    from vaebench.config import Protocol, RunSpec, parse_model

    spec = RunSpec("smoke", "digits", parse_model({"name": EXAMPLE, "width": 128}), 2, 3, Protocol(max_epochs=2))
    assert rebuild_spec({"spec": json.loads(json.dumps(spec.to_dict()))}).run_id == spec.run_id
