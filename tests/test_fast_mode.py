"""The opt-in fast mode: bf16 autocast, channels_last, one compiled training step, fused Adam on
CUDA, static shapes, no deterministic-kernel constraint. Its speed is a GPU claim
(benchmarks/throughput.py); here: its configuration, that it trains (compiled with the aot_eager
backend: the same graph capture and traced backward as inductor, without generating kernels),
evaluates in float32 on eager modules, stays close to the fp32 run, and is a different run (its
own run id)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from vaebench.config import Protocol, RunSpec, load_suite, with_overrides
from vaebench.models.registry import resolve_model
from vaebench.models.vae import VAE
from vaebench.runner.determinism import restored_flags
from vaebench.runner.train import (
    Launch,
    TensorBatches,
    apply_fast_mode,
    fused_adam,
    train,
    undo_compile,
)

FAST = dataclasses.replace(Protocol(), precision="bf16-mixed", compile="default", channels_last=True, deterministic=False)


@pytest.fixture
def aot_eager(monkeypatch):
    monkeypatch.setenv("VAEBENCH_COMPILE_BACKEND", "aot_eager")
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def test_fast_flag_sets_the_protocol_and_changes_the_run_id():
    plain = load_suite("smoke")
    fast = with_overrides(plain, fast=True)
    p = fast.protocol
    assert (p.precision, p.compile, p.channels_last, p.deterministic) == ("bf16-mixed", "default", True, False)
    assert plain.protocol.deterministic and "deterministic" not in plain.protocol.to_dict()  # default ids unchanged
    assert fast.protocol.to_dict()["deterministic"] is False  # what a fast run's record says
    ids = {RunSpec("s", "digits", resolve_model("vae", {}), 2, 0, s.protocol).run_id for s in (plain, fast)}
    assert len(ids) == 2


def test_deterministic_alone_is_its_own_run():
    plain = load_suite("smoke")
    loose = with_overrides(plain, sets=["protocol.deterministic=false"])
    assert loose.protocol.deterministic is False
    spec = [RunSpec("s", "digits", resolve_model("vae", {}), 2, 0, s.protocol).run_id for s in (plain, loose)]
    assert spec[0] != spec[1]


def test_compile_wraps_the_objective_and_is_undone_for_evaluation(aot_eager):
    model = VAE((1, 8, 8), 2)
    apply_fast_mode(model, FAST)
    assert model.compiled_objective is not None
    assert "configure_optimizers" in model.__dict__  # fused Adam where the parameters are on CUDA
    undo_compile(model)
    assert model.compiled_objective is None and "configure_optimizers" not in model.__dict__
    assert all(c._compiled_call_impl is None for c in model.children())


def test_fused_adam_only_where_its_devices_are():
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, betas=(0.8, 0.9))
    assert fused_adam(opt) is opt  # CPU parameters: the CUDA-only default leaves it alone
    fused = fused_adam(opt, devices=("cpu",))
    assert fused is not opt and fused.param_groups[0]["fused"] and fused.defaults["fused"]
    assert fused.param_groups[0]["lr"] == 2e-3 and fused.param_groups[0]["betas"] == (0.8, 0.9)
    assert [p for g in fused.param_groups for p in g["params"]] == list(net.parameters())
    sgd = torch.optim.SGD(net.parameters(), lr=0.1)
    assert fused_adam([sgd], devices=("cpu",))[0] is sgd


def test_drop_last_gives_full_batches_only():
    x, y = torch.zeros(10, 1, 2, 2), torch.zeros(10, dtype=torch.long)
    sizes = [len(b[0]) for b in TensorBatches(x, y, 4, True)]
    assert sizes == [4, 4, 2]
    fixed = TensorBatches(x, y, 4, True, drop_last=True)
    assert [len(b[0]) for b in fixed] == [4, 4] and len(fixed) == 2


def test_compiled_training_step_one_graph_no_recompiles(digits, aot_eager):
    """Training steps run the compiled objective: one graph for every step (static shapes: the
    last partial batch is dropped), validation eager (no recompilation for its batches)."""
    from torch._dynamo.utils import counters

    counters.clear()
    protocol = dataclasses.replace(FAST, lr=3e-3, batch_size=128, max_epochs=2, patience=0, iwae_k=4)
    torch.manual_seed(0)
    model = VAE(digits.image_shape, 2, lr=protocol.lr, likelihood="continuous_bernoulli")
    with restored_flags():
        info = train(model, digits, protocol, 0, Launch("cpu", 1))
        assert not torch.are_deterministic_algorithms_enabled()  # the fast mode's flags
    assert info.steps == 2 * (len(digits.train_x) // 128)  # drop_last: full batches only
    assert counters["stats"]["unique_graphs"] == 1 and not counters["recompiles"] and not counters["graph_break"]
    assert model.compiled_objective is None and next(model.parameters()).dtype == torch.float32
    assert torch.isfinite(torch.tensor(info.best_val_loss))


def test_bf16_training_stays_close_to_fp32(digits):
    from vaebench.runner.evaluate import evaluate

    results = {}
    for precision in ("32-true", "bf16-mixed"):
        protocol = Protocol(lr=3e-3, batch_size=128, max_epochs=4, patience=0, iwae_k=8, precision=precision, channels_last=True)
        torch.manual_seed(0)
        model = VAE(digits.image_shape, 2, lr=protocol.lr)
        train(model, digits, protocol, 0, Launch("cpu", 1))
        assert next(model.parameters()).dtype == torch.float32  # weights stay fp32; evaluation too
        results[precision] = evaluate(model, digits, protocol, 0)[0]
    a, b = results["32-true"], results["bf16-mixed"]
    assert b["elbo"] == pytest.approx(a["elbo"], rel=0.03)
    assert b["mse"] == pytest.approx(a["mse"], rel=0.15)


def test_cuda_graph_mode_hands_out_copies_of_the_step_outputs(aot_eager):
    """reduce-overhead replays overwrite a graph's outputs; logged losses must outlive a step."""
    model = VAE((1, 8, 8), 2)
    apply_fast_mode(model, dataclasses.replace(FAST, compile="reduce-overhead"))
    out = model.compiled_objective(torch.rand(4, 1, 8, 8))
    assert set(out) == {"loss", "rec_nll", "kl"} and out["loss"].requires_grad
    undo_compile(model)
