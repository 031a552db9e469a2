"""What a sweep shows while it runs.

On a terminal: a live rich view with the sweep bar (runs done / to do, elapsed, ETA), the
current run and its epoch/step bar; a line per finished run stays on screen. Off a terminal
(CI logs, files): one plain line per run. Disabled (`--quiet`, or on DDP ranks other than 0):
nothing.
"""

from __future__ import annotations

from lightning.pytorch.callbacks import Callback
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

SHOWN = ("elbo", "iwae", "mse", "ppca_ll", "probe_acc", "mig", "factor_vae_eval_accuracy")


def run_line(record: dict) -> str:
    if record["status"] == "diverged":
        return f"{record['run_id']} [red]diverged[/] at step {record['diverged_at_step']}"
    m = record["metrics"]
    shown = ", ".join(f"{k}={m[k]:.4g}" for k in SHOWN if k in m)
    return f"{record['run_id']} {record['times']['total_s']:.1f}s  {shown}"


class _EpochBar(Callback):
    def __init__(self, progress: Progress, task):
        self.progress, self.task = progress, task

    def on_train_epoch_start(self, trainer, pl_module):
        total = trainer.num_training_batches
        self.progress.reset(self.task, total=total if total != float("inf") else None,
                            description=f"  epoch {trainer.current_epoch + 1}/{trainer.max_epochs}")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.progress.advance(self.task)


class SweepProgress:
    def __init__(self, console: Console, title: str, total: int, enabled: bool = True):
        self.console, self.title, self.total, self.enabled = console, title, total, enabled
        self.live = enabled and console.is_terminal
        self.progress: Progress | None = None
        self.done = 0
        self.current = ""

    def __enter__(self) -> SweepProgress:
        if self.enabled:
            self.console.print(f"[bold]{self.title}[/]: {self.total} runs")
        if self.live:
            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=self.console, transient=True,
            )
            self.progress.start()
            self.sweep_task = self.progress.add_task("runs", total=self.total)
            self.epoch_task = self.progress.add_task("  epoch", total=None)
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()

    def callbacks(self) -> list[Callback]:
        """Lightning callbacks that drive the epoch bar (none when there is no live view)."""
        return [_EpochBar(self.progress, self.epoch_task)] if self.progress is not None else []

    def skipped(self, n: int) -> None:
        if n and self.enabled:
            self.console.print(f"{n} run(s) done already, skipped")
        if self.progress is not None:
            self.progress.update(self.sweep_task, total=self.total - n)

    def start(self, run_id: str) -> None:
        self.current = run_id
        if self.progress is not None:
            self.progress.update(self.sweep_task, description=f"runs: {run_id}")

    def finish(self, record: dict) -> None:
        self.done += 1
        if self.enabled:
            self.console.print(f"[{self.done}] {run_line(record)}")
        if self.progress is not None:
            self.progress.advance(self.sweep_task)
