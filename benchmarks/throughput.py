"""Training throughput: vaebench's own training path against a plain hand-written loop.

    python benchmarks/throughput.py [--device cuda] [--batch 256] [--steps 400] [--fast] [--model pythae|dlib]

Both train the same model, from the same initial weights, on data resident on the device, in
one process, one after the other, and report images/s over the timed steps (after `--warmup`
steps) and the ratio vaebench / plain. The issue's goal: ratio >= 0.95 at batch 256 fp32, and
>= 100k images/s at batch 1024 with `--fast` (bf16 autocast + channels_last + torch.compile) on
an H100.

Models:
  pythae  pythae's MNIST benchmark VAE on Fashion-MNIST 28x28: encoder convs 128-256-512-1024
          (4x4, stride 2, BatchNorm, ReLU) -> linear 16-d mean and log-variance; decoder linear ->
          1024x4x4 -> transposed convs 512-256-1 (BatchNorm, ReLU); Bernoulli likelihood.
  dlib    vaebench's VAE on dSprites 64x64 (disentanglement_lib's conv net 32-32-64-64, FC 256).

The vaebench path is `vaebench.runner.train.train` (Lightning Trainer, TensorBatches, the
protocol's precision/compile settings) with one epoch of `--steps` steps and no validation
cost in the timed window (a callback times the training batches only). Absolute numbers only
from the GPU machine; on CPU use small --steps and read the ratio only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from torch import nn

from vaebench.config import Protocol
from vaebench.models.base import LatentModel
from vaebench.models.vae import VAE
from vaebench.runner.train import Launch, train


class PythaeEncoder(nn.Module):
    def __init__(self, latent_dim: int):
        super().__init__()
        layers, prev = [], 1
        for ch in (128, 256, 512, 1024):
            layers += [nn.Conv2d(prev, ch, 4, 2, 1), nn.BatchNorm2d(ch), nn.ReLU()]
            prev = ch
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(1024, 2 * latent_dim)

    def forward(self, x, cond=None):
        return self.head(self.body(x))


class PythaeDecoder(nn.Module):
    def __init__(self, latent_dim: int):
        super().__init__()
        self.fc = nn.Linear(latent_dim, 1024 * 4 * 4)
        self.body = nn.Sequential(
            nn.ConvTranspose2d(1024, 512, 3, 2, padding=1), nn.BatchNorm2d(512), nn.ReLU(),
            nn.ConvTranspose2d(512, 256, 3, 2, padding=1, output_padding=1), nn.BatchNorm2d(256), nn.ReLU(),
            nn.ConvTranspose2d(256, 1, 3, 2, padding=1, output_padding=1),
        )

    def forward(self, z, cond=None):
        return self.body(self.fc(z).view(-1, 1024, 4, 4))


class PythaeConvVAE(VAE):
    """vaebench's VAE objective with pythae's MNIST benchmark networks."""

    def __init__(self, image_shape=(1, 28, 28), latent_dim: int = 16, num_classes: int = 10, lr: float = 1e-3, beta: float = 1.0):
        LatentModel.__init__(self, image_shape, latent_dim, num_classes, lr)
        self.beta = beta
        self.encoder = PythaeEncoder(latent_dim)
        self.decoder = PythaeDecoder(latent_dim)


def load_data(model: str, device):
    if model == "pythae":
        from vaebench.data import load_dataset

        s = load_dataset("fashion_mnist")
        return s, s.train_x.to(device)
    from vaebench.data.dsprites import load_dsprites_splits

    s = load_dsprites_splits(subsample=120_000)
    return s, s.train_x.to(device)


def build(model: str, latent_dim: int, seed: int):
    torch.manual_seed(seed)
    if model == "pythae":
        return PythaeConvVAE(latent_dim=latent_dim)
    return VAE((1, 64, 64), latent_dim, num_classes=3, lr=1e-3)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_loop(net, x, batch: int, steps: int, warmup: int, fast: bool, device) -> float:
    """The hand-written reference: resident data, Adam, the VAE loss; images/s over the timed steps."""
    net = net.to(device).train()
    if fast:
        net = net.to(memory_format=torch.channels_last)
        net.encoder.compile()
        net.decoder.compile()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    g = torch.Generator(device="cpu").manual_seed(0)
    order = torch.randperm(len(x), generator=g).to(device)
    start = None
    for step in range(warmup + steps):
        if step == warmup:
            _sync(device)
            start = time.perf_counter()
        i = (step * batch) % (len(x) - batch)
        xb = x[order[i : i + batch]]
        xb = xb.float().div_(255.0) if xb.dtype == torch.uint8 else xb
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=fast):
            stats = net.encoder(xb)
            mu, logvar = stats.chunk(2, dim=1)
            z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
            logits = net.decoder(z)
            rec = F.binary_cross_entropy_with_logits(logits.float(), xb, reduction="none").flatten(1).sum(1)
            kl = 0.5 * (mu.float().pow(2) + logvar.float().exp() - 1 - logvar.float()).sum(1)
            loss = (rec + kl).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    _sync(device)
    return steps * batch / (time.perf_counter() - start)


class _Timer(Callback):
    """Times training batches warmup .. end (no validation, no set-up) on the Trainer's device."""

    def __init__(self, warmup: int):
        self.warmup, self.start, self.end, self.steps = warmup, None, None, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.warmup and self.start is None:
            _sync(pl_module.device)
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.start is not None:
            _sync(pl_module.device)
            self.end, self.steps = time.perf_counter(), trainer.global_step - self.warmup


def vaebench_path(net, splits, batch: int, steps: int, warmup: int, fast: bool, device) -> float:
    protocol = Protocol(lr=1e-3, batch_size=batch, max_epochs=1, max_steps=warmup + steps, patience=0,
                        steps_per_epoch=warmup + steps, eval_batch_size=4096)
    if fast:
        protocol = dataclasses.replace(protocol, precision="bf16-mixed", compile="default", channels_last=True)
    timer = _Timer(warmup)
    train(net, splits, protocol, seed=0, launch=Launch("gpu" if device.type == "cuda" else "cpu", 1), extra_callbacks=[timer])
    return timer.steps * batch / (timer.end - timer.start)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--model", choices=["pythae", "dlib"], default="pythae")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--fast", action="store_true", help="bf16 autocast + channels_last + torch.compile in both paths")
    ap.add_argument("--repeats", type=int, default=2, help="alternate the two paths this many times; report the best of each")
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    splits, x = load_data(args.model, device)
    plain, ours = [], []
    for r in range(args.repeats):
        plain.append(plain_loop(build(args.model, 16 if args.model == "pythae" else 10, r), x, args.batch, args.steps, args.warmup, args.fast, device))
        ours.append(vaebench_path(build(args.model, 16 if args.model == "pythae" else 10, r), splits, args.batch, args.steps, args.warmup, args.fast, device))
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "model": args.model, "batch": args.batch, "steps": args.steps, "fast": args.fast,
        "plain_img_s": max(plain), "vaebench_img_s": max(ours), "ratio": max(ours) / max(plain),
        "all_plain": plain, "all_vaebench": ours,
    }
    print(f"{result['device']} {args.model} batch {args.batch}{' fast' if args.fast else ''}: "
          f"plain {result['plain_img_s']:,.0f} img/s, vaebench {result['vaebench_img_s']:,.0f} img/s, ratio {result['ratio']:.3f}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
