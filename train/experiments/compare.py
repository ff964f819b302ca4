"""`blurfuse compare`: recipe variants over several seeds, scored on the dev split, paired by seed.

Recipes are chosen on dev, never on test (issue 10): every variant is trained with the same seeds,
scored on dev, and summarised as mean ± standard deviation with the paired difference to the
baseline (the first variant) and its 95 % t-interval. With `--test-winner` the winner is picked by
a rule declared before any test figure exists (highest mean dev balanced accuracy over its complete
seeds), and only that winner's seeds are then scored on test.

Runs go seed-major (seed 0 of every variant, then seed 1, ...), so whatever a time budget cuts off,
the finished runs stay paired. Results are rewritten after every run:

OUT/
    compare.md     the summary table, the paired differences, the command, the winner's test figures
    compare.csv    one row per variant (mean and std of every figure, paired difference to the baseline)
    runs.csv       one row per (variant, seed) run
    compare.json   all of it, machine-readable
    runs/VARIANT/seedN/   each run's training dir (checkpoint inside)
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from train.experiments.compare_report import FIGURES, summarise, winner, write_outputs


@dataclass(frozen=True)
class Variant:
    """A named recipe variant: overrides of the base recipe's fields."""

    name: str
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    """One training run and its scoring; picklable, so a worker process can run it."""

    variant: str
    seed: int
    data: str
    run_dir: str
    recipe: str
    overrides: dict[str, Any]
    split: str
    device: str
    threads: int
    resume: bool = False


def parse_variant(text: str) -> Variant:
    """`NAME` or `NAME:KEY=VALUE KEY=VALUE ...` (values read as JSON when they parse, else text)."""
    from train.recipes import parse_overrides

    name, _, rest = text.partition(":")
    name = name.strip()
    if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"--variant needs NAME or NAME:KEY=VALUE ... with a plain NAME, got {text!r}")
    return Variant(name, parse_overrides(rest.split()))


def check_variants(variants: Sequence[Variant], recipe: str) -> None:
    """Fail before any training when a variant names a field the training config does not have."""
    from train.fit import recipe_config

    names = [v.name for v in variants]
    if not variants:
        raise ValueError("variants must name at least one variant")
    if len(set(names)) != len(names):
        raise ValueError(f"variants must have distinct names, got {names}")
    for v in variants:
        try:
            recipe_config(recipe, **v.overrides)
        except (TypeError, ValueError) as error:  # an unknown field, or a value the config refuses
            raise ValueError(f"variant {v.name!r}: {error}") from None


def train_and_score(job: Job) -> dict[str, Any]:
    """Train one (variant, seed) and score its checkpoint on the job's split; returns the run's row."""
    import torch

    from train.fit import recipe_config, train_model

    torch.set_num_threads(max(1, job.threads))
    # On resume an interrupted run continues from its last epoch; otherwise it starts over.
    continue_run = job.resume and Path(job.run_dir).exists()
    config = recipe_config(job.recipe, **{**job.overrides, "data": job.data, "out": job.run_dir, "seed": job.seed,
                                          "device": job.device, "force": not continue_run, "resume": continue_run,
                                          "progress": False})
    start = time.perf_counter()
    run_dir = Path(train_model(config))
    seconds = time.perf_counter() - start
    row = {"variant": job.variant, "seed": job.seed, "split": job.split, "train_seconds": seconds,
           "epoch_seconds": _mean_epoch_seconds(run_dir), "run_dir": str(run_dir)}
    row.update(score_run(run_dir, job.data, job.split, job.device))
    return row


def score_run(run_dir: str | os.PathLike, data: str | os.PathLike, split: str, device: str = "cpu",
              second_look_reading: str | None = None) -> dict[str, float]:
    """The comparison figures of one checkpoint on one split, through the product's Predictor
    (`second_look_reading`: the Predictor's option of that name; None = its default)."""
    from train.experiments.compare_report import figures_from_table
    from analysis.evaluate import evaluate_split
    from fusion.predictor import Predictor
    from train.data.dataset_dir import read_dataset
    from train.fit import pick_device

    options = {} if second_look_reading is None else {"second_look_reading": second_look_reading}
    predictor = Predictor.from_checkpoint(run_dir, device=pick_device(device), **options)
    evaluation = evaluate_split(predictor, read_dataset(data), split=split, batch_size=512, progress=False)
    return figures_from_table(evaluation.table)


