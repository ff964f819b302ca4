"""`blurfuse data`: build a long-tailed, partly blurred dataset directory."""

from __future__ import annotations

import argparse

from features.arg_types import absolute_path
from train.data.blurtask import DEFAULT_TILE_SIZE, detect_blur_task

from train.data.splits import DEV_BLUR_SEED, DEV_PER_CLASS, DEV_SEED

DESCRIPTION = """\
Skew a public dataset to a long tail, blur an exact share (at least 30 %) of every class, and
write PNGs by split and class, manifest.csv and a data card with plots. The default is the
FMNIST-LT-Blur v1 benchmark. Every profile is checked against the long-tail rule: frequent
classes hold 80-90 % of the images and at least one class holds under 3 %.
"""

EPILOG = """\
examples:
  blurfuse data --out data/fmnist-lt-blur-v1                     FMNIST-LT-Blur v1 (the benchmark, default)
  blurfuse data --dataset cifar10 --data-root ~/cifar --out data/cifar-lt --imbalance-ratio 100
  blurfuse data --dataset folder --folder photos/ --out data/photos --image-size 64

  Blurred-vs-clear (a folder holding Blurred/ and Undistorted/, any case; or --blur-task): the
  classes ARE the blur truth. Recognised from the folder names, it keeps every image, adds no
  synthetic blur, fits the blur threshold on the classes, and keeps each photo's central
  --image-size square (default 128) at its own resolution instead of shrinking the photo:
  blurfuse data --dataset folder --folder DIR --out OUT
  blurfuse train --data OUT --out RUN --recipe blur-task

Fashion-MNIST is looked for in --data-root, then /usr/share/datasets/fashion-mnist (Debian:
apt-get install dataset-fashion-mnist), then downloaded by torchvision only with --download.
"""


