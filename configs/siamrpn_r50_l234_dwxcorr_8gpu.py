"""Training recipe of pysot's ``siamrpn_r50_l234_dwxcorr_8gpu`` (docs/parity.md §6, §7).

8 GPUs × 28 pairs: global batch 224, BatchNorm / loss groups of 28, 600000 pairs per
epoch (2678 iterations), 20 epochs, warm-up 0.001 → 0.005 over 5 epochs, then
0.005 → 0.0005; backbone frozen until epoch 10, then layer2–4 at 0.1× the rate.
Datasets as prepared by ``siamjax prep`` under ``data/`` (VID, YouTube-BB, COCO, DET).

    siamjax train --config configs/siamrpn_r50_l234_dwxcorr_8gpu.py --workdir runs/r50 \
        --config.train.init_checkpoint=checkpoints/resnet50_imagenet

The result tracks with the VOT hyper-parameters of ``siamrpn_r50_l234_dwxcorr``.
"""

from siamjax.config_defaults import input_config, pysot_training_datasets, train_config
from siamjax.config_loader import sibling_config


def model_config():
    return sibling_config(__file__, "siamrpn_r50_l234_dwxcorr.py")


def get_config():
    config = model_config()
    config.name = "siamrpn_r50_l234_dwxcorr_8gpu"
    config.input = input_config(pysot_training_datasets("data"))
    config.train = train_config(gpus=8, per_gpu_batch=28)
    return config
