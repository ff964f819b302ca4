"""How long the report's blur-beyond-training sweep takes (`blurfuse report --robustness`).

The sweep predicts its sharp subset once clean and once per condition (15 conditions), so it costs
16 x N predictions plus the re-blurring. Measured on a dataset dir (default FMNIST-LT-Blur v1) with
a trained run, or with a fresh model of the default recipe's architecture (same cost, meaningless
accuracy) when --model is not given.

    .venv/bin/python bench/bench_robustness.py [--data DIR] [--model RUN] [--images 2000] [--threads 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/fmnist-lt-blur-v1"))
    parser.add_argument("--model", type=Path, default=None, help="run dir (default: a fresh default-recipe model)")
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()

    import torch

    from analysis.robustness import robustness_sweep
    from fusion.checkpoint import save_checkpoint
    from fusion.config import ModelConfig
    from fusion.model import create_model
    from fusion.predictor import Predictor
    from train.data.dataset_dir import read_dataset
    from train.recipes import recipe_config

    if args.threads:
        torch.set_num_threads(args.threads)
    dataset = read_dataset(args.data)
    run = args.model
    if run is None:
        recipe = recipe_config("default", data=str(args.data), out="unused")
        cfg = ModelConfig.from_dataset(dataset, backbone=recipe.backbone, input_size=recipe.input_size)
        tmp = tempfile.TemporaryDirectory()
        run = save_checkpoint(Path(tmp.name) / "run", create_model(cfg, pretrained="none"), cfg)
    predictor = Predictor.from_checkpoint(run)
    start = time.perf_counter()
    section = robustness_sweep(predictor, dataset, "test", args.images, progress=False)
    seconds = time.perf_counter() - start
    print(f"robustness sweep: {section['n_images']} sharp test images x {len(section['conditions']) + 1} conditions "
          f"in {seconds:.1f} s ({predictor.config.backbone}, {predictor.config.input_size} px, "
          f"{torch.get_num_threads()} torch threads)")
    print(f"clean accuracy {100 * section['clean']['accuracy']:.1f} %")
    for row in section["conditions"]:
        print(f"  {row['kind']:<9} {row['label']:<18} accuracy {100 * row['accuracy']:5.1f} %  "
              f"median Laplacian var {row['laplacian_var_median']:.4g}")


if __name__ == "__main__":
    main()
