"""Run records on disk: one JSON per run (plus an optional .npz of figure arrays), written
atomically, with provenance. A record's JSON is written last: it is what marks a run done."""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import json
import os
import platform
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from vaebench.errors import UserError

SCHEMA_VERSION = 1


_HOST = platform.node().replace(".", "_") or "host"


def temp_name(path: Path) -> str:
    """A hidden temporary name beside `path` that says which process owns it (host, pid)."""
    return f".{path.name}.{_HOST}.{os.getpid()}."


def remove_stale_temp_files(folder: Path) -> int:
    """Delete temporary files (see `temp_name`) left in `folder` by processes of this host that
    no longer exist (a kill -9 during a write). Files of live processes and of other hosts
    sharing the folder are left alone. Returns how many were removed."""
    removed = 0
    for p in Path(folder).glob(f".*.{_HOST}.*.tmp"):
        try:
            pid = int(p.name.split(f".{_HOST}.", 1)[1].split(".", 1)[0])
        except (IndexError, ValueError):
            continue
        try:
            os.kill(pid, 0)
            continue  # alive (or not ours to signal): keep
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        p.unlink(missing_ok=True)
        removed += 1
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_name(path), suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; a result file is as readable as any other
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def ensure_writable(out: Path) -> None:
    """Create `out` if needed and prove a file can be written there, touching nothing else."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out, prefix=".write-test-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise UserError(f"output folder {out} is not writable ({exc.strerror or exc}); choose another with --out") from None


class RunStore:
    def __init__(self, out: Path):
        self.out = Path(out)
        self.runs = self.out / "runs"

    def json_path(self, run_id: str) -> Path:
        return self.runs / f"{run_id}.json"

    def visuals_path(self, run_id: str) -> Path:
        return self.runs / f"{run_id}.npz"

    def checkpoint_path(self, run_id: str) -> Path:
        """Where an unfinished run keeps its last epoch checkpoint (deleted once it is done)."""
        return self.out / "checkpoints" / f"{run_id}.ckpt"

    def is_done(self, run_id: str) -> bool:
        return self.json_path(run_id).is_file()

    def code_of(self, run_id: str) -> str:
        """`code_label` of the run's record (which must exist and be readable)."""
        return code_label(read_record(self.json_path(run_id)))

    def stale(self, run_ids) -> dict[str, str]:
        """The done runs among `run_ids` whose record was made by other code than the running
        one (see `code_hash`): run id -> `code_label` of its record."""
        current = running_code_label()
        labels = {run_id: self.code_of(run_id) for run_id in run_ids if self.is_done(run_id)}
        return {run_id: label for run_id, label in labels.items() if label != current}

    def record_problem(self, run_id: str) -> str | None:
        """None when the run has no record or a valid one; else why its record is unusable (a
        truncated or hand-edited file must not count as done)."""
        path = self.json_path(run_id)
        if not path.is_file():
            return None
        try:
            record = read_record(path)
        except UserError as exc:
            return str(exc)
        if record.get("run_id") != run_id:
            return f"{path} holds run {record.get('run_id')!r}, not {run_id!r}; delete it to re-run that run"
        return None

    def lock_path(self, run_id: str) -> Path:
        return self.out / "locks" / f"{run_id}.lock"

    def claim(self, run_id: str) -> Claim | None:
        """Take the run's lock (see `Claim`); None when another live process holds it."""
        return Claim.take(self.lock_path(run_id))

    def claimed_by(self, run_id: str) -> str | None:
        """Who holds the run's lock file, as it says ("host pid"), when it exists and that
        process may be alive; a look only (taking the lock to test it could make a sweep skip)."""
        path = self.lock_path(run_id)
        try:
            host, pid = path.read_text().split()[:2]
        except (OSError, ValueError):
            return None
        if host == _HOST:
            try:
                os.kill(int(pid), 0)
            except (ProcessLookupError, ValueError):
                return None  # left by a kill -9: stale, the next sweep takes it
            except PermissionError:
                pass
        return f"pid {pid} on {host}"

    def write(self, record: dict[str, Any], visuals: dict[str, np.ndarray] | None = None) -> Path:
        run_id = record["run_id"]
        if visuals:
            buf = io.BytesIO()
            np.savez_compressed(buf, **visuals)
            atomic_write_bytes(self.visuals_path(run_id), buf.getvalue())
        path = self.json_path(run_id)
        atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
        return path


class Claim:
    """One process's right to do one run: an exclusive `flock` on `<out>/locks/<run id>.lock`.

    Taken without waiting: two sweeps into one folder (or overlapping pool workers) each take the
    runs the other has not, so no run is trained twice and no checkpoint is written by two
    processes. The kernel drops the lock when its process dies, so a lock left by kill -9 is
    free for the next sweep (the file says "host pid" for people; its content is not the lock).
    A holder deletes the file when done; a taker checks that the file it locked is still the
    one at the path (not one deleted meanwhile), else tries again."""

    def __init__(self, path: Path, fd: int | None):
        self.path, self.fd = path, fd

    @classmethod
    def take(cls, path: Path) -> Claim | None:
        import fcntl

        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            except OSError:  # a file system without locks: run unguarded, as before locks existed
                os.close(fd)
                return cls(path, None)
            try:
                current = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                os.ftruncate(fd, 0)
                os.write(fd, f"{_HOST} {os.getpid()}\n".encode())
                return cls(path, fd)
            os.close(fd)  # its holder finished and deleted it between our open and our lock

    def release(self) -> None:
        if self.fd is None:
            return
        self.path.unlink(missing_ok=True)  # before the unlock: a taker then sees another file
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


