"""Training throughput: vaebench's own training path against a plain hand-written PyTorch loop.

    python benchmarks/throughput.py [--device cuda] [--modes fp32,fast] [--steps 300] [--warmup 30]
        [--repeats 2] [--train-size N] [--json PATH]

The network is the `latent_dim` suite's own VAE (vaebench.models.networks' Fashion-MNIST body:
convs 32-64, FC 256, z = 16, continuous Bernoulli likelihood), built by the registry from the
suite file. Both sides train it in one process, from the same initial weights, on the same
resident training split, with the same objective, batch, optimizer and settings:

- the vaebench path is `vaebench.runner.train.train` (Lightning Trainer, TensorBatches, the
  protocol's precision / compile / determinism settings, divergence checks, epoch-end
  validation, best-weight selection);
- the plain loop is a hand-written loop over the same shuffled batches: the model's encoder and
  decoder, its own `rec_nll` (the likelihood code of vaebench.metrics.elbo) and
  `gaussian_kl`, Adam.

Modes (each a batch size and a protocol):
  fp32     batch 256, float32, the default (deterministic) mode
  fast     batch 1024, the `--fast` protocol: bf16 autocast, channels_last, the objective as one
           compiled region (static shapes: last partial batch dropped), fused Adam on CUDA,
           cuDNN autotuning, no deterministic-kernel constraint
  fast_cg  as fast with torch.compile's reduce-overhead mode (CUDA graphs); not what `--fast`
           sets, measured to decide whether it should

Timing is symmetric: each side synchronises the device once when its timed steps start and
once when they end (never per batch); the vaebench side's timer pauses over the epoch-end
validation (the plain loop has none), so images/s counts training steps only on both sides.
The modes' global flags (cudnn.benchmark, deterministic algorithms) are set for each
measurement by its mode (the Trainer's own settings; `determinism.apply_mode` for the plain loop)
and restored afterwards, so none leaks into the next measurement. Repeats alternate which side
goes first; the best of each is reported, with every value. Goals on one GPU:
ratio >= 0.95 at fp32 batch 256; fast >= 100,000 images/s. Absolute numbers only from the GPU
machine; on CPU read the ratio at a small `--train-size` and `--steps`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import environment  # noqa: E402

from vaebench.config import Protocol, load_suite  # noqa: E402
from vaebench.data import load_dataset  # noqa: E402
from vaebench.data.base import pixels  # noqa: E402
from vaebench.metrics.elbo import gaussian_kl  # noqa: E402
from vaebench.models.registry import build_model  # noqa: E402
from vaebench.runner import determinism  # noqa: E402
from vaebench.runner.train import Launch, compiled, train  # noqa: E402

FAST = {"precision": "bf16-mixed", "compile": "default", "channels_last": True, "deterministic": False}
MODES = {
    "fp32": (256, {}),
    "fast": (1024, FAST),
    "fast_cg": (1024, {**FAST, "compile": "reduce-overhead"}),
}


def suite_vae(splits, latent_dim: int):
    """The latent_dim suite's VAE (its model parameters: the continuous Bernoulli likelihood)."""
    suite = load_suite("latent_dim")
    spec = next(m for m in suite.models if m.name == "vae")
    return build_model(spec, splits.image_shape, latent_dim, splits.num_classes, suite.protocol.lr), suite.protocol.lr


