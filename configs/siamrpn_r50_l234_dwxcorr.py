"""SiamRPN++ ResNet-50, layers 2/3/4, weighted MultiRPN: pysot's released VOT model.

Convert the released weights and track with them:

    siamjax convert --pysot model.pth --config configs/siamrpn_r50_l234_dwxcorr.py \
        --out checkpoints/siamrpn_r50_l234_dwxcorr

Reference results (pysot MODEL_ZOO, docs/parity.md §11.1): VOT2018 EAO 0.415 / A 0.601 / R 0.234.
"""

from siamjax.config_defaults import base_config, r50_l234_model


def get_config():
    config = base_config()
    config.name = "siamrpn_r50_l234_dwxcorr"
    r50_l234_model(config, neck_channels=(256, 256, 256), weighted=True)
    config.track.penalty_k = 0.05
    config.track.window_influence = 0.42
    config.track.lr = 0.38
    return config
