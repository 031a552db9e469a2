"""What every downloaded data set shares: where its files are looked for, their checksums, the
download through torchvision (or a plain URL), and the errors that say how to get them.

Search order, as for Fashion-MNIST: a `--data-root` the user names is the only place looked in;
without one, `$VAEBENCH_DATA`, then the download cache (~/.cache/vaebench). Each data set names
the subfolders of a root it looks in (torchvision's own layouts among them), so a folder that
torchvision downloaded into works as a data root.

A data set declares each set of files it reads as one `FileSet` (its name in messages, subfolders,
pinned checksums, how to get it, its download); finding, the --data-root message, verifying and
the find-or-download-then-verify of a load are that class's, the same for every data set.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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


_VERIFIED: set[tuple] = set()  # (path, size, mtime, algorithm, pin) checked in this process


def verify_file(path: Path, algorithm: str, expected: str, what: str, how: str) -> None:
    """Refuses a file whose checksum is not the pinned one (DataError: exit status 2). A file
    that passed is not read again in this process while its size and mtime stay the same (an
    MPI3D file is 12.7 GB: one MD5 of it takes tens of seconds)."""
    try:
        st = Path(path).stat()
        key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns, algorithm, expected)
        if key in _VERIFIED:
            return
        got = digest(path, algorithm)
    except OSError as exc:
        raise DataError(f"{what} file {path} cannot be read ({exc}); {how}") from None
    if got == expected:
        _VERIFIED.add(key)
    else:
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


@dataclass(frozen=True)
class FileSet:
    """One set of files a data set reads: where it is looked for, how each file is checked, how it
    is downloaded, and the messages that say how to get it.

    `pins` and `fetch` are called each time, not held: the owning module's pin table (e.g.
    `cifar10.MD5`) and download function stay the one name to replace (the tests pin generated
    files that way, and stand in a failing download).
    """

    title: str  # how messages name it: "CIFAR-10"
    subdirs: tuple[str, ...]  # of each root, searched in order ("" is the root itself)
    pins: Callable[[], dict[str, str]]  # file name -> pinned checksum
    algorithm: str  # of the pins: "md5", "sha1"
    how_to_get: str  # ends every message: how the user gets the files
    fetch: Callable[[Path], None]  # downloads into a root (see `download`)
    produces: str = "the files"  # what a download that is still not found did not produce
    also_needs: tuple[str, ...] = ()  # names that must be there too but have no pin (a folder of images)
    root_title: str = ""  # the title in the --data-root message, where it is not `title`

    def find(self, data_root=None) -> Path | None:
        """The first folder under the roots holding every pinned file (and `also_needs`)."""
        return find_dir(data_root, self.subdirs, [*self.pins(), *self.also_needs])

    def not_under_root(self, data_root) -> str:
        return (f"{self.root_title or self.title} not found under --data-root {data_root} "
                f"(looked in {looked_in(data_root, self.subdirs)}); {self.how_to_get}")

    def verify(self, folder: Path) -> None:
        """Every pinned file in folder against its pin (DataError: exit status 2)."""
        for name, expected in self.pins().items():
            verify_file(folder / name, self.algorithm, expected, self.title, self.how_to_get)

    def locate(self, data_root=None, allow_download: bool = True) -> Path:
        """The verified folder: found, or else downloaded (only without a named data root, and when
        allowed) and found again; every way it is not there is a DataError naming how to get it."""
        folder = self.find(data_root)
        if folder is None:
            if data_root:
                raise DataError(self.not_under_root(data_root))
            if not allow_download:
                raise DataError(f"{self.title} not found; {self.how_to_get}")
            download(self.title, self.how_to_get, None, self.fetch)
            folder = self.find(None)
            if folder is None:
                raise DataError(f"{self.title} download did not produce {self.produces}; {self.how_to_get}")
        self.verify(folder)
        return folder


def find_either(packed: FileSet, unpacked: FileSet, data_root=None) -> tuple[Path | None, bool]:
    """(folder, is_packed) of a data set published as pinned archives (`packed`) that users may
    also hold unpacked (`unpacked`, no pins: nothing published covers the unpacked files). The
    packed files win where both are found; (None, True) when neither is."""
    folder = packed.find(data_root)
    if folder is None and (folder := unpacked.find(data_root)) is not None:
        return folder, False
    return folder, True


def locate_either(packed: FileSet, unpacked: FileSet, data_root=None, allow_download: bool = True) -> tuple[Path, bool]:
    """As `find_either`, with the packed files verified, or downloaded when neither is found."""
    folder, is_packed = find_either(packed, unpacked, data_root)
    if not is_packed:
        return folder, False
    return packed.locate(data_root, allow_download), True


def fetch_urls(urls: dict[str, str], folder: Path) -> None:
    """Plain HTTP download of name -> url into folder (for files torchvision does not ship)."""
    from torchvision.datasets.utils import download_url

    for name, url in urls.items():
        if not (folder / name).exists():
            download_url(url, str(folder), filename=name)
