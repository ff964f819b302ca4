"""The original use case end to end: a Blurred/ + Undistorted/ folder -> data -> train -> predict."""

import json

import cv2
import numpy as np
from PIL import Image

from blurfuse.cli import main


def write_two_class_folder(root, count: int, size: int, sigma: float, seed: int, blurred_suffix: str = ".png") -> None:
    """`root/Undistorted/i.png` random black-and-white squares and `root/Blurred/i<suffix>` the same
    squares Gaussian-blurred: the smallest folder whose class names say the task is blur."""
    rng = np.random.default_rng(seed)
    for name in ("Blurred", "Undistorted"):
        (root / name).mkdir(parents=True)
    for i in range(count):
        sharp = (rng.random((size, size, 3)) > 0.5).astype(np.uint8) * 255
        Image.fromarray(sharp).save(root / "Undistorted" / f"{i}.png")
        Image.fromarray(cv2.GaussianBlur(sharp, (0, 0), sigma)).save(root / "Blurred" / f"{i}{blurred_suffix}")


def two_class_dataset(tmp_path, size: int):
    """A dozen blurred and a dozen clear squares of `size` px built into a dataset dir by `blurfuse data`;
    returns (dataset dir, run dir to train into)."""
    write_two_class_folder(tmp_path / "photos", count=12, size=size, sigma=2.0, seed=1)
    data = tmp_path / "data"
    assert main(["data", "--dataset", "folder", "--folder", str(tmp_path / "photos"), "--out", str(data), "--image-size",
                 str(size), "--no-progress"]) == 0
    return data, tmp_path / "run"


def test_blurred_vs_undistorted_folder_trains_and_predicts_both_probabilities(tmp_path, capsys):
    write_two_class_folder(tmp_path / "photos", count=24, size=40, sigma=2.5, seed=0, blurred_suffix=".jpg")
    data, run = tmp_path / "data", tmp_path / "run"
    assert main(["data", "--dataset", "folder", "--folder", str(tmp_path / "photos"), "--out", str(data), "--image-size", "32",
                 "--profile", "natural", "--blur-fraction", "0", "--allow-rule-break", "--no-progress"]) == 0
    assert main(["train", "--data", str(data), "--out", str(run), "--recipe", "smoke", "--epochs", "1", "--no-progress"]) == 0
    capsys.readouterr()
    image = next((data / "images" / "test").rglob("*.png"))
    assert main(["predict", str(image), "--model", str(run), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    first = answer[0] if isinstance(answer, list) else answer
    probabilities = first["probabilities"]
    assert set(probabilities) == {"Blurred", "Undistorted"}
    assert abs(sum(probabilities.values()) - 1) < 1e-5


def test_blur_task_on_squares_too_small_for_its_evidence_is_refused_before_training(tmp_path, capsys):
    data, run = two_class_dataset(tmp_path, size=24)
    capsys.readouterr()
    assert main(["train", "--data", str(data), "--out", str(run), "--recipe", "blur-task", "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert "at least 32 px" in error and "--blur-evidence-set basic" in error
    assert not (run / "model.json").exists()
    # The basic evidence has no such floor: the same folder trains with it, in the same run dir (the
    # refused run left only its log there, so no --force is needed).
    assert main(["train", "--data", str(data), "--out", str(run), "--recipe", "blur-task", "--blur-evidence-set", "basic",
                 "--epochs", "1", "--no-progress"]) == 0


def test_consistency_twins_are_refused_on_a_blurred_vs_clear_dataset(tmp_path, capsys):
    # A blurred twin of an Undistorted photo is a Blurred photo: asking both for one answer is wrong.
    data, run = two_class_dataset(tmp_path, size=48)
    capsys.readouterr()
    assert main(["train", "--data", str(data), "--out", str(run), "--recipe", "blur-task", "--blur-evidence-set", "basic",
                 "--consistency", "2", "--no-progress"]) == 2
    assert "blurring changes the class" in capsys.readouterr().err
    assert not (run / "model.json").exists()
