"""Weights & Biases tracking that can never fail a run.

One W&B run per vaebench run (name and id = the vaebench run id, group = the suite), training
curves through Lightning's WandbLogger, the evaluation metrics, status and times in the run's
summary (and logged once under ``eval/``), the figure arrays as tiled images, and at the end of
a sweep one extra run holding the results table.

Whatever W&B does (not installed, no network, a server error, a bug), the benchmark goes on:
every public method catches every exception, the first one is reported once as a warning
("W&B tracking failed (...); continuing without it") and tracking is off from then on.

Secrets: nothing from the environment goes into a run's config, and config keys whose name
contains key/token/secret/password (any case, any nesting level) are dropped. The API key is
left to W&B's own login (WANDB_API_KEY or ~/.netrc) and never written by us.

wandb itself is imported lazily, on the first use of a Tracker that is not disabled.
"""

from __future__ import annotations

import math
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any

from vaebench.ranks import is_global_zero

MODES = ("online", "offline", "disabled")
_MODE_ALIASES = {"online": "online", "run": "online", "offline": "offline", "dryrun": "offline",
                 "disabled": "disabled", "off": "disabled", "none": "disabled"}
_SECRET_WORDS = ("key", "token", "secret", "password")
_RESERVED_ID_CHARS = re.compile(r"[:;,#?/'\\\s%]")
# a note from resolve_mode for the next disabled Tracker: W&B was wanted but is not installed
_missing_note: str | None = None

CAPTIONS = {
    "samples": "samples",
    "recon": "rows: test images, their reconstructions",
    "interpolation": "rows: two test images' codes linearly interpolated",
    "traversal": "grid over latent dims {traversal_dims} (rows: first, columns: second)",
    "latent_traversal": "one row per latent dim {latent_traversal_dims}, that dim swept",
    "class_grid": "rows: z ~ N(0, I); columns: the classes",
}


class TrackingWarning(RuntimeWarning):
    """W&B tracking failed (or is unavailable) and the run goes on without it."""


# ---------------------------------------------------------------- mode


def _normalize_mode(mode: str | None) -> str | None:
    if mode is None:
        return None
    return _MODE_ALIASES.get(str(mode).strip().lower())


def _has_api_key() -> bool:
    """An API key configured for W&B: WANDB_API_KEY, or a ~/.netrc entry for its API host."""
    if os.environ.get("WANDB_API_KEY", "").strip():
        return True
    try:
        import netrc
        from urllib.parse import urlparse

        host = urlparse(os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").hostname or "api.wandb.ai"
        path = os.environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
        if not os.path.isfile(path):
            return False
        auth = netrc.netrc(path).authenticators(host)
        return bool(auth and auth[2])
    except Exception:  # an unreadable netrc is no key
        return False


def _wandb_installed() -> bool:
    if "wandb" in sys.modules:
        return sys.modules["wandb"] is not None
    try:
        import importlib.util

        return importlib.util.find_spec("wandb") is not None
    except (ImportError, ValueError):
        return False


def resolve_mode(requested: str | None) -> str:
    """'online' | 'offline' | 'disabled'.

    An explicit request wins. Else WANDB_MODE (wandb's own convention, 'dryrun' = offline) or
    WANDB_DISABLED=true when set, else 'online' if an API key is configured (WANDB_API_KEY, or
    an api.wandb.ai entry in ~/.netrc) and 'offline' if not. A mode other than 'disabled' becomes
    'disabled' when wandb is not installed; the next Tracker made with it says so, once.
    """
    global _missing_note
    mode = _normalize_mode(requested)
    if requested is not None and mode is None:
        raise ValueError(f"W&B mode must be one of {', '.join(MODES)}, got {requested!r}")
    if mode is None:
        mode = _normalize_mode(os.environ.get("WANDB_MODE") or None)
    if mode is None and os.environ.get("WANDB_DISABLED", "").strip().lower() in ("1", "true", "yes"):
        mode = "disabled"
    if mode is None:
        mode = "online" if _has_api_key() else "offline"
    if mode != "disabled" and not _wandb_installed():
        _missing_note = f"W&B tracking failed (ModuleNotFoundError: wandb is not installed, wanted {mode} mode); continuing without it"
        return "disabled"
    return mode


# ---------------------------------------------------------------- plain data


def _is_secret(name: Any) -> bool:
    low = str(name).lower()
    return any(w in low for w in _SECRET_WORDS)


def _plain(x: Any) -> Any:
    """JSON-friendly copy: numpy scalars/arrays, paths, tuples and sets made plain."""
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, frozenset)):
        return [_plain(v) for v in x]
    if isinstance(x, os.PathLike):
        return os.fspath(x)
    item = getattr(x, "item", None)
    if callable(item) and getattr(x, "ndim", 1) == 0:
        try:
            return _plain(item())
        except Exception:
            pass
    tolist = getattr(x, "tolist", None)
    if callable(tolist):
        try:
            return _plain(tolist())
        except Exception:
            pass
    return str(x)


def sanitize_config(config: Any) -> Any:
    """A plain copy of `config` without the keys that look like secrets, at any nesting level."""
    if isinstance(config, dict):
        return {str(k): sanitize_config(v) for k, v in config.items() if not _is_secret(k)}
    if isinstance(config, (list, tuple)):
        return [sanitize_config(v) for v in config]
    return _plain(config)


def _wandb_id(run_id: str) -> str:
    """The vaebench run id made a valid W&B run id (no reserved characters, bounded length)."""
    wid = _RESERVED_ID_CHARS.sub("-", str(run_id).strip()) or "run"
    if len(wid) > 128:
        import hashlib

        wid = wid[:115] + "-" + hashlib.sha256(wid.encode()).hexdigest()[:12]
    return wid


# ---------------------------------------------------------------- images


def _as_image_stack(value: Any):
    """(rows, cols, C, H, W) uint8 for an image array, or None for anything else."""
    import numpy as np

    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if not isinstance(value, np.ndarray) or value.ndim not in (3, 4, 5) or value.size == 0:
        return None
    if value.shape[-3] not in (1, 3) or min(value.shape[-2:]) < 2:
        return None
    a = value
    if a.dtype != np.uint8:
        if a.dtype == bool:
            a = a.astype(np.uint8) * 255
        elif np.issubdtype(a.dtype, np.floating):
            a = np.nan_to_num(a.astype(np.float64))
            a = np.clip(a * 255 if a.max(initial=0) <= 1 else a, 0, 255).round().astype(np.uint8)
        elif np.issubdtype(a.dtype, np.integer):
            a = np.clip(a, 0, 255).astype(np.uint8)
        else:
            return None
    if a.ndim == 3:
        return a[None, None]
    if a.ndim == 4:
        n = a.shape[0]
        cols = math.ceil(math.sqrt(n))
        rows = math.ceil(n / cols)
        pad = np.full((rows * cols - n, *a.shape[1:]), 255, np.uint8)
        return np.concatenate([a, pad]).reshape(rows, cols, *a.shape[1:])
    return a


def tile(stack) -> Any:
    """(rows, cols, C, H, W) uint8 -> one image (H' x W' or H' x W' x 3) with 1-pixel white gaps."""
    import numpy as np

    rows, cols, c, h, w = stack.shape
    canvas = np.full((rows * (h + 1) + 1, cols * (w + 1) + 1, c), 255, dtype=np.uint8)
    for r in range(rows):
        for q in range(cols):
            y, x = 1 + r * (h + 1), 1 + q * (w + 1)
            canvas[y : y + h, x : x + w] = stack[r, q].transpose(1, 2, 0)
    return canvas[..., 0] if c == 1 else canvas


def _caption(name: str, visuals: dict, run_id: str | None) -> str:
    def dims(key):
        v = visuals.get(key)
        try:
            return "[" + ", ".join(str(int(d)) for d in v.reshape(-1)) + "]" if v is not None else "?"
        except Exception:
            return "?"

    text = CAPTIONS.get(name, name)
    if "{" in text:
        text = text.format(traversal_dims=dims("traversal_dims"), latent_traversal_dims=dims("latent_traversal_dims"))
    return f"{run_id}: {name}: {text}" if run_id else f"{name}: {text}"


# ---------------------------------------------------------------- the tracker


