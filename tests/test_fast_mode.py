"""The opt-in fast mode: bf16 autocast, channels_last and torch.compile. Its speed is a GPU
claim (benchmarks/throughput.py); here: it trains, evaluates in float32 on eager modules, stays
close to the fp32 run, and is a different run (its own run id)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from vaebench.config import Protocol, RunSpec, load_suite, with_overrides
from vaebench.models.registry import resolve_model
from vaebench.models.vae import VAE
from vaebench.runner.train import Launch, apply_fast_mode, train, undo_compile


def test_fast_flag_sets_the_protocol_and_changes_the_run_id():
    plain = load_suite("smoke")
    fast = with_overrides(plain, fast=True)
    p = fast.protocol
    assert (p.precision, p.compile, p.channels_last) == ("bf16-mixed", "default", True)
    ids = {RunSpec("s", "digits", resolve_model("vae", {}), 2, 0, s.protocol).run_id for s in (plain, fast)}
    assert len(ids) == 2


def test_compile_is_applied_to_the_networks_and_undone_for_evaluation():
    model = VAE((1, 8, 8), 2)
    apply_fast_mode(model, dataclasses.replace(Protocol(), compile="default", channels_last=True))
    assert all(c._compiled_call_impl is not None for c in model.children())
    undo_compile(model)
    assert all(c._compiled_call_impl is None for c in model.children())


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