def _counts(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _kinds(text: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in text.split(",") if k.strip())


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data",
        help="build a long-tailed, blurred dataset dir (PNG + manifest + data card)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_argument_group("source")
    source.add_argument("--dataset", choices=["fashion-mnist", "cifar10", "folder"], default="fashion-mnist")
    source.add_argument("--folder", type=absolute_path, help="image folder with one subfolder per class, optionally under train/ and test/ (--dataset folder)")
    source.add_argument("--data-root", type=absolute_path, help="where the source files are (Fashion-MNIST IDX files, cifar-10-batches-py/)")
    source.add_argument("--download", action="store_true", help="download the source with torchvision if not found (needs internet)")
    source.add_argument("--image-size", type=int, default=None, help="square size folder images are resized to (default 64; Fashion-MNIST and CIFAR keep 28 / 32); "
                        "for a blur task the side of the native-resolution centre square (default 128)")
    source.add_argument("--blur-task", action="store_true", help="the two classes are blurred and sharp (recognised without this flag for "
                        "Blurred/ + Undistorted/ folders): class = blur truth, no synthetic blur, native-resolution squares")
    source.add_argument("--test-fraction", type=float, default=0.2, help="stratified test share for folders without train/ and test/ (default 0.2)")
    tail = parser.add_argument_group("long tail")
    tail.add_argument(
        "--profile", choices=["v1", "exponential", "natural", "explicit"], default=None,
        help="v1: FMNIST-LT-Blur v1 (5000/800/100); exponential: --imbalance-ratio; natural: keep all; "
        "explicit: --counts. Default: v1 for fashion-mnist, exponential for the others, or whatever "
        "--imbalance-ratio / --counts imply",
    )
    tail.add_argument("--imbalance-ratio", type=float, help="largest / smallest class of the exponential profile (default 100)")
    tail.add_argument("--max-per-class", type=int, help="size of the largest class of the exponential profile (default: all it has)")
    tail.add_argument("--counts", type=_counts, help="explicit per-class counts, comma-separated, in class order")
    tail.add_argument("--val-fraction", type=float, default=0.1, help="stratified validation share of the skewed set (default 0.1)")
    tail.add_argument("--seed", type=int, default=0, help="seed of the long-tail draw and the validation/test split (default 0)")
    dev = parser.add_argument_group("dev split (balanced, from the pool images the long tail left over; never trained on)")
    dev.add_argument("--dev-per-class", type=int, default=DEV_PER_CLASS,
                     help=f"dev images per class, fewer where less is left over; 0 = no dev split (default {DEV_PER_CLASS})")
    dev.add_argument("--dev-seed", type=int, default=DEV_SEED, help=f"seed of the dev draw (default {DEV_SEED})")
    dev.add_argument("--dev-blur-seed", type=int, default=DEV_BLUR_SEED, help=f"blur seed of dev (default {DEV_BLUR_SEED})")
    blur = parser.add_argument_group("blur")
    blur.add_argument("--blur-fraction", type=float, default=None, help="exact share of every class to blur (default 0.4, at least 0.3; 0 for a blur task)")
    blur.add_argument("--blur-kinds", type=_kinds, default=None, help="comma-separated subset of gaussian,motion,defocus (default all)")
    blur.add_argument("--blur-seed", type=int, default=1, help="blur seed of train and validation (default 1)")
    blur.add_argument("--test-blur-seed", type=int, default=2, help="blur seed of test (default 2)")
    out = parser.add_argument_group("output")
    out.add_argument("--out", type=absolute_path, required=True, help="dataset directory to write")
    out.add_argument("--force", action="store_true", help="replace an existing output directory (once the new one is complete)")
    out.add_argument("--allow-rule-break", action="store_true", help="build even if the long-tail or 30 %% blur rule is broken (written in the card)")
    out.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def _profile(args: argparse.Namespace, available: list[int]):
    from train.data.longtail import exponential_profile, explicit_profile, fmnist_lt_v1, natural_profile

    name = args.profile
    if name is None:
        if args.counts:
            name = "explicit"
        elif args.imbalance_ratio is not None or args.max_per_class is not None:
            name = "exponential"
        else:
            name = "v1" if args.dataset == "fashion-mnist" else "exponential"
    if args.counts and name != "explicit":
        raise ValueError(f"--counts goes with --profile explicit, not --profile {name}")
    if (args.imbalance_ratio is not None or args.max_per_class is not None) and name != "exponential":
        raise ValueError(f"--imbalance-ratio / --max-per-class go with --profile exponential, not --profile {name}")
    if name == "v1":
        if args.dataset != "fashion-mnist":
            raise ValueError("--profile v1 is the Fashion-MNIST benchmark profile; use exponential, natural or explicit")
        return fmnist_lt_v1()
    if name == "exponential":
        ratio = 100.0 if args.imbalance_ratio is None else args.imbalance_ratio
        return exponential_profile(available, ratio, args.max_per_class)
    if name == "explicit":
        if not args.counts:
            raise ValueError("--profile explicit needs --counts N,N,... (one per class)")
        return explicit_profile(args.counts, available)
    return natural_profile(available)


def _options(args: argparse.Namespace, task: dict | None = None):
    """Every flag but the profile (which needs the source's counts), validated before anything is read."""
    from train.data.blurring import BlurOptions
    from train.data.build import BuildOptions

    fraction = (0.0 if task else 0.4) if args.blur_fraction is None else args.blur_fraction
    if task and fraction > 0:
        raise ValueError("--blur-fraction must be 0 for a blur task: the classes are the blur truth, and blurring an "
                         "Undistorted image would make its label false")
    blur = BlurOptions(fraction=fraction, **({"kinds": args.blur_kinds} if args.blur_kinds is not None else {}))
    options = BuildOptions(
        blur=blur, val_fraction=args.val_fraction, test_fraction=args.test_fraction, dev_per_class=args.dev_per_class,
        seed=args.seed, blur_seed=args.blur_seed, test_blur_seed=args.test_blur_seed, dev_seed=args.dev_seed,
        dev_blur_seed=args.dev_blur_seed, allow_rule_break=args.allow_rule_break, blur_task=task,
    )
    options.check()
    return options


def _source(args: argparse.Namespace, task: dict | None = None):
    from train.data.sources import load_cifar10, load_fashion_mnist, load_image_folder

    if args.dataset == "fashion-mnist":
        return load_fashion_mnist(args.data_root, args.download)
    if args.dataset == "cifar10":
        return load_cifar10(args.data_root, args.download)
    if args.folder is None:
        raise ValueError("--dataset folder needs --folder PATH")
    size = args.image_size or (DEFAULT_TILE_SIZE if task else 64)
    return load_image_folder(args.folder, size, not args.no_progress, crop=bool(task))


def _folder_blur_task(args: argparse.Namespace) -> dict | None:
    """The blur task of a folder source, known from its class folder names before any image is read."""
    if args.dataset != "folder":
        return None
    if args.folder is None:
        raise ValueError("--dataset folder needs --folder PATH")
    from train.data.sources import folder_class_names

    return detect_blur_task(folder_class_names(args.folder), explicit=args.blur_task)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from train.data.build import build_dataset, pool_counts

    if args.out.exists() and not args.force:
        raise FileExistsError(f"{args.out} already exists; pass --force to replace it")
    if args.folder is not None and args.dataset != "folder":
        raise ValueError("--folder goes with --dataset folder")
    task = _folder_blur_task(args)
    options = _options(args, task)
    source = _source(args, task)
    if args.blur_task and not task:  # a non-folder source asked to be a blur task: its classes must say so
        task = detect_blur_task(source.class_names, explicit=True)
        options = dataclasses.replace(options, blur_task=task)
        options.check()
    # A blur task keeps every image (natural profile) unless a profile is asked for.
    profile = None if task and not args.profile else _profile(args, pool_counts(source, args.test_fraction, args.seed))
    dataset = build_dataset(source, args.out, dataclasses.replace(options, profile=profile), force=args.force,
                            progress=not args.no_progress)
    _summary(dataset)
    return 0


def _summary(dataset) -> None:
    card = dataset.card
    print(f"wrote {dataset.root} ({card['dataset']}, profile {card['profile']}, {card['image_size']} px)")
    if card.get("blur_task"):
        task = card["blur_task"]
        print(f"blur task: the class is the truth ({task['blurred_class']} = blurred, {task['sharp_class']} = sharp); {task['images']}")
    for i, name in enumerate(dataset.class_names):
        print(
            f"  {name:<14} {card['groups'][name]:<9} train {card['counts_after']['train'][i]:>6}  val {card['counts_after']['val'][i]:>5}"
            f"  test {card['counts_after']['test'][i]:>5}  dev {card['counts_after']['dev'][i]:>4}  share {100 * card['shares'][i]:6.2f} %"
            f"  blurred {100 * card['blurred_share']['train'][i]:3.0f} %"
        )
    rule = "followed" if card["rule_followed"] else "BROKEN (allowed): " + "; ".join(card["rule_problems"] or ["blur share under 30 %"])
    print(f"frequent share {100 * card['frequent_share']:.1f} %, smallest class {100 * card['smallest_share']:.2f} %; rule {rule}")
    fitted, default = card["blur_detection"]["fitted"], card["blur_detection"]["default"]
    how = "fitted on train" if card["blur_threshold_fitted"] else "default (nothing to fit: train is all sharp or all blurred)"
    print(
        f"blur threshold {fitted['threshold']:.1f} {how}: train accuracy {100 * fitted['accuracy']:.1f} % "
        f"(fixed threshold {default['threshold']:.0f}: {100 * default['accuracy']:.1f} %)"
    )
    if card["skipped_files"]:
        print(f"skipped {len(card['skipped_files'])} unreadable or non-image files (listed in card.md)")
