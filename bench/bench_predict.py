"""Single-image prediction latency on CPU: features + model, and what Grad-CAM adds.

What the web app pays per upload. Uses a 28 px Fashion-MNIST test image (the IDX file when
present, a synthetic one otherwise) and the default model config (tf_efficientnet_lite0 at
32 px, all branches); `--model RUN` measures a trained checkpoint instead.

    .venv/bin/python bench/bench_predict.py [--model RUN] [--repeats 300] [--threads N]

Target: p50 <= 15 ms for predict; Grad-CAM extra <= ~50 ms.
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from pathlib import Path

import numpy as np

FMNIST = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


def sample_images(n: int) -> list[np.ndarray]:
    if FMNIST.is_file():
        with gzip.open(FMNIST, "rb") as handle:
            data = handle.read(16 + n * 784)
        return list(np.frombuffer(data, np.uint8, offset=16).reshape(n, 28, 28))
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (28, 28), dtype=np.uint8) for _ in range(n)]


def timed(fn, inputs, repeats: int, warmup: int) -> np.ndarray:
    for i in range(warmup):
        fn(inputs[i % len(inputs)])
    out = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        fn(inputs[i % len(inputs)])
        out[i] = time.perf_counter() - start
    return out * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="run dir (default: a fresh default-config model)")
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()

    import torch

    from fusion.predictor import Predictor

    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = tempfile.TemporaryDirectory()
    predictor = Predictor.from_checkpoint(args.model or default_run(Path(tmp.name)))
    rows = latency_rows(predictor, sample_images(32), args.repeats, args.warmup)
    cfg = predictor.config
    print(
        f"\nbackbone {cfg.backbone}, input {cfg.input_size} px, branches {'+'.join(cfg.branches)}, "
        f"image 28x28, torch threads {torch.get_num_threads()}, {args.repeats} runs each\n"
    )
    print(f"{'step':38s} {'p50 ms':>8s} {'p99 ms':>8s} {'mean ms':>8s}")
    for name, ms in rows:
        print(f"{name:38s} {np.percentile(ms, 50):8.2f} {np.percentile(ms, 99):8.2f} {ms.mean():8.2f}")
    extra = np.percentile(rows[3][1], 50) - np.percentile(rows[2][1], 50)
    p50 = np.percentile(rows[2][1], 50)
    print(f"\nGrad-CAM extra time (p50 difference): {extra:.2f} ms (target <= 50 ms)")
    print(f"predict p50 {p50:.2f} ms: {'meets' if p50 <= 15 else 'MISSES'} the 15 ms target")
    print(f"--pretrained hub without network fails after {hub_failure_seconds():.1f} s (target: well under 10 s)")


def default_run(folder: Path) -> Path:
    """A checkpoint of the default model config (random head, offline backbone weights)."""
    from features.extract import FeatureConfig
    from fusion.checkpoint import save_checkpoint
    from fusion.config import ModelConfig
    from fusion.model import create_model

    cfg = ModelConfig(
        class_names=[f"class{i}" for i in range(10)],
        groups=["frequent"] * 4 + ["medium"] * 4 + ["rare"] * 2,
        train_counts=[5000] * 4 + [800] * 4 + [100] * 2,
        feature_config=FeatureConfig().to_dict(),
    )
    return save_checkpoint(folder / "run", create_model(cfg, pretrained="offline"), cfg)


def latency_rows(predictor, images: list[np.ndarray], repeats: int, warmup: int) -> list[tuple[str, np.ndarray]]:
    """(step, milliseconds per run) for the features alone, features + model, predict, predict + Grad-CAM."""
    import torch

    from features.image import load_image
    from features.extract import compute_features
    from fusion.preprocess import model_inputs

    arrays = [load_image(im) for im in images]

    def features_only(image):
        return compute_features([load_image(image)], predictor.feature_config)

    def model_only(array):
        feats = compute_features([array], predictor.feature_config)
        inputs = model_inputs([array], feats, predictor.config)
        with torch.inference_mode():
            return predictor.model(**inputs)

    return [
        ("features (load + compute_features)", timed(features_only, images, repeats, warmup)),
        ("features + model_inputs + model", timed(model_only, arrays, repeats, warmup)),
        ("predict()  [the whole path]", timed(predictor.predict, images, repeats, warmup)),
        ("predict_and_explain()", timed(predictor.predict_and_explain, images, repeats, warmup)),
    ]


def hub_failure_seconds(timeout: str = "2") -> float:
    """How long `--pretrained hub` takes to give up on a machine without network (an endpoint that
    never resolves, the local Hub cache out of the way): a user waits this long for the advice."""
    import os

    import huggingface_hub.constants

    import fusion.backbones as backbones
    from fusion.backbones import WeightsError, create_backbone

    saved = huggingface_hub.constants.ENDPOINT, backbones._cached_hub_file, os.environ.get(backbones.HUB_TIMEOUT_ENV)
    huggingface_hub.constants.ENDPOINT, backbones._cached_hub_file = "https://hub.invalid", lambda cfg: None
    os.environ[backbones.HUB_TIMEOUT_ENV] = timeout
    start = time.perf_counter()
    try:
        create_backbone("tf_efficientnet_lite0", pretrained="hub")
    except WeightsError:
        pass
    finally:
        huggingface_hub.constants.ENDPOINT, backbones._cached_hub_file = saved[0], saved[1]
        if saved[2] is None:
            os.environ.pop(backbones.HUB_TIMEOUT_ENV, None)
        else:
            os.environ[backbones.HUB_TIMEOUT_ENV] = saved[2]
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
