"""Checkpoints as `RUN/model.safetensors` + `RUN/model.json`; loading never unpickles.

A checkpoint is something a user may download or be sent, so loading treats it as untrusted:
the weights are read only as safetensors (a pickle renamed to `.safetensors` is rejected before
anything is executed), the JSON is validated through `ModelConfig`, and the tensors must match the
architecture the JSON describes exactly. Every failure is a `CheckpointError` saying which file
and what was wrong.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import torch

from features.atomic import atomic_write_bytes, atomic_write_text
from fusion.config import ModelConfig
from fusion.model import FusionNet, create_model

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "model.json"
_MAX_HEADER = 100_000_000


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or does not match its own config."""


def _check_matches(model: FusionNet, cfg: ModelConfig) -> None:
    if model.num_classes != cfg.num_classes:
        raise ValueError(f"model has {model.num_classes} classes but the config names {cfg.num_classes}")
    if tuple(model.branches) != tuple(cfg.branches):
        raise ValueError(f"model branches {model.branches} differ from config branches {cfg.branches}")
    if model.backbone_name != cfg.backbone:
        raise ValueError(f"model backbone {model.backbone_name!r} differs from config backbone {cfg.backbone!r}")


def save_checkpoint(run_dir: str | os.PathLike, model: FusionNet, cfg: ModelConfig) -> Path:
    """Write `run_dir/model.safetensors` then `run_dir/model.json`, each atomically; returns `run_dir`.

    The JSON goes last, so a directory with a `model.json` always has the weights written for it.
    """
    from safetensors.torch import save

    _check_matches(model, cfg)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    data = save(state, metadata={"format": "pt", "blurfuse_format": cfg.format})
    atomic_write_bytes(run_dir / WEIGHTS_NAME, data)
    atomic_write_text(run_dir / CONFIG_NAME, cfg.to_json())
    return run_dir


def resolve_checkpoint(path: str | os.PathLike) -> tuple[Path, Path]:
    """(weights, config) paths for a run dir, its model.json, or its model.safetensors."""
    path = Path(path)
    if path.is_dir():
        run_dir = path
    elif path.name in (CONFIG_NAME, WEIGHTS_NAME) or path.suffix in (".json", ".safetensors"):
        run_dir = path.parent
    elif not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist (expected a run dir holding {CONFIG_NAME})")
    else:
        raise CheckpointError(f"checkpoint {path} is neither a run dir nor its {CONFIG_NAME}")
    weights, config = run_dir / WEIGHTS_NAME, run_dir / CONFIG_NAME
    if path.suffix == ".json":
        config = path
    missing = [str(p) for p in (config, weights) if not p.is_file()]
    if missing:
        raise CheckpointError(f"checkpoint {path}: missing {', '.join(missing)}")
    return weights, config


def read_config(path: str | os.PathLike) -> ModelConfig:
    """The validated `ModelConfig` of a checkpoint (run dir or model.json)."""
    path = Path(path)
    config_path = path / CONFIG_NAME if path.is_dir() else path
    if not config_path.is_file():
        raise CheckpointError(f"checkpoint config {config_path} does not exist")
    try:
        return ModelConfig.from_json(config_path.read_bytes())
    except ValueError as error:
        raise CheckpointError(f"{config_path} is not a valid blurfuse model config: {error}") from None


def read_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors from a safetensors file; anything else (e.g. a pickle) is refused unread."""
    from safetensors.torch import load

    path = Path(path)
    data = path.read_bytes()
    # Check the safetensors framing ourselves first: 8-byte little-endian header length, then a
    # JSON object. A torch/pickle file fails here and is never handed to any deserialiser.
    if len(data) < 10:
        raise CheckpointError(f"{path} is not a safetensors file (only {len(data)} bytes)")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > min(len(data) - 8, _MAX_HEADER) or data[8:9] != b"{":
        raise CheckpointError(
            f"{path} is not a safetensors file (bad header; pickle-based .pt/.pth files are not accepted)"
        )
    try:
        json.loads(data[8 : 8 + header_len])
        return load(data)
    except Exception as error:  # noqa: BLE001 - any parse failure is a corrupt file
        raise CheckpointError(f"{path} is a corrupt safetensors file: {type(error).__name__}: {error}") from None


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[FusionNet, ModelConfig]:
    """The model (in eval mode, on `device`) and its config; `CheckpointError` on any problem."""
    weights_path, config_path = resolve_checkpoint(path)
    cfg = read_config(config_path)
    state = read_weights(weights_path)
    try:
        model = create_model(cfg, pretrained="none")
    except ValueError as error:
        raise CheckpointError(f"{config_path}: cannot build the model it describes: {error}") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s) {missing[:5]}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} tensor(s) {unexpected[:5]}")
        if mismatched:
            parts.append(f"shape mismatch (file vs config) {mismatched[:5]}")
        raise CheckpointError(
            f"{weights_path} does not match the architecture in {config_path.name}: " + "; ".join(parts)
        )
    bad_dtype = [k for k, v in state.items() if v.dtype != expected[k].dtype]
    if bad_dtype:
        raise CheckpointError(f"{weights_path}: unexpected dtype for tensors {bad_dtype[:5]}")
    model.load_state_dict(state, strict=True)
    model.to(device).eval()
    return model, cfg
