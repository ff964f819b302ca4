"""bench/compare_ood_fits.py: two fits of the unfamiliar-image score, paired by seed."""

from __future__ import annotations

import json

import pytest

from bench.compare_ood_fits import compare


def _share(v: float) -> dict:
    return {"value": v, "low": v, "high": v}


def _fit(zoom_accuracy: float, zoom_flagged: float, glass_flagged: float, sharp_flagged: float = 0.05,
         digits_auroc: float = 0.995) -> dict:
    rows = [("held-out", "zoom", "zoom ×1", zoom_accuracy, zoom_flagged),
            ("held-out", "glass", "reach 4 px", 0.50, glass_flagged),  # read < 70 %: never a readable row
            ("trained", "gaussian", "σ 2", 0.90, 0.01)]
    sweep = {"sharp": {"accuracy": _share(0.93), "warned": _share(sharp_flagged)},
             "conditions": [{"group": g, "family": f, "label": lab, "accuracy": _share(a), "warned": _share(w)}
                            for g, f, lab, a, w in rows]}
    ood = {"in_distribution": {"flagged": 0.05},
           "sets": [{"name": "photographs", "auroc": 1.0, "flagged": 1.0},
                    {"name": "sklearn digits", "auroc": digits_auroc, "flagged": 0.99}]}
    return {"sweep": sweep, "ood": ood, "verification": sweep}


def _write(tmp_path, seeds: list[tuple[dict, dict]]) -> list:
    paths = []
    for i, (base, cand) in enumerate(seeds):
        paths.append(tmp_path / f"seed{i}.json")
        paths[-1].write_text(json.dumps({"model": f"run{i}", "control": base, "camera": cand}))
    return paths


def test_readable_rows_come_from_the_baseline_and_differences_are_paired(tmp_path):
    # the candidate reads zoom below 70 % on seed 0, yet the row stays readable: the baseline read it >= 70 %
    seeds = [(_fit(0.75, 0.40 + s, 0.90), _fit(0.69 if s == 0 else 0.75, 0.20 + s, 0.10)) for s in (0.0, 0.02, 0.04)]
    text = compare(_write(tmp_path, seeds), "control", "camera")
    readable = next(line for line in text.splitlines() if line.startswith("| readable untrained flagged"))
    assert "40.0 / 42.0 / 44.0 | 20.0 / 22.0 / 24.0 | -20.0 [-20.0, -20.0]" in readable  # glass (50 % read) left out
    ratio = next(line for line in text.splitlines() if line.startswith("| worst ratio"))
    assert "8.00 / 8.40 / 8.80 | 4.00 / 4.40 / 4.80" in ratio
    assert "| lowest AUROC | 0.9950 / 0.9950 / 0.9950 |" in text
    assert "| verification: readable untrained flagged (%) |" in text


def test_a_fit_missing_from_a_file_is_named(tmp_path):
    paths = _write(tmp_path, [(_fit(0.75, 0.4, 0.9), _fit(0.75, 0.2, 0.1))])
    with pytest.raises(ValueError, match="no fit named"):
        compare(paths, "control", "closer")
