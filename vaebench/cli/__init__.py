"""Command line: one module per command (run, list, report, compare, reproduce, fid-backbone).

Each command module has `add_parser(subparsers)`, which registers its options and sets
`handler`; `main` parses, dispatches and maps errors to exit codes: every error a user can
cause (`UserError`) exits 2 with one message, Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import sys
import traceback
import warnings

from vaebench.cli import compare, fid_backbone, list_cmd, recommend, report, reproduce, run
from vaebench.cli._signals import Interrupted
from vaebench.errors import UserError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
INTERRUPTED = "interrupted; finished runs are kept, re-run the same command to resume"
COMMANDS = (run, list_cmd, report, compare, reproduce, fid_backbone, recommend)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vaebench", description="Benchmark AE, VAE, CVAE and PCA.", allow_abbrev=False)
    p.add_argument("--debug", action="store_true", help="show tracebacks (also accepted after the command)")
    sub = p.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        # SUPPRESS: a subcommand that is not given --debug keeps the value parsed before it
        module.add_parser(sub).add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                            help="show tracebacks")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = argv
    warnings.filterwarnings("ignore", message=".*treespec.*")  # Lightning/torch version chatter
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    try:
        return args.handler(args)
    except UserError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except (KeyboardInterrupt, Interrupted):
        print(INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED
