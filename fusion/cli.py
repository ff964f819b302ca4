"""Subcommands owned by the fusion package: `blurfuse predict`.

torch/timm are imported inside the handler so `blurfuse --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="classify images with a trained model",
        description="Predict the class of each IMAGE with the checkpoint in --model, with the blur verdict "
        "(Laplacian variance vs the model's threshold), the learned blur probability and the edge-map path. "
        "An unreadable image gets an error line; the others are still predicted (exit status 1).",
    )
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    parser.add_argument("--model", required=True, type=Path, metavar="RUN", help="run dir holding model.safetensors + model.json")
    parser.add_argument("--json", action="store_true", help="print one JSON list instead of a table")
    parser.add_argument("--top-k", type=int, default=1, metavar="K", help="also list the K most likely classes (default: %(default)s)")
    parser.add_argument("--edges-out", type=Path, default=None, metavar="DIR", help="write each edge map as DIR/<name>_edges.png")
    parser.add_argument("--explain", type=Path, default=None, metavar="DIR", help="write a Grad-CAM overlay as DIR/<name>_gradcam.png")
    parser.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default: %(default)s)")
    parser.set_defaults(func=run_predict)


def _unique_stems(paths: list[Path]) -> list[str]:
    """Output names per input; same-named files from different folders get a numeric suffix."""
    seen: dict[str, int] = {}
    stems = []
    for path in paths:
        stem = path.stem or "image"
        seen[stem] = seen.get(stem, 0) + 1
        stems.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return stems


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def run_predict(args: argparse.Namespace) -> int:
    from features.atomic import atomic_write_bytes
    from features.image import load_image
    from fusion.gradcam import overlay
    from features.png import encode_png
    from fusion.predictor import Predictor

    if args.top_k < 1:
        raise ValueError(f"--top-k must be at least 1, got {args.top_k}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    predictor = Predictor.from_checkpoint(args.model, top_k=args.top_k)

    images, loaded, errors = [], [], {}
    for index, path in enumerate(args.images):
        try:
            images.append(load_image(path))
            loaded.append(index)
        except (ValueError, OSError) as error:
            errors[index] = str(error) or type(error).__name__
            print(f"blurfuse predict: error: {path}: {errors[index]}", file=sys.stderr)
    predictions = dict(zip(loaded, predictor.predict_batch(images, batch_size=args.batch_size))) if images else {}

    stems = _unique_stems(list(args.images))
    written: dict[int, dict[str, str]] = {i: {} for i in loaded}
    for slot, index in enumerate(loaded):
        if args.edges_out is not None:
            out = args.edges_out / f"{stems[index]}_edges.png"
            atomic_write_bytes(out, encode_png(predictions[index].edge_map))
            written[index]["edges"] = str(out)
        if args.explain is not None:
            heat = predictor.explain(images[slot])
            picture = overlay(images[slot], heat)
            out = args.explain / f"{stems[index]}_gradcam.png"
            atomic_write_bytes(out, encode_png(picture))
            written[index]["gradcam"] = str(out)

    if args.json:
        items = []
        for index, path in enumerate(args.images):
            if index in errors:
                items.append({"file": str(path), "error": errors[index]})
            else:
                item = {"file": str(path), **predictions[index].to_dict()}
                item.update({f"{k}_png": v for k, v in written[index].items()})
                items.append(item)
        print(json.dumps(items, indent=2))
    else:
        header = ["file", "class", "prob", "blur", "lap.var vs thr", "learned blur", "edges"]
        if args.top_k > 1:
            header.append(f"top-{args.top_k}")
        rows = []
        for index, path in enumerate(args.images):
            if index in errors:
                rows.append([str(path), "ERROR", "", "", "", "", ""] + ([""] if args.top_k > 1 else []))
                continue
            p = predictions[index]
            sign = "<" if p.blurred else ">="
            row = [
                str(path),
                p.class_name,
                f"{p.probability:.3f}",
                "blurred" if p.blurred else "sharp",
                f"{p.laplacian_var:.1f} {sign} {p.blur_threshold:.1f}",
                "-" if p.blur_probability is None else f"{p.blur_probability:.3f}",
                p.edge_path,
            ]
            if args.top_k > 1:
                row.append(", ".join(f"{n} {q:.2f}" for n, q in p.top_k))
            rows.append(row)
        print(_table(rows, header))
    return 1 if errors else 0