def _mean_epoch_seconds(run_dir: Path) -> float:
    import csv

    path = run_dir / "metrics.csv"
    if not path.is_file():
        return float("nan")
    with open(path, newline="") as handle:
        seconds = [float(r["seconds"]) for r in csv.DictReader(handle) if r.get("seconds")]
    return sum(seconds) / len(seconds) if seconds else float("nan")


@dataclass
class Budget:
    """Stop starting runs that would not finish before the deadline (estimated from finished runs)."""

    seconds: float | None
    first_estimate: float | None = None
    started: float = field(default_factory=time.perf_counter)
    durations: list[float] = field(default_factory=list)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def estimate(self) -> float | None:
        return max(self.durations) if self.durations else self.first_estimate

    def allows_start(self) -> bool:
        if self.seconds is None:
            return True
        estimate = self.estimate()
        return self.elapsed() + (estimate or 0.0) <= self.seconds

    def expired(self) -> bool:
        return self.seconds is not None and self.elapsed() > self.seconds


def plan_jobs(variants: Sequence[Variant], seeds: Sequence[int], data: Path, out: Path, recipe: str,
              common: dict[str, Any], split: str, device: str, threads: int, resume: bool = False) -> list[Job]:
    """Seed-major order: every variant's seed s finishes before any variant's seed s+1 starts."""
    return [Job(v.name, s, str(data), str(out / "runs" / v.name / f"seed{s}"), recipe, {**common, **v.overrides},
                split, device, threads, resume) for s in seeds for v in variants]


def resumable_rows(out: Path, meta: dict[str, Any]) -> list[dict[str, Any]]:
    """The scored runs of an earlier, interrupted comparison of the same plan, checked before any is reused.

    Everything that decides a run's figures (data, recipe, split, device, common overrides, each
    variant's overrides) must equal the earlier plan; only the seed list may grow. A run counts as
    done only when its row was written and its training marked itself complete."""
    import json

    from train.resume import run_complete

    path = out / "compare.json"
    if not path.is_file():
        return []
    earlier = json.loads(path.read_text())
    for key in ("data", "recipe", "split", "device", "common"):
        if earlier["meta"].get(key) != meta[key]:
            raise ValueError(f"cannot resume {out}: its {key} was {earlier['meta'].get(key)!r}, now {meta[key]!r}")
    for name, overrides in meta["variants"].items():
        before = earlier["meta"]["variants"].get(name)
        if before is not None and before != overrides:
            raise ValueError(f"cannot resume {out}: variant {name!r} was {before}, now {overrides}")
    return [row for row in earlier["runs"] if row["variant"] in meta["variants"] and row["seed"] in meta["seeds"]
            and run_complete(row["run_dir"])]


def run_jobs(jobs: list[Job], budget: Budget, workers: int, on_result: Callable[[dict[str, Any]], None],
             progress: bool = True) -> list[Job]:
    """Run jobs (in `workers` processes, or in this one for 1) until done or out of time; returns skipped jobs."""
    from tqdm import tqdm

    pending = list(jobs)
    bar = tqdm(total=len(jobs), desc="compare", unit="run", disable=not progress)
    if workers <= 1:
        while pending and budget.allows_start():
            job = pending.pop(0)
            bar.set_postfix_str(f"{job.variant} seed {job.seed}")
            start = time.perf_counter()
            on_result(train_and_score(job))
            budget.durations.append(time.perf_counter() - start)
            bar.update()
    else:
        _run_pool(pending, budget, workers, on_result, bar)
    bar.close()
    return pending


