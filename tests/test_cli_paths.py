"""Paths given on the command line are made absolute once, when parsed, for every layer below."""

from pathlib import Path

import pytest

from blurfuse.cli import build_parser
from train.cli import config_from_args, get_args_parser


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path.resolve()


def test_train_paths_are_absolute_down_to_the_config(elsewhere):
    args = get_args_parser().parse_args(["--data", "data/x", "--out", "~/runs/y", "--backbone-weights", "w.safetensors"])
    assert (args.data, args.out) == (elsewhere / "data" / "x", elsewhere / "home" / "runs" / "y")
    config = config_from_args(args)
    assert (config.data, config.out) == (str(elsewhere / "data" / "x"), str(elsewhere / "home" / "runs" / "y"))
    assert (config.backbone_weights, config.pretrained) == (str(elsewhere / "w.safetensors"), "file")


@pytest.mark.parametrize("argv, fields", [
    (["data", "--out", "d", "--data-root", "~/idx", "--folder", "f"], ("out", "data_root", "folder")),
    (["train", "--data", "d", "--out", "r"], ("data", "out")),
    (["run", "--data-root", "idx"], ("data", "out", "data_root")),
])
def test_every_train_and_run_path_option_is_absolute(elsewhere, argv, fields):
    args = build_parser().parse_args(argv)
    for name in fields:
        value = getattr(args, name)
        assert isinstance(value, Path) and value.is_absolute(), (name, value)
        assert str(value).startswith(str(elsewhere)), (name, value)
