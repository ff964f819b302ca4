"""Two fits of the unfamiliar-image score, paired by seed: the figures a rule for a new fit reads.

Reads the JSON files `bench/bench_ood_blur.py` writes (one per run, both fits measured in each) and
prints a markdown table, per seed and paired over the seeds: the mean share flagged over the readable
untrained conditions (held-out and beyond-range rows the baseline fit's answers read >= 70 % right;
the same rows for both fits), the worst blurred / sharp warning ratio over the readable rows, sharp dev
and test images flagged, the lowest AUROC and the share of digits caught at the threshold, the mean
accuracy over the held-out + beyond-range rows (the fit decides which answers are read with the second
look, so it can move them), and the verification suite's readable share when measured.

    .venv/bin/python bench/compare_ood_fits.py bench/results/camera_views/ood_dev_seed{0,1,2}.json \\
        --baseline familiar-view+mixed-blur-views --candidate camera-views [--out table.md]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_ood_blur import TARGET_ACCURACY  # noqa: E402
from features.atomic import atomic_write_text  # noqa: E402
from train.experiments.paired import paired_difference  # noqa: E402


def _readable(sweep: dict) -> list[int]:
    """Indices of the untrained rows (held-out, beyond) read >= 70 % right in `sweep`."""
    return [i for i, r in enumerate(sweep["conditions"])
            if r["group"] != "trained" and r["accuracy"]["value"] >= TARGET_ACCURACY]


def figures(result: dict, rows: list[int], key: str = "sweep") -> dict[str, float]:
    """One fit's figures on one seed, over the readable rows `rows` chosen by the baseline."""
    sweep = result[key]
    sharp = sweep["sharp"]["warned"]["value"]
    flagged = [sweep["conditions"][i]["warned"]["value"] for i in rows]
    out = {"readable untrained flagged": float(np.mean(flagged)) if flagged else 0.0,
           "worst ratio (readable)": max(flagged, default=0.0) / max(sharp, 1e-9),
           "sharp dev flagged": sharp}
    if key == "sweep":
        untrained = [r for r in sweep["conditions"] if r["group"] != "trained"]
        digits = [s for s in result["ood"]["sets"] if "digit" in s["name"]]
        out.update({"test flagged": result["ood"]["in_distribution"]["flagged"],
                    "lowest AUROC": min(s["auroc"] for s in result["ood"]["sets"]),
                    "digits caught": digits[0]["flagged"] if digits else float("nan"),
                    "accuracy, held-out + beyond": float(np.mean([r["accuracy"]["value"] for r in untrained]))})
    return out


def compare(files: list[Path], baseline: str, candidate: str) -> str:
    results = [json.loads(Path(f).read_text()) for f in files]
    for f, r in zip(files, results):
        missing = [n for n in (baseline, candidate) if n not in r]
        if missing:
            raise ValueError(f"{f} has no fit named {missing}; it has {sorted(k for k in r if isinstance(r[k], dict) and 'sweep' in r[k])}")
    per_seed: list[tuple[dict, dict]] = []
    for r in results:
        base, cand = r[baseline], r[candidate]
        rows = _readable(base["sweep"])
        a, b = figures(base, rows), figures(cand, rows)
        if "verification" in base and "verification" in cand:
            vrows = _readable(base["verification"])
            a["verification: readable untrained flagged"] = figures(base, vrows, "verification")["readable untrained flagged"]
            b["verification: readable untrained flagged"] = figures(cand, vrows, "verification")["readable untrained flagged"]
        per_seed.append((a, b))
    lines = [f"| {len(files)} seeds, dev | {baseline} (per seed) | {candidate} (per seed) | paired difference, 95 % t |",
             "|---|---|---|---|"]
    for name in per_seed[0][0]:
        scale = 1 if name.startswith(("worst", "lowest")) else 100
        xs = [a[name] * scale for a, _ in per_seed]
        ys = [b[name] * scale for _, b in per_seed]
        fmt = "{:.2f}" if scale == 1 and name.startswith("worst") else ("{:.4f}" if scale == 1 else "{:.1f}")
        d = paired_difference(dict(enumerate(ys)), dict(enumerate(xs))) if len(xs) > 1 else None
        diff = "" if d is None else f"{fmt.format(d['mean'])} [{fmt.format(d['low'])}, {fmt.format(d['high'])}]"
        lines.append(f"| {name}{'' if scale == 1 else ' (%)'} | {' / '.join(fmt.format(x) for x in xs)} | "
                     f"{' / '.join(fmt.format(y) for y in ys)} | {diff} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="bench_ood_blur.py JSON files, one per seed")
    parser.add_argument("--baseline", required=True, help="fit name in the files (e.g. shipped)")
    parser.add_argument("--candidate", required=True, help="fit name in the files")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        parser.error(f"no such file: {', '.join(missing)}")
    try:
        text = compare(args.files, args.baseline, args.candidate)
    except ValueError as error:
        parser.error(str(error))
    print(text)
    if args.out:
        atomic_write_text(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
