"""`compare`: exit codes, deltas, one-sided rows/metrics, tolerances, Welch verdicts, and a
real broken model caught by the check. Synthetic result folders are written in the real
format (run records via RunStore, table.csv via write_tables)."""

from __future__ import annotations

import argparse
import math
import shutil
from pathlib import Path

import pytest
import torch
from scipy import stats

from vaebench.cli import main
from vaebench.cli.compare import cmd_compare
from vaebench.config import ModelSpec, Protocol, RunSpec
from vaebench.errors import UserError
from vaebench.metrics.catalog import DISENTANGLEMENT_METRICS
from vaebench.models.vae import VAE
from vaebench.report.compare import (
    DEFAULT_TOLERANCES,
    Tolerance,
    compare,
    default_tolerance,
    load_side,
)
from vaebench.report.table import write_tables
from vaebench.store import RunStore

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]

VAE_METRICS = {"elbo": -25.0, "iwae": -24.8, "rec_nll": 23.0, "kl": 2.0, "mse": 0.04, "active_units": 2, "probe_acc": 0.7}
PCA_METRICS = {"mse": 0.05, "active_units": 2, "probe_acc": 0.6, "ppca_ll": 0.2}


def record(model: str, seed: int, metrics: dict, dataset="digits", dim=2, status="ok", max_epochs=50, params=(),
           num_threads=0) -> dict:
    spec = RunSpec("synthetic", dataset, ModelSpec(model, tuple(params)), dim, seed,
                   Protocol(max_epochs=max_epochs, num_threads=num_threads))
    return {
        "schema_version": 1, "run_id": spec.run_id, "spec": spec.to_dict(), "status": status,
        "dataset": {"name": dataset, "checksum": "c0ffee"},
        "metrics": dict(metrics) if status == "ok" else {},
        "provenance": {"versions": {}, "git_sha": None, "device": "cpu"},
    }


def results(folder: Path, records: list[dict]) -> Path:
    store = RunStore(folder)
    for r in records:
        store.write(r)
    write_tables(records, folder)
    return folder


def baseline_records(seeds=(0,)) -> list[dict]:
    return [record(m, s, metrics) for m, metrics in (("vae", VAE_METRICS), ("pca", PCA_METRICS)) for s in seeds]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def table_rows(markdown: str) -> list[list[str]]:
    """The data rows of the report's delta table, as lists of cells."""
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines[1:]]


# ---------------------------------------------------------------- exit codes and listing


@pytest.mark.parametrize("which", ["folder", "table"])
def test_self_compare_exits_0_with_zero_deltas(capsys, tmp_path, which):
    folder = results(tmp_path / "base", baseline_records())
    path = folder if which == "folder" else folder / "table.csv"
    code, out, _ = run(capsys, "compare", path, path)
    assert code == 0, out
    rows = table_rows(out)
    assert len(rows) == len(VAE_METRICS) + len(PCA_METRICS)
    assert all(r[7] == "0" for r in rows)  # the Δ column
    assert all(r[0] in ("ok", "info") for r in rows)
    assert "No regression" in out


def test_worse_beyond_tolerance_exits_1_and_comes_first(capsys, tmp_path):
    base = results(tmp_path / "base", baseline_records())
    worse = {**VAE_METRICS, "mse": 0.06}  # +50%, default tolerance 10%
    cand = results(tmp_path / "cand", [record("vae", 0, worse), record("pca", 0, PCA_METRICS)])
    report = tmp_path / "report.md"
    code, out, _ = run(capsys, "compare", cand, base, "--report", report)
    assert code == 1
    first = table_rows(out)[0]
    assert first[0] == "**REGRESSION**" and first[2] == "`vae`" and first[4].startswith("`mse`")
    assert first[7] == "+0.02" and first[8] == "+50.0%"
    assert sum(r[0] == "**REGRESSION**" for r in table_rows(out)) == 1
    assert report.read_text() == out


