"""Quickstart: a small SiamRPN (TinyNet + one DepthwiseRPN) trained from scratch on the CPU.

``siamjax quickstart --workdir DIR`` generates the synthetic dataset, prepares it into
``DIR/data/train`` and trains with this config; everything else is pysot's recipe
(targets, losses, SGD with warm-up and exponential decay) scaled down to minutes.
"""

import ml_collections

from siamjax.config_defaults import base_config, input_config, train_config


def get_config():
    config = base_config()
    config.name = "quickstart_tinynet"
    config.model.backbone = ml_collections.ConfigDict(
        {"name": "tinynet", "channels": (16, 32, 64, 64, 64)}
    )
    config.model.neck = ml_collections.ConfigDict({"name": "none"})
    config.model.rpn = ml_collections.ConfigDict(
        {
            "name": "depthwise_rpn",
            "out_channels": 64,
            "correlation": "depthwise",
        }  # fmt: skip
    )
    # 255 search, no base size: 17x17 scores in training and tracking alike.
    config.track.instance_size = 255
    config.track.base_size = 0
    # Chosen with `siamjax hp-search` on the synthetic val split (not the test split).
    config.track.penalty_k = 0.2
    config.track.window_influence = 0.1
    config.track.lr = 0.2

    config.input = input_config(
        [{"name": "synthetic", "path": "data/train", "frame_range": 10, "num_use": -1}]
    )
    # 12 epochs of 200 steps of 8 pairs: about 8 minutes on 2 CPU cores in all.
    config.input.videos_per_epoch = 8 * 200

    config.train = train_config(gpus=1, per_gpu_batch=8)
    config.train.schedule.epochs = 12
    config.train.schedule.warmup_epochs = 1
    config.train.schedule.warmup_start_lr = 0.005
    config.train.schedule.warmup_end_lr = 0.03
    config.train.schedule.base_lr = 0.03
    config.train.schedule.end_lr = 0.003
    config.train.schedule.per_step = True
    # From scratch: every layer trains from the first step with batch statistics.
    config.train.backbone.train_epoch = 0
    config.train.backbone.layers_lr = 1.0
    config.train.backbone.train_layers = ("layer1", "layer2", "layer3", "layer4", "layer5")
    config.train.log_every = 100
    config.train.checkpoint_every = 200
    return config
