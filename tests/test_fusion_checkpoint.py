"""Checkpoints: round trip, and every way an untrusted checkpoint can be wrong."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from safetensors.torch import load_file, save_file

from fusion.checkpoint import CheckpointError, load_checkpoint, read_config, save_checkpoint
from fusion.config import ModelConfig
from fusion.model import create_model


def make_config(**overrides) -> ModelConfig:
    base = dict(
        class_names=["a", "b", "c"],
        groups=["frequent", "medium", "rare"],
        train_counts=[50, 10, 2],
        branches=("edge", "blur"),  # small and fast; the rgb branch is covered by test_round_trip_full
    )
    base.update(overrides)
    return ModelConfig(**base)


def inputs(n: int = 4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {
        "rgb": torch.randn(n, 3, 32, 32, generator=g),
        "edge": (torch.rand(n, 1, 32, 32, generator=g) > 0.8).float(),
        "blur": torch.randn(n, 2, generator=g),
    }


@pytest.fixture()
def saved(tmp_path):
    cfg = make_config()
    torch.manual_seed(0)
    model = create_model(cfg, pretrained="none").eval()
    run = save_checkpoint(tmp_path / "run", model, cfg)
    return run, model, cfg


def test_round_trip_full_model_gives_identical_outputs(tmp_path):
    cfg = make_config(branches=("rgb", "edge", "blur"), recipe={"lr": 0.01}, blur_log_mean=3.0, blur_log_std=2.0)
    model = create_model(cfg, pretrained="offline").eval()
    run = save_checkpoint(tmp_path / "run", model, cfg)
    assert sorted(p.name for p in run.iterdir()) == ["model.json", "model.safetensors"]
    loaded, loaded_cfg = load_checkpoint(run)
    assert loaded_cfg == cfg and not loaded.training
    with torch.no_grad():
        a, b = model(**inputs()), loaded(**inputs())
    assert torch.equal(a["logits"], b["logits"]) and torch.equal(a["blur_logit"], b["blur_logit"])
    # the JSON path and the weights path name the same checkpoint
    assert load_checkpoint(run / "model.json")[1] == cfg
    assert load_checkpoint(run / "model.safetensors")[1] == cfg


def test_save_refuses_a_config_that_does_not_describe_the_model(tmp_path):
    model = create_model(make_config(), pretrained="none")
    with pytest.raises(ValueError, match="classes"):
        save_checkpoint(tmp_path / "run", model, make_config(class_names=["a", "b"], groups=["rare"] * 2, train_counts=[1, 1]))
    with pytest.raises(ValueError, match="branches"):
        save_checkpoint(tmp_path / "run", model, make_config(branches=("edge",)))
    assert not (tmp_path / "run" / "model.json").exists()


def test_missing_run_dir_and_missing_files(saved, tmp_path):
    run, _, _ = saved
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")
    (run / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing .*model.safetensors"):
        load_checkpoint(run)
    (run / "model.json").unlink()
    with pytest.raises(CheckpointError, match="missing .*model.json"):
        load_checkpoint(run)


def test_pickle_named_model_safetensors_is_rejected_without_executing_code(saved, tmp_path):
    run, model, _ = saved
    marker = tmp_path / "code-was-executed"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    # both a raw pickle and torch's zip format, each carrying code that runs on unpickling
    with open(run / "model.safetensors", "wb") as handle:
        pickle.dump({"weights": Payload()}, handle)
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_checkpoint(run)
    torch.save({**model.state_dict(), "x": Payload()}, run / "model.safetensors")
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_checkpoint(run)
    assert not marker.exists()


def test_corrupt_safetensors(saved):
    run, _, _ = saved
    data = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(CheckpointError, match="corrupt safetensors|not a safetensors"):
        load_checkpoint(run)
    (run / "model.safetensors").write_bytes(b"\x00" * 7)
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_checkpoint(run)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: "{not json", "not valid JSON"),
        (lambda d: json.dumps([1, 2]), "JSON object"),
        (lambda d: json.dumps({**d, "groups": ["frequent"]}), "groups"),
        (lambda d: json.dumps({**d, "input_size": -3}), "input_size"),
        (lambda d: json.dumps({k: v for k, v in d.items() if k != "class_names"}), "missing field"),
        (lambda d: json.dumps({**d, "format": "someone-else/9"}), "format"),
    ],
)
def test_config_that_fails_validation(saved, mutate, match):
    run, _, cfg = saved
    (run / "model.json").write_text(mutate(cfg.to_dict()))
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(run)
    assert "model.json" in str(info.value)


def test_weights_that_do_not_match_the_config(saved):
    run, _, cfg = saved
    state = load_file(str(run / "model.safetensors"))

    # config asks for more classes than the weights have
    (run / "model.json").write_text(
        make_config(class_names=list("abcd"), groups=["rare"] * 4, train_counts=[1] * 4).to_json()
    )
    with pytest.raises(CheckpointError, match=r"shape mismatch.*classifier\.weight"):
        load_checkpoint(run)

    # config enables a branch the weights do not have
    (run / "model.json").write_text(make_config(branches=("rgb", "edge", "blur")).to_json())
    with pytest.raises(CheckpointError, match=r"missing \d+ tensor.*rgb\."):
        load_checkpoint(run)

    # weights carry a tensor the model has no place for, and lack one it needs
    (run / "model.json").write_text(cfg.to_json())
    extra = dict(state, **{"stowaway.weight": torch.zeros(2)})
    del extra["blur_head.bias"]
    save_file(extra, str(run / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"missing 1 tensor.*blur_head\.bias.*unexpected 1 tensor.*stowaway"):
        load_checkpoint(run)

    # wrong dtype
    save_file({**state, "classifier.weight": state["classifier.weight"].double()}, str(run / "model.safetensors"))
    with pytest.raises(CheckpointError, match="dtype"):
        load_checkpoint(run)


def test_read_config_alone(saved):
    run, _, cfg = saved
    assert read_config(run) == cfg
    assert read_config(run / "model.json").class_names == ["a", "b", "c"]
