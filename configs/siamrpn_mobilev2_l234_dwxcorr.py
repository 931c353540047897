"""SiamRPN++ MobileNetV2 x1.4, layers 3/5/7, unweighted MultiRPN: pysot's released model.

    siamjax convert --pysot model.pth --config configs/siamrpn_mobilev2_l234_dwxcorr.py \
        --out checkpoints/siamrpn_mobilev2_l234_dwxcorr

Reference results (pysot MODEL_ZOO): VOT2018 EAO 0.410 / A 0.586 / R 0.229.
"""

from siamjax.config_defaults import base_config, mobilev2_model


def get_config():
    config = base_config()
    config.name = "siamrpn_mobilev2_l234_dwxcorr"
    mobilev2_model(config)
    config.track.penalty_k = 0.04
    config.track.window_influence = 0.4
    config.track.lr = 0.5
    return config