def test_worse_within_tolerance_exits_0(capsys, tmp_path):
    base = results(tmp_path / "base", baseline_records())
    cand = results(tmp_path / "cand", [record("vae", 0, {**VAE_METRICS, "mse": 0.042}), record("pca", 0, PCA_METRICS)])
    code, out, _ = run(capsys, "compare", cand, base)
    assert code == 0, out


def test_rows_and_metrics_on_one_side_are_listed(capsys, tmp_path):
    base = results(tmp_path / "base", baseline_records())
    no_kl = {k: v for k, v in VAE_METRICS.items() if k != "kl"}  # informational: listed, not gated
    extra = {**VAE_METRICS, "my_score": 0.5}
    cand = results(tmp_path / "cand", [record("vae", 0, no_kl), record("ae", 0, {"mse": 0.03}),
                                        record("vae", 0, extra, dim=8)])
    code, out, _ = run(capsys, "compare", cand, base)
    assert code == 0, out
    assert "## Rows only in the candidate" in out and "digits / `ae` / z=2" in out and "digits / `vae` / z=8" in out
    assert "## Rows only in the baseline" in out and "digits / `pca` / z=2" in out
    assert "`kl` only in the baseline (not gated)" in out
    code, out, _ = run(capsys, "compare", cand, base, "--strict")
    assert code == 1 and "--strict" in out


def test_metric_only_in_candidate_is_listed(capsys, tmp_path):
    base = results(tmp_path / "base", [record("vae", 0, VAE_METRICS)])
    cand = results(tmp_path / "cand", [record("vae", 0, {**VAE_METRICS, "fid_samples[digits-cnn]": 3.0})])
    code, out, _ = run(capsys, "compare", cand, base)
    assert code == 0 and "`fid_samples[digits-cnn]` only in the candidate" in out


def test_records_against_a_table_without_protocols(capsys, tmp_path):
    """A table.csv written before rows carried their protocol: matched on the other three, and said so."""
    base = results(tmp_path / "base", [record("vae", s, VAE_METRICS) for s in (0, 1)])
    _drop_protocol_column(base / "table.csv")
    cand = results(tmp_path / "cand", [record("vae", s, {**VAE_METRICS, "mse": 0.08}, max_epochs=10) for s in (0, 1)])
    code, out, _ = run(capsys, "compare", cand, base / "table.csv")
    assert code == 1 and "(run records, 1 row)" in out and "(table.csv, 1 row)" in out
    assert "from means, stds and n_seeds" in out
    assert "the baseline's table.csv has no `protocol` column" in out and "cannot be detected" in out
    assert table_rows(out)[0][11].endswith("vs unknown")


def _drop_protocol_column(path: Path) -> None:
    """Rewrite a table.csv as it was written before the `protocol` column existed."""
    import csv

    rows = list(csv.DictReader(path.read_text().splitlines()))
    cols = [c for c in rows[0] if c != "protocol"]
    path.write_text("\n".join([",".join(cols)] + [",".join(r[c] for c in cols) for r in rows]) + "\n")


def test_no_common_rows_exits_2(capsys, tmp_path):
    base = results(tmp_path / "base", [record("vae", 0, VAE_METRICS)])
    cand = results(tmp_path / "cand", [record("ae", 0, {"mse": 0.03})])
    code, out, err = run(capsys, "compare", cand, base)
    assert code == 2 and out == ""
    assert "no common rows" in err and "--model-map" in err and err.count("\n") == 1


def test_missing_or_empty_inputs_exit_2(capsys, tmp_path):
    base = results(tmp_path / "base", baseline_records())
    code, _, err = run(capsys, "compare", tmp_path / "nope", base)
    assert code == 2 and "candidate" in err and "does not exist" in err
    code, _, err = run(capsys, "compare", base, tmp_path / "nope" / "table.csv")
    assert code == 2 and "baseline" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "compare", tmp_path / "empty", base)
    assert code == 2 and "no run records" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    code, _, err = run(capsys, "compare", bad, base)
    assert code == 2 and "not a vaebench table.csv" in err


