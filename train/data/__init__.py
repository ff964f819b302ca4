"""Stage one of `train/`: building datasets (sources, long-tail profile, blurring, dataset dir I/O, data CLI).

Nothing here imports torch: `analysis`, `web` and the training loop read a dataset directory
through `train.data.dataset_dir.read_dataset` without pulling in the training stage.
"""
