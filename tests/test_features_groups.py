"""Group names, per-group recall and PNG helpers shared by data, training, report and web."""

import cv2
import numpy as np
import pytest
from sklearn.metrics import recall_score

from features.groups import GROUPS, group_means, group_recall, ordered_groups, per_class_recall
from features.png import encode_png, png_base64, png_data_uri


def test_per_class_recall_matches_sklearn_and_marks_absent_classes():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 200)
    predicted = np.where(rng.random(200) < 0.7, labels, rng.integers(0, 5, 200))
    labels[labels == 3] = 2  # class 3 never occurs in the truth
    recall = per_class_recall(labels, predicted, 5)
    expected = recall_score(labels, predicted, labels=[0, 1, 2], average=None, zero_division=0)
    np.testing.assert_allclose(recall[:3], expected)
    assert np.isnan(recall[3]) and np.isnan(recall[4])


def test_group_recall_is_the_mean_over_classes_not_images():
    # class 0 (frequent): 100 images, all right; class 1 (frequent): 2 images, none right
    labels = np.array([0] * 100 + [1] * 2 + [2] * 4)
    predicted = np.array([0] * 100 + [0] * 2 + [2, 2, 0, 0])
    result = group_recall(labels, predicted, ["frequent", "frequent", "rare"])
    assert result["frequent"] == pytest.approx(0.5)
    assert result["rare"] == pytest.approx(0.5)
    assert np.isnan(result["medium"]) and set(GROUPS) <= set(result)


def test_group_means_work_on_bootstrap_rows_and_check_lengths():
    values = np.array([[1.0, 0.0, np.nan], [0.5, 0.5, 0.2]])
    means = group_means(values, ["rare", "rare", "frequent"])
    assert list(means) == ["frequent", "rare"]
    np.testing.assert_allclose(means["rare"], [0.5, 0.5])
    assert np.isnan(means["frequent"][0]) and means["frequent"][1] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="groups"):
        group_means(values, ["rare"])


def test_ordered_groups_puts_known_names_head_to_tail_then_the_rest():
    assert ordered_groups(["rare", "tail", "frequent", "rare"]) == ["frequent", "rare", "tail"]


def test_png_round_trip_keeps_rgb_order():
    image = np.zeros((4, 5, 3), np.uint8)
    image[..., 0] = 255  # pure red
    decoded = cv2.imdecode(np.frombuffer(encode_png(image), np.uint8), cv2.IMREAD_COLOR)
    assert decoded[0, 0].tolist() == [0, 0, 255]  # OpenCV reads BGR: red is last
    gray = np.arange(20, dtype=np.uint8).reshape(4, 5)
    again = cv2.imdecode(np.frombuffer(encode_png(gray), np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(again, gray)
    assert png_data_uri(encode_png(gray)) == "data:image/png;base64," + png_base64(gray)
