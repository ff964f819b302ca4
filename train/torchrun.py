"""The entry point several processes start: `torchrun --nproc_per_node=N -m train.torchrun --data DIR --out RUN`.

It takes the same options as `blurfuse train` (the parser lives in `train.cli`). It is its own module
because `train.cli` imports `train.fit`, so a `__main__` block in `train.fit` importing the parser
back would tie the two into an import circle.
"""

from __future__ import annotations

import logging

from train.cli import config_from_args, get_args_parser
from train.fit import train_model

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    train_model(config_from_args(get_args_parser().parse_args()))
