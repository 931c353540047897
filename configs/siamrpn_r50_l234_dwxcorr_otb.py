"""SiamRPN++ ResNet-50 for OTB: unweighted MultiRPN, OTB tracker hyper-parameters.

    siamjax convert --pysot model.pth --config configs/siamrpn_r50_l234_dwxcorr_otb.py \
        --out checkpoints/siamrpn_r50_l234_dwxcorr_otb

Reference results (pysot MODEL_ZOO): OTB2015 AUC 0.696 / precision 0.914.
"""

from siamjax.config_defaults import base_config, r50_l234_model


def get_config():
    config = base_config()
    config.name = "siamrpn_r50_l234_dwxcorr_otb"
    r50_l234_model(config, neck_channels=(256, 256, 256), weighted=False)
    config.track.penalty_k = 0.24
    config.track.window_influence = 0.5
    config.track.lr = 0.25
    return config
