"""`blurfuse run`: the main job — build the dataset, train the default recipe, write the report, serve.

It composes the other subcommands through their own argument parsers, so `run` can never drift
from what a user gets by running the steps by hand. Each step is skipped when its finished output
already exists (outputs only appear complete, see `features.atomic`), so re-running `make run`
after an interruption picks up where it stopped. A training run is finished only when its
`RUN_COMPLETE.json` marker (written last, see `train.resume`) says so; otherwise it is resumed.
"""

from __future__ import annotations

import argparse
import logging
from typing import Callable

from blurfuse.errors import CLIError
from features.arg_types import absolute_path

log = logging.getLogger("blurfuse.run")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="the main job: dataset -> training -> report -> web app",
        description="Build FMNIST-LT-Blur v1 (or reuse it), train the default recipe (or resume it), "
        "write the analysis report and serve the model. Steps whose output exists are skipped.",
    )
    parser.add_argument("--data", type=absolute_path, default="data/fmnist-lt-blur-v1", help="dataset dir")
    parser.add_argument("--out", type=absolute_path, default="runs/default", help="training run dir")
    parser.add_argument("--recipe", default=None, help="training recipe name (default: the one the dataset calls for)")
    parser.add_argument("--data-root", type=absolute_path, default=None, help="where the Fashion-MNIST IDX files are")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--no-serve", action="store_true", help="stop after the report")
    parser.add_argument("--ngrok", action="store_true", help="also open a public ngrok tunnel (NGROK_AUTHTOKEN)")
    parser.set_defaults(func=run)


def _step(build_parser: Callable[[], argparse.ArgumentParser], argv: list[str]) -> None:
    print(f"\n==> blurfuse {' '.join(argv)}", flush=True)
    args = build_parser().parse_args(argv)
    status = int(args.func(args) or 0)
    if status != 0:
        raise CLIError(f"step 'blurfuse {argv[0]}' failed with exit status {status}")


def run(args: argparse.Namespace) -> int:
    from train.resume import run_complete

    data, out = args.data, args.out
    if (data / "manifest.csv").is_file() and (data / "card.json").is_file():
        print(f"==> dataset {data} exists; reusing it")
    else:
        argv = ["data", "--dataset", "fashion-mnist", "--out", str(data)]
        if args.data_root is not None:
            argv += ["--data-root", str(args.data_root)]
        _step(args.build_parser, argv)

    if run_complete(out):
        print(f"==> model {out} exists and its training finished; reusing it")
    else:
        # A checkpoint alone proves nothing: it appears after the first improving epoch. Without
        # the completion marker the run is unfinished, and training continues where it stopped.
        argv = ["train", "--data", str(data), "--out", str(out)] + (["--recipe", args.recipe] if args.recipe else [])
        if out.exists():
            argv.append("--resume")
        _step(args.build_parser, argv)

    report = out / "report"
    if (report / "index.html").is_file():
        print(f"==> report {report} exists; reusing it")
    else:
        _step(args.build_parser, ["report", "--model", str(out), "--data", str(data), "--out", str(report)])
    print(f"\nReport: {(report / 'index.html').resolve()}")

    if args.no_serve:
        return 0
    argv = ["serve", "--model", str(out), "--host", args.host, "--port", str(args.port)]
    if args.ngrok:
        argv.append("--ngrok")
    _step(args.build_parser, argv)
    return 0