def subset(splits, n: int | None):
    """The splits with at most n training and n // 10 (>= 100) validation images (CPU sizes)."""
    if not n:
        return splits
    nv = max(100, n // 10)
    return dataclasses.replace(splits, train_x=splits.train_x[:n], train_y=splits.train_y[:n],
                               val_x=splits.val_x[:nv], val_y=splits.val_y[:nv])


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def protocol_for(mode: str, lr: float, warmup: int, steps: int, n_train: int, batch: int | None = None) -> Protocol:
    batch, changes = batch or MODES[mode][0], MODES[mode][1]
    per_epoch = n_train // batch if changes.get("compile") else math.ceil(n_train / batch)
    epochs = math.ceil((warmup + steps) / max(1, per_epoch)) + 1
    return Protocol(lr=lr, batch_size=batch, max_epochs=epochs, max_steps=warmup + steps, patience=0,
                    eval_batch_size=1000, **changes)


def plain_loop(model, x: torch.Tensor, protocol: Protocol, warmup: int, steps: int, device: torch.device) -> float:
    """The hand-written reference; images/s over the timed steps."""
    determinism.apply_mode(protocol.deterministic)
    model = model.to(device).train()
    if protocol.channels_last:
        model.to(memory_format=torch.channels_last)
    fused = bool(protocol.compile) and device.type == "cuda"
    opt = torch.optim.Adam(model.parameters(), lr=protocol.lr, **({"fused": True} if fused else {}))

    def objective(xb):
        mu, logvar = model.encoder(xb).chunk(2, dim=1)
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
        return (model.rec_nll(model.decoder(z), xb) + gaussian_kl(mu, logvar)).mean()

    loss_fn = compiled(objective, protocol.compile) if protocol.compile else objective
    bf16 = protocol.precision == "bf16-mixed"
    batch, n = protocol.batch_size, len(x)
    starts = [s for s in range(0, n, batch) if n - s >= (batch if protocol.compile else 1)]
    step, epoch, start = 0, 0, None
    while step < warmup + steps:
        g = torch.Generator().manual_seed(epoch)  # TensorBatches' shuffle of epoch e (seed 0)
        order = torch.randperm(n, generator=g).to(device)
        for s in starts:
            if step == warmup:
                sync(device)
                start = time.perf_counter()
            xb = pixels(x[order[s : s + batch]])
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = loss_fn(xb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step == warmup + steps:
                break
        epoch += 1
    sync(device)
    return steps * batch / (time.perf_counter() - start)


class _Timer(Callback):
    """Training time of steps warmup .. warmup + steps, validation excluded; one device sync at
    each start and end of a timed stretch (the stretches are cut by epoch-end validation)."""

    def __init__(self, warmup: int, steps: int):
        self.warmup, self.last = warmup, warmup + steps
        self.elapsed, self.since, self.steps, self.paused = 0.0, None, 0, False

    def _start(self, device):
        sync(device)
        self.since = time.perf_counter()

    def _stop(self, device):
        sync(device)
        self.elapsed += time.perf_counter() - self.since
        self.since = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.warmup and self.since is None and self.steps == 0:
            self._start(pl_module.device)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.since is not None and trainer.global_step >= self.last:
            self._stop(pl_module.device)
            self.steps = trainer.global_step - self.warmup

    def on_validation_start(self, trainer, pl_module):
        if self.since is not None:
            self._stop(pl_module.device)
            self.paused = True

    def on_validation_end(self, trainer, pl_module):
        if self.paused:
            self.paused = False
            self._start(pl_module.device)


def vaebench_path(model, splits, protocol: Protocol, warmup: int, steps: int, device: torch.device) -> float:
    timer = _Timer(warmup, steps)
    train(model, splits, protocol, seed=0, launch=Launch("gpu" if device.type == "cuda" else "cpu", 1), extra_callbacks=[timer])
    if timer.steps != steps:
        raise RuntimeError(f"the vaebench path timed {timer.steps} steps, expected {steps}")
    return steps * protocol.batch_size / timer.elapsed


def measure(mode: str, splits, args, device: torch.device) -> dict:
    plain, ours = [], []
    for r in range(args.repeats):
        for side in (("plain", "vaebench") if r % 2 == 0 else ("vaebench", "plain")):
            torch.manual_seed(r)  # the same initial weights for both sides of a repeat
            model, lr = suite_vae(splits, args.latent_dim)
            protocol = protocol_for(mode, lr, args.warmup, args.steps, len(splits.train_x), args.batch)
            torch._dynamo.reset()  # each side compiles its own step, inside its warm-up
            with determinism.restored_flags():
                if side == "plain":
                    plain.append(plain_loop(model, splits.train_x.to(device), protocol, args.warmup, args.steps, device))
                else:
                    ours.append(vaebench_path(model, splits, protocol, args.warmup, args.steps, device))
            del model
            if device.type == "cuda":
                torch.cuda.empty_cache()
    batch, changes = args.batch or MODES[mode][0], MODES[mode][1]
    return {"mode": mode, "batch": batch, "protocol": changes, "steps": args.steps, "warmup": args.warmup,
            "plain_img_s": max(plain), "vaebench_img_s": max(ours), "ratio": max(ours) / max(plain),
            "all_plain": plain, "all_vaebench": ours}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--modes", default="fp32,fast", help=f"comma-separated, of {', '.join(MODES)}")
    ap.add_argument("--steps", type=int, default=300, help="timed steps per measurement")
    ap.add_argument("--warmup", type=int, default=30, help="untimed steps first (compilation happens here)")
    ap.add_argument("--repeats", type=int, default=2, help="measurements per side and mode (alternating order)")
    ap.add_argument("--batch", type=int, help="one batch size for every mode instead of each mode's own (CPU sizes)")
    ap.add_argument("--latent-dim", type=int, default=16)
    ap.add_argument("--train-size", type=int, help="use only this many training images (CPU sizes)")
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    splits = subset(load_dataset("fashion_mnist"), args.train_size)
    results = {"benchmark": "throughput", "environment": environment(str(device)), "network": "latent_dim suite VAE "
               f"(fashion_mnist, z={args.latent_dim}, continuous Bernoulli)", "n_train": len(splits.train_x), "modes": {}}
    for mode in args.modes.split(","):
        try:
            r = measure(mode, splits, args, device)
        except Exception as exc:  # one mode failing (e.g. CUDA graphs) must not lose the others
            results["modes"][mode] = {"mode": mode, "error": f"{type(exc).__name__}: {exc}"[:2000]}
            print(f"{mode}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            r = None
        if r is not None:
            results["modes"][mode] = r
            print(f"{results['environment'].get('gpu', device)} {mode} batch {r['batch']}: plain {r['plain_img_s']:,.0f} img/s, "
                  f"vaebench {r['vaebench_img_s']:,.0f} img/s, ratio {r['ratio']:.3f}", flush=True)
        if args.json:  # after every mode: a later one stopped by a time budget keeps the earlier ones
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=1))
    return 0 if all("error" not in r for r in results["modes"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
