"""`blurfuse predict`: table, JSON, edge/Grad-CAM outputs, and the error paths."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from blurfuse.cli import main
from features.extract import FeatureConfig
from fusion.checkpoint import save_checkpoint
from fusion.config import ModelConfig
from fusion.model import create_model
from train.data.longtail import fmnist_lt_v1
from train.data.sources import FMNIST_CLASSES as CLASSES

GROUPS = list(fmnist_lt_v1().groups)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    cfg = ModelConfig(
        class_names=CLASSES, groups=GROUPS, train_counts=[10] * 10, feature_config=FeatureConfig().to_dict()
    )
    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("cli") / "run", create_model(cfg, pretrained="none").eval(), cfg)


@pytest.fixture(scope="module")
def image_files(tmp_path_factory, fmnist_images) -> list[Path]:
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for i, image in enumerate(fmnist_images(3, "test")):
        if i == 2:
            image = cv2.GaussianBlur(image, (0, 0), 2.0)
        path = folder / f"img{i}.png"
        cv2.imwrite(str(path), image)
        paths.append(path)
    return paths


def test_table(run_dir, image_files, capsys):
    assert main(["predict", *map(str, image_files), "--model", str(run_dir), "--top-k", "3"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["file", "class", "prob"] and "top-3" in lines[0]
    assert len([line for line in lines if line.startswith(("blur threshold", "WARNING", "note"))]) == len(lines) - 2 - len(image_files)
    for path, line in zip(image_files, lines[2:]):
        assert line.startswith(str(path))
        assert any(name in line for name in CLASSES)
        assert ("blurred" in line) or ("sharp" in line)
        assert ("canny" in line) or ("hysteresis" in line)


def test_json_matches_the_predictor(run_dir, image_files, capsys):
    from fusion.predictor import Predictor

    assert main(["predict", *map(str, image_files), "--model", str(run_dir), "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert [i["file"] for i in items] == [str(p) for p in image_files]
    predictor = Predictor.from_checkpoint(run_dir)
    for path, item in zip(image_files, items):
        p = predictor.predict(path)
        assert item["class_name"] == p.class_name
        assert item["probability"] == pytest.approx(p.probability, abs=1e-6)
        assert item["laplacian_var"] == pytest.approx(p.laplacian_var) and item["blurred"] == p.blurred


def test_edges_and_gradcam_outputs(run_dir, image_files, tmp_path, capsys):
    edges, cams = tmp_path / "edges", tmp_path / "cams"
    argv = ["predict", *map(str, image_files), "--model", str(run_dir), "--edges-out", str(edges), "--explain", str(cams), "--json"]
    assert main(argv) == 0
    items = json.loads(capsys.readouterr().out)
    for path, item in zip(image_files, items):
        edge = cv2.imread(str(edges / f"{path.stem}_edges.png"), cv2.IMREAD_UNCHANGED)
        assert edge.shape == (28, 28) and set(np.unique(edge)) <= {0, 255}
        overlay = cv2.imread(str(cams / f"{path.stem}_gradcam.png"))
        assert overlay.shape == (28, 28, 3)
        assert item["edges_png"].endswith(f"{path.stem}_edges.png")


def test_bad_file_gets_an_error_line_and_the_rest_are_predicted(run_dir, image_files, tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    missing = tmp_path / "missing.png"
    status = main(["predict", str(image_files[0]), str(bad), str(missing), "--model", str(run_dir)])
    captured = capsys.readouterr()
    assert status != 0
    assert f"error: {bad}" in captured.err and f"error: {missing}" in captured.err
    rows = captured.out.strip().splitlines()[2:]
    assert rows[0].startswith(str(image_files[0])) and "ERROR" not in rows[0]
    assert "ERROR" in rows[1] and "ERROR" in rows[2]
    assert "not found" in rows[2]  # the row says why, not just that it failed
    assert rows[1].split("ERROR: ", 1)[1].strip() in captured.err
    status = main(["predict", str(image_files[0]), str(bad), "--model", str(run_dir), "--json"])
    items = json.loads(capsys.readouterr().out)
    assert status != 0 and "class_name" in items[0] and items[1]["error"]


def test_a_folder_stands_for_the_images_in_it_sorted(run_dir, image_files, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, source in (("b.png", image_files[1]), ("a.PNG", image_files[0]), ("c.jpg", image_files[2])):
        cv2.imwrite(str(folder / name), cv2.imread(str(source)))
    (folder / "notes.txt").write_text("not an image")
    (folder / "nested").mkdir()
    assert main(["predict", str(folder), str(image_files[0]), "--model", str(run_dir), "--json"]) == 0
    files = [item["file"] for item in json.loads(capsys.readouterr().out)]
    assert files == [str(folder / "a.PNG"), str(folder / "b.png"), str(folder / "c.jpg"), str(image_files[0])]


def test_a_folder_without_images_is_a_clean_error(run_dir, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no pictures here")
    assert main(["predict", str(empty), "--model", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "holds no images" in err and str(empty) in err


def test_missing_model_is_a_clean_error(image_files, tmp_path, capsys):
    assert main(["predict", str(image_files[0]), "--model", str(tmp_path / "no-run")]) == 2
    err = capsys.readouterr().err
    assert "blurfuse predict: error:" in err and "no-run" in err
    assert main(["predict", str(image_files[0]), "--model", str(tmp_path), "--top-k", "0"]) == 2
    assert "--top-k" in capsys.readouterr().err
