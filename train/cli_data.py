"""`blurfuse data`: build a long-tailed, partly blurred dataset directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from features import BLUR_KINDS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data",
        help="build a long-tailed, blurred dataset dir (PNG + manifest + data card)",
        description="Skew a public dataset to a long tail, blur at least 30 %% of every class, and write "
        "PNGs by split and class, manifest.csv and a data card with plots. The default is the "
        "FMNIST-LT-Blur v1 benchmark. The two-class blurred-vs-clear use case (a folder with Blurred/ and "
        "Undistorted/) is built with: blurfuse data --dataset folder --folder DIR --profile natural "
        "--blur-fraction 0 --allow-rule-break --out OUT",
    )
    parser.add_argument("--dataset", choices=["fashion-mnist", "cifar10", "folder"], default="fashion-mnist")
    parser.add_argument("--folder", type=Path, help="image folder with one subfolder per class (--dataset folder)")
    parser.add_argument("--out", type=Path, required=True, help="dataset directory to write")
    parser.add_argument("--data-root", type=Path, help="where the source files are (IDX files, cifar-10-batches-py)")
    parser.add_argument("--download", action="store_true", help="download the source with torchvision (needs internet)")
    parser.add_argument(
        "--profile", choices=["v1", "exponential", "natural", "explicit"], default=None,
        help="long-tail profile (default: v1 for fashion-mnist, exponential otherwise)",
    )
    parser.add_argument("--imbalance-ratio", type=float, default=100.0, help="largest/smallest class (exponential)")
    parser.add_argument("--max-per-class", type=int, help="size of the largest class (exponential)")
    parser.add_argument("--counts", type=lambda s: [int(x) for x in s.split(",")], help="explicit per-class counts, comma-separated")
    parser.add_argument("--blur-fraction", type=float, default=0.4, help="share of every class to blur (default 0.4)")
    parser.add_argument("--blur-kinds", type=lambda s: tuple(s.split(",")), default=BLUR_KINDS, help="comma-separated subset of gaussian,motion,defocus")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--test-fraction", type=float, default=0.2, help="test share for folders without train/ and test/")
    parser.add_argument("--image-size", type=int, default=64, help="square size images of a folder are resized to")
    parser.add_argument("--seed", type=int, default=0, help="selection and validation split seed")
    parser.add_argument("--blur-seed", type=int, default=1, help="blur seed of train and validation")
    parser.add_argument("--test-blur-seed", type=int, default=2, help="blur seed of test")
    parser.add_argument("--allow-rule-break", action="store_true", help="build even if the long-tail or blur rule is broken")
    parser.add_argument("--force", action="store_true", help="replace an existing output directory")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from train.blurring import BlurOptions
    from train.build import build_dataset
    from train.longtail import exponential_profile, explicit_profile, fmnist_lt_v1, natural_profile
    from train.sources import load_cifar10, load_fashion_mnist, load_image_folder

    if args.out.exists() and not args.force:
        raise FileExistsError(f"{args.out} already exists; pass --force to replace it")
    if args.dataset == "fashion-mnist":
        source = load_fashion_mnist(args.data_root, args.download)
    elif args.dataset == "cifar10":
        source = load_cifar10(args.data_root, args.download)
    else:
        if args.folder is None:
            raise ValueError("--dataset folder needs --folder PATH")
        source = load_image_folder(args.folder, args.image_size, args.test_fraction, args.seed, not args.no_progress)

    available = [int((source.train_labels == c).sum()) for c in range(len(source.class_names))]
    profile_name = args.profile or ("v1" if args.dataset == "fashion-mnist" else "exponential")
    if profile_name == "v1":
        if args.dataset != "fashion-mnist":
            raise ValueError("--profile v1 is the Fashion-MNIST benchmark profile; use exponential, natural or explicit")
        profile = fmnist_lt_v1()
    elif profile_name == "exponential":
        profile = exponential_profile(available, args.imbalance_ratio, args.max_per_class)
    elif profile_name == "explicit":
        if not args.counts:
            raise ValueError("--profile explicit needs --counts N,N,...")
        profile = explicit_profile(args.counts, available)
    else:
        profile = natural_profile(available)

    dataset = build_dataset(
        source, args.out, profile,
        BlurOptions(fraction=args.blur_fraction, kinds=tuple(args.blur_kinds)),
        val_fraction=args.val_fraction, seed=args.seed, blur_seed=args.blur_seed, test_blur_seed=args.test_blur_seed,
        force=args.force, allow_rule_break=args.allow_rule_break, progress=not args.no_progress,
    )
    card = dataset.card
    print(f"wrote {dataset.root} ({card['dataset']}, profile {card['profile']})")
    for i, name in enumerate(dataset.class_names):
        print(
            f"  {name:<14} {card['groups'][name]:<9} train {card['counts_after']['train'][i]:>6}  val {card['counts_after']['val'][i]:>5}"
            f"  test {card['counts_after']['test'][i]:>5}  share {100 * card['shares'][i]:6.2f} %"
        )
    fitted = card["blur_detection"]["fitted"]
    print(f"frequent share {100 * card['frequent_share']:.1f} %; blur threshold fitted on train {fitted['threshold']:.1f} "
          f"(accuracy {100 * fitted['accuracy']:.1f} %)")
    if card["skipped_files"]:
        print(f"skipped {len(card['skipped_files'])} unreadable files (listed in card.md)")
    return 0
