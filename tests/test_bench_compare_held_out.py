"""bench/compare_held_out.py: two recipes' held-out suite files paired by seed."""

from __future__ import annotations

import json

import pytest

from bench.compare_held_out import load, table


def _section(seed_shift: float, sharp: float, glass: float, split: str = "dev") -> dict:
    share = lambda v: {"value": v, "low": v, "high": v}  # noqa: E731
    return {"split": split, "n_images": 300, "seed": 0, "sharp": {"accuracy": share(sharp)},
            "conditions": [{"group": "held-out", "family": "glass", "label": "reach 1 px", "accuracy": share(glass + seed_shift)}],
            "summary": {"held_out_mean_accuracy": glass + seed_shift, "held_out_over_sharp": (glass + seed_shift) / sharp,
                        "worst_middle_accuracy": glass + seed_shift, "sharp_accuracy": sharp,
                        "untrained_mean_accuracy": glass + seed_shift}}


def test_paired_differences_per_condition_and_for_the_yardsticks():
    base = [_section(s, 0.9, 0.60) for s in (0.00, 0.02, 0.04)]
    cand = [_section(s, 0.9, 0.65) for s in (0.00, 0.02, 0.04)]  # +5 points on every seed: no spread
    text = table(base, cand, ("default", "psf"))
    glass = next(line for line in text.splitlines() if line.startswith("| glass"))
    assert "62.0 ± 2.0 | 67.0 ± 2.0 | +5.0 [+5.0, +5.0]" in glass
    assert "| sharp (none) | 90.0 ± 0.0 | 90.0 ± 0.0 | +0.0" in text
    assert "| mean held-out accuracy |" in text and "| held-out / sharp |" in text
    assert "| mean over held-out and beyond-range | 62.0 ± 2.0 | 67.0 ± 2.0 | +5.0" in text


def test_refuses_unpaired_or_mismatched_files(tmp_path):
    base = [_section(0, 0.9, 0.6)]
    with pytest.raises(ValueError, match="pair the runs"):
        table(base, base * 2, ("a", "b"))
    paths = []
    for i, split in enumerate(("dev", "test")):
        paths.append(tmp_path / f"{i}.json")
        paths[-1].write_text(json.dumps(_section(0, 0.9, 0.6, split)))
    with pytest.raises(ValueError, match="same split"):
        load([str(p) for p in paths])
