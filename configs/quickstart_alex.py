"""pysot's AlexNet SiamRPN trained from scratch on the quickstart's synthetic data.

The released architecture (``configs/siamrpn_alex_dwxcorr.py``'s network, 287 search in
tracking) with the quickstart's recipe and tracker settings, for measurements that need
trained weights of a released architecture where pysot's cannot be downloaded, such as
``siamjax precision-check``. About an hour on 2 CPU cores:

    siamjax quickstart --workdir runs/quickstart              # data (and the TinyNet)
    siamjax train --config configs/quickstart_alex.py --workdir runs/quickstart_alex \\
        --config.input.datasets.0.path=runs/quickstart/data/train
"""

from siamjax.config_defaults import alex_model
from siamjax.config_loader import sibling_config


def get_config(data: str = "runs/quickstart/data/train"):
    config = sibling_config(__file__, "quickstart.py")
    config.name = "quickstart_alex"
    config.input.datasets[0].path = data
    alex_model(config, legacy=True)
    config.track.instance_size = 287
    config.train.backbone.train_layers = ("layer1", "layer2", "layer3", "layer4", "layer5")
    return config
