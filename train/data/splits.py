"""The splits of a dataset directory and the defaults of the dev split, in one light module.

Kept free of numpy/OpenCV so a CLI can offer `--split` choices without importing the readers.

- train: what the model is fitted on (the long-tail draw minus validation);
- val: a stratified share of the same draw, for model selection and temperature fitting;
- test: the source's test set (or a held-out share), scored once per finished recipe;
- dev: a balanced sample of the training-pool images the long tail did not take, blurred by the
  same rule with its own seed, never trained on; recipes are compared on it, so the test split
  never chooses anything.
"""

from __future__ import annotations

SPLITS: tuple[str, ...] = ("train", "val", "test", "dev")
DEV_PER_CLASS = 300  # images per class of the dev split (fewer when the left-over pool is smaller)
DEV_SEED = 3         # which left-over images the dev split draws
DEV_BLUR_SEED = 4    # which dev images are blurred, and how
