"""Training, read top to bottom (the torchvision references style): parser, main, one epoch, evaluate.

    blurfuse train --data DIR --out RUN [--recipe default] [--resume] [overrides...]
    torchrun --nproc_per_node=2 -m train.fit --data DIR --out RUN     # several processes

Model selection uses validation *balanced* accuracy (every class counts the same, which is what a
long-tailed benchmark is about); ties go to the lower validation loss. Every epoch leaves a
resumable state behind; the best checkpoint is always a complete, loadable run.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from features import BLUR_KINDS
from features.atomic import atomic_write_json, atomic_write_text
from fusion.checkpoint import save_checkpoint
from fusion.config import ModelConfig
from fusion.model import create_model
from fusion.preprocess import fit_blur_standardisation, model_inputs
from train import distributed
from train.batches import SplitArrays, augment, blur_augment
from train.data.dataset_dir import read_dataset
from train.feature_cache import cached_features
from train.losses import LogitAdjustedLoss
from train.recipes import recipe
from train.sampler import DEFAULT_BETA, SAMPLER_MODES, class_weights, draw_epoch, sampled_prior, shard

log = logging.getLogger("blurfuse.train")
METRIC_FIELDS = ["epoch", "lr", "train_loss", "val_loss", "val_top1", "val_balanced_acc", "val_rare_recall",
                 "val_medium_recall", "val_frequent_recall", "val_blur_head_acc", "samples", "seconds"]


@dataclass
class TrainConfig:
    data: str = ""  # may be filled in later (ablate builds a config, then points it at a dataset and a run dir)
    out: str = ""
    recipe: str = "default"
    backbone: str = "tf_efficientnet_lite0"
    pretrained: str = "offline"
    backbone_weights: str | None = None
    input_size: int = 48
    branches: tuple[str, ...] = ("rgb", "edge", "blur")
    sampler: str = "sqrt"
    sampler_beta: float = DEFAULT_BETA
    rebalance_from_epoch: int = 1  # epochs before this one draw without balancing (deferred re-balancing)
    logit_adjust_tau: float = 1.0
    blur_loss_weight: float = 0.5
    blur_augment: float = 0.5
    epochs: int = 9
    samples_per_epoch: int = 20000
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_fraction: float = 0.05
    patience: int = 9
    seed: int = 0
    device: str = "auto"
    resume: bool = False
    force: bool = False
    progress: bool = True
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data, self.out = str(self.data), str(self.out)  # paths travel as text (JSON, logs)
        self.branches = tuple(self.branches)

    def validate(self) -> None:
        if not self.data or not self.out:
            raise ValueError("a training run needs both a dataset dir (--data) and a run dir (--out)")
        if self.sampler not in SAMPLER_MODES:
            raise ValueError(f"sampler must be one of {SAMPLER_MODES}; got {self.sampler!r}")
        if self.rebalance_from_epoch < 1:
            raise ValueError(f"rebalance_from_epoch must be >= 1; got {self.rebalance_from_epoch}")
        if not 0.0 < self.sampler_beta < 1.0:
            raise ValueError(f"sampler_beta must lie in (0, 1); got {self.sampler_beta}")
        for name in ("epochs", "samples_per_epoch", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive; got {self.lr}")
        if self.pretrained not in ("offline", "hub", "none", "file"):
            raise ValueError(f"pretrained must be offline, hub, none or file; got {self.pretrained!r}")


def recipe_config(name: str = "default", **overrides) -> TrainConfig:
    """A TrainConfig from a named recipe, with keyword overrides (used by `ablate` and tests)."""
    values = {**recipe(name), **overrides}
    values["recipe"] = name
    values["branches"] = tuple(values["branches"])
    return TrainConfig(**values)


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Train the blurfuse fusion model", add_help=add_help)
    parser.add_argument("--data", required=True, help="dataset dir written by 'blurfuse data'")
    parser.add_argument("--out", required=True, help="run dir to write (checkpoint, metrics, log)")
    parser.add_argument("--recipe", default="default", help="named recipe (default, smoke); options below override it")
    parser.add_argument("--backbone", help="timm model name of the RGB branch")
    pre = parser.add_mutually_exclusive_group()
    pre.add_argument("--pretrained", choices=["offline", "hub", "none"], help="backbone weights: offline package (default), timm hub, none")
    pre.add_argument("--no-pretrained", dest="pretrained", action="store_const", const="none")
    pre.add_argument("--backbone-weights", help="local weights file (safetensors or state dict) for the backbone")
    parser.add_argument("--input-size", type=int)
    parser.add_argument("--branches", type=lambda s: tuple(b.strip() for b in s.split(",") if b.strip()), help="subset of rgb,edge,blur")
    parser.add_argument("--sampler", choices=SAMPLER_MODES, help="class-balanced sampling weights")
    parser.add_argument("--sampler-beta", type=float, help="strength of the 'effective' sampler, in (0, 1)")
    parser.add_argument("--rebalance-from-epoch", type=int, help="first epoch drawn by the class-balanced sampler (earlier: natural)")
    parser.add_argument("--logit-adjust-tau", type=float, help="logit adjustment strength (0 = plain CE)")
    parser.add_argument("--blur-loss-weight", type=float, help="weight of the auxiliary blurred/sharp loss")
    parser.add_argument("--blur-augment", type=float, help="share of sharp training images blurred afresh in each batch")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--samples-per-epoch", type=int, help="images drawn per epoch (the budget is epochs x this)")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--patience", type=int, help="epochs without validation improvement before stopping")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    parser.add_argument("--force", action="store_true", help="replace an existing run in --out")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    overrides = {
        key: getattr(args, key)
        for key in ("backbone", "pretrained", "input_size", "branches", "sampler", "sampler_beta", "rebalance_from_epoch", "logit_adjust_tau", "blur_loss_weight",
                    "blur_augment", "epochs", "samples_per_epoch", "batch_size", "lr", "weight_decay", "patience", "backbone_weights")
        if getattr(args, key, None) is not None
    }
    if overrides.get("backbone_weights"):
        overrides["pretrained"] = "file"
    return recipe_config(args.recipe, data=str(args.data), out=str(args.out), seed=args.seed, device=args.device,
                         resume=args.resume, force=args.force, progress=not args.no_progress, **overrides)


def pick_device(name: str) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def load_split(dataset, split: str, model_cfg: ModelConfig, progress: bool) -> SplitArrays:
    images = dataset.load_images(split, progress=progress)
    feats, _ = cached_features(dataset, split, images, model_cfg.features_config())
    rows = dataset.split_rows(split)
    return SplitArrays(images=images, features=feats, labels=dataset.labels(split),
                       blurred_truth=np.array([r["blurred"] for r in rows], dtype=bool))


def to_device(batch: SplitArrays, cfg: ModelConfig, device: torch.device) -> dict[str, torch.Tensor]:
    inputs = model_inputs(batch.images, batch.features, cfg)
    inputs["rgb"] = inputs["rgb"].contiguous(memory_format=torch.channels_last)
    return {k: v.to(device, non_blocking=True) for k, v in inputs.items()}


def lr_at(step: int, total: int, warmup: int, base: float) -> float:
    """Linear warm-up, then cosine decay to zero."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def epoch_sampler(config: TrainConfig, epoch: int) -> str:
    """Deferred re-balancing (Cao et al., 2019): learn features on the natural distribution first."""
    return config.sampler if epoch >= config.rebalance_from_epoch else "none"


