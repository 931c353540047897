"""Training recipe of pysot's ``siamrpn_r50_l234_dwxcorr_otb_8gpu`` (docs/parity.md §6.2, §7).

8 GPUs × 16 pairs (global 128, 4687 iterations per epoch), gray pairs with probability
0.2, decay to 0.0025 instead of 0.0005, and layer1 trained too after epoch 10. The
model is the unweighted OTB variant with the OTB tracker hyper-parameters.
"""

from siamjax.config_defaults import input_config, pysot_training_datasets, train_config
from siamjax.config_loader import sibling_config


def model_config():
    return sibling_config(__file__, "siamrpn_r50_l234_dwxcorr.py:otb")


def get_config():
    config = model_config()
    config.name = "siamrpn_r50_l234_dwxcorr_otb_8gpu"
    config.input = input_config(pysot_training_datasets("data"))
    config.input.gray = 0.2
    config.train = train_config(gpus=8, per_gpu_batch=16)
    config.train.schedule.end_lr = 0.0025
    config.train.backbone.train_layers = ("layer1", "layer2", "layer3", "layer4")
    return config