def test_unknown_metric_in_tolerances_exits_2(capsys, tmp_path):
    base = results(tmp_path / "base", baseline_records())
    tol = tmp_path / "tol.yaml"
    tol.write_text("msee: 0.1\n")
    code, _, err = run(capsys, "compare", base, base, "--tolerances", tol)
    assert code == 2 and "unknown metric 'msee'" in err and "did you mean mse" in err
    code, _, err = run(capsys, "compare", base, base, "--tol", "elbow=0.1")
    assert code == 2 and "unknown metric 'elbow'" in err
    for bad in ("mse", "mse=abs:x", "mse=-0.1", "mse=percent:3"):
        code, _, err = run(capsys, "compare", base, base, "--tol", bad)
        assert code == 2 and "--tol" in err, bad
    tol.write_text("mse: {relative: 0.1}\n")
    code, _, err = run(capsys, "compare", base, base, "--tolerances", tol)
    assert code == 2 and "unknown key" in err
    code, _, err = run(capsys, "compare", base, base, "--tolerances", tmp_path / "none.yaml")
    assert code == 2 and "does not exist" in err


def test_tolerances_from_file_and_command_line(capsys, tmp_path):
    base = results(tmp_path / "base", baseline_records())
    cand = results(tmp_path / "cand", [record("vae", 0, {**VAE_METRICS, "mse": 0.06, "kl": 3.0}), record("pca", 0, PCA_METRICS)])
    tol = tmp_path / "tol.yaml"
    tol.write_text("mse: 0.6\n")  # relative: 60% allowed
    assert run(capsys, "compare", cand, base, "--tolerances", tol)[0] == 0
    assert run(capsys, "compare", cand, base, "--tol", "mse=abs:0.025")[0] == 0
    assert run(capsys, "compare", cand, base, "--tolerances", tol, "--tol", "mse=0.1")[0] == 1  # the CLI wins
    # kl is informational: only reported; gating it anyway takes a tolerance and a direction
    code, _, err = run(capsys, "compare", cand, base, "--tol", "mse=1", "--tol", "kl=0.2")
    assert code == 2 and "'kl' is informational" in err and "lower" in err
    code, out, _ = run(capsys, "compare", cand, base, "--tol", "mse=1", "--tol", "kl=0.2,lower")
    assert code == 1 and table_rows(out)[0][4] == "`kl` ↓" and table_rows(out)[0][0] == "**REGRESSION**"
    assert run(capsys, "compare", cand, base, "--tol", "mse=nogate")[0] == 0


def test_fid_and_custom_metric_directions(capsys, tmp_path):
    fid = "fid_samples[digits-cnn]"
    base = results(tmp_path / "base", [record("vae", 0, {**VAE_METRICS, fid: 10.0, "my_score": 1.0})])
    cand = results(tmp_path / "cand", [record("vae", 0, {**VAE_METRICS, fid: 12.0, "my_score": 0.5})])
    code, out, _ = run(capsys, "compare", cand, base)  # fid +20% (lower is better, 10% allowed)
    rows = table_rows(out)
    assert code == 1 and rows[0][4] == f"`{fid}` ↓"
    assert any(r[4] == "`my_score`" and r[0] == "info" for r in rows)  # direction unknown: reported only
    assert run(capsys, "compare", cand, base, "--tol", "fid*=0.25")[0] == 0
    code, _, err = run(capsys, "compare", cand, base, "--tol", "fid*=0.25", "--tol", "my_score=0.1")
    assert code == 2 and "direction" in err
    code, out, _ = run(capsys, "compare", cand, base, "--tol", "fid*=0.25", "--tol", "my_score=0.1,higher")
    assert code == 1 and table_rows(out)[0][4] == "`my_score` ↑"


def test_model_map(capsys, tmp_path):
    plugin = "examples.wide_decoder_vae:WideDecoderVAE"
    folder = results(tmp_path / "res", [record("vae", 0, VAE_METRICS), record(plugin, 0, {**VAE_METRICS, "elbo": -30.0}),
                                         record("pca", 0, PCA_METRICS)])
    code, out, _ = run(capsys, "compare", folder, folder, "--model-map", f"{plugin}=vae")
    assert code == 1
    first = table_rows(out)[0]
    assert first[2] == f"`{plugin}` vs `vae`" and first[4] == "`elbo` ↑"
    assert "## Rows not compared (not in --model-map)" in out and "candidate digits / `pca` / z=2" in out
    code, _, err = run(capsys, "compare", folder, folder, "--model-map", "vae")
    assert code == 2 and "--model-map" in err


