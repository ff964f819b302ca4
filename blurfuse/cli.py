"""The `blurfuse` console script: one entry point that dispatches subcommands.

This is the only module that imports every package. Each package owns its subcommands in its own
`cli.py` (`register(subparsers)` adds them and sets `func`), and imports heavy libraries (torch,
timm, flask) inside the handlers, so `blurfuse --help` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from blurfuse import __version__
from blurfuse.errors import CLIError


def build_parser() -> argparse.ArgumentParser:
    from analysis import cli as analysis_cli
    from blurfuse import main_job
    from fusion import cli as fusion_cli
    from train import calibrate_command
    from train import cli as train_cli
    from train import head_command
    from train.data import cli as data_cli
    from train.experiments import commands as experiment_commands

    try:
        from web import cli as web_cli
    except ModuleNotFoundError as error:  # no web stack here (a bare GPU machine): every other subcommand still runs
        web_cli = _Unavailable("serve", error)

    parser = argparse.ArgumentParser(
        prog="blurfuse",
        description="Long-tailed, partly blurred image classification: data, training, report, web app.",
    )
    parser.add_argument("--version", action="version", version=f"blurfuse {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    # `blurfuse run` composes the other subcommands through this same parser; handing it the
    # factory keeps main_job from importing this module back.
    parser.set_defaults(build_parser=build_parser)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (data_cli, train_cli, head_command, calibrate_command, experiment_commands, fusion_cli, analysis_cli, web_cli, main_job):
        module.register(subparsers)
    return parser


class _Unavailable:
    """Stands in for a subcommand group whose dependency is not installed: `COMMAND` says what is missing."""

    def __init__(self, command: str, error: ModuleNotFoundError) -> None:
        self.command, self.missing = command, error.name or str(error)

    def register(self, subparsers: argparse._SubParsersAction) -> None:
        parser = subparsers.add_parser(self.command, help=f"(unavailable: needs {self.missing})", prefix_chars="\0")
        parser.add_argument("given", nargs="*")  # whatever was passed: the only answer is what to install
        parser.set_defaults(func=self.run)

    def run(self, args: argparse.Namespace) -> int:
        raise CLIError(f"'{self.command}' needs the package {self.missing!r}: pip install -e . (or pip install {self.missing})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"blurfuse {args.command}: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ValueError, FileNotFoundError, FileExistsError, NotADirectoryError) as error:
        # Bad input is the user's to fix: say what was wrong, no traceback.
        print(f"blurfuse {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