class Tracker:
    """W&B runs for a sweep; a no-op when disabled or after its first failure."""

    def __init__(self, mode: str, project: str = "vaebench", out_dir: Path | None = None,
                 group: str | None = None, console=None):
        global _missing_note
        self.project = project
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.group = group
        self.console = console
        self._warned = False
        self._wandb = None
        self._run = None  # the current W&B run
        self._run_id: str | None = None
        self._last: tuple[str, dict] | None = None  # (run_id, config) of the current vaebench run
        mode_n = _normalize_mode(mode)
        if mode_n is None:
            self.mode = "disabled"
            self.enabled = False
            self._warn(f"W&B tracking failed (ValueError: unknown mode {mode!r}); continuing without it")
            return
        self.mode = mode_n
        self.enabled = mode_n != "disabled"
        if mode_n == "disabled" and _missing_note is not None:
            note, _missing_note = _missing_note, None
            self._warn(note)

    def sync_hint(self) -> str | None:
        """Where offline W&B runs went and how to upload them (None unless offline runs were written)."""
        if self.mode != "offline" or self.out_dir is None:
            return None
        folder = self.out_dir / "wandb"
        if not any(folder.glob("offline-run-*")):
            return None
        return (f"W&B offline: the runs are in {folder}; upload them with `wandb sync {folder}/offline-run-*` "
                "(after `wandb login`)")

    # -- reporting

    def _warn(self, message: str) -> None:
        if self._warned:
            return
        self._warned = True
        try:
            if self.console is not None:
                self.console.print(f"warning: {message}", style="yellow", markup=False, highlight=False)
                return
        except Exception:
            pass
        try:
            warnings.warn(message, TrackingWarning, stacklevel=3)
        except Exception:  # warnings turned into errors: stderr instead, never raise
            try:
                print(f"warning: {message}", file=sys.stderr)
            except Exception:
                pass

    def _fail(self, exc: BaseException) -> None:
        """The first failure: warn once, drop the run (wandb's exit hook closes it), stop tracking."""
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        self._warn(f"W&B tracking failed ({type(exc).__name__}: {msg[:300]}); continuing without it")
        self.enabled = False
        self._run = None
        self._run_id = None

    def _active(self) -> bool:
        return self.enabled and is_global_zero()

    # -- wandb

    def _wb(self):
        if self._wandb is None:
            import wandb

            self._wandb = wandb
        return self._wandb

    def _settings(self):
        wandb = self._wb()
        # silent/quiet: no banner or sync hints on stdout; console="off": no terminal capture, so the
        # run files hold no terminal output; no code saving, no launch jobs
        return wandb.Settings(silent=True, quiet=True, console="off", save_code=False, disable_job_creation=True)

    def _init(self, *, name: str, run_id: str | None, config: dict | None, job_type: str):
        wandb = self._wb()
        out = None
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            out = str(self.out_dir.resolve())
        kwargs: dict[str, Any] = dict(
            project=self.project, group=self.group, name=name, config=config or {}, mode=self.mode,
            dir=out, job_type=job_type, settings=self._settings(), reinit="create_new",
        )
        if run_id is not None:
            kwargs.update(id=_wandb_id(run_id), resume="allow")
        return wandb.init(**kwargs)

    def _open(self, run_id: str, config: dict) -> None:
        """Make the W&B run of `run_id` the current one (reusing it if it already is)."""
        self._last = (run_id, config)
        if self._run is not None and self._run_id == run_id:
            return
        self._close()
        self._run = self._init(name=run_id, run_id=run_id, config=sanitize_config(config or {}), job_type="train")
        self._run_id = run_id

    def _close(self) -> None:
        run, self._run, self._run_id = self._run, None, None
        if run is not None:
            run.finish()

    # -- public

    def start_run(self, run_id: str, config: dict) -> None:
        """Open the W&B run of `run_id` (for models trained without a Trainer, e.g. PCA)."""
        if not self._active():
            return
        try:
            self._open(run_id, config)
        except Exception as exc:
            self._fail(exc)

    def logger(self, run_id: str, config: dict):
        """A Lightning WandbLogger writing into the W&B run of `run_id`, or None (disabled/failed).

        The run is started here rather than lazily by the Trainer, so a W&B failure shows up now
        (as None) and never inside training; the logger itself swallows later failures.
        """
        if not self._active():
            return None
        try:
            self._open(run_id, config)
            run = self._run
            # as Lightning does for runs it creates: curves against the trainer's global step
            run.define_metric("trainer/global_step")
            run.define_metric("*", step_metric="trainer/global_step", step_sync=True)
            cls = _safe_logger_class()
            return cls(tracker=self, experiment=run, save_dir=str(self.out_dir) if self.out_dir else ".",
                       project=self.project, name=run_id, id=_wandb_id(run_id), group=self.group,
                       job_type="train", mode=self.mode)
        except Exception as exc:
            self._fail(exc)
            return None

    def log_result(self, record: dict, visuals: dict | None = None) -> None:
        """The evaluation: metrics (summary + once under eval/), status, times, figure images."""
        if not self._active():
            return
        try:
            if self._run is None:
                if self._last is None:
                    return  # no vaebench run open: nothing to attach the result to
                self._open(*self._last)
            run = self._run
            metrics = {str(k): _plain(v) for k, v in (record.get("metrics") or {}).items()}
            summary: dict[str, Any] = dict(metrics)
            if "status" in record:
                summary["status"] = _plain(record["status"])
            if record.get("status") == "diverged" or "diverged_at_step" in record:
                summary["diverged_at_step"] = _plain(record.get("diverged_at_step"))
            if "times" in record:
                summary["times"] = _plain(record["times"])
            payload: dict[str, Any] = {f"eval/{k}": v for k, v in metrics.items()}
            wandb = self._wb()
            for name, value in (visuals or {}).items():
                stack = _as_image_stack(value)
                if stack is not None:
                    payload[f"visuals/{name}"] = wandb.Image(tile(stack), caption=_caption(name, visuals, self._run_id))
            if payload:
                run.log(payload)
            run.summary.update(summary)
        except Exception as exc:
            self._fail(exc)

    def finish_run(self) -> None:
        """Finish the current W&B run, if any."""
        self._last = None
        if self._run is None:
            return
        try:
            self._close()
        except Exception as exc:
            self._fail(exc)

    def log_table(self, rows: list[dict], name: str = "results") -> None:
        """A separate run, '<group>-table' (job_type 'table'), holding `rows` as a wandb.Table."""
        if not self._active():
            return
        try:
            keys: list[Any] = []
            for row in rows:
                keys.extend(k for k in row if k not in keys)
            data = [[_cell(row.get(k)) for k in keys] for row in rows]
            wandb = self._wb()
            table = wandb.Table(columns=[str(k) for k in keys], data=data, allow_mixed_types=True)
            run = self._init(name=f"{self.group or self.project}-table", run_id=None, config={}, job_type="table")
            try:
                run.log({name: table})
            finally:
                run.finish()
        except Exception as exc:
            self._fail(exc)


