"""Training recipe for ``siamrpn_mobilev2_l234_dwxcorr``.

pysot's released MobileNetV2 config has no TRAIN section, so its defaults apply: 32
pairs per GPU (8 GPUs: global 256), 20 epochs with the r50 schedule, layer2–4 unfrozen
at epoch 10 at 0.1× the rate.
"""

from siamjax.config_defaults import input_config, pysot_training_datasets, train_config
from siamjax.config_loader import sibling_config


def model_config():
    return sibling_config(__file__, "siamrpn_mobilev2_l234_dwxcorr.py")


def get_config():
    config = model_config()
    config.name = "siamrpn_mobilev2_l234_dwxcorr_8gpu"
    config.input = input_config(pysot_training_datasets("data"))
    config.train = train_config(gpus=8, per_gpu_batch=32)
    return config
