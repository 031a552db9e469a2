"""Every error a user can cause: exit status 2, one clear message, existing results untouched."""

import gzip
import json
import shutil

import pytest

from vaebench.cli import main
from vaebench.data import fashion_mnist

HAVE_FMNIST = fashion_mnist.find_files() is not None


@pytest.fixture
def results(tmp_path):
    """A results folder that already holds a record and a table."""
    out = tmp_path / "res"
    (out / "runs").mkdir(parents=True)
    (out / "runs" / "old-run.json").write_text(json.dumps({"run_id": "old-run", "spec": {}}))
    (out / "table.md").write_text("| old |\n")
    return out


def snapshot(folder):
    return {p.relative_to(folder): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def _run(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--suite", "nope"], "unknown suite 'nope'"),
        (["--suite", "smoke", "--models", "vae,transformer"], "unknown model 'transformer'"),
        (["--suite", "smoke", "--datasets", "imagenet"], "unknown dataset 'imagenet'"),
        (["--suite", "smoke", "--latent-dims", "0"], "latent dim must be >= 1"),
        (["--suite", "smoke", "--max-epochs", "0"], "--max-epochs must be >= 1"),
        (["--suite", "smoke", "--seeds", "-1"], "--seeds: seed must be in 0..4294967295"),
        (["--suite", "smoke", "--seeds", "4294967296"], "--seeds: seed must be in 0..4294967295"),
        (["--suite", "smoke", "--seeds", "-1", "--dry-run"], "--seeds: seed must be in 0..4294967295"),
        (["--suite", "smoke", "--latent-dims", "2,2"], "--latent-dims: latent dim 2 is listed twice"),
        (["--suite", "smoke", "--seeds", "0,1,0"], "--seeds: seed 0 is listed twice"),
        (["--suite", "smoke", "--num-nodes", "0", "--dry-run"], "--num-nodes must be >= 1"),
        (["--suite", "smoke", "--runs-per-device", "0"], "--runs-per-device must be >= 1"),
        (["--suite", "smoke", "--devices-per-run", "-2"], "--devices-per-run must be >= 1"),
        (["--suite", "smoke", "--set", "protocol.figure_latent_dims=[3]"],
         "protocol.figure_latent_dims [3] not among the latent dims [2, 8]"),
        (["--suite", "smoke", "--set", "protocol.lr=-1"], "--set: protocol.lr must be > 0, got -1"),
        (["--suite", "smoke", "--set", "protocol.patience=-1"], "--set: protocol.patience must be >= 0, got -1"),
    ],
)
def test_bad_arguments_exit_2_and_leave_results_alone(capsys, results, argv, message):
    before = snapshot(results)
    code, err = _run(capsys, "run", *argv, "--out", str(results))
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert snapshot(results) == before


def test_malformed_yaml(capsys, tmp_path, results):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodels: [vae\n")
    before = snapshot(results)
    code, err = _run(capsys, "run", "--suite", str(bad), "--out", str(results))
    assert code == 2 and "malformed YAML" in err
    assert snapshot(results) == before


def test_unwritable_output_folder(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, err = _run(capsys, "run", "--suite", "smoke", "--out", str(blocker / "sub"))
    assert code == 2 and "not writable" in err


def test_missing_data_without_network(capsys, tmp_path, monkeypatch, results):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "none")
    monkeypatch.setattr(fashion_mnist, "DOWNLOAD_DIR", tmp_path / "none")
    monkeypatch.setenv("VAEBENCH_OFFLINE", "1")
    before = snapshot(results)
    code, err = _run(capsys, "run", "--suite", "latent_dim", "--data-root", str(tmp_path), "--out", str(results))
    assert code == 2 and "Fashion-MNIST not found" in err and "apt-get install dataset-fashion-mnist" in err
    assert snapshot(results) == before


@pytest.mark.skipif(not HAVE_FMNIST, reason="needs the Fashion-MNIST files")
def test_corrupted_data_file(capsys, tmp_path, results):
    for path in fashion_mnist.find_files().values():
        shutil.copy(path, tmp_path / path.name)
    target = tmp_path / "train-labels-idx1-ubyte.gz"
    data = bytearray(gzip.decompress(target.read_bytes()))
    data[-1] ^= 0xFF
    target.write_bytes(gzip.compress(bytes(data)))
    before = snapshot(results)
    code, err = _run(capsys, "run", "--suite", "latent_dim", "--data-root", str(tmp_path), "--out", str(results))
    assert code == 2 and "corrupted" in err and "train-labels" in err
    assert snapshot(results) == before


def test_report_on_missing_folder(capsys, tmp_path):
    code, err = _run(capsys, "report", str(tmp_path / "nothing"))
    assert code == 2 and "does not exist" in err


def test_error_in_a_subprocess_has_no_traceback_unless_debug(cli):
    quiet = cli("run", "--suite", "nope")
    assert quiet.returncode == 2 and quiet.stderr.strip() == quiet.stderr.strip().splitlines()[0]
    assert "Traceback" not in quiet.stderr
    loud = cli("--debug", "run", "--suite", "nope")
    assert loud.returncode == 2 and "Traceback" in loud.stderr


def test_list_shows_suites_models_and_dataset_availability(cli):
    res = cli("list")
    assert res.returncode == 0, res.stderr
    for word in ("smoke", "latent_dim", "pca", "cvae", "digits", "fashion_mnist", "available"):
        assert word in res.stdout


def test_list_shows_every_model_with_its_citation_and_defaults(cli):
    from vaebench.models.registry import CITATIONS, MODELS

    assert set(CITATIONS) == set(MODELS), "every registered model names its paper"
    out = cli("list").stdout
    for name, (_, defaults) in MODELS.items():
        line = next(ln for ln in out.splitlines() if ln.split()[:1] == [name])
        assert CITATIONS[name] in line
        shown = out.splitlines()[out.splitlines().index(line) + 1]
        assert "defaults:" in shown and all(f"{k}={v}" in shown for k, v in defaults.items())


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback_before_or_after_the_command(capsys, where):
    argv = ["run", "--suite", "nope"]
    argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    code, err = _run(capsys, *argv)
    assert code == 2 and "Traceback" in err and "unknown suite 'nope'" in err
    code, err = _run(capsys, "run", "--suite", "nope")
    assert code == 2 and "Traceback" not in err


def test_every_command_is_its_own_module_and_the_cli_imports_no_circle():
    import subprocess
    import sys
    from pathlib import Path

    from vaebench import cli

    assert {m.__name__.rsplit(".", 1)[1] for m in cli.COMMANDS} == {
        "run", "list_cmd", "report", "compare", "reproduce", "fid_backbone", "recommend"}
    top = Path(cli.__file__).parents[1]
    assert not [n for n in ("cli.py", "compare_cli.py", "fid_cli.py", "reproduce.py") if (top / n).exists()]
    # each command module imports on its own, in a fresh interpreter (an import circle would fail)
    for m in cli.COMMANDS:
        res = subprocess.run([sys.executable, "-c", f"import {m.__name__}"], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["report", "RESULTS"]])
