"""Pool the whole-photo tables of several `bench_blur_photos.py --whole --dump FILE.npz` runs (seeds, pools).

Each run holds out only 4-9 photos, so one split's whole-photo table moves by a photo at a time;
the figures in docs/RESULTS.md are these pooled counts, with one balanced accuracy per run beside
them (mean of the blurred and the sharp accuracy) so the spread over splits shows too.

    .venv/bin/python bench/pool_whole_photos.py RUN0.npz RUN1.npz ... [--rules] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.tile_reading import TileReading, rule_verdicts  # noqa: E402
from bench.whole_photos import WholeImage, balanced_accuracy, print_and_save, whole_table  # noqa: E402


def load_dump(path: Path) -> tuple[list[WholeImage], dict[str, np.ndarray], TileReading]:
    """One dump's images (no pixels), the three shipped columns, and the tile answers."""
    if not path.is_file():
        raise FileNotFoundError(f"no dump at {path} (write one with bench_blur_photos.py --whole --dump FILE.npz)")
    d = np.load(path, allow_pickle=True)
    images = [WholeImage(str(p), str(k), str(s), 0.0, None, Path(""), (0, 0))
              for p, k, s in zip(d["photo"], d["kind"], d["strength"])]
    columns = {"model (tiles, as predict)": d["verdict"].astype(bool),
               "Laplacian (fitted on crops)": d["laplacian"] < float(d["threshold_laplacian"]),
               "FFT ratio (fitted on crops)": d["fft"] < float(d["threshold_fft"])}
    reading = TileReading(d["verdict"].astype(bool), [np.asarray(p, float) for p in d["tile_prob"]],
                          [np.asarray(c, float) for c in d["tile_contrast"]])
    return images, columns, reading


def pooled_report(paths: list[Path], rules: bool = False, side: str = "test") -> str:
    """Pooled table over the dumps, then each run's balanced accuracy per column."""
    every: list[WholeImage] = []
    pooled: dict[str, list[np.ndarray]] = {}
    per_run: list[str] = []
    for path in paths:
        images, columns, reading = load_dump(path)
        if rules:
            columns = {**columns, **{f"rule {k}": v for k, v in rule_verdicts(reading).items()}}
        every += images
        for name, v in columns.items():
            pooled.setdefault(name, []).append(v)
        per_run.append(f"{path.stem}: " + ", ".join(f"{name} {100 * balanced_accuracy(np.array([im.blurred for im in images]), v):.1f} %" for name, v in columns.items()))
    verdicts = {name: np.concatenate(parts) for name, parts in pooled.items()}
    return (f"{len(paths)} runs, {len(every)} whole images pooled\n\n" + whole_table(every, verdicts, side) +
            "\n\nbalanced accuracy per run:\n" + "\n".join(f"- {line}" for line in per_run) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dumps", type=Path, nargs="+")
    parser.add_argument("--rules", action="store_true", help="also the candidate tile rules (bench.tile_reading)")
    parser.add_argument("--side", default="test", help="what the dumps held out: test or dev photos (the table's label)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    try:
        text = pooled_report(args.dumps, args.rules, args.side)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return print_and_save(text, args.out)


if __name__ == "__main__":
    sys.exit(main())
