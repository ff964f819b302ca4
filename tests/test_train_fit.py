"""Training end to end on the tiny dataset: cache, augmentation, checkpoints, resume, CLI, torchrun."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from blurfuse.cli import main
from features import FeatureConfig, compute_features
from fusion.predictor import Predictor
from train.batches import SplitArrays, augment, blur_augment
from train.feature_cache import cached_features
from train.fit import train_model
from train.recipes import recipe_config
from train.resume import read_marker

ROOT = Path(__file__).resolve().parents[1]


def test_feature_cache_hits_and_is_invalidated_by_settings(tiny_dataset):
    images = tiny_dataset.load_images("val", progress=False)
    config = tiny_dataset.feature_config
    for stale in (tiny_dataset.root / ".cache").glob(f"features-{config.fingerprint()}-val.npz"):
        stale.unlink()  # other tests share the session dataset and may have filled the cache already
    first, hit_first = cached_features(tiny_dataset, "val", images, config)
    second, hit_second = cached_features(tiny_dataset, "val", images, config)
    assert (hit_first, hit_second) == (False, True)
    assert np.array_equal(first.edge_map, second.edge_map)
    other = FeatureConfig(size=config.size, blur_threshold=config.blur_threshold * 2, edges=config.edges)
    third, hit_third = cached_features(tiny_dataset, "val", images, other)
    assert not hit_third
    # A doubled threshold calls more images blurred: the cached verdicts were not reused.
    assert np.array_equal(third.blurred, compute_features(images, other).blurred)
    assert third.blurred.sum() > first.blurred.sum()


def test_augmentation_keeps_image_and_edge_map_aligned(tiny_dataset):
    images = tiny_dataset.load_images("val", progress=False)
    feats, _ = cached_features(tiny_dataset, "val", images, tiny_dataset.feature_config)
    # Make the edge map a copy of the image's first channel so alignment is checkable exactly.
    feats.edge_map = images[..., 0].copy()
    batch = SplitArrays(images, feats, tiny_dataset.labels("val"), np.zeros(len(images), bool))
    out = augment(batch, np.random.default_rng(0), pad=2, flip=True)
    assert np.array_equal(out.images[..., 0], out.features.edge_map)
    assert not np.array_equal(out.images, images)


def test_blur_augmentation_blurs_sharp_images_through_the_one_feature_path(tiny_dataset):
    images = tiny_dataset.load_images("train", progress=False)
    config = tiny_dataset.feature_config
    feats, _ = cached_features(tiny_dataset, "train", images, config)
    truth = np.array([r["blurred"] for r in tiny_dataset.split_rows("train")])
    batch = SplitArrays(images, feats, tiny_dataset.labels("train"), truth)
    out = blur_augment(batch, np.random.default_rng(0), 1.0, config)
    sharp = ~truth
    assert out.blurred_truth.all()
    assert np.array_equal(out.images[truth], images[truth])  # images blurred by the dataset stay as they are
    assert (out.features.laplacian_var[sharp] < feats.laplacian_var[sharp]).mean() > 0.95
    again = compute_features(out.images[sharp], config)
    assert np.array_equal(out.features.edge_map[sharp], again.edge_map)
    assert np.array_equal(out.features.blurred[sharp], again.blurred)
    assert blur_augment(batch, np.random.default_rng(0), 0.0, config) is batch


def run_smoke(tiny_dataset, out: Path, **overrides):
    config = recipe_config("smoke", data=str(tiny_dataset.root), out=str(out), progress=False, **overrides)
    return train_model(config)


def read_metrics(run: Path) -> list[dict]:
    with open(run / "metrics.csv") as handle:
        return list(csv.DictReader(handle))


def test_training_lowers_the_loss_and_leaves_a_checkpoint_the_predictor_loads(tiny_dataset, tmp_path):
    run = run_smoke(tiny_dataset, tmp_path / "run", epochs=3, samples_per_epoch=256, lr=3e-3)
    rows = read_metrics(run)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    predictor = Predictor.from_checkpoint(run)
    prediction = predictor.predict(tiny_dataset.root / tiny_dataset.split_rows("test")[0]["path"])
    assert prediction.class_name in tiny_dataset.class_names
    assert predictor.config.feature_config == tiny_dataset.feature_config.to_dict()
    assert predictor.config.train_counts == tiny_dataset.train_counts()
    assert json.loads((run / "train_config.json").read_text())["recipe"] == "smoke"
    assert "val balanced acc" in (run / "train.log").read_text()
    # The run ends by fitting the best checkpoint's temperature on val (never test), logged and stored.
    calibration = predictor.config.calibration
    assert calibration["split"] == "val" and calibration["n_images"] == len(tiny_dataset.split_rows("val"))
    assert predictor.config.temperature == calibration["temperature"] != 1.0
    assert f"temperature {predictor.config.temperature:.3f} fitted on val" in (run / "train.log").read_text()


def test_resume_continues_after_the_last_finished_epoch(tiny_dataset, tmp_path):
    out = tmp_path / "resumed"
    run_smoke(tiny_dataset, out, epochs=1)
    assert [int(r["epoch"]) for r in read_metrics(out)] == [1]
    with pytest.raises(FileExistsError, match="--resume"):
        run_smoke(tiny_dataset, out, epochs=2)
    assert read_marker(out)["finished_epoch"] == 1
    run_smoke(tiny_dataset, out, epochs=3, resume=True)
    assert [int(r["epoch"]) for r in read_metrics(out)] == [1, 2, 3]
    assert "resumed after epoch 1" in (out / "train.log").read_text()
    assert read_marker(out)["finished_epoch"] == 3


def test_train_cli_end_to_end_and_refuses_an_existing_run(tiny_dataset, tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["train", "--data", str(tiny_dataset.root), "--out", str(out), "--recipe", "smoke", "--epochs", "1", "--no-progress"]
    assert main(argv) == 0
    assert (out / "model.safetensors").is_file()
    assert main(argv) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "x"), "--recipe", "smoke"]) == 2
    assert main(["train", "--data", str(tiny_dataset.root), "--out", str(tmp_path / "y"), "--recipe", "nope"]) == 2


def test_branch_subsets_train(tiny_dataset, tmp_path):
    run = run_smoke(tiny_dataset, tmp_path / "edge-blur", epochs=1, branches=("edge", "blur"))
    assert Predictor.from_checkpoint(run).config.branches == ("edge", "blur")


@pytest.mark.slow
def test_torchrun_two_processes_end_with_identical_weights(tiny_dataset, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533", "-m", "train.torchrun",
        "--data", str(tiny_dataset.root), "--out", str(out), "--recipe", "smoke", "--epochs", "1", "--no-progress",
    ]
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    digests = [json.loads((out / "ranks" / f"rank{r}.json").read_text())["weights_sha256"] for r in (0, 1)]
    assert digests[0] == digests[1]
    assert (out / "model.safetensors").is_file()


def test_a_run_with_the_class_balanced_head_stage_records_it_in_the_config_the_log_and_the_checkpoint(tiny_dataset, tmp_path):
    run = run_smoke(tiny_dataset, tmp_path / "lws", epochs=1, samples_per_epoch=256, head_retrain="lws", head_epochs=2)
    assert json.loads((run / "train_config.json").read_text())["head_retrain"] == "lws"
    assert "classifier re-trained with class-balanced sampling (lws" in (run / "train.log").read_text()
    recipe = json.loads((run / "model.json").read_text())["recipe"]
    assert recipe["head_retrain_result"]["method"] == "lws" and (run / "RUN_COMPLETE.json").is_file()