RECORD_SCHEMA = "schemas/run_record.schema.json"  # package data: the run record's JSON Schema


@functools.lru_cache(maxsize=1)
def record_validator():
    """A jsonschema validator for run records (vaebench/schemas/run_record.schema.json)."""
    from importlib import resources

    import jsonschema

    folder, name = RECORD_SCHEMA.split("/")
    schema = json.loads(resources.files("vaebench").joinpath(folder).joinpath(name).read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_record(record: Any, where: str) -> None:
    """Raise UserError naming `where` and the field path if `record` does not match the schema."""
    from jsonschema.exceptions import best_match

    errors = list(record_validator().iter_errors(record))
    if not errors:
        return
    error = best_match(errors)
    field = ".".join(str(part) for part in error.absolute_path)
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    raise UserError(
        f"{where}: {field + ': ' if field else ''}{error.message}{more}; the run record does not match "
        f"vaebench/{RECORD_SCHEMA}: fix it, or delete it to re-run that run"
    )


def load_records(folder: Path) -> list[dict[str, Any]]:
    """Every run record under folder/runs (or folder itself), sorted by run id, each validated
    against the record schema (a record that does not match is an error naming file and field)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"results folder {folder} does not exist")
    runs = folder / "runs" if (folder / "runs").is_dir() else folder
    records = []
    for path in sorted(runs.glob("*.json")):
        record = read_record(path)
        record["_path"] = str(path)
        records.append(record)
    return records


def read_record(path: Path) -> dict[str, Any]:
    """One run record, parsed and validated against the record schema (UserError naming the
    file, and the field where the schema fails)."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"run record {path} is unreadable ({exc}); delete it to re-run that run") from None
    if not isinstance(record, dict) or "run_id" not in record or "spec" not in record:
        raise UserError(f"{path} is not a vaebench run record")
    validate_record(record, str(path))
    return record


# ---------------------------------------------------------------- provenance

_PACKAGES = ("torch", "lightning", "torchmetrics", "torchvision", "scikit-learn", "numpy", "scipy")


@functools.lru_cache(maxsize=1)
def git_sha() -> str | None:
    """The code's git SHA (+ "-dirty"), read once per process: the code that was loaded at start,
    not whatever the working tree holds when a long run ends."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", "."], capture_output=True, text=True, timeout=5)
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


# the package's parts whose code does not enter a record's numbers: the command line, the
# report, W&B logging, the shipped suites (a suite's content enters each run id) and the schemas
_NOT_RESULT_CODE = frozenset({"cli", "report", "suites", "schemas", "__main__.py", "tracking.py"})


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    """What "the same code" means for a record: 16 hex digits of a SHA-256 over the package's
    Python files whose code enters results, as syntax trees without docstrings (comments,
    formatting and docstrings do not count; the tree is the running Python's, so a record made
    under another Python minor version may count as other code), and over the shipped FID
    backbone weights, in path order. Read once per process, like `git_sha`."""
    return package_code_hash(Path(__file__).resolve().parent)


def package_code_hash(root: Path) -> str:
    """`code_hash` of the package whose folder is `root`."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or rel.parts[0] in _NOT_RESULT_CODE or "__pycache__" in rel.parts:
            continue
        if path.suffix == ".py":
            body = _code_without_docstrings(path.read_text(encoding="utf-8"))
        elif rel.parts[0] == "fid_weights":
            body = path.read_bytes()
        else:
            continue
        digest.update(rel.as_posix().encode() + b"\0" + body + b"\0")
    return digest.hexdigest()[:16]


def _code_without_docstrings(source: str) -> bytes:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree).encode()


def code_label(record: dict[str, Any]) -> str:
    """Which code made a record, as messages and the report name it: `code <hash>`, or for a
    record that carries no code hash `no code hash (vaebench <version>)` (its git SHA does not
    say: commits that change no result code change the SHA too)."""
    prov = record.get("provenance") or {}
    if prov.get("code_hash"):
        return f"code {prov['code_hash']}"
    return f"no code hash (vaebench {(prov.get('versions') or {}).get('vaebench', '?')})"


def label_counts(labels) -> list[tuple[str, int]]:
    """(code label, how many) for `labels`, most frequent first."""
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def mixed_code_line(records: list[dict[str, Any]]) -> str | None:
    """None when every record was made by one code; else a line naming the code versions."""
    counts = label_counts(code_label(r) for r in records)
    if len(counts) < 2:
        return None
    return (f"note: these {len(records)} records come from {len(counts)} code versions ("
            + "; ".join(f"{n} by {label}" for label, n in counts) + "); rows that mix them may compare different code")


def running_code_label() -> str:
    return code_label({"provenance": {"code_hash": code_hash()}})


def stale_line(stale: dict[str, str], rerun: bool) -> str:
    """One line on done records made by other code: how many, by which code, what happens."""
    which = "; ".join(f"{n} by {label}" for label, n in label_counts(stale.values()))
    action = "recomputed (--rerun-stale)" if rerun else "kept as they are; --rerun-stale recomputes them"
    return f"{len(stale)} done record(s) were made by other code than this ({running_code_label()}): {which}; {action}"


def provenance(device: str) -> dict[str, Any]:
    import torch

    from vaebench import __version__

    versions = {"vaebench": __version__, "python": platform.python_version()}
    for pkg in _PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    dev = device
    if device.startswith("cuda") and torch.cuda.is_available():
        dev = f"{device} ({torch.cuda.get_device_name()})"
    return {
        "versions": versions,
        "git_sha": git_sha(),
        "code_hash": code_hash(),
        "device": dev,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
