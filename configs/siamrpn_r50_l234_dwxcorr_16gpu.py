"""Training recipe of pysot's ``siamrpn_r50_l234_dwxcorr_16gpu``: 16 GPUs × 24 pairs.

Global batch 384, BatchNorm / loss groups of 24, 1562 iterations per epoch; otherwise
as ``siamrpn_r50_l234_dwxcorr_8gpu``.
"""

from siamjax.config_defaults import train_config
from siamjax.config_loader import sibling_config


def recipe_8gpu():
    return sibling_config(__file__, "siamrpn_r50_l234_dwxcorr_8gpu.py")


def get_config():
    config = recipe_8gpu()
    config.name = "siamrpn_r50_l234_dwxcorr_16gpu"
    config.train = train_config(gpus=16, per_gpu_batch=24)
    return config
