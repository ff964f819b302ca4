"""Held-out blur suite for one trained model: accuracy and unfamiliar-image warnings per blur family
x strength, next to sharp (analysis.held_out_blur), printed as a table and written as JSON.

    .venv/bin/python bench/bench_held_out_blur.py --model runs/default --data data/fmnist-lt-blur-v1 \\
        --split dev --n 2000 --out held_out.json [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="trained run dir")
    parser.add_argument("--data", type=Path, default=Path("data/fmnist-lt-blur-v1"))
    parser.add_argument("--split", default="dev", help="dev to choose recipes; test once, for what ships")
    parser.add_argument("--n", type=int, default=2000, help="sharp images re-blurred under every condition")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the whole section")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"--n must be a positive integer, got {args.n}")
    if not (args.model / "model.json").is_file():
        parser.error(f"--model {args.model} is not a trained run dir (no model.json)")

    from analysis.held_out_blur import held_out_rows, held_out_sweep
    from fusion.predictor import Predictor
    from train.data.dataset_dir import read_dataset

    start = time.perf_counter()
    predictor = Predictor.from_checkpoint(args.model, device=args.device)
    section = held_out_sweep(predictor, read_dataset(args.data), args.split, args.n, args.seed, progress=True)
    section.update(model=str(args.model), seconds=round(time.perf_counter() - start, 1))
    header, rows, note = held_out_rows(section)
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    for row in [header, *rows]:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)))
    print(note)
    print(f"{section['seconds']} s on {args.device}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(section, indent=1))
    tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
