"""The report's calibration (before/after temperature scaling) and blur-beyond-training sections,
end to end on the tiny checkpoint, plus the degradations the robustness sweep uses."""

import json
import shutil

import numpy as np
import pytest

from analysis.robustness import CONDITIONS
from blurfuse.cli import main
from features import laplacian_variance
from features.kernels import box_kernel, degrade, resize_blur
from fusion.run_fit import calibrate_checkpoint
from fusion.checkpoint import read_config


@pytest.fixture(scope="module")
def calibrated_report(tiny_dataset, tiny_checkpoint, tmp_path_factory):
    run = tmp_path_factory.mktemp("calibrated") / "run"
    shutil.copytree(tiny_checkpoint, run)
    calibrate_checkpoint(run, tiny_dataset, "val")
    out = run / "report"
    assert main(["report", "--model", str(run), "--data", str(tiny_dataset.root), "--bootstrap", "50", "--robustness",
                 "--robustness-images", "60", "--no-progress"]) == 0
    return run, out, json.loads((out / "metrics.json").read_text())


def test_report_shows_ece_overall_and_per_group_before_and_after(calibrated_report):
    run, out, metrics = calibrated_report
    scaling = metrics["calibration"]["temperature_scaling"]
    assert scaling["temperature"] == pytest.approx(read_config(run).temperature) and scaling["fitted_on"] == "val"
    for when in ("ece_before", "ece_after"):
        assert set(scaling[when]) == {"all", "frequent", "medium", "rare"}
        assert all(0 <= v <= 1 for v in scaling[when].values())
    assert scaling["ece_after"]["all"] < scaling["ece_before"]["all"]  # T from val helps on test
    # The headline ECE (with intervals) is of the probabilities the Predictor gave: the calibrated ones.
    assert metrics["calibration"]["ece"] == pytest.approx(scaling["ece_after"]["all"], abs=1e-4)
    assert sum(scaling["reliability_after"]["count"]) == metrics["overall"]["n_images"]
    assert (out / "figures" / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    markdown, page = (out / "report.md").read_text(), (out / "index.html").read_text()
    assert "Temperature scaling: ECE before and after" in markdown and "fitted on the val split" in markdown
    assert 'id="calibration-before-after"' in page and 'id="fig-reliability"' in page
    assert any("temperature-scaled" in s for s in metrics["summary"])


def test_robustness_section_has_every_kind_and_strength(calibrated_report):
    _, out, metrics = calibrated_report
    section = metrics["robustness"]
    assert section["n_images"] == 60 and section["split"] == "test"
    got = [(c["kind"], c["param"]) for c in section["conditions"]]
    assert got == [(kind, float(p)) for kind, params in CONDITIONS for p in params]
    for row in [section["clean"], *section["conditions"]]:
        assert 0 <= row["accuracy"] <= 1 and 0 <= row["balanced_accuracy"] <= 1 and 0 <= row["called_blurred"] <= 1
    for kind, _ in CONDITIONS:  # stronger blur, lower Laplacian variance, starting from the clean images
        medians = [section["clean"]["laplacian_var_median"]]
        medians += [c["laplacian_var_median"] for c in section["conditions"] if c["kind"] == kind]
        assert medians == sorted(medians, reverse=True) and medians[0] > medians[-1], kind
    assert (out / "figures" / "robustness.png").is_file()
    assert "Accuracy under blur beyond training" in (out / "report.md").read_text()


def test_degradations_get_blurrier_with_strength_and_keep_shape(tiny_dataset):
    images = tiny_dataset.load_images("test", progress=False)[:20]
    image = images[0]
    for kind, params in CONDITIONS:
        out = [np.stack([degrade(im, kind, p, angle=30.0) for im in images]) for p in params]
        assert all(o.shape == images.shape and o.dtype == np.uint8 for o in out)
        scores = [np.median(laplacian_variance(x[..., 0])) for x in [images, *out]]
        assert scores == sorted(scores, reverse=True) and scores[0] > 2 * scores[-1], kind
    assert box_kernel(5).sum() == pytest.approx(1.0) and np.array_equal(resize_blur(image, 1.0), image)
    with pytest.raises(ValueError, match="kind must be one of"):
        degrade(image, "smear", 3)
    with pytest.raises(ValueError, match="resize factor"):
        resize_blur(image, 0.5)