def train_one_epoch(model, criterion, optimizer, train: SplitArrays, model_cfg: ModelConfig, config: TrainConfig,
                    epoch: int, step: int, total_steps: int, device: torch.device, rank: int, world: int) -> tuple[float, int, int]:
    """One epoch over this rank's share of the seeded class-balanced draw; returns (mean loss, samples, step)."""
    model.train()
    indices = shard(draw_epoch(train.labels, epoch_sampler(config, epoch), config.samples_per_epoch, config.seed, epoch,
                               config.sampler_beta), rank, world)
    rng = np.random.default_rng([config.seed, epoch, rank, 7])
    warmup = max(1, int(config.warmup_fraction * total_steps))
    batches = [indices[i : i + config.batch_size] for i in range(0, len(indices), config.batch_size)]
    bar = tqdm(batches, desc=f"epoch {epoch}", unit="batch", disable=not (config.progress and rank == 0), leave=False)
    total_loss, seen = 0.0, 0
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    for index in bar:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, total_steps, warmup, config.lr)
        batch = train.take(index)
        if config.blur_augment > 0:
            batch = blur_augment(batch, rng, config.blur_augment, model_cfg.features_config(),
                                 tuple(config.extra.get("blur_kinds", BLUR_KINDS)), config.extra.get("blur_ranges"))
        batch = augment(batch, rng)
        inputs = to_device(batch, model_cfg, device)
        labels = torch.from_numpy(batch.labels).to(device)
        blurred = torch.from_numpy(batch.blurred_truth.astype(np.float32)).to(device)
        with autocast:
            out = model(**inputs)
            loss = criterion(out["logits"].float(), labels)
            if config.blur_loss_weight > 0:
                loss = loss + config.blur_loss_weight * F.binary_cross_entropy_with_logits(out["blur_logit"].float(), blurred)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        total_loss += loss.item() * len(index)
        seen += len(index)
        bar.set_postfix(loss=f"{total_loss / seen:.3f}", lr=f"{optimizer.param_groups[0]['lr']:.1e}")
    return total_loss / max(1, seen), seen, step


