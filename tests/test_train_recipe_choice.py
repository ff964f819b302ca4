"""`blurfuse train` trains the recipe the dataset calls for, says which and why, and --recipe wins."""

from __future__ import annotations

import json
import logging

import pytest

from train.cli import config_from_args, get_args_parser
from train.recipe_choice import choose_recipe, pick_recipe


def _dataset(tmp_path, card: dict):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "card.json").write_text(json.dumps(card))
    return tmp_path


def test_a_blur_task_card_picks_the_blur_task_recipe_and_says_why(tmp_path, caplog):
    data = _dataset(tmp_path, {"blur_task": {"blurred_class": "Blurred"}})
    with caplog.at_level(logging.INFO, logger="blurfuse.train"):
        assert pick_recipe(None, data) == "blur-task"
    assert "recipe blur-task" in caplog.text and "blur_task" in caplog.text


def test_an_ordinary_card_or_no_card_picks_the_default(tmp_path):
    assert choose_recipe(None, {"name": "fmnist-lt-blur-v1"})[0] == "default"
    assert pick_recipe(None, tmp_path / "missing") == "default"


def test_an_explicit_recipe_wins_over_the_card(tmp_path):
    data = _dataset(tmp_path, {"blur_task": {"blurred_class": "Blurred"}})
    assert choose_recipe("default", {"blur_task": {}}) == ("default", "named with --recipe")
    args = get_args_parser().parse_args(["--data", str(data), "--out", str(tmp_path / "run"), "--recipe", "smoke"])
    assert config_from_args(args).recipe == "smoke"


def test_the_train_command_builds_the_blur_task_config_from_the_card(tmp_path):
    data = _dataset(tmp_path / "d", {"blur_task": {"blurred_class": "Blurred"}})
    config = config_from_args(get_args_parser().parse_args(["--data", str(data), "--out", str(tmp_path / "run")]))
    assert config.recipe == "blur-task" and config.branches == ("blur",)


def test_a_broken_card_is_a_clear_error(tmp_path):
    (tmp_path / "card.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        pick_recipe(None, tmp_path)


def test_the_head_stage_blur_kernels_and_blur_view_ood_fit_are_command_line_options(tmp_path):
    base = ["--data", str(tmp_path), "--out", str(tmp_path / "run")]
    default = config_from_args(get_args_parser().parse_args(base))
    assert (default.head_retrain, default.blur_kernels, default.ood_blur_views) == ("lws", "mixed", True)
    chosen = config_from_args(get_args_parser().parse_args(
        [*base, "--head-retrain", "crt", "--head-views", "3", "--blur-kernels", "psf", "--no-ood-blur-views"]))
    assert (chosen.head_retrain, chosen.head_views, chosen.blur_kernels, chosen.ood_blur_views) == ("crt", 3, "psf", False)
    with pytest.raises(SystemExit):
        get_args_parser().parse_args([*base, "--head-retrain", "mixup"])


def test_the_default_shifts_its_class_balanced_head_and_turning_the_head_off_turns_the_shift_off(tmp_path):
    base = ["--data", str(tmp_path), "--out", str(tmp_path / "run")]
    default = config_from_args(get_args_parser().parse_args(base))
    assert default.head_retrain == "lws" and default.head_prior_shift == 0.1
    no_head = config_from_args(get_args_parser().parse_args([*base, "--head-retrain", "none"]))
    assert no_head.head_prior_shift == 0.0
    stronger = config_from_args(get_args_parser().parse_args([*base, "--head-prior-shift", "0.3"]))
    assert stronger.head_prior_shift == 0.3
    with pytest.raises(ValueError, match="needs head_retrain"):  # asked for explicitly: refused, not dropped
        config_from_args(get_args_parser().parse_args([*base, "--head-retrain", "none", "--head-prior-shift", "0.3"])).validate()
