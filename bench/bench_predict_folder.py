"""`blurfuse predict` over a folder of 10,000 images: old code, new code and the model alone, in one run.

The folder holds the Fashion-MNIST test images as PNG files (written once, then reused). Measured
side by side, alternating: the model-only throughput (the forward pass over inputs prepared in
advance, the same batch size), and the wall time of `blurfuse predict FOLDER` from each tree as a
user runs it, less that tree's start-up (the same command on one image). Prints images/s and the
share of the model-only throughput each tree reaches.

    .venv/bin/python bench/bench_predict_folder.py --model runs/default --old /tmp/old-checkout [--rounds 2]
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FMNIST_TEST = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


def fmnist_test_images(count: int = 10_000) -> np.ndarray:
    """(count, 28, 28) uint8 test images, in file order."""
    with gzip.open(FMNIST_TEST) as handle:
        handle.read(16)
        return np.frombuffer(handle.read(count * 784), np.uint8).reshape(count, 28, 28)


def image_folder(folder: Path, count: int) -> Path:
    """The folder of `count` PNGs, written atomically the first time."""
    import cv2

    if folder.is_dir() and len(list(folder.glob("*.png"))) == count:
        return folder
    tmp = folder.with_name(folder.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(fmnist_test_images(count)):
        cv2.imwrite(str(tmp / f"{i:05d}.png"), image)
    os.replace(tmp, folder)
    return folder


def model_only(model: Path, folder: Path, batch_size: int, count: int) -> float:
    """Images/s of the forward pass alone, over inputs prepared before the clock starts."""
    from features.image import load_image
    from fusion.predictor import Predictor

    predictor = Predictor.from_checkpoint(model)
    paths = sorted(folder.glob("*.png"))[:count]
    prepared = [predictor.prepare([load_image(p) for p in paths[s : s + batch_size]]) for s in range(0, len(paths), batch_size)]
    predictor._forward(prepared[0].inputs, predictor.ood_stages)  # warm-up
    start = time.perf_counter()
    for batch in prepared:
        predictor._forward(batch.inputs, predictor.ood_stages)
    return len(paths) / (time.perf_counter() - start)


def cli_seconds(tree: Path, model: Path, inputs: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "blurfuse.cli", "predict", *inputs, "--model", str(model)], cwd=tree, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("runs/default"))
    parser.add_argument("--old", type=Path, required=True, help="an older checkout (git worktree add DIR COMMIT)")
    parser.add_argument("--new", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--folder", type=Path, default=Path("/tmp/blurfuse-bench/fmnist-test-10k"))
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--model-only-images", type=int, default=3000, help="images the model-only figure is timed on")
    parser.add_argument("--batch-size", type=int, default=64, help="the CLI's default batch size")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    model = args.model.resolve()
    folder = image_folder(args.folder, args.images)
    one = [str(sorted(folder.glob("*.png"))[0])]
    rows = []
    for round_ in range(1, args.rounds + 1):
        rows.append(("model only", round_, model_only(model, folder, args.batch_size, args.model_only_images)))
        for name in ("old", "new"):
            tree = getattr(args, name).resolve()
            startup = cli_seconds(tree, model, one)
            rows.append((name, round_, args.images / max(1e-9, cli_seconds(tree, model, [str(folder)]) - startup)))
            print(f"round {round_}: {name} {rows[-1][2]:.0f} images/s (start-up {startup:.1f} s)", file=sys.stderr, flush=True)
    print(f"\n`blurfuse predict` over {args.images} PNGs (28 px), batch {args.batch_size}, {os.cpu_count()} cores")
    print("| what | round | images/s |")
    print("| --- | ---: | ---: |")
    for name, round_, rate in rows:
        print(f"| {name} | {round_} | {rate:.0f} |")
    median = {n: float(np.median([r for m, _, r in rows if m == n])) for n in ("model only", "old", "new")}
    print(f"\nmedians: model only {median['model only']:.0f}, old {median['old']:.0f} "
          f"({100 * median['old'] / median['model only']:.0f} % of model only), new {median['new']:.0f} "
          f"({100 * median['new'] / median['model only']:.0f} % of model only); new / old {median['new'] / median['old']:.2f}x")


if __name__ == "__main__":
    main()
