"""bench_same_predictions: the digest moves with any answer that differs, and only with those."""

from bench.bench_same_predictions import fingerprint


def _answer(shirt: float = 0.7, ood: float = 1.25, blurred: bool = False) -> dict:
    return {"class_name": "Shirt", "probabilities": {"Shirt": shirt, "Coat": 1 - shirt}, "ood_score": ood,
            "in_distribution": True, "blurred": blurred}


def test_equal_answers_give_equal_digests_whatever_the_key_order():
    reordered = dict(_answer(), probabilities={"Coat": 0.3, "Shirt": 0.7})
    assert fingerprint([_answer(), _answer()]) == fingerprint([_answer(), reordered])


def test_a_changed_probability_score_or_verdict_changes_the_digest():
    base = fingerprint([_answer()])
    assert fingerprint([_answer(shirt=0.70002)]) != base
    assert fingerprint([_answer(ood=1.2504)]) != base
    assert fingerprint([_answer(blurred=True)]) != base
    assert fingerprint([_answer(shirt=0.700001)]) == base  # below the 5-decimal rounding: float noise, not a change
