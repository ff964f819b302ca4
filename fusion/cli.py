"""Subcommands owned by the fusion package: `blurfuse predict`.

torch/timm are imported inside the handler so `blurfuse --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="classify images with a trained model",
        description="Predict the class of each IMAGE with the checkpoint in --model, with the blur verdict "
        "(Laplacian variance vs the model's threshold), the learned blur probability and the edge-map path. "
        "An unreadable image gets an error row saying why; the others are still predicted (exit status 1).",
    )
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE",
                        help="image files (PNG, JPEG, ...) or folders (each stands for the images directly in it)")
    parser.add_argument("--model", required=True, type=Path, metavar="RUN", help="run dir holding model.safetensors + model.json")
    parser.add_argument("--json", action="store_true", help="print one JSON list instead of a table")
    parser.add_argument("--top-k", type=int, default=1, metavar="K", help="also list the K most likely classes (default: %(default)s)")
    parser.add_argument("--edges-out", type=Path, default=None, metavar="DIR", help="write each edge map as DIR/<name>_edges.png")
    parser.add_argument("--explain", type=Path, default=None, metavar="DIR", help="write a Grad-CAM overlay as DIR/<name>_gradcam.png")
    parser.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=None,
                        help="threads reading and preparing the next batches while the model runs; 0 prepares them "
                        "inline (default: cores - 2, or 0 on 2 cores or fewer)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
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
    """Load every input, predict the readable ones in batches, write the optional pictures, print.

    An unreadable input does not stop the others: its row says what went wrong and the exit
    status is 1. Bad arguments (and a folder without images) stop before the model loads: exit 2.
    """
    from fusion.predict_stream import predict_stream
    from fusion.predictor import Predictor

    _check_args(args)
    paths = expand_inputs(args.images)
    predictor = Predictor.from_checkpoint(args.model, top_k=args.top_k)
    written: dict[int, dict[str, str]] = {}
    stems = _unique_stems(paths)

    def write_pictures(indices: list[int], arrays: list[np.ndarray], predictions: list) -> None:
        for index, image, prediction in zip(indices, arrays, predictions):
            written[index] = _write_pictures(args, predictor, stems[index], image, prediction)

    stream = predict_stream(predictor, paths, batch_size=args.batch_size, workers=args.workers,
                            progress=not args.no_progress and len(paths) > args.batch_size, on_batch=write_pictures)
    predictions, errors = stream.predictions, stream.errors
    for index in sorted(errors):
        print(f"blurfuse predict: error: {paths[index]}: {errors[index]}", file=sys.stderr)
    if args.json:
        print(json.dumps(_json_items(paths, predictions, errors, written), indent=2))
    else:
        print(_table(*_table_rows(paths, predictions, errors, args.top_k)))
        _notes(paths, predictions, errors)
    print(f"{len(predictions)} images predicted in {stream.seconds:.1f} s ({stream.images_per_second:.0f} images/s)"
          + (f", {len(errors)} unreadable" if errors else ""), file=sys.stderr)
    return 1 if errors else 0


def _check_args(args: argparse.Namespace) -> None:
    if args.top_k < 1:
        raise ValueError(f"--top-k must be at least 1, got {args.top_k}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.workers is not None and args.workers < 0:
        raise ValueError(f"--workers must be 0 or more, got {args.workers}")


def expand_inputs(paths: list[Path]) -> list[Path]:
    """Each folder replaced by the images directly in it (sorted by name, known image suffixes).

    A folder without images is a mistake worth stopping for (a wrong path, a nested layout), not
    a silent empty answer.
    """
    from features.image import IMAGE_SUFFIXES

    expanded: list[Path] = []
    for path in paths:
        if not path.is_dir():
            expanded.append(path)
            continue
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise ValueError(f"IMAGE: folder {path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        expanded += found
    return expanded


def _write_pictures(args: argparse.Namespace, predictor, stem: str, image: np.ndarray, prediction) -> dict[str, str]:
    """--edges-out and --explain files of one predicted input: {"edges"|"gradcam": path}."""
    from features.atomic import atomic_write_bytes
    from features.png import encode_png
    from fusion.gradcam import overlay

    written = {}
    if args.edges_out is not None:
        out = args.edges_out / f"{stem}_edges.png"
        atomic_write_bytes(out, encode_png(prediction.edge_map))
        written["edges"] = str(out)
    if args.explain is not None:
        out = args.explain / f"{stem}_gradcam.png"
        atomic_write_bytes(out, encode_png(overlay(image, predictor.explain(image))))
        written["gradcam"] = str(out)
    return written


def _json_items(paths: list[Path], predictions: dict, errors: dict[int, str],
                written: dict[int, dict[str, str]]) -> list[dict]:
    items = []
    for index, path in enumerate(paths):
        if index in errors:
            items.append({"file": str(path), "error": errors[index]})
        else:
            item = {"file": str(path), **predictions[index].to_dict()}
            item.update({f"{k}_png": v for k, v in written.get(index, {}).items()})
            items.append(item)
    return items


def _table_rows(paths: list[Path], predictions: dict, errors: dict[int, str],
                top_k: int) -> tuple[list[list[str]], list[str]]:
    """(rows, header) of the text table; an error row carries the reason in the class column."""
    header = ["file", "class", "prob", "familiar", "blur", "lap.var vs thr", "learned blur", "edges"]
    if top_k > 1:
        header.append(f"top-{top_k}")
    rows = []
    for index, path in enumerate(paths):
        if index in errors:
            rows.append([str(path), f"ERROR: {errors[index]}"] + [""] * (len(header) - 2))
            continue
        p = predictions[index]
        row = [
            str(path),
            p.class_name,
            f"{p.probability:.3f}",
            _familiar(p),
            "blurred" if p.blurred else "sharp",
            f"{p.laplacian_var:.1f} {'<' if p.blurred else '>='} {p.blur_threshold:.1f}",
            "-" if p.blur_probability is None else f"{p.blur_probability:.3f}",
            p.edge_path,
        ]
        if top_k > 1:
            row.append(", ".join(f"{n} {q:.2f}" for n, q in p.top_k))
        rows.append(row)
    return rows, header


def _familiar(p) -> str:
    """'yes' / 'NO (unfamiliar)' / '-' when the model has no fitted out-of-distribution threshold."""
    if p.in_distribution is None:
        return "-"
    return "yes" if p.in_distribution else "NO (unfamiliar)"


def _notes(paths, predictions, errors) -> None:
    """Below the table: the warnings a row has no room for (unfamiliar image, blur verdicts that disagree)."""
    first = next(iter(predictions.values()), None)
    if first is not None and first.blur_threshold_note:
        print(f"blur {first.blur_threshold_note}")
    for index, path in enumerate(paths):
        if index in errors:
            continue
        p = predictions[index]
        if p.in_distribution is False:
            print(f"WARNING {path}: unlike the training images (OOD score {p.ood_score:.4g} > threshold "
                  f"{p.ood_threshold:.4g}); '{p.class_name}' is only the closest known class")
        if p.read_from != "image":
            print(f"note {path}: unfamiliar as it is but familiar low-passed; the answer uses the low-passed reading")
        if p.blur_disagreement:
            print(f"note {path}: {p.blur_disagreement['explanation']}")
