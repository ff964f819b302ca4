"""`blurfuse predict` pipelined: reader threads prepare the next batches while the model runs, and
the answers are exactly those of the one-thread batch path, in input order."""

from __future__ import annotations

import numpy as np
import pytest

from blurfuse.cli import main
from fusion.predict_stream import predict_stream
from fusion.predictor import Predictor


@pytest.fixture(scope="module")
def folder(tiny_dataset, tmp_path_factory):
    """Twenty-three test images (batches of 5 leave a short last one) and one file that is no image."""
    import shutil

    out = tmp_path_factory.mktemp("predict-folder")
    rows = tiny_dataset.split_rows("test")[:23]
    for i, row in enumerate(rows):
        shutil.copy(tiny_dataset.root / row["path"], out / f"img{i:03d}.png")
    (out / "img010b.png").write_bytes(b"not an image")
    return out


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_stream_answers_equal_the_batch_path_in_input_order(tiny_checkpoint, folder, workers):
    predictor = Predictor.from_checkpoint(tiny_checkpoint)
    paths = sorted(folder.iterdir())
    seen_batches = []
    result = predict_stream(predictor, paths, batch_size=5, workers=workers, progress=False,
                            on_batch=lambda indices, arrays, predictions: seen_batches.append(list(indices)))
    bad = paths.index(folder / "img010b.png")
    assert set(result.errors) == {bad} and len(result.predictions) == len(paths) - 1
    assert [i for batch in seen_batches for i in batch] == [i for i in range(len(paths)) if i != bad]
    good = [p for i, p in enumerate(paths) if i != bad]
    expected = predictor.predict_batch(good, batch_size=5)
    for index, want in zip([i for i in range(len(paths)) if i != bad], expected):
        got = result.predictions[index]
        assert got.class_index == want.class_index and got.edge_path == want.edge_path
        # batches differ around the unreadable file; a convolution over another batch size may sum in
        # another order, so equal to float32 rounding rather than bit for bit
        np.testing.assert_allclose(got.probabilities, want.probabilities, rtol=0, atol=1e-6)
    assert result.images_per_second > 0


def test_bad_stream_settings_are_refused(tiny_checkpoint, folder):
    predictor = Predictor.from_checkpoint(tiny_checkpoint)
    with pytest.raises(ValueError, match="workers"):
        predict_stream(predictor, sorted(folder.iterdir()), workers=-1)
    with pytest.raises(ValueError, match="batch_size"):
        predict_stream(predictor, sorted(folder.iterdir()), batch_size=0)


def test_cli_prints_a_summary_line_with_images_per_second(tiny_checkpoint, folder, capsys):
    status = main(["predict", str(folder), "--model", str(tiny_checkpoint), "--batch-size", "4", "--workers", "2"])
    captured = capsys.readouterr()
    assert status == 1  # one unreadable file: reported, the rest predicted
    assert "23 images predicted in" in captured.err and "images/s" in captured.err and "1 unreadable" in captured.err
    assert captured.out.count("\n") >= 24


def test_cli_refuses_negative_workers(tiny_checkpoint, folder, capsys):
    assert main(["predict", str(folder), "--model", str(tiny_checkpoint), "--workers", "-1"]) == 2
    assert "--workers" in capsys.readouterr().err
