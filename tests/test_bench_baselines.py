"""Baselines trained to their own convergence: early stopping on validation loss, weighted logistic regression."""

from __future__ import annotations

import numpy as np
import pytest

from bench.baselines import fit_logistic_regression, fit_small_cnn, predict_logistic_regression, predict_small_cnn


def _stripes(n_per_class: list[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class c is a bright horizontal band at row 4c, plus noise: learnable, and imbalanced as asked."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c, n in enumerate(n_per_class):
        x = rng.integers(0, 90, size=(n, 12, 12)).astype(np.uint8)
        x[:, 4 * c : 4 * c + 2] = 230
        images.append(x)
        labels.append(np.full(n, c))
    return np.concatenate(images), np.concatenate(labels)


def test_small_cnn_keeps_the_epoch_with_the_lowest_validation_loss():
    x, y = _stripes([60, 60, 60])
    xv, yv = _stripes([10, 10, 10], seed=1)
    model, history = fit_small_cnn(x, y, 3, xv, yv, max_epochs=12, patience=2, seed=0, progress=False)
    assert history.best_epoch == int(np.argmin(history.val_losses)) + 1
    assert len(history.val_losses) <= history.best_epoch + 2  # stopped once patience ran out (or at max_epochs)
    assert (predict_small_cnn(model, xv) == yv).mean() > 0.9
    with pytest.raises(ValueError, match="x_val"):
        fit_small_cnn(x, y, 3, xv[:0], yv[:0], progress=False)


def test_class_weighting_lifts_the_rare_class_recall():
    x, y = _stripes([400, 400, 8])
    x[y == 2, 8:10] = 120  # the rare class's band is faint: unweighted, the frequent classes win the border cases
    xt, yt = _stripes([100, 100, 100], seed=2)
    xt[yt == 2, 8:10] = 120
    weighted = fit_logistic_regression(x, y, c=0.01)
    rare_recall = (predict_logistic_regression(weighted, xt)[yt == 2] == 2).mean()
    from sklearn.linear_model import LogisticRegression

    plain = LogisticRegression(C=0.01, max_iter=300).fit(x.reshape(len(x), -1) / 255.0, y)
    plain_recall = (plain.predict(xt.reshape(len(xt), -1) / 255.0)[yt == 2] == 2).mean()
    assert rare_recall > plain_recall