def _cell(v: Any) -> Any:
    """A table cell: numbers and strings as they are, anything nested as JSON text."""
    v = _plain(v)
    if isinstance(v, (dict, list)):
        import json

        return json.dumps(v, sort_keys=True, default=str)
    return v


def __getattr__(name: str):
    # PEP 562: `SafeWandbLogger` is made on first use (it subclasses Lightning's WandbLogger),
    # and is findable as vaebench.tracking.SafeWandbLogger so a logger pickles (ddp_spawn)
    if name == "SafeWandbLogger":
        return _safe_logger_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _safe_logger_class():
    """Lightning's WandbLogger whose every logging call swallows (and reports) W&B failures."""
    cls = globals().get("SafeWandbLogger")
    if cls is not None:
        return cls
    from lightning.pytorch.loggers import WandbLogger

    class SafeWandbLogger(WandbLogger):
        def __init__(self, tracker: Tracker | None = None, **kwargs):
            super().__init__(**kwargs)
            self._tracker = tracker

        def _guard(self, fn, *args, **kwargs):
            tracker = self._tracker
            if tracker is not None and not tracker.enabled:
                return None
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if tracker is None:  # unpickled in a worker process: its own one warning
                    tracker = self._tracker = Tracker("disabled")
                tracker._fail(exc)
                return None

        def log_hyperparams(self, params, *args, **kwargs) -> None:
            def log():
                from lightning.fabric.utilities.logger import _convert_params

                super(SafeWandbLogger, self).log_hyperparams(sanitize_config(_convert_params(params)), *args, **kwargs)

            self._guard(log)

        def log_metrics(self, metrics, step=None) -> None:
            self._guard(super().log_metrics, metrics, step)

        def log_table(self, *args, **kwargs) -> None:
            self._guard(super().log_table, *args, **kwargs)

        def log_text(self, *args, **kwargs) -> None:
            self._guard(super().log_text, *args, **kwargs)

        def log_image(self, *args, **kwargs) -> None:
            self._guard(super().log_image, *args, **kwargs)

        def after_save_checkpoint(self, checkpoint_callback) -> None:
            self._guard(super().after_save_checkpoint, checkpoint_callback)

        def finalize(self, status: str) -> None:
            self._guard(super().finalize, status)

        def __getstate__(self):
            # as WandbLogger's, without its wandb.require("service") (a noisy no-op in wandb 0.31):
            # the worker re-attaches to the run by its attach id
            state = self.__dict__.copy()
            exp = self._experiment
            if exp is not None:
                try:
                    state["_id"] = getattr(exp, "id", None)
                    state["_attach_id"] = getattr(exp, "_attach_id", None)
                    state["_name"] = exp.name
                except Exception:
                    pass
            state["_experiment"] = None
            state["_tracker"] = None  # holds a console and the wandb module: not picklable
            return state

    SafeWandbLogger.__module__ = __name__
    SafeWandbLogger.__qualname__ = "SafeWandbLogger"
    globals()["SafeWandbLogger"] = SafeWandbLogger
    return SafeWandbLogger
