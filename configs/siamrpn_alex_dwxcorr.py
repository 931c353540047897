"""SiamRPN++ AlexNet (legacy layout), one DepthwiseRPN, 287 search: pysot's released VOT model.

    siamjax convert --pysot model.pth --config configs/siamrpn_alex_dwxcorr.py \
        --out checkpoints/siamrpn_alex_dwxcorr

Reference results (pysot MODEL_ZOO): VOT2018 EAO 0.352 / A 0.576 / R 0.290.
"""

from siamjax.config_defaults import alex_model, base_config


def get_config():
    config = base_config()
    config.name = "siamrpn_alex_dwxcorr"
    alex_model(config, legacy=True)
    config.track.penalty_k = 0.16
    config.track.window_influence = 0.40
    config.track.lr = 0.30
    config.track.instance_size = 287
    config.track.base_size = 0
    return config
