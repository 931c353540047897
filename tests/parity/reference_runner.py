"""Runs the pysot reference in the test process (when SIAMJAX_PYSOT_DIR is set).

Handles the reference's CPU quirks (``.cuda()`` calls, a global ``cfg`` captured at
import, yaml keys the default config rejects) and builds random-weight models whose
BatchNorm statistics are calibrated on real-looking crops, so outputs are meaningful.
"""

from __future__ import annotations

import copy
import os
import sys

import numpy as np
import pytest

PYSOT_DIR = os.environ.get("SIAMJAX_PYSOT_DIR")
# yaml keys of the LT config that pysot's default config does not define (docs/parity.md §8.4).
_UNKNOWN_YAML_KEYS = {
    "BACKBONE": ("CHANNELS",),
    "ADJUST": ("ADJUST_CHANNEL",),
    "RPN": ("WEIGHTED",),
}


def require_pysot():
    """Imports torch and pysot or skips the calling test."""
    if not PYSOT_DIR:
        pytest.skip("SIAMJAX_PYSOT_DIR is not set")
    torch = pytest.importorskip("torch")
    pytest.importorskip("yacs")
    if PYSOT_DIR not in sys.path:
        sys.path.insert(0, PYSOT_DIR)
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # pysot calls .cuda() in forward
    torch.set_num_threads(2)
    if not hasattr(np, "float"):
        np.float = float  # pysot's augmentation uses the removed alias
    return torch


_DEFAULT_CFG = None


def build_pysot_model(experiment: str, seed: int = 0):
    """pysot ModelBuilder for ``experiments/<experiment>/config.yaml`` with random weights."""
    global _DEFAULT_CFG
    torch = require_pysot()
    import yaml
    from pysot.core.config import cfg

    if _DEFAULT_CFG is None:
        _DEFAULT_CFG = copy.deepcopy(cfg)
    cfg.defrost()
    cfg.clear()
    cfg.update(copy.deepcopy(_DEFAULT_CFG))
    with open(os.path.join(PYSOT_DIR, "experiments", experiment, "config.yaml")) as stream:
        settings = yaml.safe_load(stream)
    for section, keys in _UNKNOWN_YAML_KEYS.items():
        for key in keys:
            settings.get(section, {}).pop(key, None)
    cfg.merge_from_other_cfg(type(cfg)(settings))
    cfg.CUDA = False
    cfg.BACKBONE.PRETRAINED = ""
    from pysot.models.model_builder import ModelBuilder

    torch.manual_seed(seed)
    return ModelBuilder(), cfg


def real_crops(count: int, size: int, seed: int = 0) -> np.ndarray:
    """(count, size, size, 3) BGR float32 crops: bag.avi frames if present, else smooth noise."""
    import cv2

    rng = np.random.default_rng(seed)
    frames = []
    video = os.path.join(PYSOT_DIR or "", "demo", "bag.avi")
    capture = cv2.VideoCapture(video) if os.path.isfile(video) else None
    while capture is not None and len(frames) < 40:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    crops = []
    for index in range(count):
        if frames:
            frame = frames[(index * 7) % len(frames)]
            height, width = frame.shape[:2]
            side = int(rng.integers(min(height, width) // 3, min(height, width)))
            top = int(rng.integers(0, height - side + 1))
            left = int(rng.integers(0, width - side + 1))
            patch = frame[top : top + side, left : left + side]
        else:
            patch = rng.uniform(0, 255, (32, 32, 3)).astype(np.uint8)
        crops.append(cv2.resize(patch, (size, size)).astype(np.float32))
    return np.stack(crops)


def calibrate_batch_norm(model, exemplar: int, instance: int, steps: int = 2) -> None:
    """Sets BN running statistics to cumulative averages over real crops (train mode)."""
    torch = require_pysot()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative moving average
    model.train()
    with torch.no_grad():
        for step in range(steps):
            template = nchw(real_crops(4, exemplar, seed=10 + step))
            search = nchw(real_crops(4, instance, seed=20 + step))
            model.template(template)
            model.track(search)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = 0.1  # back to PyTorch's (and pysot's) default for training
    model.eval()


def nchw(images: np.ndarray):
    torch = require_pysot()
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def converted_variables(torch_model, model, exemplar: int, instance: int, directory):
    """pysot weights -> siamjax variables via torch.save and siamjax's own reader."""
    import jax

    from siamjax.models.convert import pysot_to_flax
    from siamjax.models.pth import load_pth

    torch = require_pysot()
    path = os.path.join(str(directory), "model.pth")
    torch.save({"state_dict": torch_model.state_dict()}, path)
    shapes = jax.eval_shape(
        model.init,
        jax.random.key(0),
        np.zeros((1, exemplar, exemplar, 3), np.float32),
        np.zeros((1, instance, instance, 3), np.float32),
    )
    return pysot_to_flax(load_pth(path), shapes)


def video_frames(count: int) -> list[np.ndarray]:
    """The first ``count`` frames of pysot's demo/bag.avi (uint8 BGR), or skip."""
    import cv2

    video = os.path.join(PYSOT_DIR or "", "demo", "bag.avi")
    if not os.path.isfile(video):
        pytest.skip(f"{video} not found")
    capture = cv2.VideoCapture(video)
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    return frames
