"""Temperature scaling: it lowers the calibration error on held-out data, travels in the
checkpoint, and every probability the Predictor gives is softmax(logits / T)."""

import json

import numpy as np
import pytest

from fusion.calibration import (
    N_BINS, calibrate_logits, expected_calibration_error, fit_temperature,
    negative_log_likelihood, reliability_bins, softmax,
)
from fusion.checkpoint import read_config
from fusion.class_calibration import calibrated_probabilities
from fusion.run_fit import calibrate_checkpoint
from fusion.config import ModelConfig
from fusion.predictor import Predictor


def overconfident(n: int, seed: int, true_temperature: float = 3.0, classes: int = 10):
    """Logits whose calibrated probabilities are softmax(z / 3): labels drawn from those, logits reported x1."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, size=(n, classes))
    p = softmax(z, 1.0)
    labels = np.array([rng.choice(classes, p=row) for row in p])
    return z * true_temperature, labels


def test_fitted_temperature_recovers_the_truth_and_lowers_ece_on_held_out_logits():
    fit_z, fit_y = overconfident(4000, seed=0)
    held_z, held_y = overconfident(4000, seed=1)
    t = fit_temperature(fit_z, fit_y)
    assert t == pytest.approx(3.0, rel=0.1)
    before = expected_calibration_error(softmax(held_z), held_y)
    after = expected_calibration_error(softmax(held_z, t), held_y)
    assert before > 0.1 and after < before / 3
    # T minimises the NLL: a step either way costs.
    nll = negative_log_likelihood(fit_z, fit_y, t)
    assert nll < negative_log_likelihood(fit_z, fit_y, t * 1.05) and nll < negative_log_likelihood(fit_z, fit_y, t / 1.05)


def test_temperature_keeps_every_argmax_and_a_calibrated_model_keeps_t_near_one():
    z, y = overconfident(3000, seed=2, true_temperature=1.0)
    assert fit_temperature(z, y) == pytest.approx(1.0, abs=0.1)
    assert np.array_equal(softmax(z, 0.3).argmax(1), softmax(z, 7.0).argmax(1))
    assert np.allclose(softmax(z, 2.0).sum(1), 1.0) and np.allclose(softmax(z * 2.0, 2.0), softmax(z))


def test_without_a_held_out_mistake_the_temperature_stays_one_instead_of_sharpening_to_certainty():
    from fusion.calibration import TEMPERATURE_BOUNDS, calibrate_logits, fit_temperature

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 40)
    logits = np.where(np.eye(2)[labels] == 1, 2.0, -2.0) + rng.normal(0, 0.3, (40, 2))  # every answer right
    assert fit_temperature(logits, labels) == pytest.approx(TEMPERATURE_BOUNDS[0], rel=1e-3)  # the degenerate fit
    result = calibrate_logits(logits, labels, "val")
    assert result.temperature == 1.0 and not result.fitted and result.nll_after == result.nll_before
    assert result.source == "kept at 1: the 40 val images hold no mistake to fit it on"
    labels[0] = 1 - labels[0]  # one mistake: the fit is informative again
    assert calibrate_logits(logits, labels, "val").fitted


def test_ece_and_reliability_bins_by_hand():
    # Two images at confidence 0.9 (one right), one at 0.55 (right): bins 13 and 8 of 15.
    p = np.array([[0.9, 0.1], [0.9, 0.1], [0.45, 0.55]])
    y = np.array([0, 1, 1])
    bins = reliability_bins(p, y)
    assert bins["count"].sum() == 3 and bins["count"][13] == 2 and bins["count"][8] == 1
    assert bins["accuracy"][13] == 0.5 and bins["confidence"][13] == pytest.approx(0.9)
    assert np.isnan(bins["accuracy"][0]) and len(bins["edges"]) == N_BINS + 1
    assert expected_calibration_error(p, y) == pytest.approx((2 * 0.4 + 1 * 0.45) / 3)


@pytest.mark.parametrize("logits, labels, message", [
    (np.zeros((3,)), np.zeros(3, int), "shape"),
    (np.zeros((3, 1)), np.zeros(3, int), "shape"),
    (np.full((2, 3), np.nan), np.zeros(2, int), "finite"),
    (np.zeros((2, 3)), np.array([0, 3]), r"lie in \[0, 3\)"),
    (np.zeros((2, 3)), np.array([0.0, 1.0]), "integers"),
])
def test_bad_inputs_are_named(logits, labels, message):
    with pytest.raises(ValueError, match=message):
        fit_temperature(logits, labels)


def test_bad_temperature_and_test_split_are_refused():
    for bad in (0.0, -1.0, float("nan"), float("inf"), "2", True):
        with pytest.raises(ValueError, match="temperature"):
            softmax(np.zeros((1, 2)), bad)
    with pytest.raises(ValueError, match="never test"):
        calibrate_logits(np.zeros((2, 2)), np.array([0, 1]), "test")


def test_model_config_temperature_validated_defaults_to_one_and_round_trips():
    base = {"class_names": ["a", "b"], "groups": ["frequent", "rare"], "train_counts": [5, 1]}
    assert ModelConfig.from_dict(base).temperature == 1.0  # an old model.json has no temperature
    cfg = ModelConfig.from_dict({**base, "temperature": 1.7})
    assert ModelConfig.from_json(cfg.to_json()).temperature == 1.7
    for bad in (0, -2.0, "1.5", None):
        with pytest.raises(ValueError, match="temperature"):
            ModelConfig.from_dict({**base, "temperature": bad})


def test_calibrate_checkpoint_on_a_tiny_trained_model(tiny_dataset, tiny_checkpoint, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_checkpoint, run)
    weights = (run / "model.safetensors").read_bytes()
    before = Predictor.from_checkpoint(run)
    dev_images = tiny_dataset.load_images("dev", progress=False)
    dev_labels = tiny_dataset.labels("dev")
    raw = before.predict_batch(dev_images)

    result = calibrate_checkpoint(run, tiny_dataset, split="val")
    assert (run / "model.safetensors").read_bytes() == weights
    stored = read_config(run)
    assert stored.temperature == pytest.approx(result.temperature) and stored.temperature != 1.0
    assert stored.calibration["split"] == "val" and stored.calibration["n_images"] == len(tiny_dataset.split_rows("val"))
    assert result.nll_after <= result.nll_before
    # Predictor probabilities = softmax(raw logits / T_c), T_c the predicted class's temperature; the class never changes.
    after = Predictor.from_checkpoint(run).predict_batch(dev_images)
    logits = np.stack([p.logits for p in raw])
    probs = np.stack([p.probabilities for p in after])
    expected = calibrated_probabilities(logits, stored.temperature, stored.calibration["class_temperatures"])
    assert np.allclose(probs, expected, atol=1e-9)
    assert [p.class_index for p in after] == [p.class_index for p in raw]
    assert after[0].to_dict()["probability"] == pytest.approx(probs[0].max())
    # Held out from the fit (T comes from val): on dev the NLL and the calibration error both drop.
    assert negative_log_likelihood(logits, dev_labels, stored.temperature) < negative_log_likelihood(logits, dev_labels)
    assert expected_calibration_error(probs, dev_labels) < expected_calibration_error(softmax(logits), dev_labels)
    # Refitting starts from raw logits: the same temperature again.
    assert calibrate_checkpoint(run, tiny_dataset, split="val").temperature == pytest.approx(result.temperature, rel=1e-4)
    with pytest.raises(ValueError, match="never test"):
        calibrate_checkpoint(run, tiny_dataset, split="test")
    assert json.loads((run / "model.json").read_text())["temperature"] == pytest.approx(result.temperature, rel=1e-4)


def test_cli_calibrates_an_existing_run_on_dev_and_refuses_test(tiny_dataset, tiny_checkpoint, tmp_path, capsys):
    import shutil

    from blurfuse.cli import main

    run = tmp_path / "old-run"
    shutil.copytree(tiny_checkpoint, run)
    assert read_config(run).temperature == 1.0  # never calibrated
    argv = ["calibrate", "--model", str(run), "--data", str(tiny_dataset.root), "--no-progress"]
    assert main(argv + ["--split", "dev"]) == 0
    printed = capsys.readouterr().out
    stored = read_config(run)
    assert stored.calibration["split"] == "dev" and stored.calibration["n_images"] == 200
    assert f"temperature {stored.temperature:.4f} fitted on dev (200 images)" in printed
    with pytest.raises(SystemExit):
        main(argv + ["--split", "test"])
    assert main(["calibrate", "--model", str(tmp_path / "nothing"), "--data", str(tiny_dataset.root)]) == 2


def test_web_page_and_api_show_the_calibrated_probabilities(tiny_dataset, tiny_checkpoint, tmp_path):
    import io
    import shutil

    from web import create_app

    run = tmp_path / "web-run"
    shutil.copytree(tiny_checkpoint, run)
    config = {"MODEL_PATH": run, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "test"}
    assert "not calibrated" in create_app(config).test_client().get("/model").get_data(as_text=True)
    raw = Predictor.from_checkpoint(run).predict(tiny_dataset.root / tiny_dataset.split_rows("test")[0]["path"])
    temperature = calibrate_checkpoint(run, tiny_dataset, "val").temperature
    client = create_app(config).test_client()
    image = (tiny_dataset.root / tiny_dataset.split_rows("test")[0]["path"]).read_bytes()
    answer = client.post("/api/predict", data={"image": (io.BytesIO(image), "x.png")}).get_json()
    stored = read_config(run)
    expected = calibrated_probabilities(raw.logits[None], temperature, stored.calibration["class_temperatures"])[0]
    assert answer["probability"] == pytest.approx(expected.max(), abs=1e-6)
    assert [answer["probabilities"][n] for n in tiny_dataset.class_names] == pytest.approx(expected.tolist(), abs=1e-6)
    assert f"T = {temperature:.3f}" in client.get("/model").get_data(as_text=True)
    page = client.post("/", data={"image": (io.BytesIO(image), "x.png")}, content_type="multipart/form-data")
    assert "calibrated on held-out images" in page.get_data(as_text=True)
