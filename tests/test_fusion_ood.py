"""Out-of-distribution score: the maths on synthetic embeddings, then a Fashion-MNIST model flagging a
photograph and noise while keeping most of its own test images."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from analysis.metrics import ood_auroc
from fusion.ood import (OODStats, combine, fit_balanced_gaussian, fit_mahalanobis, fit_threshold, image_scores,
                        mahalanobis_score, stage_features)
from fusion.ood_store import load_stats, save_stats


def clusters(n: int = 200, d: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 5, (3, d))
    labels = rng.integers(0, 3, n)
    return centres[labels] + rng.normal(0, 1, (n, d)), labels, centres


def test_mahalanobis_scores_points_far_from_every_class_higher_than_members():
    x, y, _ = clusters(n=400)
    stats = fit_mahalanobis(x[:200], y[:200], 3)
    members = mahalanobis_score(torch.from_numpy(x[200:]), stats)
    strangers = mahalanobis_score(torch.from_numpy(np.random.default_rng(2).normal(0, 5, (50, 16)) + 30), stats)
    assert ood_auroc(members, strangers) == 1.0
    assert np.median(members) == pytest.approx(16, rel=0.35)  # chi-square with d degrees of freedom


def test_threshold_keeps_the_asked_share_and_auroc_matches_its_definition():
    scores = np.arange(100, dtype=float)
    assert (scores <= fit_threshold(scores, 0.95)).mean() == pytest.approx(0.95, abs=0.01)
    a, b = np.array([0.1, 0.4, 0.35, 0.8]), np.array([0.9, 0.4, 0.7])
    pairs = [(1.0 if j > i else 0.5 if j == i else 0.0) for i in a for j in b]
    assert ood_auroc(a, b) == pytest.approx(np.mean(pairs))
    assert image_scores(np.array([1.0, 3.0, 5.0]), np.array([0, 0, 1])).tolist() == [2.0, 5.0]


def test_statistics_round_trip_through_safetensors_and_older_files_still_load(tmp_path):
    from safetensors.torch import save_file

    x, y, _ = clusters()
    stats = {"embedding": fit_mahalanobis(x, y, 3), "stage2": fit_balanced_gaussian(x, y)}
    save_stats(tmp_path, stats)
    again = load_stats(tmp_path)
    probe = torch.from_numpy(x[:5])
    assert set(again) == {"embedding", "stage2"}
    for name in stats:
        assert np.allclose(mahalanobis_score(probe, again[name]), mahalanobis_score(probe, stats[name]), rtol=1e-4)
    save_file(stats["embedding"].to_tensors(), str(tmp_path / "ood.safetensors"))  # a run fitted before stage scores
    assert set(load_stats(tmp_path)) == {"embedding"}
    with pytest.raises(ValueError, match="precision"):
        OODStats.from_tensors({"means": torch.zeros(2, 3)})


def test_balanced_gaussian_does_not_call_the_rare_class_unfamiliar():
    """A plain Gaussian over a long-tailed set centres on the frequent class, so the rare class's own
    images score as strangers; weighting classes equally keeps them inside."""
    rng = np.random.default_rng(0)
    frequent, rare = rng.normal(0, 1, (950, 4)), rng.normal(0, 1, (50, 4)) + [4, 0, 0, 0]
    x, y = np.concatenate([frequent, rare]), np.array([0] * 950 + [1] * 50)
    new_rare = torch.from_numpy(rng.normal(0, 1, (200, 4)) + [4, 0, 0, 0])
    new_frequent = torch.from_numpy(rng.normal(0, 1, (200, 4)))
    plain = fit_balanced_gaussian(x, np.zeros(len(x), dtype=int))
    balanced = fit_balanced_gaussian(x, y)
    gap = {name: np.median(mahalanobis_score(new_rare, s)) / np.median(mahalanobis_score(new_frequent, s))
           for name, s in (("plain", plain), ("balanced", balanced))}
    assert gap["plain"] > 3 * gap["balanced"] and gap["balanced"] < 2


def test_stage_features_summarise_each_channel_and_members_are_standardised_before_averaging():
    maps = [torch.arange(2 * 3 * 4.0).reshape(1, 2, 3, 4).repeat(2, 1, 1, 1), torch.ones(2, 5, 1, 1)]
    first, second = stage_features(maps)
    assert first.shape == (2, 4) and second.shape == (2, 10)
    assert first[0, :2].tolist() == [5.5, 17.5] and first[0, 2] == pytest.approx(np.std(np.arange(12.0)))
    assert second[:, 5:].abs().max() == 0  # a 1x1 map has no spread (and no NaN)
    members = {"stage2": np.array([10.0, 30.0]), "energy": np.array([-5.0, -1.0])}
    settings = {"centre": {"stage2": 20.0, "energy": -3.0}, "scale": {"stage2": 10.0, "energy": 2.0}}
    assert combine(members, settings).tolist() == [-1.0, 1.0]
    assert combine({"energy": members["energy"]}, settings).tolist() == [-5.0, -1.0]


@pytest.fixture(scope="module")
def fmnist_run(tiny_dataset, tmp_path_factory):
    """A Fashion-MNIST model trained by the real training loop (smoke recipe, edge + blur branches so it
    trains in seconds on 2 cores), whose out-of-distribution score the end of training fits."""
    from train.fit import recipe_config, train_model

    out = tmp_path_factory.mktemp("ood") / "run"
    config = recipe_config("smoke", data=str(tiny_dataset.root), out=str(out), branches=("edge", "blur"),
                           epochs=3, samples_per_epoch=1024, lr=3e-3, progress=False)
    return train_model(config)


@pytest.fixture(scope="module")
def fmnist_predictor(fmnist_run):
    from fusion.predictor import Predictor

    return Predictor.from_checkpoint(fmnist_run)


def test_training_ends_by_fitting_the_ood_score_and_calibrate_refits_it(fmnist_run, fmnist_predictor, tiny_dataset):
    from fusion.run_fit import fit_run_held_out
    from fusion.checkpoint import read_config

    from fusion.run_fit import calibrate_checkpoint

    fitted = fmnist_predictor.config.ood  # the default (stages) needs the image branch this model lacks: energy
    assert fitted["method"] == "energy" and fitted["keep"] == 0.95 and not (fmnist_run / "ood.safetensors").exists()
    # Training fitted the temperature from the same val pass as the OOD score, and kept both in model.json:
    # the temperature is what the separate calibration path finds.
    stored = read_config(fmnist_run / "model.json")
    assert stored.calibration["split"] == "val" and stored.calibration["n_images"] == len(tiny_dataset.split_rows("val"))
    assert calibrate_checkpoint(fmnist_run, tiny_dataset, "val").temperature == pytest.approx(stored.temperature, rel=1e-3)
    result, again = fit_run_held_out(fmnist_run, tiny_dataset, method="mahalanobis", progress=False)
    refitted = read_config(fmnist_run / "model.json")
    assert refitted.ood == again and again["method"] == "mahalanobis"
    assert (fmnist_run / "ood.safetensors").is_file()
    # The same single pass refits the temperature (from the raw logits: the same T again) ...
    assert result.split == "val" and refitted.temperature == pytest.approx(stored.temperature, rel=1e-4)
    # ... unless it belongs to another held-out split: then val gives the OOD score only.
    dev_result, _ = fit_run_held_out(fmnist_run, tiny_dataset, method="mahalanobis", progress=False, temperature_split="dev")
    after_dev = read_config(fmnist_run / "model.json")
    assert dev_result.split == "dev" and after_dev.calibration["split"] == "dev"
    assert after_dev.temperature == pytest.approx(dev_result.temperature) and after_dev.ood == again


def test_noise_is_flagged_photographs_score_as_unfamiliar_and_test_images_mostly_pass(fmnist_run, tiny_dataset):
    """What a model trained for seconds can honestly show: noise is flagged, photographs score above
    Fashion-MNIST test images (AUROC), and about 95 % of test images pass. Its score is Mahalanobis
    (fitted by the previous test): for a model this weak its logits carry too little for the energy
    score, which is the default because it measured better on a properly trained model (docs/RESULTS.md,
    bench/bench_ood.py)."""
    from fusion.predictor import Predictor
    from train.data.photos import sample_photo_paths

    predictor = Predictor.from_checkpoint(fmnist_run)
    assert predictor.config.ood["method"] == "mahalanobis"
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(3)]
    flagged = predictor.predict_batch(noise)
    assert [p.in_distribution for p in flagged] == [False, False, False]
    assert all(p.ood_score > p.ood_threshold for p in flagged)
    assert flagged[0].to_dict()["in_distribution"] is False
    test = predictor.predict_batch(tiny_dataset.load_images("test", progress=False))
    photos = predictor.predict_batch(sample_photo_paths(include_soft=True))
    assert np.mean([p.in_distribution for p in test]) >= 0.8
    assert ood_auroc([p.ood_score for p in test], [p.ood_score for p in photos]) >= 0.75
    assert sum(not p.in_distribution for p in photos) >= 1


def test_report_measures_the_warning_with_the_scores_the_predictor_gives(fmnist_run, tiny_dataset, tmp_path):
    """The report's "Unfamiliar images" section: the split's scores are the Predictor's, every offline
    unfamiliar set is scored against them, noise is told apart, and the page shows table and plot."""
    from analysis.report import make_report
    from fusion.predictor import Predictor

    index = make_report(fmnist_run, tiny_dataset.root, out=tmp_path / "report", n_resamples=50, progress=False)
    metrics = json.loads((index.parent / "metrics.json").read_text())
    section = metrics["ood"]
    predictor = Predictor.from_checkpoint(fmnist_run)
    test = predictor.predict_batch(tiny_dataset.load_images("test", progress=False))
    assert section["in_distribution"]["scores"] == pytest.approx([p.ood_score for p in test], rel=1e-6)
    assert section["method"] == predictor.config.ood["method"]
    sets = {s["name"]: s for s in section["sets"]}
    assert set(sets) == {"photographs", "uniform noise", "Gaussian noise", "sklearn digits"}
    assert sets["uniform noise"]["auroc"] >= 0.9 and sets["uniform noise"]["flagged"] >= 0.5  # a seconds-trained model
    assert 0.0 <= section["in_distribution"]["flagged"] <= 0.2
    assert any("unfamiliar-image warning" in line and "photographs AUROC" in line for line in metrics["summary"])
    html = index.read_text()
    assert all(f'id="{part}"' in html for part in ("sec-unfamiliar-images", "ood-table", "fig-ood"))
    assert (index.parent / "figures" / "ood.png").is_file()


@pytest.fixture(scope="module")
def stages_run(tiny_dataset, tmp_path_factory):
    """A tiny all-branch model on the offline ImageNet weights (as every default run starts) with the
    default (stages) OOD score fitted on the tiny set. (A random-init network's stage 2-3 statistics
    do not tell photographs apart: AUROC 0.4-0.6, measured; its stage 1 does.)"""
    from fusion.run_fit import fit_run_held_out
    from tests.conftest import _as_dataset, build_tiny_checkpoint

    run = build_tiny_checkpoint(_as_dataset(tiny_dataset), tmp_path_factory.mktemp("stages") / "run", pretrained="offline")
    fit_run_held_out(run, tiny_dataset, progress=False)
    return run


def test_stages_score_flags_photographs_and_noise_and_keeps_test_images(stages_run, tiny_dataset):
    """Early feature statistics see what a photograph is (colour, texture, no black background)
    even through an untrained network, which the logits of a weak model cannot show."""
    from fusion.predictor import Predictor
    from train.data.photos import sample_photo_paths

    predictor = Predictor.from_checkpoint(stages_run)
    settings = predictor.config.ood
    assert settings["method"] == "stages" and settings["stages"] == [2, 3]
    assert set(settings["centre"]) == {"stage2", "stage3", "energy"} and (stages_run / "ood.safetensors").is_file()
    test = predictor.predict_batch(tiny_dataset.load_images("test", progress=False))
    photos = predictor.predict_batch(sample_photo_paths(include_soft=True))
    noise = predictor.predict_batch([np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(3)])
    assert np.mean([p.in_distribution for p in test]) >= 0.8
    assert ood_auroc([p.ood_score for p in test], [p.ood_score for p in photos]) >= 0.95
    assert np.mean([not p.in_distribution for p in photos]) >= 0.8 and not any(p.in_distribution for p in noise)
    assert photos[0].to_dict()["ood_method"] == "stages"


def test_stage_pass_gives_the_same_answer_as_the_plain_pass(stages_run, tiny_dataset):
    """The stages score reads feature maps from the same forward pass: the embedding must not change."""
    from fusion.predictor import Predictor

    predictor = Predictor.from_checkpoint(stages_run)
    images = list(tiny_dataset.load_images("test", progress=False)[:8])
    _, inputs = predictor._inputs(images)
    with torch.inference_mode():
        plain = predictor.model.forward_features(**inputs)
        with_maps, maps = predictor.model.forward_intermediates(**inputs, indices=(2, 3))
    assert torch.allclose(plain, with_maps, atol=1e-5) and [m.shape[1] for m in maps] == [40, 112]
