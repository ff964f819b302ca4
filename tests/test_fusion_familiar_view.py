"""The low-passed second look of the unfamiliar-image score (fusion.familiar_view, fit_ood(familiar=True))."""

from __future__ import annotations

import numpy as np
import pytest

import fusion.predictor as predictor_module
from analysis.blur_families import family
from fusion.class_calibration import calibrated_probabilities
from fusion.familiar_view import combined, familiar_view, is_grey
from tests.conftest import ood_fit_pair, sharp_test_images, warning_rate


def test_the_view_is_a_softer_copy_and_grey_when_asked():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    soft, grey = familiar_view(image), familiar_view(image, grey=True)
    assert soft.shape == image.shape and soft.dtype == np.uint8 and soft.std() < image.std() / 3
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    assert not np.array_equal(soft[..., 0], soft[..., 1])  # colour kept unless asked
    assert is_grey([np.repeat(image[..., :1], 3, axis=2)]) and not is_grey([image])
    with pytest.raises(ValueError, match="uint8"):
        familiar_view(image.astype(np.float32))
    with pytest.raises(ValueError, match="lowpass"):
        familiar_view(image, lowpass=1.5)


def test_the_combined_score_is_the_smaller_look_and_the_raw_one_where_the_view_was_not_computed():
    settings = {"view": {"raw_offset": 1.0, "offset": 2.0}}
    raw, view = np.array([3.0, 3.0, 0.0]), np.array([2.5, np.nan, 9.0])
    assert np.allclose(combined(raw, view, settings), [0.5, 2.0, -1.0])
    assert np.allclose(combined(raw, None, settings), [2.0, 2.0, -1.0])


@pytest.fixture(scope="module")
def view_run_pair(tiny_dataset, tmp_path_factory):
    """The tiny model's stages score fitted without and with the view."""
    return ood_fit_pair(tiny_dataset, tmp_path_factory.mktemp("familiar"), familiar_view=True)


def test_the_view_is_stored_and_keeps_pixelated_and_scattered_garments_familiar(view_run_pair):
    dataset, plain, viewed = view_run_pair
    view = viewed.config.ood["view"]
    assert {"lowpass", "grey", "centre", "scale", "offset", "raw_offset"} <= set(view) and "view" not in plain.config.ood
    assert {"view_stage2", "view_stage3"} <= set(viewed.ood_stats)
    sharp = np.stack(sharp_test_images(dataset))
    rng = np.random.default_rng(5)
    degraded = [*family("pixelate").apply(sharp, 5.0, rng), *family("glass").apply(sharp, 2.0, rng)]
    sharp_rate, degraded_rate = warning_rate(viewed, list(sharp)), warning_rate(viewed, degraded)
    assert degraded_rate <= 2 * max(sharp_rate, 0.05)
    assert degraded_rate < warning_rate(plain, degraded)


def test_noise_and_photographs_stay_unfamiliar(view_run_pair):
    from analysis.ood_report import ood_sets

    _, _, viewed = view_run_pair
    sets = ood_sets(40)
    assert warning_rate(viewed, sets["uniform noise"]) >= 0.9
    assert warning_rate(viewed, sets["Gaussian noise"]) >= 0.9


def test_only_images_the_raw_score_flags_get_the_second_look(view_run_pair, monkeypatch):
    dataset, plain, viewed = view_run_pair
    seen = []
    original = predictor_module.familiar_views
    monkeypatch.setattr(predictor_module, "familiar_views", lambda images, view: seen.append(len(images)) or original(images, view))
    rng = np.random.default_rng(0)
    images = [*sharp_test_images(dataset)[:20], *(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8) for _ in range(10))]
    predictions = viewed.predict_batch(images)
    raw = np.array([p.ood_score for p in plain.predict_batch(images)])
    raw_flagged = int(np.sum(raw - viewed.config.ood["view"]["raw_offset"] > viewed.config.ood["threshold"]))
    assert sum(seen) == raw_flagged and raw_flagged >= 10  # the noise at least, never every image
    assert all(p.ood_threshold == viewed.config.ood["threshold"] for p in predictions)


