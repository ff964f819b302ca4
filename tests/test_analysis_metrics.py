"""analysis metrics against scikit-learn, and the bootstrap's coverage on a known case."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from analysis import metrics as M
from analysis.bootstrap import bootstrap, identity_indices, stratified_indices
from analysis.measure import compute_metrics
from analysis.table import PredictionTable

def test_classification_metrics_match_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 5, 300)
    p = np.where(rng.random(300) < 0.6, y, rng.integers(0, 5, 300))
    p[p == 4] = 3  # class 4 never predicted: precision must follow sklearn's zero_division=0
    conf = M.confusion_counts(identity_indices(300), y, p, 5)[0]
    np.testing.assert_array_equal(conf, skm.confusion_matrix(y, p, labels=range(5)))
    scores = M.per_class_scores(conf)
    precision, recall, f1, support = skm.precision_recall_fscore_support(y, p, labels=range(5), zero_division=0)
    np.testing.assert_allclose(scores["precision"], precision)
    np.testing.assert_allclose(scores["recall"], recall)
    np.testing.assert_allclose(scores["f1"], f1)
    np.testing.assert_array_equal(scores["support"], support)
    assert M.accuracy(conf) == pytest.approx(skm.accuracy_score(y, p))
    assert M.balanced_accuracy(conf) == pytest.approx(skm.balanced_accuracy_score(y, p))
    assert M.macro_f1(conf) == pytest.approx(skm.f1_score(y, p, average="macro", zero_division=0))


def test_macro_f1_and_balanced_accuracy_ignore_absent_classes_like_sklearn():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([0, 1, 1, 1, 2, 0])
    conf = M.confusion_counts(identity_indices(6), y, p, 4)[0]  # class 3 neither true nor predicted
    assert M.macro_f1(conf) == pytest.approx(skm.f1_score(y, p, average="macro"))
    assert M.balanced_accuracy(conf) == pytest.approx(skm.balanced_accuracy_score(y, p))


def test_roc_auc_by_hand_with_ties_and_a_single_class():
    truth = np.array([True, True, False, False])
    assert M.roc_auc(truth, np.array([0.9, 0.8, 0.2, 0.1])) == pytest.approx(1.0)
    assert M.roc_auc(truth, np.array([0.1, 0.2, 0.8, 0.9])) == pytest.approx(0.0)
    # positives 0.9 and 0.5 against negatives 0.5 and 0.1: pairs won 1 + 1 + 1, the tie counts half
    assert M.roc_auc(truth, np.array([0.9, 0.5, 0.5, 0.1])) == pytest.approx(3.5 / 4)
    assert np.isnan(M.roc_auc(np.ones(5, bool), np.arange(5.0)))


def test_roc_curve_has_a_point_per_distinct_score_from_the_origin():
    truth = np.array([True, False, True, False])
    fpr, tpr, thresholds = M.roc_curve(truth, np.array([0.9, 0.5, 0.5, 0.1]))
    np.testing.assert_allclose(fpr, [0.0, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(tpr, [0.0, 0.5, 1.0, 1.0])
    assert np.isinf(thresholds[0])
    flat_fpr, flat_tpr, _ = M.roc_curve(np.zeros(3, bool), np.arange(3.0))  # no blurred image: no NaN to plot
    assert np.isfinite(flat_fpr).all() and np.isfinite(flat_tpr).all()


def test_binary_scores_by_hand_and_when_undefined():
    truth = np.array([True, True, True, False, False])
    verdict = np.array([True, True, False, True, False])
    scores = M.binary_scores(truth, verdict)  # tp 2, fn 1, fp 1, tn 1
    assert scores["accuracy"] == pytest.approx(3 / 5)
    assert scores["precision"] == pytest.approx(2 / 3) and scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 / 3) and (scores["n"], scores["n_positive"]) == (5, 3)
    never = M.binary_scores(truth, np.zeros(5, bool))
    assert never["precision"] == 0.0 and never["recall"] == 0.0 and never["f1"] == 0.0
    nothing_blurred = M.binary_scores(np.zeros(3, bool), np.array([True, False, False]))
    assert np.isnan(nothing_blurred["recall"]) and nothing_blurred["precision"] == 0.0


def test_expected_calibration_error_by_hand():
    confidence = np.array([0.95, 0.95, 0.95, 0.95, 0.55, 0.55])
    correct = np.array([1, 1, 1, 0, 1, 0], dtype=float)
    # bin 0.9-1.0: acc 0.75 vs conf 0.95 (4/6 of images); bin 0.5-0.6: acc 0.5 vs 0.55 (2/6)
    expected = 4 / 6 * 0.20 + 2 / 6 * 0.05
    assert M.expected_calibration_error(identity_indices(6), confidence, correct, 10)[0] == pytest.approx(expected)
    rare = np.array([False, False, False, False, True, True])
    assert M.expected_calibration_error(identity_indices(6), confidence, correct, 10, subset=rare)[0] == pytest.approx(0.05)


def test_stratified_indices_keep_each_stratum_size():
    strata = np.array([0] * 5 + [1] * 20 + [2] * 3)
    idx = stratified_indices(strata, 50, np.random.default_rng(0))
    assert idx.shape == (50, strata.size)
    for value in (0, 1, 2):
        np.testing.assert_array_equal((strata[idx] == value).sum(axis=1), (strata == value).sum())
    with pytest.raises(ValueError, match="n_resamples"):
        stratified_indices(strata, 0, np.random.default_rng(0))


def test_bootstrap_interval_covers_bernoulli_mean_about_95_percent():
    p, n, repetitions = 0.7, 200, 200
    rng = np.random.default_rng(12345)
    covered = 0
    for rep in range(repetitions):
        sample = (rng.random(n) < p).astype(np.float64)
        est = bootstrap(lambda idx: {"mean": sample[idx].mean(axis=1)}, np.zeros(n, int), n_resamples=1000, seed=rep)
        assert est["mean"].value == pytest.approx(sample.mean())
        covered += est["mean"].low <= p <= est["mean"].high
    assert 0.90 <= covered / repetitions <= 0.99


def test_bootstrap_is_reproducible_with_a_seed():
    sample = np.random.default_rng(0).random(100)
    stat = lambda idx: {"mean": sample[idx].mean(axis=1)}  # noqa: E731
    a = bootstrap(stat, np.zeros(100, int), n_resamples=200, seed=7)["mean"]
    b = bootstrap(stat, np.zeros(100, int), n_resamples=200, seed=7)["mean"]
    c = bootstrap(stat, np.zeros(100, int), n_resamples=200, seed=8)["mean"]
    assert (a.low, a.high) == (b.low, b.high)
    assert (a.low, a.high) != (c.low, c.high)


def test_compute_metrics_agrees_with_sklearn_and_reports_gaps(make_table):
    table = make_table(n=1200, rare_cost=0.3, blur_cost=0.2)
    m = compute_metrics(table, fitted_threshold=120.0, n_resamples=300)
    y, p = table.labels, table.predicted
    assert m["overall"]["top1"] == pytest.approx(skm.accuracy_score(y, p), abs=1e-6)
    assert m["overall"]["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, p), abs=1e-6)
    assert m["overall"]["macro_f1"] == pytest.approx(skm.f1_score(y, p, average="macro"), abs=1e-6)
    recall = skm.recall_score(y, p, average=None)
    for i, name in enumerate(table.class_names):
        entry = m["per_class"][name]
        assert entry["recall"] == pytest.approx(recall[i], abs=1e-6)
        assert entry["recall_ci"][0] <= entry["recall"] <= entry["recall_ci"][1]
        sharp = ~table.blurred & (y == i)
        assert entry["recall_sharp"] == pytest.approx(np.mean(p[sharp] == i), abs=1e-6)
    frequent = np.mean([recall[i] for i, g in enumerate(table.groups) if g == "frequent"])
    rare = np.mean([recall[i] for i, g in enumerate(table.groups) if g == "rare"])
    gap = m["gaps"]["frequent_minus_rare_recall"]
    assert gap["points"] == pytest.approx(100 * (frequent - rare), abs=1e-4)
    assert gap["significant"] and gap["ci_points"][0] > 0  # a 30-point penalty on 400 images is real
    blur_gap = m["gaps"]["sharp_minus_blurred_accuracy"]
    acc_b, acc_s = np.mean(table.correct[table.blurred]), np.mean(table.correct[~table.blurred])
    assert blur_gap["points"] == pytest.approx(100 * (acc_s - acc_b), abs=1e-4)
    assert set(m["blur"]["group_by_blur"]) == {"frequent", "medium", "rare"}
    assert set(m["blur"]["per_kind"]) == {"gaussian", "motion", "defocus"}
    assert sum(b["n"] for bs in m["blur"]["per_strength"].values() for b in bs) == table.blurred.sum()
    det = m["blur_detection"]
    assert det["laplacian_default"]["threshold"] == 100.0 and det["laplacian_fitted"]["threshold"] == 120.0
    assert det["laplacian_fitted"]["accuracy"] == pytest.approx(
        skm.accuracy_score(table.blurred, table.laplacian_var < 120.0), abs=1e-6)
    assert det["learned_head"]["roc_auc"] == pytest.approx(skm.roc_auc_score(table.blurred, table.blur_probability), abs=1e-6)
    assert m["rare_confusions"].keys() == {"T-shirt/top", "Trouser"}


def test_compute_metrics_without_learned_head_and_bad_threshold(make_table):
    table = make_table(learned_blur=False)
    m = compute_metrics(table, fitted_threshold=90.0, n_resamples=50)
    assert m["blur_detection"]["learned_head"] is None
    with pytest.raises(ValueError, match="fitted_threshold"):
        compute_metrics(table, fitted_threshold=float("nan"), n_resamples=50)


class _StubPredictor:
    """Stands in for fusion.Predictor in unit tests of the join logic (the end-to-end test uses the real one)."""

    def __init__(self, class_names):
        self.config = type("Cfg", (), {"class_names": class_names})()
        self.calls = []

    def predict_batch(self, images, batch_size=256, progress=False):
        from types import SimpleNamespace

        self.calls.append((len(images), batch_size, progress))
        c = len(self.config.class_names)
        out = []
        for i, image in enumerate(images):
            probs = np.full(c, 0.1 / (c - 1))
            probs[i % c] = 0.9
            out.append(SimpleNamespace(class_index=i % c, probabilities=probs, laplacian_var=float(image.mean()) + 1,
                                       blurred=bool(i % 2), blur_probability=None, edge_path="canny",
                                       edge_map=np.zeros((28, 28), np.uint8), blur_threshold=80.0))
        return out


class _StubDataset:
    def __init__(self, class_names, n=6):
        self.root = "stub"
        self.class_names = class_names
        self.groups = ["rare"] * len(class_names)
        self.rows = [{"id": f"t{i}", "label": i % len(class_names), "blurred": i % 3 == 0,
                      "blur_kind": "motion" if i % 3 == 0 else "", "blur_param": 5.0 if i % 3 == 0 else None}
                     for i in range(n)]

    def split_rows(self, split):
        return self.rows if split == "test" else []

    def load_images(self, split, progress=True):
        return np.full((len(self.split_rows(split)), 28, 28, 3), 7, np.uint8)


def test_evaluate_split_joins_predictions_with_the_manifest():
    from analysis.evaluate import evaluate_split

    names = ["a", "b", "c"]
    predictor = _StubPredictor(names)
    evaluation = evaluate_split(predictor, _StubDataset(names), "test", batch_size=4, progress=False)
    table = evaluation.table
    assert predictor.calls == [(6, 4, False)]
    assert list(table.ids) == [f"t{i}" for i in range(6)] and table.labels.tolist() == [0, 1, 2, 0, 1, 2]
    assert table.blurred.tolist() == [True, False, False, True, False, False]
    assert table.blur_kind.tolist() == ["motion", "", "", "motion", "", ""]
    assert np.isnan(table.blur_param[1]) and table.blur_param[0] == 5.0
    assert not table.has_learned_blur and evaluation.blur_threshold == 80.0
    assert table.correct.all()
    with pytest.raises(ValueError, match="do not match"):
        evaluate_split(_StubPredictor(["x", "y", "z"]), _StubDataset(names))
    with pytest.raises(ValueError, match="has no images"):
        evaluate_split(predictor, _StubDataset(names), "val")
    with pytest.raises(ValueError, match="has no images .*rebuild"):
        evaluate_split(predictor, _StubDataset(names), "dev")
    with pytest.raises(ValueError, match="split must be"):
        evaluate_split(predictor, _StubDataset(names), "validation")