@torch.inference_mode()
def evaluate(model, split: SplitArrays, model_cfg: ModelConfig, device: torch.device, batch_size: int = 512) -> dict:
    """Validation figures the selection and the log need: top-1, balanced accuracy, group recall, blur head."""
    model.eval()
    logits, blur_logits = [], []
    for start in range(0, len(split), batch_size):
        index = np.arange(start, min(start + batch_size, len(split)))
        out = model(**to_device(split.take(index), model_cfg, device))
        logits.append(out["logits"].float().cpu())
        blur_logits.append(out["blur_logit"].float().cpu())
    logits_t, labels = torch.cat(logits), torch.from_numpy(split.labels)
    predicted = logits_t.argmax(1).numpy()
    k = model_cfg.num_classes
    recall = np.array([(predicted[split.labels == c] == c).mean() if (split.labels == c).any() else np.nan for c in range(k)])
    groups = np.array(model_cfg.groups)
    group_recall = {g: float(np.nanmean(recall[groups == g])) if (groups == g).any() else float("nan") for g in ("rare", "medium", "frequent")}
    blur_pred = torch.cat(blur_logits).numpy() > 0
    return {
        "val_loss": float(F.cross_entropy(logits_t, labels)),
        "val_top1": float((predicted == split.labels).mean()),
        "val_balanced_acc": float(np.nanmean(recall)),
        "val_rare_recall": group_recall["rare"],
        "val_medium_recall": group_recall["medium"],
        "val_frequent_recall": group_recall["frequent"],
        "val_blur_head_acc": float((blur_pred == split.blurred_truth).mean()),
    }


def weights_digest(model) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode() + tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _prepare_run_dir(config: TrainConfig, rank: int) -> Path:
    out = Path(config.out)
    state = out / "resume" / "state.pt"
    if out.exists() and any(out.iterdir()) and not (config.resume or config.force):
        raise FileExistsError(f"{out} already holds a run; pass --resume to continue it or --force to replace it")
    if rank == 0:
        if config.force and out.exists() and not config.resume:
            import shutil

            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
        if config.resume and not state.is_file():
            log.info("nothing to resume in %s; starting a fresh run there", out)
    return out


def train_model(config: TrainConfig, progress: bool | None = None) -> Path:
    """Train per `config` and return the run dir holding the best checkpoint."""
    if progress is not None:
        config = dataclasses.replace(config, progress=progress)
    config.validate()
    rank, world = distributed.setup()
    try:
        return _train(config, rank, world)
    finally:
        distributed.teardown()


