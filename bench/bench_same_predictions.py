"""Print a fingerprint of one model's answers on the first N images of a split, to show a refactor changed nothing.

Run it once in each checkout (old and new) with that checkout on PYTHONPATH; equal digests mean the
two trees give the same class, class probabilities (5 decimals), unfamiliar-image score (4 decimals),
unfamiliar flag and blur verdict for every image. Speed benches cannot show this on a shared machine:
their run-to-run spread is larger than any change a pure move could cause.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_same_predictions.py --model runs/default \
        --data data/fmnist-lt-blur-v1 --split dev --images 1000
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1]))  # after PYTHONPATH: the checkout named there is the one measured

import fusion  # noqa: E402
from fusion.predictor import Predictor  # noqa: E402
from train.data.dataset_dir import read_dataset  # noqa: E402


def fingerprint(answers: list[dict]) -> str:
    """A short digest of every answer's class, rounded probabilities, OOD score and verdicts."""
    rounded = [(a["class_name"], sorted((k, round(float(v), 5)) for k, v in a["probabilities"].items()),
                round(float(a["ood_score"]), 4), bool(a["in_distribution"]), bool(a["blurred"])) for a in answers]
    return hashlib.sha256(repr(rounded).encode()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="runs/default")
    parser.add_argument("--data", default="data/fmnist-lt-blur-v1")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args()

    dataset = read_dataset(args.data)
    rows = dataset.split_rows(args.split)[: args.images]
    images = dataset.load_images(args.split, progress=False)[: args.images]
    answers = [p.to_dict() for p in Predictor.from_checkpoint(args.model).predict_batch(list(images), batch_size=128)]
    accuracy = np.mean([a["class_name"] == r["class_name"] for a, r in zip(answers, rows)])
    print(f"code: {Path(fusion.__file__).resolve().parents[1]}")
    print(f"{args.split} images {len(answers)}: top-1 accuracy {100 * accuracy:.2f} %, "
          f"flagged unfamiliar {sum(not a['in_distribution'] for a in answers)}, "
          f"judged blurred {sum(bool(a['blurred']) for a in answers)}, predictions digest {fingerprint(answers)}")


if __name__ == "__main__":
    main()