def test_rows_of_different_likelihoods_are_not_compared_on_their_bounds(capsys, tmp_path):
    """A Bernoulli VAE mapped onto a continuous-Bernoulli one: elbo/iwae/rec_nll bound different
    quantities, so compare refuses (exit 2, one line) unless --across-likelihoods, which compares
    the rest (bpd, mse, ...) and leaves the bounds out with a warning."""
    cb = "vae[likelihood=continuous_bernoulli]"
    folder = results(tmp_path / "res", [
        record("vae", 0, {**VAE_METRICS, "bpd": 4.5}),
        record("vae", 0, {**VAE_METRICS, "elbo": 1900.0, "iwae": 1910.0, "rec_nll": -1920.0, "bpd": 4.4},
               params=(("likelihood", "continuous_bernoulli"),)),
    ])
    code, _, err = run(capsys, "compare", folder, folder, "--model-map", f"vae={cb}")
    assert code == 2 and err.count("\n") == 1
    assert "likelihood bernoulli vs continuous_bernoulli" in err and "--across-likelihoods" in err and "only bpd" in err
    code, out, _ = run(capsys, "compare", folder, folder, "--model-map", f"vae={cb}", "--across-likelihoods")
    metrics = {row[4].split("`")[1] for row in table_rows(out)}
    assert {"bpd", "mse"} <= metrics and not metrics & {"elbo", "iwae", "rec_nll"}
    assert "(--across-likelihoods): elbo, iwae, rec_nll left out" in out
    assert run(capsys, "compare", folder, folder)[0] == 0  # same likelihood on both sides: compared as ever


def test_diverged_runs_are_a_regression(capsys, tmp_path):
    base = results(tmp_path / "base", [record("vae", s, VAE_METRICS) for s in (0, 1)])
    cand = results(tmp_path / "cand", [record("vae", 0, VAE_METRICS), record("vae", 1, {}, status="diverged")])
    code, out, _ = run(capsys, "compare", cand, base)
    assert code == 1
    first = table_rows(out)[0]
    assert first[4] == "`n_diverged` ↓" and first[5] == "1" and first[6] == "0"


def test_cmd_compare_with_a_namespace(capsys, tmp_path):
    base = results(tmp_path / "base", baseline_records())
    args = argparse.Namespace(candidate=base, baseline=base, tolerances=None, tol=[], model_map=[],
                              alpha=0.05, tolerance_only=False, strict=False, report=None)
    assert cmd_compare(args) == 0
    with pytest.raises(UserError, match="does not exist"):
        cmd_compare(argparse.Namespace(candidate=tmp_path / "x", baseline=base))
    with pytest.raises(UserError, match="alpha"):
        cmd_compare(argparse.Namespace(candidate=base, baseline=base, alpha=1.5))


# ---------------------------------------------------------------- row identity and protocols


def test_model_parameters_are_part_of_the_row(capsys, tmp_path):
    """Failed before: `vae` with beta = 8 matched the baseline's beta = 1 `vae` row silently."""
    base = results(tmp_path / "base", [record("vae", 0, VAE_METRICS)])
    cand = results(tmp_path / "cand", [record("vae", 0, {**VAE_METRICS, "elbo": -40.0}, params=[("beta", 8.0)])])
    code, out, err = run(capsys, "compare", cand, base)
    assert code == 2 and "no common rows" in err and "vae[beta=8]" in err
    code, out, _ = run(capsys, "compare", cand, base, "--model-map", "vae[beta=8]=vae")
    assert code == 1 and table_rows(out)[0][2] == "`vae[beta=8]` vs `vae`"
    # a bare name for a parametrised model: the error says which labels there are
    code, out, err = run(capsys, "compare", cand, base, "--model-map", "vae=vae")
    assert code == 2 and "no common rows" in err and "the candidate has no model `vae` (it has vae[beta=8])" in err
    both = results(tmp_path / "both", [record("vae", 0, VAE_METRICS), record("vae", 0, VAE_METRICS, params=[("beta", 8.0)])])
    assert {k[1] for k in load_side(both, "baseline").rows} == {"vae", "vae[beta=8]"}