def test_help_list_and_report_do_not_import_torch(tmp_path, argv):
    """torch's import is most of a second on an idle machine and many under load; these commands
    do not need it (benchmarks/startup.py measures how soon they answer)."""
    import subprocess
    import sys
    from pathlib import Path

    results = tmp_path / "smoke"
    shutil.copytree(Path(__file__).parents[1] / "results" / "smoke", results)
    argv = [str(results) if a == "RESULTS" else a for a in argv]
    code = ("import sys, runpy; sys.argv = ['vaebench', *sys.argv[1:]]\n"
            "try:\n    runpy.run_module('vaebench', run_name='__main__')\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('vaebench'))")
    res = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=tmp_path,
                         env={**__import__("os").environ, "VAEBENCH_OFFLINE": "1"})
    assert res.returncode == 0, res.stderr[-2000:]


@pytest.mark.parametrize("command", [["run", "--suite", "smoke", "--models", "pca", "--latent-dims", "2"],
                                     ["run", "--suite", "smoke", "--dry-run"], ["list"]])
def test_a_named_data_root_that_does_not_exist_exits_2(capsys, tmp_path, command):
    code, err = _run(capsys, *command, "--data-root", str(tmp_path / "no" / "such"), *(
        ["--out", str(tmp_path / "res")] if command[0] == "run" else []))
    assert code == 2 and "--data-root" in err and "does not exist" in err and err.count("\n") == 1
    assert not (tmp_path / "res").exists()


@pytest.mark.skipif(not HAVE_FMNIST, reason="needs the Fashion-MNIST files (a copy outside --data-root)")
def test_a_named_data_root_without_the_data_is_an_error_not_the_system_copy(capsys, tmp_path):
    from vaebench.data import load_dataset
    from vaebench.errors import DataError

    with pytest.raises(DataError, match="not found under --data-root"):
        load_dataset("fashion_mnist", data_root=tmp_path)
    code, out = main(["run", "--suite", "latent_dim", "--data-root", str(tmp_path), "--out", str(tmp_path / "r"),
                      "--dry-run"]), capsys.readouterr()
    assert code == 2 and "dataset fashion_mnist: MISSING" in out.out and "not found under --data-root" in out.err
    # digits needs no files: a data root that exists is accepted (and said to be ignored)
    assert main(["list", "--data-root", str(tmp_path)]) == 0
    assert "ships with scikit-learn (ignores --data-root)" in capsys.readouterr().out


@pytest.mark.skipif(not HAVE_FMNIST, reason="needs the Fashion-MNIST files")
def test_dry_run_verifies_checksums(capsys, tmp_path):
    for path in fashion_mnist.find_files().values():
        shutil.copy(path, tmp_path / path.name)
    argv = ["run", "--suite", "latent_dim", "--data-root", str(tmp_path), "--out", str(tmp_path / "r"), "--dry-run",
            "--models", "pca", "--latent-dims", "2", "--seeds", "0"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "dataset fashion_mnist: available" in out and "SHA-256 verified" in out
    assert "runs: 1: 0 done, 0 partial, 1 to do" in out and "expected time on this cpu" in out
    target = tmp_path / "train-labels-idx1-ubyte.gz"
    data = bytearray(gzip.decompress(target.read_bytes()))
    data[-1] ^= 0xFF
    target.write_bytes(gzip.compress(bytes(data)))
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert "dataset fashion_mnist: MISSING" in out and "corrupted" in err and "train-labels" in err


def test_a_full_disk_while_writing_the_report_is_one_line_and_keeps_the_records(capsys, tmp_path, monkeypatch):
    """The runs finish, then the plots cannot be written (ENOSPC): exit 2, one line naming the
    step, saying the records are safe and that `report DIR` rebuilds the rest."""
    import errno

    from vaebench.report import plots

    def full(fig, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(plots, "_save", full)
    out = tmp_path / "res"
    code, err = _run(capsys, "run", "--suite", "smoke", "--models", "pca", "--latent-dims", "2", "--seeds", "0",
                     "--out", str(out), "--quiet", "--wandb", "disabled")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "writing the plots (plots/) failed (No space left on device" in err
    assert "records" in err and "are safe" in err and f"vaebench report {out}" in err
    assert len(list((out / "runs").glob("*.json"))) == 1
    assert not list(out.rglob(".*.tmp"))
