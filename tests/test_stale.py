"""Records made by other code: "the same code" is the hash of the package's result code (syntax
trees, docstrings and comments left out, plus the FID weights); `run` says how many done records
differ and keeps them unless `--rerun-stale`; `report` says when a table mixes code versions."""

from __future__ import annotations

import json
import shutil

from tests.conftest import ROOT
from vaebench.cli import main
from vaebench.store import code_hash, package_code_hash


def _edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_the_code_hash_ignores_comments_docstrings_and_presentation_but_not_code(tmp_path):
    pkg = tmp_path / "vaebench"
    shutil.copytree(ROOT / "vaebench", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    base = package_code_hash(pkg)
    assert base == code_hash() and len(base) == 16
    elbo = pkg / "metrics" / "elbo.py"
    _edit(elbo, '"""', '"""A docstring edit. ')  # the module docstring
    elbo.write_text(elbo.read_text() + "\n# a comment\n\n")
    _edit(pkg / "cli" / "run.py", "def cmd_run(args) -> int:", "def cmd_run(args) -> int:\n    args = args")
    assert package_code_hash(pkg) == base
    _edit(pkg / "metrics" / "elbo.py", "import math", "import math\nUNUSED = 1")
    changed = package_code_hash(pkg)
    assert changed != base
    weights = next((pkg / "fid_weights").iterdir())
    weights.write_bytes(weights.read_bytes() + b"\0")
    assert package_code_hash(pkg) not in (base, changed)


def _records(out):
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))}


def test_run_names_records_of_other_code_keeps_them_and_reruns_them_on_request(capsys, tmp_path):
    out = tmp_path / "res"
    argv = ["run", "--suite", "smoke", "--models", "pca", "--latent-dims", "2", "--seeds", "0,1", "--out", str(out),
            "--wandb", "disabled"]
    assert main(argv) == 0
    capsys.readouterr()
    records = _records(out)
    assert {r["provenance"]["code_hash"] for r in records.values()} == {code_hash()}
    old_id = sorted(records)[0]
    path = out / "runs" / f"{old_id}.json"
    record = records[old_id]
    record["provenance"]["code_hash"] = "0123456789abcdef"  # as another version of the code wrote it
    path.write_text(json.dumps(record))
    kept = path.read_bytes()

    assert main([*argv, "--dry-run"]) == 0
    res = capsys.readouterr().out
    assert f"stale    {old_id}  pca z2 s" in res and "(made by code 0123456789abcdef)" in res
    assert f"1 done record(s) were made by other code than this (code {code_hash()}): 1 by code 0123456789abcdef; " \
           "kept as they are; --rerun-stale recomputes them" in res

    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "1 done record(s) were made by other code" in err and "0 run(s) finished, 2 skipped" in err
    assert path.read_bytes() == kept
    assert main(["report", str(out)]) == 0
    res = capsys.readouterr().out
    assert "note: these 2 records come from 2 code versions (1 by code 0123456789abcdef; 1 by code " in res

    assert main([*argv, "--rerun-stale", "--dry-run"]) == 0
    assert f"rerun    {old_id}" in capsys.readouterr().out
    assert main([*argv, "--rerun-stale"]) == 0
    err = capsys.readouterr().err
    assert "recomputed (--rerun-stale)" in err and "1 run(s) finished, 1 skipped" in err
    again = _records(out)[old_id]
    assert again["provenance"]["code_hash"] == code_hash()
    assert again["metrics"] == records[old_id]["metrics"]  # PCA: the same code gives the same numbers
    assert main(["report", str(out)]) == 0
    assert "code versions" not in capsys.readouterr().out