def test_another_protocol_is_not_comparable_unless_asked(capsys, tmp_path):
    """Failed before: rows of different protocols were compared, with only a warning (exit 0/1)."""
    base = results(tmp_path / "base", [record("vae", 0, VAE_METRICS), record("pca", 0, PCA_METRICS)])
    cand = results(tmp_path / "cand", [record("vae", 0, {**VAE_METRICS, "mse": 0.08}, max_epochs=10),
                                        record("pca", 0, PCA_METRICS)])
    code, out, _ = run(capsys, "compare", cand, base)
    assert code == 2, out
    assert "## Rows not comparable" in out and "digits / `vae` / z=2" in out and "max_epochs 10 vs 50" in out
    assert "not comparable" in out.split("\n| status")[0]  # the result line says so before the table
    assert all(r[2] == "`pca`" for r in table_rows(out))  # the rest is compared as usual
    assert "Rows only in" not in out  # never listed as one-sided either
    code, out, _ = run(capsys, "compare", cand, base, "--across-protocols")
    assert code == 1 and table_rows(out)[0][4].startswith("`mse`")
    assert "compared across protocols (--across-protocols): max_epochs 10 vs 50" in out
    first = table_rows(out)[0][11]
    assert first.count("`") == 4 and " vs " in first  # both protocol ids shown


def test_engineering_settings_are_one_protocol(capsys, tmp_path):
    """Threads change no metric's meaning (identity.ENGINEERING_KEYS): same row, a warning."""
    base = results(tmp_path / "base", [record("vae", 0, VAE_METRICS, num_threads=1)])
    cand = results(tmp_path / "cand", [record("vae", 0, VAE_METRICS, num_threads=2)])
    code, out, _ = run(capsys, "compare", cand, base)
    assert code == 0, out
    assert "different engineering settings (num_threads 2 vs 1)" in out


def _table(path: Path, rows: list[tuple[str, str, float]], protocol: bool = True) -> Path:
    """A hand-written table.csv: (model, protocol id, mse mean) per row."""
    head = "dataset,model,latent_dim," + ("protocol," if protocol else "") + "n_seeds,n_diverged,mse_mean,mse_std\n"
    body = "".join(f"digits,{m},2,{p + ',' if protocol else ''}1,0,{v},\n" for m, p, v in rows)
    path.write_text(head + body)
    return path


def test_table_protocol_column(capsys, tmp_path):
    base = _table(tmp_path / "base.csv", [("vae", "aaaa1111", 0.04), ("vae", "bbbb2222", 0.04)])
    same = _table(tmp_path / "same.csv", [("vae", "bbbb2222", 0.08)])
    code, out, _ = run(capsys, "compare", same, base)  # matched on its protocol, the other one is baseline-only
    assert code == 1 and table_rows(out)[0][11] == "`bbbb2222`"
    assert "## Rows only in the baseline" in out and "protocol aaaa1111" in out
    other = _table(tmp_path / "other.csv", [("vae", "cccc3333", 0.04)])
    code, out, _ = run(capsys, "compare", other, base, "--across-protocols")
    assert code == 2 and "several protocols: ambiguous" in out  # which of the two? no guess
    single = _table(tmp_path / "single.csv", [("vae", "aaaa1111", 0.04)])
    code, out, _ = run(capsys, "compare", other, single)
    assert code == 2 and "protocol cccc3333 vs aaaa1111" in out


# ---------------------------------------------------------------- missing and invalid metrics


