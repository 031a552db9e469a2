"""Argument types and options that more than one command shares."""

from __future__ import annotations

import argparse

DATA_ROOT_HELP = (
    "folder with the dataset files (else $VAEBENCH_DATA, then the system copy); a folder you name "
    "must exist and hold the data set (exit 2 otherwise). digits (scikit-learn) needs no files and "
    "ignores it; dsprites uses dsprites_ndarray_*.npz from it when there, else renders procedurally"
)


def csv(kind):
    """An argparse type: a comma-separated list of `kind`."""

    def parse(text: str):
        try:
            return [kind(t) for t in text.split(",") if t.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {kind.__name__}s, got {text!r}") from None

    return parse


def parse_devices(text: str):
    """Lightning's devices: an integer count, or a string such as auto or 0,1."""
    return int(text) if text.isdigit() else text


def add_data_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", metavar="DIR", help=DATA_ROOT_HELP)
