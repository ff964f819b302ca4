"""Held-out blur families (analysis.blur_families) and the suite that scores them (analysis.held_out_blur)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import features.kernels as classic
import features.psf as psf
from analysis.blur_families import SUITES, THIRD_NAMES, VERIFICATION_NAMES, family
from analysis.held_out_blur import conditions, held_out_rows, held_out_sweep, held_out_figure
from analysis.intervals import wilson_interval
from analysis.ssim import ssim
from features.kernels import degrade


def _functions(module) -> set:
    return {obj for _, obj in inspect.getmembers(module, inspect.isfunction) if obj.__module__ == module.__name__}


def test_training_and_held_out_families_are_disjoint_in_code():
    trained_names = set(classic.BLUR_KINDS) | set(classic.UNSEEN_KINDS) | set(psf.PSF_FAMILIES)
    every_family = [f for suite in SUITES.values() for f in suite]
    assert not trained_names & {f.name for f in every_family}
    # each suite is a separate set: no family name or function in two of them
    assert len({f.name for f in every_family}) == len(every_family) == len({f.apply for f in every_family})
    assert not {f.apply for f in every_family} & (_functions(classic) | _functions(psf))
    assert all(f.apply.__module__ == "analysis.blur_families" for f in every_family)
    # and the training code never reaches the held-out module
    import train.batches
    import train.psf_batch
    for module in (train.batches, train.psf_batch, classic, psf):
        assert "blur_families" not in inspect.getsource(module)


@pytest.fixture(scope="module")
def garments(fmnist_images):
    gray = fmnist_images(60, "test")
    return np.repeat(gray[..., None], 3, axis=-1)


def test_every_family_keeps_shape_dtype_and_grows_stronger(garments):
    rng = np.random.default_rng(0)
    gauss3 = ssim(garments, np.stack([degrade(im, "gaussian", 3.0) for im in garments])).mean()
    assert all(len(suite) >= 4 for suite in SUITES.values())
    for f in (f for suite in SUITES.values() for f in suite):
        scores = []
        for s in f.strengths:
            out = f.apply(garments, s, rng)
            assert out.shape == garments.shape and out.dtype == np.uint8
            scores.append(ssim(garments, out).mean())
        assert scores[0] > scores[1] > scores[2], f.name
        assert scores[2] <= gauss3 + 0.03, f"{f.name} at its strongest is milder than Gaussian sigma 3"


def test_family_lookup_names_the_choices():
    assert family("zoom").name == "zoom" and family("wobble").name == "wobble"
    with pytest.raises(ValueError, match="glass"):
        family("gaussian")


def test_ssim_is_one_for_identical_images_and_falls_with_blur(garments):
    np.testing.assert_allclose(ssim(garments, garments), 1.0, atol=1e-9)
    mild = ssim(garments, np.stack([degrade(im, "gaussian", 1.0) for im in garments])).mean()
    strong = ssim(garments, np.stack([degrade(im, "gaussian", 3.0) for im in garments])).mean()
    assert 1.0 > mild > strong
    with pytest.raises(ValueError):
        ssim(garments, garments[:, :10])


def test_wilson_interval_contains_the_share_and_stays_in_bounds():
    assert wilson_interval(0, 50)[0] == 0.0 and 0 < wilson_interval(0, 50)[1] < 0.1
    low, high = wilson_interval(45, 50)
    assert low < 0.9 < high <= 1.0
    with pytest.raises(ValueError):
        wilson_interval(3, 0)


class _Prediction:
    def __init__(self, index: int, familiar: bool):
        self.class_index, self.in_distribution = index, familiar
        self.blurred = not familiar  # the fake's blur verdict: what it finds smooth it calls blurred


class _FakePredictor:
    """Right on sharp-looking images, wrong and unfamiliar on images much smoother than the sharp ones."""

    def predict_batch(self, images, batch_size=256):
        detail = np.abs(np.diff(np.asarray(images, dtype=float), axis=2)).mean(axis=(1, 2, 3))
        return [_Prediction(0 if d > 20 else 1, bool(d > 20)) for d in detail]


class _FakeDataset:
    def __init__(self, images):
        self.images = images

    def split_rows(self, split):
        return [{"blurred": False}] * len(self.images)

    def load_images(self, split, progress=False):
        return self.images

    def labels(self, split):
        return np.zeros(len(self.images), dtype=np.int64)


def test_sweep_scores_every_condition_with_intervals_and_a_table(garments):
    section = held_out_sweep(_FakePredictor(), _FakeDataset(garments), "dev", 40, progress=False)
    assert len(section["conditions"]) == len(conditions())
    held = [r["accuracy"]["value"] for r in section["conditions"] if r["group"] == "held-out"]
    summary = section["summary"]
    assert summary["held_out_mean_accuracy"] == pytest.approx(np.mean(held))
    assert summary["held_out_over_sharp"] == pytest.approx(np.mean(held) / section["sharp"]["accuracy"]["value"])
    for row in section["conditions"]:
        acc, warned = row["accuracy"], row["warned"]
        assert acc["low"] <= acc["value"] <= acc["high"] and warned["low"] <= warned["value"] <= warned["high"]
        assert abs(acc["value"] + warned["value"] - 1) < 1e-9  # the fake is wrong exactly when it warns
        assert row["right_when_warned"] == 0 and row["warned_and_judged_blurred"] == row["n_warned"]
        assert row["n_warned"] == round(warned["value"] * 40)
    header, rows, note = held_out_rows(section)
    assert len(rows) == len(conditions()) + 1 and "Wilson" in note and "SSIM" in header
    assert held_out_figure(section) is not None


def test_report_adds_the_held_out_section_with_table_and_plot(tiny_checkpoint, tiny_dataset, tmp_path):
    import json

    from analysis.report import make_report

    index = make_report(tiny_checkpoint, tiny_dataset.root, split="dev", out=tmp_path / "report", n_resamples=20,
                        progress=False, held_out_blur_images=16)
    metrics = json.loads((index.parent / "metrics.json").read_text())
    section, second = metrics["held_out_blur"], metrics["held_out_blur_verification"]
    assert section["n_images"] == 16 and len(section["conditions"]) == len(conditions())
    assert second["suite"] == "verification" and len(second["conditions"]) == len(conditions("verification"))
    assert {r["family"] for r in second["conditions"] if r["group"] == "held-out"} == set(VERIFICATION_NAMES)
    html = index.read_text()
    assert "held-out-blur-table" in html and "fig-held-out-blur" in html
    third = metrics["held_out_blur_third"]
    assert {r["family"] for r in third["conditions"] if r["group"] == "held-out"} == set(THIRD_NAMES)
    assert "held-out-blur-verification-table" in html and "held-out-blur-third-table" in html and "third suite" in html


def test_blur_benches_refuse_a_directory_that_is_no_run(tmp_path):
    from bench.held_out_args import blur_bench_parser, parse_checked

    parser = blur_bench_parser("test", "out")
    with pytest.raises(SystemExit) as stop:
        parse_checked(parser, ["--model", str(tmp_path), "--out", str(tmp_path / "x.json")])
    assert stop.value.code == 2
    with pytest.raises(SystemExit):
        parse_checked(parser, ["--model", str(tmp_path), "--out", "x.json", "--n", "0"])
