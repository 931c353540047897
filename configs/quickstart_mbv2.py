"""pysot's MobileNetV2 SiamRPN++ trained from scratch on the quickstart's synthetic data.

The released architecture (``configs/siamrpn_mobilev2_l234_dwxcorr.py``'s network: width
1.4, layers 3/5/7, three unweighted DepthwiseRPNs; 255 search and base size 8 in tracking,
so 25x25 scores) with the quickstart's recipe and tracker settings, for measurements that
need trained weights of a released architecture where pysot's cannot be downloaded, such
as ``siamjax precision-check``. Slow on a CPU: every layer trains, and XLA:CPU's backward
pass through the depthwise layers ran below 0.6 pairs/s on 2 cores (benchmarks/README.md,
``train_step.py``), so its 2,400 steps of 8 pairs take 9 hours or more there:

    siamjax quickstart --workdir runs/quickstart              # data (and the TinyNet)
    siamjax train --config configs/quickstart_mbv2.py --workdir runs/quickstart_mbv2 \\
        --config.input.datasets.0.path=runs/quickstart/data/train
"""

from siamjax.config_defaults import mobilev2_model
from siamjax.config_loader import sibling_config


def get_config(data: str = "runs/quickstart/data/train"):
    config = sibling_config(__file__, "quickstart.py")
    config.name = "quickstart_mbv2"
    config.input.datasets[0].path = data
    mobilev2_model(config)
    config.track.instance_size = 255
    config.track.base_size = 8
    # From scratch: every stage trains from the first step.
    config.train.backbone.train_layers = tuple(f"layer{index}" for index in range(8))
    return config