def _train(config: TrainConfig, rank: int, world: int) -> Path:
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    device = pick_device(config.device) if world == 1 or config.device != "auto" else distributed.device_for(rank)
    out = _prepare_run_dir(config, rank)
    distributed.barrier()
    handler = logging.FileHandler(out / "train.log") if rank == 0 else None
    if handler:
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    try:
        dataset = read_dataset(config.data)
        train_counts = dataset.train_counts()
        if min(train_counts) == 0:
            empty = [n for n, c in zip(dataset.class_names, train_counts) if c == 0]
            raise ValueError(f"classes without training images: {empty}")
        model_cfg = ModelConfig.from_dataset(
            dataset, backbone=config.backbone, input_size=config.input_size, branches=config.branches,
            recipe={k: v for k, v in dataclasses.asdict(config).items() if k not in ("data", "out", "resume", "force", "progress", "extra")},
        )
        blur_card = dataset.card.get("blur", {})
        config.extra.setdefault("blur_kinds", list(blur_card.get("kinds", BLUR_KINDS)))
        config.extra.setdefault("blur_ranges", {k: tuple(v) for k, v in blur_card.get("ranges", {}).items()} or None)
        train = load_split(dataset, "train", model_cfg, config.progress and rank == 0)
        val = load_split(dataset, "val", model_cfg, config.progress and rank == 0)
        mean, std = fit_blur_standardisation(train.features.laplacian_var)
        model_cfg.blur_log_mean, model_cfg.blur_log_std = mean, std
        model_cfg.recipe["dataset"] = str(Path(config.data).resolve())
        if rank == 0:
            atomic_write_json(out / "train_config.json", dataclasses.asdict(config))
            log.info("training %s on %s: %d train / %d val images, device %s, %d process(es)",
                     config.recipe, config.data, len(train), len(val), device, world)

        pretrained = "none" if config.pretrained == "file" else config.pretrained
        model = create_model(model_cfg, pretrained=pretrained, backbone_weights=config.backbone_weights)
        model = model.to(device).to(memory_format=torch.channels_last)
        counts = np.asarray(train_counts)
        criteria = {mode: LogitAdjustedLoss(sampled_prior(counts, class_weights(counts, mode, config.sampler_beta)),
                                            config.logit_adjust_tau).to(device) for mode in {config.sampler, "none"}}
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        ddp_model = distributed.wrap(model, device)

        steps_per_epoch = math.ceil(shard(np.arange(config.samples_per_epoch), 0, world).size / config.batch_size)
        total_steps = steps_per_epoch * config.epochs
        start_epoch, step, best, since_best = 1, 0, (-1.0, float("inf")), 0
        state_path = out / "resume" / "state.pt"
        if config.resume and state_path.is_file():
            state = torch.load(state_path, map_location=device, weights_only=True)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            start_epoch, step = int(state["epoch"]) + 1, int(state["step"])
            best, since_best = (float(state["best_score"]), float(state["best_loss"])), int(state["since_best"])
            if rank == 0:
                log.info("resumed after epoch %d (best balanced accuracy %.4f)", start_epoch - 1, best[0])

        metrics_path = out / "metrics.csv"
        for epoch in range(start_epoch, config.epochs + 1):
            epoch_start = time.perf_counter()
            criterion = criteria[epoch_sampler(config, epoch)]
            loss, seen, step = train_one_epoch(ddp_model, criterion, optimizer, train, model_cfg, config,
                                               epoch, step, total_steps, device, rank, world)
            distributed.sync_buffers(model)
            figures = evaluate(model, val, model_cfg, device)
            row = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], "train_loss": loss, **figures,
                   "samples": seen * world, "seconds": time.perf_counter() - epoch_start}
            score = (figures["val_balanced_acc"], figures["val_loss"])
            improved = score[0] > best[0] or (score[0] == best[0] and score[1] < best[1])
            if improved:
                best, since_best = score, 0
            else:
                since_best += 1
            if rank == 0:
                if improved:
                    model_cfg.recipe["best_epoch"] = epoch
                    model_cfg.recipe["val_balanced_acc"] = figures["val_balanced_acc"]
                    save_checkpoint(out, model, model_cfg)
                _append_metrics(metrics_path, row, epoch)
                (out / "resume").mkdir(exist_ok=True)
                tmp = state_path.with_suffix(".tmp")
                torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch, "step": step,
                            "best_score": best[0], "best_loss": best[1], "since_best": since_best}, tmp)
                os.replace(tmp, state_path)
                log.info("epoch %d: loss %.4f, val balanced acc %.4f (rare %.3f, medium %.3f, frequent %.3f), "
                         "blur head %.4f, %.0f s%s", epoch, loss, figures["val_balanced_acc"], figures["val_rare_recall"],
                         figures["val_medium_recall"], figures["val_frequent_recall"], figures["val_blur_head_acc"],
                         row["seconds"], " *best*" if improved else "")
                if config.progress:
                    tqdm.write(f"epoch {epoch}/{config.epochs}: loss {loss:.3f}  val bal-acc {figures['val_balanced_acc']:.4f}  "
                               f"rare {figures['val_rare_recall']:.3f}  blur-head {figures['val_blur_head_acc']:.3f}"
                               f"{'  (best)' if improved else ''}")
            if world > 1:
                distributed.write_rank_digest(out, rank, weights_digest(model))
            if since_best >= config.patience:
                if rank == 0:
                    log.info("early stop: no improvement for %d epochs", since_best)
                break
        distributed.barrier()
        if rank == 0:
            log.info("finished in %.0f s; best validation balanced accuracy %.4f", time.perf_counter() - started, best[0])
        return out
    finally:
        if handler:
            log.removeHandler(handler)
            handler.close()


def _append_metrics(path: Path, row: dict, epoch: int) -> None:
    """Rewrite metrics.csv with this epoch's row replacing any earlier row of the same epoch."""
    rows = []
    if path.is_file():
        with open(path, newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if int(r["epoch"]) < epoch]
    rows.append({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=METRIC_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def main(args: argparse.Namespace) -> int:
    train_model(config_from_args(args))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(main(get_args_parser().parse_args()))
