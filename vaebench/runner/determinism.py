"""Determinism, stated per mode, and the global torch flags each mode sets.

Default mode (`protocol.deterministic = true`): bitwise reproducible on one device. The Trainer
gets Lightning's `deterministic="warn"`, i.e. `torch.use_deterministic_algorithms(True,
warn_only=True)` (deterministic cuDNN and cuBLAS algorithms; an op that has no deterministic
CUDA kernel warns instead of failing the run) and `cudnn.benchmark = False`. cuBLAS is only
deterministic with a fixed workspace, `CUBLAS_WORKSPACE_CONFIG`, which it reads once, when its
first handle is made: `vaebench/__init__.py` sets it (unless the user did) before any of
vaebench's code, Lightning's included, touches CUDA.

Fast mode (`--fast`: `protocol.deterministic = false`, its own run ids): cuDNN autotuning
(`cudnn.benchmark = True`) and no deterministic-algorithm constraint. Two runs of the same
command may then differ in their last bits (and, amplified by training, in more), which the
records say (`spec.protocol.deterministic: false`).

The flags are process-global: whoever measures several modes in one process (the benchmarks)
sets them with `apply_mode` before each measurement and restores them after with
`restored_flags`, so one measurement's settings never leak into the next.
"""

from __future__ import annotations

import contextlib
import os
import warnings

import torch

CUBLAS_WORKSPACE_CONFIG = ":4096:8"  # NVIDIA's documented setting for reproducible cuBLAS results


def prepare_cublas() -> None:
    """Sets CUBLAS_WORKSPACE_CONFIG unless it is set already; call before any CUDA work."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE_CONFIG)


def check_cublas_ready() -> None:
    """Warns when the default mode cannot be bitwise reproducible on a GPU because cuBLAS may
    have started without a fixed workspace (CUBLAS_WORKSPACE_CONFIG unset when CUDA started)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized() and not os.environ.get("CUBLAS_WORKSPACE_CONFIG"):
        warnings.warn("CUDA started before CUBLAS_WORKSPACE_CONFIG was set: cuBLAS results may not be bitwise "
                      f"reproducible; import vaebench before any CUDA work or set CUBLAS_WORKSPACE_CONFIG={CUBLAS_WORKSPACE_CONFIG}",
                      stacklevel=2)


def trainer_flags(deterministic: bool) -> dict:
    """The Lightning Trainer arguments of a mode."""
    return {"deterministic": "warn", "benchmark": False} if deterministic else {"deterministic": False, "benchmark": True}


def apply_mode(deterministic: bool) -> None:
    """The global flags `Trainer(**trainer_flags(deterministic))` sets, for code that trains
    without a Trainer (the plain loop of benchmarks/throughput.py)."""
    torch.backends.cudnn.benchmark = not deterministic
    torch.use_deterministic_algorithms(deterministic, warn_only=deterministic)
    if deterministic:
        prepare_cublas()


def flags() -> dict:
    """The process-global flags the modes change."""
    return {
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
    }


@contextlib.contextmanager
def restored_flags():
    """Runs the block, then puts the flags of `flags()` back as they were."""
    before = flags()
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before["cudnn_benchmark"]
        torch.backends.cudnn.deterministic = before["cudnn_deterministic"]
        torch.use_deterministic_algorithms(before["deterministic_algorithms"], warn_only=before["warn_only"])
