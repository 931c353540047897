"""SiamRPN++ AlexNet (legacy layout), one DepthwiseRPN, 287 search: pysot's released model.

pysot releases it twice, for VOT and (``:otb``) for OTB, with the same network and tracker
settings; the variant changes only the name.

    siamjax convert --pysot model.pth --config configs/siamrpn_alex_dwxcorr.py \
        --out checkpoints/siamrpn_alex_dwxcorr

Reference results (pysot MODEL_ZOO): VOT2018 EAO 0.352 / A 0.576 / R 0.290; ``:otb``
(pysot's siamrpn_alex_dwxcorr_otb): OTB2015 AUC 0.666 / precision 0.876.
"""

from siamjax.config_defaults import alex_model, base_config


def get_config(variant: str = "vot"):
    if variant not in ("vot", "otb"):
        raise ValueError(f"variant {variant!r}: expected 'vot' or 'otb'")
    config = base_config()
    config.name = "siamrpn_alex_dwxcorr" + ("_otb" if variant == "otb" else "")
    alex_model(config, legacy=True)
    config.track.penalty_k = 0.16
    config.track.window_influence = 0.40
    config.track.lr = 0.30
    config.track.instance_size = 287
    config.track.base_size = 0
    return config
