"""bench/bench_flagged_blur.py: what answers the unfamiliar-image warning flags on blurred images are worth."""

from __future__ import annotations

import json

import pytest

from bench.bench_flagged_blur import main
from tests.conftest import FLAG_EVERYTHING, with_ood


def test_every_flagged_answer_is_counted_and_the_summary_adds_up(tiny_checkpoint, tiny_dataset, tmp_path):
    out = tmp_path / "flagged.json"
    n = 8
    assert main(["--model", str(with_ood(tiny_checkpoint, tmp_path, FLAG_EVERYTHING)), "--data", str(tiny_dataset.root),
                 "--n", str(n), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert {r["suite"] for r in rows} == {"held-out", "verification", "third"}
    for r in rows:
        assert r["flagged"] == n  # every image flagged: right-when-flagged is plain accuracy
        assert r["right_when_flagged"] == round(r["accuracy"] * n)
        assert 0 <= r["flagged_and_judged_blurred"] <= r["flagged"]
    readable = [r for r in rows if r["accuracy"] >= 0.70]
    summary = result["summary"]
    assert summary["readable_rows"] == len(readable) and summary["flagged"] == n * len(readable)
    if readable:
        assert summary["right_when_flagged"] == pytest.approx(sum(r["right_when_flagged"] for r in readable) / (n * len(readable)))


def test_a_model_without_a_warning_is_refused(tiny_checkpoint, tiny_dataset, tmp_path):
    plain = with_ood(tiny_checkpoint, tmp_path, {})
    with pytest.raises(SystemExit) as refused:
        main(["--model", str(plain), "--data", str(tiny_dataset.root), "--n", "4", "--out", str(tmp_path / "x.json")])
    assert refused.value.code == 2
    assert not (tmp_path / "x.json").exists()
