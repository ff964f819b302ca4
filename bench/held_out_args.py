"""The command line both blur benches share (bench_held_out_blur, bench_ood_blur): one trained run,
one dataset, N sharp images re-blurred, a JSON output, a device; checked before any image is read."""

from __future__ import annotations

import argparse
from pathlib import Path


def blur_bench_parser(description: str, out_help: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", type=Path, required=True, help="trained run dir")
    parser.add_argument("--data", type=Path, default=Path("data/fmnist-lt-blur-v1"))
    parser.add_argument("--n", type=int, default=2000, help="sharp dev images re-blurred under every condition")
    parser.add_argument("--out", type=Path, required=True, help=out_help)
    parser.add_argument("--device", default="cpu")
    return parser


def parse_checked(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parsed arguments; exits with a usage error (status 2) on a bad --n or a --model that is no run dir."""
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"--n must be a positive integer, got {args.n}")
    if not (args.model / "model.json").is_file():
        parser.error(f"--model {args.model} is not a trained run dir (no model.json)")
    return args
