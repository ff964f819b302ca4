"""The unfamiliar-image warning's ceiling: its score fitted WITH held-out-family copies (an oracle).

Issue 18 asks that blurred garments the model still reads >= 70 % right be flagged at most twice as
often as sharp ones, with photographs, noise and digits kept at AUROC >= 0.99. Every fit that sees
only training blur left zoom, the ring lens and turbulence at 5-17x. This asks whether the score
(the early-stage Gaussians + energy, with its low-passed second look) can meet both targets at all:
the camera-view fit, whose copies are here half the fit's own blur and half the held-out families
themselves (one family, one of its three suite strengths per copy). If even this fit misses a target
on a row, no fit without those families will meet it with this score; if it meets them, the score
has the room and what is missing is generalisation from the fit's copies.

A measurement, never the product's fit: `fusion` must not see the held-out families (import rules,
docs/ARCHITECTURE.md), so the copies are swapped in here, from outside `fusion`.

    .venv/bin/python bench/oracle_ood_fit.py --model runs/shift/tau0.1-seed0 --data data/fmnist-lt-blur-v1 \\
        --out ood_oracle.json --test-images 2000 --verification
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_ood_blur import FITS, measure, print_table, refit, verdict  # noqa: E402
from bench.held_out_args import blur_bench_parser, parse_checked  # noqa: E402
from bench.train_oracle_held_out import held_out_blurs  # noqa: E402
from features.atomic import atomic_write_json  # noqa: E402
from fusion.blur_views import blurred_views  # noqa: E402

HELD_OUT_COPY_SHARE = 0.5


def held_out_copies(images: list, seed: int) -> list[np.ndarray]:
    """One copy of every (same-sized) image, blurred by a held-out family at one of its suite strengths (seeded)."""
    if not images:
        return []
    return list(held_out_blurs(np.stack([np.asarray(image) for image in images]), np.random.default_rng([seed, 1818])))


def copies_with_held_out(images, labels=None, seed=0, kernels="classic", views="blur", framing_scale=None):
    """`with_blurred_views` whose copies are, for `HELD_OUT_COPY_SHARE` of the images, held-out-family
    blurs instead of the fit's own (its blur, un-reframed, for the rest)."""
    images = list(images)
    own = blurred_views(images, seed, kernels, "blur")
    swap = np.random.default_rng([seed, 1819]).random(len(images)) < HELD_OUT_COPY_SHARE
    held = iter(held_out_copies([im for im, s in zip(images, swap) if s], seed))
    copies = [next(held) if s else o for o, s in zip(own, swap)]
    return images + copies, None if labels is None else np.concatenate([np.asarray(labels), np.asarray(labels)])


def main(argv: list[str] | None = None) -> int:
    parser = blur_bench_parser(__doc__.splitlines()[0], "JSON file for the figures")
    parser.add_argument("--train-images", type=int, default=5000)
    parser.add_argument("--test-images", type=int, default=0, help="test images for AUROC (0 = the whole split)")
    parser.add_argument("--set-size", type=int, default=200, help="images per noise/digit set")
    parser.add_argument("--verification", action="store_true", help="sweep the verification suite too")
    args = parse_checked(parser, argv)

    import fusion.ood_store
    from analysis.ood_report import ood_sets
    from fusion.predictor import Predictor
    from train.data.dataset_dir import read_dataset

    start = time.perf_counter()
    dataset = read_dataset(args.data)
    shipped = Predictor.from_checkpoint(args.model, device=args.device)
    sets = ood_sets(args.set_size)
    results = {"shipped": measure(shipped, dataset, args.n, sets, args.test_images, args.verification)}
    with mock.patch.object(fusion.ood_store, "with_blurred_views", copies_with_held_out):
        oracle = refit(shipped, dataset, args.train_images, **FITS["camera-views"])
    results["oracle-held-out"] = measure(oracle, dataset, args.n, sets, args.test_images, args.verification)
    for r in results.values():
        r["verdict"] = verdict(r)
    print_table(results)
    print(f"{time.perf_counter() - start:.1f} s on {args.device}")
    settings = {k: getattr(args, k) for k in ("n", "train_images", "test_images", "set_size")}
    atomic_write_json(args.out, {"model": str(args.model), "held_out_copy_share": HELD_OUT_COPY_SHARE, **settings, **results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
