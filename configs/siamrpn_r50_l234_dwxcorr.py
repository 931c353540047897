"""SiamRPN++ ResNet-50, layers 2/3/4: pysot's released VOT model, or with ``:otb`` its OTB one.

Convert the released weights and track with them:

    siamjax convert --pysot model.pth --config configs/siamrpn_r50_l234_dwxcorr.py \
        --out checkpoints/siamrpn_r50_l234_dwxcorr
    siamjax convert --pysot model_otb.pth --config configs/siamrpn_r50_l234_dwxcorr.py:otb \
        --out checkpoints/siamrpn_r50_l234_dwxcorr_otb

Reference results (pysot MODEL_ZOO, docs/parity.md §11.1): VOT2018 EAO 0.415 / A 0.601 /
R 0.234; ``:otb`` (pysot's siamrpn_r50_l234_dwxcorr_otb): OTB2015 AUC 0.696 / precision 0.914.
"""

from siamjax.config_defaults import base_config, r50_l234_model


def get_config(variant: str = "vot"):
    """``variant``: 'vot' (weighted MultiRPN) or 'otb' (unweighted, OTB tracker settings)."""
    config = base_config()
    if variant == "vot":
        config.name = "siamrpn_r50_l234_dwxcorr"
        r50_l234_model(config, neck_channels=(256, 256, 256), weighted=True)
        config.track.penalty_k, config.track.window_influence, config.track.lr = 0.05, 0.42, 0.38
    elif variant == "otb":
        config.name = "siamrpn_r50_l234_dwxcorr_otb"
        r50_l234_model(config, neck_channels=(256, 256, 256), weighted=False)
        config.track.penalty_k, config.track.window_influence, config.track.lr = 0.24, 0.5, 0.25
    else:
        raise ValueError(f"variant {variant!r}: expected 'vot' or 'otb'")
    return config