@pytest.mark.parametrize("how", ["absent", "null", "nan", "absent in one seed"])
def test_a_gated_metric_missing_or_invalid_in_the_candidate_is_a_regression(capsys, tmp_path, how):
    """Failed before: a candidate lacking probe_acc exited 0 ("only in the baseline")."""
    base = results(tmp_path / "base", [record("vae", s, VAE_METRICS) for s in (0, 1)])
    broken = {k: v for k, v in VAE_METRICS.items() if k != "probe_acc"}
    if how == "null":
        broken["probe_acc"] = None
    if how == "nan":
        broken["probe_acc"] = math.nan
    seeds = [record("vae", 0, VAE_METRICS if how == "absent in one seed" else broken), record("vae", 1, broken)]
    cand = results(tmp_path / "cand", seeds)
    code, out, _ = run(capsys, "compare", cand, base)
    assert code == 1, out
    (reg,) = [r for r in table_rows(out) if r[0] == "**REGRESSION**"]
    assert reg[1:5] == ["digits", "`vae`", "2", "`probe_acc` ↑"]
    want = "missing in the candidate" if how == "absent" else "not a finite number in the candidate"
    assert reg[10] == want and reg[7] in ("—", "nan")


def test_a_non_numeric_cell_in_the_candidate_table_is_a_regression(capsys, tmp_path):
    base = _table(tmp_path / "base.csv", [("vae", "aaaa1111", 0.04)])
    cand = _table(tmp_path / "cand.csv", [("vae", "aaaa1111", "abc")])
    code, out, _ = run(capsys, "compare", cand, base)
    assert code == 1 and table_rows(out)[0][0] == "**REGRESSION**" and "'abc' (not a number)" in table_rows(out)[0][5]
    code, _, err = run(capsys, "compare", base, cand)  # a broken baseline is bad input
    assert code == 2 and "`mse` is 'abc', not a number" in err and "line 2" in err


# ---------------------------------------------------------------- informational metrics and tolerances


def test_informational_metrics_never_gate_and_have_no_arrow(capsys, tmp_path):
    """Failed before: active_units 2 -> 0 was a REGRESSION; kl and rec_nll carried ↓."""
    base = results(tmp_path / "base", [record("vae", 0, VAE_METRICS)])
    cand = results(tmp_path / "cand", [record("vae", 0, {**VAE_METRICS, "active_units": 0, "kl": 9.0, "rec_nll": 40.0})])
    code, out, _ = run(capsys, "compare", cand, base)
    assert code == 0, out
    info = {r[4]: r for r in table_rows(out) if r[0] == "info"}
    assert set(info) == {"`active_units`", "`kl`", "`rec_nll`"}  # no arrow
    assert all(r[9] == "—" for r in info.values())
    assert "Informational (reported, never gated): `rec_nll`:" in out and "`active_units`: a description" in out
    assert "active_units" not in DEFAULT_TOLERANCES


@pytest.mark.parametrize("cand_mig, status, code", [(0.034, "ok", 0), (0.0, "ok", 0), (-0.02, "**REGRESSION**", 1)])
def test_disentanglement_scores_have_an_absolute_tolerance(capsys, tmp_path, cand_mig, status, code):
    """Failed before: MIG got the generic 5% relative tolerance (0.034 vs 0.036 was a REGRESSION)."""
    scores = {"mig": 0.036, "dci_disentanglement": 0.3}
    base = results(tmp_path / "base", [record("vae", 0, {**VAE_METRICS, **scores})])
    cand = results(tmp_path / "cand", [record("vae", 0, {**VAE_METRICS, **scores, "mig": cand_mig})])
    got, out, _ = run(capsys, "compare", cand, base)
    mig = next(r for r in table_rows(out) if r[4].startswith("`mig`"))
    assert got == code and mig[0] == status and mig[9] == "0.05" and mig[4] == "`mig` ↑"
    for name in DISENTANGLEMENT_METRICS:
        assert default_tolerance(name) == Tolerance(abs=0.05, higher_is_better=True), name


# ---------------------------------------------------------------- Welch's t-test


BASE_ELBO = [-25.0, -25.1, -24.9]


def _elbo_folder(folder: Path, values: list[float]) -> Path:
    return results(folder, [record("vae", s, {**VAE_METRICS, "elbo": v}) for s, v in enumerate(values)])


