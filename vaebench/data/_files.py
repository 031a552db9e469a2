"""What every downloaded data set shares: where its files are looked for, their checksums, the
download through torchvision (or a plain URL), and the errors that say how to get them.

Search order, as for Fashion-MNIST: a `--data-root` the user names is the only place looked in;
without one, `$VAEBENCH_DATA`, then the download cache (~/.cache/vaebench). Each data set names
the subfolders of a root it looks in (torchvision's own layouts among them), so a folder that
torchvision downloaded into works as a data root.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from vaebench.errors import DataError

DOWNLOAD_DIR = Path.home() / ".cache" / "vaebench"


def roots(data_root) -> list[Path]:
    """Roots searched, in order: only the named one when there is one."""
    if data_root:
        return [Path(data_root)]
    env = os.environ.get("VAEBENCH_DATA")
    return [*([Path(env)] if env else []), DOWNLOAD_DIR]


def find_dir(data_root, subdirs: Iterable[str], names: Iterable[str]) -> Path | None:
    """The first folder (root / subdir, for each root and subdir in order) holding every name."""
    names = list(names)
    for root in roots(data_root):
        for sub in subdirs:
            d = root / sub if sub else root
            if all((d / n).exists() for n in names):
                return d
    return None


def looked_in(data_root, subdirs: Iterable[str]) -> str:
    return ", ".join(str(r / s if s else r) for r in roots(data_root) for s in subdirs)


def digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, algorithm: str, expected: str, what: str, how: str) -> None:
    """Refuses a file whose checksum is not the pinned one (DataError: exit status 2)."""
    try:
        got = digest(path, algorithm)
    except OSError as exc:
        raise DataError(f"{what} file {path} cannot be read ({exc}); {how}") from None
    if got != expected:
        raise DataError(f"{what} file {path} is corrupted: {algorithm.upper()} {got[:16]}... does not match "
                        f"the expected {expected[:16]}...; replace it ({how})")


def combined(pins: dict[str, str]) -> str:
    """One SHA-256 identifying a data set: of its files' pinned checksums, in name order."""
    return hashlib.sha256("".join(pins[k] for k in sorted(pins)).encode()).hexdigest()


def offline() -> bool:
    return bool(os.environ.get("VAEBENCH_OFFLINE"))


def download(what: str, how: str, data_root, fetch: Callable[[Path], None]) -> Path:
    """Runs `fetch(root)` (a torchvision download, or urls) into data_root / $VAEBENCH_DATA / the
    cache and returns that root. Never when VAEBENCH_OFFLINE is set; any failure (no network, a
    host that is down, a checksum that fails after download) is a DataError naming what to do."""
    if offline():
        raise DataError(f"{what} not found and VAEBENCH_OFFLINE is set (no download); {how}")
    root = Path(data_root or os.environ.get("VAEBENCH_DATA") or DOWNLOAD_DIR)
    try:
        root.mkdir(parents=True, exist_ok=True)
        fetch(root)
    except Exception as exc:  # no network, an unreachable host, a failed MD5 after download
        raise DataError(f"{what} is not available here and could not be downloaded into {root} "
                        f"({type(exc).__name__}: {str(exc)[:200]}); {how}") from None
    return root


def fetch_urls(urls: dict[str, str], folder: Path) -> None:
    """Plain HTTP download of name -> url into folder (for files torchvision does not ship)."""
    from torchvision.datasets.utils import download_url

    for name, url in urls.items():
        if not (folder / name).exists():
            download_url(url, str(folder), filename=name)
