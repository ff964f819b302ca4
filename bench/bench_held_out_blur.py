"""Held-out blur suite for one trained model: accuracy and unfamiliar-image warnings per blur family
x strength, next to sharp (analysis.held_out_blur), printed as a table and written as JSON.

    .venv/bin/python bench/bench_held_out_blur.py --model runs/default --data data/fmnist-lt-blur-v1 \\
        --split dev --n 2000 --out held_out.json [--device cuda]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.blur_families import SUITES  # noqa: E402
from bench.held_out_args import blur_bench_parser, parse_checked  # noqa: E402
from features.atomic import atomic_write_json  # noqa: E402
from fusion.predictor import DEFAULT_SECOND_LOOK_READING, SECOND_LOOK_READINGS  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = blur_bench_parser(__doc__.splitlines()[0], "JSON file for the whole section")
    parser.add_argument("--split", default="dev", help="dev to choose recipes; test once, for what ships")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--second-look-reading", choices=SECOND_LOOK_READINGS, default=DEFAULT_SECOND_LOOK_READING,
                        help="how answers use the low-passed second look (fusion.predictor)")
    parser.add_argument("--suite", choices=tuple(SUITES), default="held-out",
                        help="held-out: the families recipes are chosen on; verification: a second set, never used to choose")
    args = parse_checked(parser, argv)

    from analysis.held_out_blur import held_out_rows, held_out_sweep
    from fusion.predictor import Predictor
    from train.data.dataset_dir import read_dataset

    start = time.perf_counter()
    predictor = Predictor.from_checkpoint(args.model, device=args.device, second_look_reading=args.second_look_reading)
    section = held_out_sweep(predictor, read_dataset(args.data), args.split, args.n, args.seed, progress=True,
                             suite=args.suite)
    section.update(model=str(args.model), second_look_reading=args.second_look_reading, seconds=round(time.perf_counter() - start, 1))
    header, rows, note = held_out_rows(section)
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    for row in [header, *rows]:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)))
    print(note)
    print(f"{section['seconds']} s on {args.device}")
    atomic_write_json(args.out, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