@pytest.mark.parametrize(
    "values, verdict",
    [
        ([-24.0, -24.1, -23.9], "better"),
        ([-26.0, -26.1, -25.9], "worse"),
        ([-25.05, -24.95, -25.0], "no detectable difference"),
    ],
)
def test_welch_verdicts_on_three_seeds(tmp_path, values, verdict):
    base = load_side(_elbo_folder(tmp_path / "base", BASE_ELBO), "baseline")
    cand = load_side(_elbo_folder(tmp_path / "cand", values), "candidate")
    entry = next(e for e in compare(cand, base).entries if e.metric == "elbo")
    assert entry.verdict.startswith(verdict + " (p=")
    assert entry.p == pytest.approx(stats.ttest_ind(values, BASE_ELBO, equal_var=False).pvalue)
    assert entry.cand.show().endswith("(n=3)") and "±" in entry.cand.show()
    # from table.csv alone (means, stds, n_seeds) the test gives the same verdict
    base_t = load_side(tmp_path / "base" / "table.csv", "baseline")
    cand_t = load_side(tmp_path / "cand" / "table.csv", "candidate")
    entry_t = next(e for e in compare(cand_t, base_t).entries if e.metric == "elbo")
    assert entry_t.verdict.split(" (")[0] == verdict and entry_t.p == pytest.approx(entry.p, rel=1e-3)


def test_worse_beyond_tolerance_but_not_significant(capsys, tmp_path):
    def folder(name, mses):
        return results(tmp_path / name, [record("vae", s, {**VAE_METRICS, "mse": m}) for s, m in enumerate(mses)])

    base, cand = folder("base", [0.035, 0.045, 0.040]), folder("cand", [0.030, 0.070, 0.050])  # +25%, noisy
    code, out, _ = run(capsys, "compare", cand, base)
    first = table_rows(out)[0]
    assert code == 0 and first[0] == "beyond tol (n.s.)" and first[10].startswith("no detectable difference")
    assert run(capsys, "compare", cand, base, "--tolerance-only")[0] == 1


@pytest.mark.parametrize("cand_seeds, base_seeds", [((0,), (0,)), ((0, 1, 2), (0,)), ((0,), (0, 1, 2))])
def test_a_single_seed_never_gets_a_verdict(tmp_path, cand_seeds, base_seeds):
    base = load_side(_elbo_folder(tmp_path / "base", BASE_ELBO[: len(base_seeds)]), "baseline")
    cand = load_side(_elbo_folder(tmp_path / "cand", [-30.0, -30.1, -29.9][: len(cand_seeds)]), "candidate")
    result = compare(cand, base)
    assert all(e.verdict == "n/a (1 seed)" and e.p is None for e in result.entries)
    assert result.exit_code == 1  # the tolerance alone decides: elbo is 20% worse


def test_deterministic_metrics_identical_seeds(tmp_path):
    """PCA-like metrics with zero spread: equal means are 'no detectable difference', not NaN."""
    base = load_side(results(tmp_path / "b", [record("pca", s, PCA_METRICS) for s in (0, 1)]), "baseline")
    result = compare(base, base)
    assert {e.verdict for e in result.entries} == {"no detectable difference (p=1)"} and result.exit_code == 0
    assert all(math.isfinite(e.p) for e in result.entries)


# ---------------------------------------------------------------- the check bites


class _IgnoreZ(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, z, cond=None):
        return self.inner(torch.zeros_like(z), cond)


class ZIgnoringVAE(VAE):
    """Deliberately broken: the decoder never sees z, so it can only learn the mean image."""

    def __init__(self, image_shape, latent_dim: int, num_classes: int = 10, lr: float = 1e-3, beta: float = 1.0):
        super().__init__(image_shape, latent_dim, num_classes, lr, beta)
        self.decoder = _IgnoreZ(self.decoder)


