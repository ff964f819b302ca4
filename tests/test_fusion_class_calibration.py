"""Per-class temperatures: fitted on held-out images, shrunk toward the global T by how few images a
class has, applied by the Predictor; a report refuses the split they were fitted on."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.report import check_not_calibrated_on
from fusion.calibration import expected_calibration_error, fit_temperature, softmax
from fusion.class_calibration import calibrated_probabilities, fit_class_temperatures, logits_for


def _overconfident_rare(seed=0, n_frequent=3000, n_rare=60):
    """Logits where class 0 (frequent) is well calibrated at T = 1 and class 2 (rare) over-confident."""
    rng = np.random.default_rng(seed)
    y = np.concatenate([rng.integers(0, 2, n_frequent), np.full(n_rare, 2)])
    z = rng.normal(0, 1, (len(y), 3))
    z[np.arange(len(y)), y] += 2.0
    rare_pred = z.argmax(1) == 2
    z[rare_pred] *= 4.0  # the rare class's answers far too sure
    wrong = rng.random(len(y)) < 0.3
    z[wrong & rare_pred, 2] += 5.0
    return z, y


def test_the_rare_class_gets_a_hotter_temperature_and_its_answers_a_lower_ece():
    z, y = _overconfident_rare()
    t = fit_temperature(z, y)
    temps = fit_class_temperatures(z, y, t)
    assert temps[2] > t and abs(temps[0] - t) < abs(temps[2] - t)
    held_out_z, held_out_y = _overconfident_rare(seed=1)
    said_rare = held_out_z.argmax(1) == 2  # the answers "rare class", the ones a user must be able to trust
    global_only, per_class = softmax(held_out_z, t), calibrated_probabilities(held_out_z, t, temps)
    assert (expected_calibration_error(per_class[said_rare], held_out_y[said_rare])
            < expected_calibration_error(global_only[said_rare], held_out_y[said_rare]))
    assert expected_calibration_error(per_class, held_out_y) < expected_calibration_error(global_only, held_out_y)


def test_few_images_keep_a_class_close_to_the_global_temperature():
    z, y = _overconfident_rare(n_rare=60)
    t = fit_temperature(z, y)
    strong, weak = fit_class_temperatures(z, y, t, strength=10_000)[2], fit_class_temperatures(z, y, t, strength=1)[2]
    assert abs(np.log(strong / t)) < abs(np.log(weak / t))


def test_calibrated_probabilities_keep_the_argmax_and_refuse_bad_temperatures():
    z, y = _overconfident_rare()
    p = calibrated_probabilities(z, 1.3, [1.0, 2.0, 3.0])
    assert np.array_equal(p.argmax(1), z.argmax(1)) and np.allclose(p.sum(1), 1)
    with pytest.raises(ValueError):
        calibrated_probabilities(z, 1.0, [1.0, -1.0, 2.0])


def test_a_report_refuses_the_split_the_calibration_was_fitted_on():
    check_not_calibrated_on({"split": "val"}, "test")
    check_not_calibrated_on({"split": "val"}, "dev")
    with pytest.raises(ValueError, match="calibrated on the dev split"):
        check_not_calibrated_on({"split": "dev"}, "dev")


def test_stored_calibration_holds_class_temperatures_fitted_on_val_and_the_predictor_applies_them(
        tiny_checkpoint, tiny_dataset, tmp_path):
    import shutil

    from fusion.checkpoint import read_config
    from fusion.held_out import store_temperature
    from fusion.predictor import Predictor

    run = tmp_path / "run"
    shutil.copytree(tiny_checkpoint, run)
    images = tiny_dataset.load_images("val")
    logits = np.stack([p.logits for p in Predictor.from_checkpoint(run).predict_batch(images)])
    store_temperature(run, logits, tiny_dataset.labels("val"), "val")
    cfg = read_config(run / "model.json")
    assert cfg.calibration["split"] == "val" and len(cfg.calibration["class_temperatures"]) == cfg.num_classes
    prediction = Predictor.from_checkpoint(run).predict(images[0])
    expected = calibrated_probabilities(prediction.logits[None], cfg.temperature, cfg.calibration["class_temperatures"])[0]
    assert np.allclose(prediction.probabilities, expected)
    with pytest.raises(ValueError):
        store_temperature(run, logits, tiny_dataset.labels("val"), "test")


def test_integer_weights_fit_what_repeating_the_images_fits():
    """A weighted fit is the fit of a val split in which each image appears `weight` times."""
    from fusion.calibration import negative_log_likelihood

    z, y = _overconfident_rare(seed=1, n_frequent=600, n_rare=40)
    w = np.random.default_rng(2).integers(1, 4, len(y))
    z_rep, y_rep = np.repeat(z, w, axis=0), np.repeat(y, w)
    assert negative_log_likelihood(z, y, 1.3, weights=w) == pytest.approx(negative_log_likelihood(z_rep, y_rep, 1.3))
    assert fit_temperature(z, y, weights=w) == pytest.approx(fit_temperature(z_rep, y_rep), rel=1e-4)
    t = fit_temperature(z_rep, y_rep)
    assert fit_class_temperatures(z, y, t, weights=w, strength=1e-9) == pytest.approx(
        fit_class_temperatures(z_rep, y_rep, t, strength=1e-9), rel=1e-4)
    assert fit_temperature(z, y, weights=w) != pytest.approx(fit_temperature(z, y), rel=1e-3)  # the weights matter


def test_class_prior_weights_make_every_class_weigh_the_same():
    from fusion.calibration import class_prior_weights

    y = np.array([0] * 500 + [1] * 80 + [2] * 10)
    w = class_prior_weights(y, n_classes=4)  # class 3 absent from val
    totals = np.bincount(y, weights=w, minlength=4)
    assert totals[:3] == pytest.approx([totals[0]] * 3) and totals[3] == 0
    assert w.mean() == pytest.approx(1.0) and w[y == 2][0] == pytest.approx(50 * w[y == 0][0])
    skewed = class_prior_weights(y, 4, target_prior=[0.7, 0.1, 0.1, 0.1])
    assert np.bincount(y, weights=skewed, minlength=4)[0] == pytest.approx(7 * np.bincount(y, weights=skewed)[1])
    with pytest.raises(ValueError, match="target_prior"):
        class_prior_weights(y, 4, target_prior=[0.5, 0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="weights"):
        fit_temperature(np.zeros((3, 2)), np.array([0, 1, 0]), weights=[1.0, -1.0, 1.0])


def test_logits_for_maps_back_onto_the_probabilities_with_one_or_per_class_temperatures():
    p = np.random.default_rng(0).dirichlet(np.ones(10), size=50)
    for class_temperatures in (None, list(np.linspace(0.6, 2.4, 10))):
        logits = logits_for(p, 1.7, class_temperatures)
        np.testing.assert_allclose(calibrated_probabilities(logits, 1.7, class_temperatures), p, atol=1e-9)
