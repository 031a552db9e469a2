"""What a sweep shows while it runs.

On a terminal: a live rich view with the sweep bar (work done / to do, elapsed, ETA), the
current run and its epoch/step bar; a line per finished run stays on screen. Off a terminal
(CI logs, files): one plain line per run. Disabled (`--quiet`, or on DDP ranks other than 0):
nothing.

The sweep bar counts work, not runs: each run weighs its expected seconds (`runner.estimate`),
and a training run advances it step by step. The ETA is the work left, scaled by how fast the
sweep has really gone (with the measured estimate as the prior), so 18 quick PCA runs ahead of
54 long trainings do not make a day look like minutes.
"""

from __future__ import annotations

import time

from lightning.pytorch.callbacks import Callback
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from vaebench.runner.estimate import Estimate, format_seconds

PRIOR_S = 300.0  # how many seconds of observed sweep time weigh as much as the measured estimate


def eta_seconds(total: float, completed: float, elapsed: float) -> float:
    """Seconds left: the expected work left, times observed / expected speed. The measured
    estimate counts as PRIOR_S seconds of observation, so a few quick runs cannot swing it."""
    prior = min(PRIOR_S, total) if total > 0 else PRIOR_S
    return max(0.0, total - completed) * (elapsed + prior) / (completed + prior)


class _EtaColumn(ProgressColumn):
    def render(self, task) -> Text:
        if task.total is None or task.finished:
            return Text("")
        return Text(f"ETA {format_seconds(eta_seconds(task.total, task.completed, task.elapsed or 0.0))}",
                    style="progress.remaining")


SHOWN = ("elbo", "iwae", "mse", "ppca_ll", "probe_acc", "mig", "factor_vae_eval_accuracy")


def run_label(spec: dict | None) -> str:
    """A run as a table row names it, plus its seed: `vae[beta=4] z2 s0` (the run id beside it
    says the dataset)."""
    if not spec or "latent_dim" not in spec:
        return ""
    from vaebench.identity import model_label

    return f"{model_label(spec)} z{spec['latent_dim']} s{spec['seed']}"


def named(run_id: str, spec: dict | None) -> str:
    """`vae[beta=4] z2 s0 (digits-vae-z2-s0-7df562316150)`, or the bare run id without a spec."""
    text = run_label(spec)
    return f"{text} [dim]({run_id})[/]" if text else run_id


def run_line(record: dict) -> str:
    who = named(record["run_id"], record.get("spec"))
    if record["status"] == "diverged":
        return f"{who} [red]diverged[/] at step {record['diverged_at_step']}"
    m = record["metrics"]
    shown = ", ".join(f"{k}={m[k]:.4g}" for k in SHOWN if k in m)
    return f"{who} {record['times']['total_s']:.1f}s  {shown}"


class _EpochBar(Callback):
    def __init__(self, sweep: SweepProgress):
        self.sweep = sweep
        self.progress, self.task = sweep.progress, sweep.epoch_task

    steps = float("inf")  # the run's optimizer steps (max_epochs or max_steps)

    def on_train_epoch_start(self, trainer, pl_module):
        total = trainer.num_training_batches
        self.progress.reset(self.task, total=total if total != float("inf") else None,
                            description=f"  epoch {trainer.current_epoch + 1}/{trainer.max_epochs}")
        self.steps = trainer.estimated_stepping_batches

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.progress.advance(self.task)
        if 0 < self.steps < float("inf"):
            self.sweep.within_run(min(1.0, trainer.global_step / self.steps))


class SweepProgress:
    def __init__(self, console: Console, title: str, total: int, enabled: bool = True, plan: Estimate | None = None):
        self.console, self.title, self.total, self.enabled = console, title, total, enabled
        self.live = enabled and console.is_terminal
        self.progress: Progress | None = None
        self.plan = plan
        self.done = 0
        self.todo = total
        self.current = ""
        self.work_total = 0.0  # expected seconds of the runs to do
        self.work_done = 0.0  # ... of the finished ones (plus the current run's trained share)
        self._before = 0.0  # work_done when the current run started
        self.started = 0.0

    def __enter__(self) -> SweepProgress:
        self.started = time.perf_counter()  # the plan line (runs, done, to do) is the sweep's, printed before
        if self.live:
            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[runs]}"),
                TimeElapsedColumn(), _EtaColumn(), console=self.console, transient=True,
            )
            self.progress.start()
            self.sweep_task = self.progress.add_task("runs", total=None, runs="")
            self.epoch_task = self.progress.add_task("  epoch", total=None, runs="")
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()

    def callbacks(self) -> list[Callback]:
        """Lightning callbacks that drive the epoch bar (none when there is no live view)."""
        return [_EpochBar(self)] if self.progress is not None else []

    def weight(self, run_id: str) -> float:
        """A run's expected seconds; 1 each when nothing was measured (then the ETA counts runs)."""
        known = [s for s in (self.plan.seconds.values() if self.plan else ()) if s is not None]
        if not known:
            return 1.0
        s = self.plan.seconds.get(run_id)
        return s if s is not None else sum(known) / len(known)

    def plan_runs(self, run_ids: list[str]) -> None:
        """The runs that will run (not the skipped ones): the work the ETA counts down."""
        self.todo = len(run_ids)
        self.work_total = sum(self.weight(r) for r in run_ids)
        if self.enabled and self.plan is not None:
            self.console.print(self.plan.summary())
            for note in self.plan.notes:
                self.console.print(f"  {note}")
        self._update()

    def elsewhere(self, spec, holder: str | None) -> None:
        """A run this sweep leaves alone: claimed by another live process (`holder`), or
        finished by one since the plan was made (`holder` None)."""
        self.todo -= 1
        self.work_total -= self.weight(spec.run_id)
        if self.enabled:
            why = f"being run by {holder}" if holder else "another process ran it"
            self.console.print(f"skip {named(spec.run_id, spec.to_dict())}: {why}")
        self._update()

    def start(self, run_id: str, spec: dict | None = None, resume_epoch: int | None = None) -> None:
        if resume_epoch is not None and self.enabled:
            of = (spec or {}).get("protocol", {}).get("max_epochs")
            self.console.print(f"resuming {named(run_id, spec)} from epoch {resume_epoch}"
                               f" ({resume_epoch}{f'/{of}' if of else ''} epochs done, from its checkpoint)")
        self.current = run_id
        self._before = self.work_done
        if self.progress is not None:
            self.progress.update(self.sweep_task, description=f"runs: {run_id}")

    def within_run(self, trained: float) -> None:
        """The current run has trained this fraction of its steps (training is most of its work)."""
        self.work_done = self._before + 0.9 * trained * self.weight(self.current)
        self._update()

    def eta(self) -> float:
        return eta_seconds(self.work_total, self.work_done, time.perf_counter() - self.started)

    def finish(self, record: dict) -> None:
        self.done += 1
        self.work_done = self._before + self.weight(record["run_id"])
        left = f"  (ETA {format_seconds(self.eta())})" if self.done < self.todo else ""
        if self.enabled:
            self.console.print(f"[{self.done}/{self.todo}] {run_line(record)}{left}")
        self._update()

    def _update(self) -> None:
        if self.progress is not None:
            self.progress.update(self.sweep_task, total=self.work_total, completed=self.work_done,
                                 runs=f"{self.done}/{self.todo} runs")