def test_the_check_bites_on_a_broken_model(capsys, tmp_path, plugin_registry):
    """A VAE whose decoder ignores z, trained and evaluated like any model, fails against the VAE.

    8 epochs (not 3): with the smoke protocol the VAE itself is still at the mean image after 3
    epochs (elbo -27.6 vs the broken model's -27.5), so nothing could tell them apart yet.
    """
    from vaebench.config import load_suite, with_overrides
    from vaebench.runner.sweep import run_suite

    broken = "tests.test_compare:ZIgnoringVAE"
    suite = with_overrides(load_suite("smoke"), ["digits"], ["vae", broken], [2], [0], 8)
    out = tmp_path / "res"
    torch.manual_seed(0)
    summary = run_suite(suite, out, quiet=True)
    assert summary.finished == 2 and summary.diverged == 0
    code, report, _ = run(capsys, "compare", out, out, "--model-map", f"{broken}=vae")
    assert code == 1, report
    regressed = {r[4].split("`")[1] for r in table_rows(report) if r[0] == "**REGRESSION**"}
    assert {"mse", "elbo", "probe_acc"} <= regressed
    # and the normal VAE against itself passes
    assert run(capsys, "compare", out, out)[0] == 0
    shutil.rmtree(out)


def test_docs_default_tolerances_agree_with_the_code():
    """Failed before: docs/compare.md promised MIG an absolute 0.05, the code gave it 5% relative."""
    import re

    text = (ROOT / "docs" / "compare.md").read_text()
    section = text.split("## Default tolerances", 1)[1].split("\n## ", 1)[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| metric")]
    checked = set()
    for names, better, rel, abs_, gates, _why in rows:
        if names.startswith(("any other", "anything else")):
            continue
        for name in re.findall(r"`([a-z_]+)`", names):
            tol = default_tolerance(name)
            want_rel = [float(x.rstrip("%")) / 100 for x in rel.split(",")] if rel != "–" else [0.0]
            assert tol.rel in want_rel, (name, rel)
            assert tol.abs == (0.0 if abs_ == "–" else float(abs_)), (name, abs_)
            assert tol.gated == (gates == "yes"), (name, gates)
            assert tol.higher_is_better == {"higher": True, "lower": False}.get(better), (name, better)
            checked.add(name)
    assert {"elbo", "mse", "probe_acc", "kl", "active_units", "mig", "sap", "n_diverged"} <= checked


def test_compare_is_split_along_its_seams():
    """One module per step; the package re-exports what the CLI and tests import."""
    import vaebench.report.compare as pkg
    from vaebench.report.compare import matching, render, sides, stats, tolerances

    assert pkg.compare is matching.compare and pkg.to_markdown is render.to_markdown
    assert pkg.load_side is sides.load_side and pkg.judge is stats.judge
    assert pkg.parse_tol_args is tolerances.parse_tol_args and pkg.load_tolerance_file is tolerances.load_tolerance_file
    for module in (matching, render, sides, stats, tolerances):
        assert len(Path(module.__file__).read_text().splitlines()) < 300, module.__name__


def test_sample_measures_beyond_fid_are_reported_with_their_direction_not_gated(capsys, tmp_path):
    """KID, precision/recall and density/coverage: no measured spread yet, so no default gate (the
    report says why); a tolerance given for them gates them."""
    kid, recall = "kid_samples[digits-mlp]", "recall_samples_gmm[digits-mlp]"
    assert default_tolerance(kid).higher_is_better is False and not default_tolerance(kid).gated
    assert default_tolerance(recall).higher_is_better is True and not default_tolerance(recall).gated
    assert default_tolerance("density_samples[digits-mlp]").higher_is_better is None
    assert default_tolerance("fid_samples[digits-mlp]").gated
    base = results(tmp_path / "base", [record("vae", 0, {**VAE_METRICS, kid: 0.01, recall: 0.8})])
    cand = results(tmp_path / "cand", [record("vae", 0, {**VAE_METRICS, kid: 5.0, recall: 0.1})])
    code, out, _ = run(capsys, "compare", cand, base)
    assert code == 0, out
    assert any(r[4] == f"`{kid}` ↓" and r[9] == "—" for r in table_rows(out))
    assert "not gated by default" in out and "`kid_samples`" in out
    assert run(capsys, "compare", cand, base, "--tol", "kid_samples[*=0.5")[0] == 1
