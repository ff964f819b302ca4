"""How right is the model on blurred images its unfamiliar-image warning flags? Over every untrained
row of the three blur suites that the model reads >= 70 % right: the share of flagged images it still
classifies right, and how many of them the blur verdict calls blurred.

Why: the warning also fires on blur the model never trained on, and the page's wording for a flagged
image should say what such an answer is worth, by measurement, not by assumption (web/wording.py).

    .venv/bin/python bench/bench_flagged_blur.py --model runs/default --data data/fmnist-lt-blur-v1 --n 300 --out flagged.json
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.blur_families import SUITES  # noqa: E402
from bench.held_out_args import blur_bench_parser, parse_checked  # noqa: E402
from features.atomic import atomic_write_json  # noqa: E402

READABLE = 0.70


def main(argv: list[str] | None = None) -> int:
    parser = blur_bench_parser(__doc__.splitlines()[0], "JSON file for the figures")
    parser.add_argument("--split", default="dev")
    args = parse_checked(parser, argv)

    from analysis.held_out_blur import held_out_sweep
    from fusion.predictor import Predictor
    from train.data.dataset_dir import read_dataset

    predictor = Predictor.from_checkpoint(args.model, device=args.device)
    if not predictor.config.ood.get("method"):
        parser.error(f"--model {args.model} has no unfamiliar-image score")
    dataset = read_dataset(args.data)
    rows = []
    for suite in SUITES:  # the report's own sweep: same images, same draws, the warned answers counted there
        for condition in held_out_sweep(predictor, dataset, args.split, args.n, progress=False, suite=suite)["conditions"]:
            if condition["group"] == "trained":
                continue
            rows.append({"suite": suite, "family": condition["family"], "label": condition["label"],
                         "accuracy": condition["accuracy"]["value"], "flagged": condition["n_warned"],
                         "right_when_flagged": condition["right_when_warned"],
                         "flagged_and_judged_blurred": condition["warned_and_judged_blurred"]})
            r = rows[-1]
            print(f"{suite:<13}{r['family']} {r['label']}: accuracy {r['accuracy']:.2f}, flagged {r['flagged']}, "
                  f"right when flagged {r['right_when_flagged']}")
    readable = [r for r in rows if r["accuracy"] >= READABLE]
    flagged = sum(r["flagged"] for r in readable)
    summary = {"readable_rows": len(readable), "flagged": flagged,
               "right_when_flagged": sum(r["right_when_flagged"] for r in readable) / max(flagged, 1),
               "judged_blurred_when_flagged": sum(r["flagged_and_judged_blurred"] for r in readable) / max(flagged, 1)}
    print(f"rows read >= {READABLE:.0%} right: {flagged} flagged images, {summary['right_when_flagged']:.1%} of them "
          f"classified right, {summary['judged_blurred_when_flagged']:.1%} judged blurred")
    atomic_write_json(args.out, {"model": str(args.model), "split": args.split, "n": args.n, "rows": rows, "summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