def test_training_config_and_both_commands_reach_the_view_fit(tmp_path):
    from blurfuse.cli import build_parser
    from train.recipes import recipe_config

    assert recipe_config("default", data="d", out="o").ood_familiar_view is True
    args = build_parser().parse_args(["calibrate", "--model", str(tmp_path), "--data", str(tmp_path)])
    assert args.ood_familiar_view is True
    args = build_parser().parse_args(["calibrate", "--model", str(tmp_path), "--data", str(tmp_path), "--no-ood-familiar-view"])
    assert args.ood_familiar_view is False
    args = build_parser().parse_args(["train", "--data", str(tmp_path), "--out", str(tmp_path / "r"), "--no-ood-familiar-view"])
    assert args.ood_familiar_view is False


def test_reading_from_the_second_look_answers_as_the_low_passed_image_would(view_run_pair):
    """"view": an image flagged raw but familiar low-passed is answered from its low-passed look
    (exactly what predicting that look gives), every other image as before; "mean" averages."""
    from fusion.familiar_view import familiar_views

    dataset, _, viewed = view_run_pair
    sharp = np.stack(sharp_test_images(dataset))
    rng = np.random.default_rng(5)
    images = [*sharp, *family("pixelate").apply(sharp, 5.0, rng), *family("glass").apply(sharp, 2.0, rng)]
    modes = {mode: predictor_module.Predictor(viewed.model, viewed.config, ood_stats=viewed.ood_stats,
                                              second_look_reading=mode) for mode in ("off", "view", "mean")}
    off, view, mean = (modes[m].predict_batch(images) for m in ("off", "view", "mean"))
    read = [i for i, p in enumerate(view) if p.read_from == "low-passed view"]
    assert read and all(p.read_from == "image" for p in off)
    assert all(p.in_distribution for i, p in enumerate(view) if i in read)  # only images the view calls familiar
    looks = modes["off"].predict_batch(familiar_views([images[i] for i in read], viewed.config.ood["view"]))
    for i, look in zip(read, looks):
        np.testing.assert_allclose(view[i].probabilities, look.probabilities, atol=1e-6)
        np.testing.assert_allclose(mean[i].probabilities, (off[i].probabilities + look.probabilities) / 2, atol=1e-6)
        # and the logits a mixed answer reports map back onto its probabilities (what calibration fits on)
        class_temperatures = (viewed.config.calibration or {}).get("class_temperatures")
        np.testing.assert_allclose(calibrated_probabilities(mean[i].logits[None], viewed.config.temperature, class_temperatures)[0],
                                   mean[i].probabilities, atol=1e-9)
    for i in set(range(len(images))) - set(read):
        np.testing.assert_allclose(view[i].probabilities, off[i].probabilities, atol=1e-9)
    with pytest.raises(ValueError, match="second_look_reading"):
        predictor_module.Predictor(viewed.model, viewed.config, ood_stats=viewed.ood_stats, second_look_reading="both")


def test_a_stronger_second_look_is_fitted_and_stored_at_its_own_sigma(view_run_pair):
    from fusion.ood_store import fit_ood

    dataset, _, viewed = view_run_pair
    train, val = dataset.load_images("train", progress=False), dataset.load_images("val", progress=False)
    settings, stats = fit_ood(viewed, train, dataset.labels("train"), val, familiar=True, view_lowpass=0.16, max_train=200)
    assert settings["view"]["lowpass"] == 0.16 and {"view_stage2", "view_stage3"} <= set(stats)
    assert settings["view"]["offset"] != viewed.config.ood["view"]["offset"]  # fitted on the softer views, not copied
    with pytest.raises(ValueError, match="view_lowpass"):
        fit_ood(viewed, train, dataset.labels("train"), val, familiar=True, view_lowpass=1.5)
