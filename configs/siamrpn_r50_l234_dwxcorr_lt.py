"""SiamRPN++ ResNet-50 long-term (VOT2018-LT): neck 128/256/512, 831 search when lost.

    siamjax convert --pysot model.pth --config configs/siamrpn_r50_l234_dwxcorr_lt.py \
        --out checkpoints/siamrpn_r50_l234_dwxcorr_lt

Reference results (pysot MODEL_ZOO): VOT2018-LT F-score 0.629.
"""

from siamjax.config_defaults import base_config, r50_l234_model


def get_config():
    config = base_config()
    config.name = "siamrpn_r50_l234_dwxcorr_lt"
    r50_l234_model(config, neck_channels=(128, 256, 512), weighted=True)
    config.track.type = "siamrpn_lt"
    config.track.penalty_k = 0.05
    config.track.window_influence = 0.28
    config.track.lr = 0.22
    config.track.confidence_low = 0.8
    config.track.confidence_high = 0.998
    config.track.lost_instance_size = 831
    return config
