"""A tiny training config and in-memory batches for the training tests."""

import ml_collections
import numpy as np

from siamjax.config_defaults import base_config, input_config, train_config


def tiny_config(batch_size=8, group_size=4, steps_per_epoch=4, epochs=3, train_epoch=1):
    config = base_config()
    config.name = "tiny"
    config.model.backbone = ml_collections.ConfigDict(
        {"name": "tinynet", "channels": (4, 8, 8, 8, 8)}
    )
    config.model.neck = ml_collections.ConfigDict({"name": "none"})
    config.model.rpn = ml_collections.ConfigDict(
        {
            "name": "depthwise_rpn",
            "out_channels": 8,
            "correlation": "depthwise",
        }  # fmt: skip
    )
    config.track.instance_size = 255
    config.track.base_size = 0
    config.input = input_config([])
    config.input.videos_per_epoch = batch_size * steps_per_epoch
    config.train = train_config(gpus=batch_size // group_size, per_gpu_batch=group_size)
    config.train.schedule.epochs = epochs
    config.train.schedule.warmup_epochs = 1
    config.train.backbone.train_epoch = train_epoch
    config.train.backbone.train_layers = ("layer4", "layer5")
    config.train.log_every = 1000
    config.train.checkpoint_every = 2
    config.train.tensorboard = False
    return config


def random_batch(size, seed, negative_every=3):
    """A batch in the loaders' format (uint8 crops with a bright square target, colour
    offsets, every fourth search crop blurred); boxes in search-crop pixels."""
    rng = np.random.default_rng(seed)
    template = rng.integers(0, 61, (size, 127, 127, 3), dtype=np.uint8)
    search = rng.integers(0, 61, (size, 255, 255, 3), dtype=np.uint8)
    boxes = np.zeros((size, 4), np.float32)
    for i in range(size):
        template[i, 44:84, 44:84] = 220
        cx, cy = rng.uniform(90, 165, 2)
        w, h = rng.uniform(30, 70, 2)
        x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        search[i, int(y1) : int(y2), int(x1) : int(x2)] = 220
        boxes[i] = x1, y1, x2, y2
    negative = np.arange(size) % negative_every == negative_every - 1
    batch = {"template": template, "search": search, "search_box": boxes, "negative": negative}
    for role in ("template", "search"):
        batch[f"{role}_colour_bgr"] = rng.normal(0, 4, (size, 3)).astype(np.float32)
        blurred = (np.arange(size) % 4 == 1) & (role == "search")
        batch[f"{role}_blur_size"] = np.where(blurred, 9, 0).astype(np.int32)
        batch[f"{role}_blur_weight"] = np.where(blurred, 0.3, 0).astype(np.float32)
    return batch


def batch_source(seed=0):
    """``(position, batch_size) -> (next position, batch)``: batch i is fixed by (seed, i)."""

    def source(position, batch_size):
        return position + batch_size, random_batch(batch_size, seed * 100003 + position)

    return source
