"""SiamRPN++ AlexNet for OTB (same network and tracker settings as the VOT model).

    siamjax convert --pysot model.pth --config configs/siamrpn_alex_dwxcorr_otb.py \
        --out checkpoints/siamrpn_alex_dwxcorr_otb

Reference results (pysot MODEL_ZOO): OTB2015 AUC 0.666 / precision 0.876.
"""

from siamjax.config_defaults import alex_model, base_config


def get_config():
    config = base_config()
    config.name = "siamrpn_alex_dwxcorr_otb"
    alex_model(config, legacy=True)
    config.track.penalty_k = 0.16
    config.track.window_influence = 0.40
    config.track.lr = 0.30
    config.track.instance_size = 287
    config.track.base_size = 0
    return config