def _run_pool(pending: list[Job], budget: Budget, workers: int, on_result: Callable[[dict[str, Any]], None],
              bar: Any) -> None:
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # CUDA cannot live in forked children
    running: dict[Future, tuple[Job, float]] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        while pending or running:
            while pending and len(running) < workers and budget.allows_start():
                job = pending.pop(0)
                running[pool.submit(train_and_score, job)] = (job, time.perf_counter())
            if not running:
                break
            remaining = None if budget.seconds is None else max(1.0, budget.seconds - budget.elapsed())
            done, _ = wait(running, timeout=remaining, return_when=FIRST_COMPLETED)
            if not done and budget.expired():
                for process in list(getattr(pool, "_processes", {}).values()):
                    process.terminate()  # runs that cannot finish in time: stop them, keep what finished
                print(f"compare: time budget reached; {len(running)} run(s) stopped", file=sys.stderr)
                pending.extend(job for job, _ in running.values())
                pool.shutdown(wait=False, cancel_futures=True)
                return
            for future in done:
                job, start = running.pop(future)
                budget.durations.append(time.perf_counter() - start)
                on_result(future.result())
                bar.update()


def compare(data: str | os.PathLike, out: str | os.PathLike, variants: Sequence[Variant], seeds: Sequence[int] = (0, 1, 2),
            recipe: str = "default", common: dict[str, Any] | None = None, split: str = "dev", device: str = "auto",
            time_budget_s: float | None = None, first_estimate_s: float | None = None, workers: int = 1,
            threads: int = 0, test_winner: bool = False, force: bool = False, resume: bool = False,
            progress: bool = True, command: str = "") -> Path:
    """Train every variant over every seed, score on `split`, write the comparison; returns compare.md."""
    data, out = Path(data), Path(out)
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    if split == "test":
        raise ValueError("split must not be test: recipes are compared on dev (or val); --test-winner scores the winner")
    if time_budget_s is not None and time_budget_s <= 0:
        raise ValueError(f"time_budget_s must be positive, got {time_budget_s}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    check_variants(variants, recipe)
    if force and resume:
        raise ValueError("force and resume exclude each other: replace OUT, or continue it")
    if out.exists() and any(out.iterdir()) and not (force or resume):
        raise FileExistsError(f"{out} already exists; pass --resume to continue it or --force to replace it")
    out.mkdir(parents=True, exist_ok=True)
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    budget = Budget(time_budget_s, first_estimate_s)
    meta = {"data": str(data.resolve()), "recipe": recipe, "split": split, "seeds": list(seeds), "device": device,
            "baseline": variants[0].name, "command": command, "common": dict(common or {}),
            "variants": {v.name: v.overrides for v in variants}}
    rows: list[dict[str, Any]] = resumable_rows(out, meta) if resume else []
    done = {(r["variant"], r["seed"]) for r in rows}

    def record(row: dict[str, Any]) -> None:
        rows.append(row)
        write_outputs(out, meta, rows, summarise(rows, [v.name for v in variants], list(seeds)), None)

    jobs = [j for j in plan_jobs(variants, list(seeds), data, out, recipe, dict(common or {}), split, device, threads,
                                 resume) if (j.variant, j.seed) not in done]
    skipped = run_jobs(jobs, budget, workers, record, progress)
    meta["skipped_runs"] = [f"{j.variant}/seed{j.seed}" for j in skipped]
    summary = summarise(rows, [v.name for v in variants], list(seeds))
    test = score_winner(rows, summary, data, device, budget) if test_winner else None
    return write_outputs(out, meta, rows, summary, test)


def score_winner(rows: list[dict[str, Any]], summary: list[dict[str, Any]], data: Path, device: str,
                 budget: Budget) -> dict[str, Any] | None:
    """The pre-declared rule picks the winner on dev; then, and only then, its seeds are scored on test."""
    name = winner(summary)
    if name is None:
        return None
    test_rows = []
    for row in (r for r in rows if r["variant"] == name):
        if budget.expired():
            break
        test_rows.append({"variant": name, "seed": row["seed"], "split": "test", "train_seconds": row["train_seconds"],
                          "epoch_seconds": row["epoch_seconds"], "run_dir": row["run_dir"],
                          **score_run(row["run_dir"], data, "test", device)})
    figures = summarise(test_rows, [name], sorted(r["seed"] for r in test_rows)) if test_rows else []
    return {"winner": name, "rule": "highest mean dev balanced accuracy over the variants with every seed done",
            "runs": test_rows, "summary": figures}


__all__ = ["FIGURES", "Variant", "compare", "parse_variant", "score_run"]
