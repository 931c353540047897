"""Runs the pysot reference in this process, for parity tests, golden outputs and benchmarks.

pysot is read from the checkout ``SIAMJAX_PYSOT_DIR`` names (never copied here) and needs
``torch`` and ``yacs``. This module handles the reference's CPU quirks (``.cuda()`` calls,
a global ``cfg`` captured at import, yaml keys the default config rejects, NumPy 2's
removed ``np.float``) and builds random-weight models whose BatchNorm statistics are
calibrated on real-looking crops, so their outputs are meaningful.

Every function raises ``ReferenceUnavailable`` when pysot or torch is missing; the test
suite turns that into a skip.
"""

from __future__ import annotations

import copy
import os
import sys
import types

import numpy as np

from siamjax.pysot_reference.synthetic_weights import (
    is_running_statistic,
    scale_loc_head,
    synthetic_state_dict,
)

# yaml keys of the LT config that pysot's default config does not define (docs/parity.md §8.4).
_UNKNOWN_YAML_KEYS = {
    "BACKBONE": ("CHANNELS",),
    "ADJUST": ("ADJUST_CHANNEL",),
    "RPN": ("WEIGHTED",),
}


class ReferenceUnavailable(RuntimeError):
    """pysot, torch or the demo video is not available in this environment."""


def pysot_dir() -> str:
    """The pysot checkout (``SIAMJAX_PYSOT_DIR``), or raises ``ReferenceUnavailable``."""
    directory = os.environ.get("SIAMJAX_PYSOT_DIR", "")
    if not directory:
        raise ReferenceUnavailable("SIAMJAX_PYSOT_DIR is not set")
    if not os.path.isdir(os.path.join(directory, "pysot")):
        raise ReferenceUnavailable(f"SIAMJAX_PYSOT_DIR={directory} holds no pysot/ package")
    return directory


def require_pysot():
    """Makes torch and pysot importable (with the CPU patches) and returns ``torch``."""
    directory = pysot_dir()
    try:
        import torch
        import yacs  # noqa: F401  (pysot's config)
    except ImportError as error:
        raise ReferenceUnavailable(f"the pysot reference needs {error.name}") from None
    if directory not in sys.path:
        sys.path.insert(0, directory)
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
    with open(os.path.join(pysot_dir(), "experiments", experiment, "config.yaml")) as stream:
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
    video = os.path.join(os.environ.get("SIAMJAX_PYSOT_DIR", ""), "demo", "bag.avi")
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


def scale_pysot_loc_head(torch_model, factor: float = 0.05) -> None:
    """Scales pysot's last box conv(s) (``loc.head.3``) so random weights predict deltas
    of a trained model's magnitude (|d| < 1) instead of ~4, whose exp() would make the
    tracker's boxes jump by the float32 rounding of either network alone."""
    torch = require_pysot()
    with torch.no_grad():
        for name, module in torch_model.rpn_head.named_modules():
            if name.endswith("loc.head.3"):
                module.weight.mul_(factor)
                module.bias.mul_(factor)


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
    """The first ``count`` frames of pysot's demo/bag.avi (uint8 BGR)."""
    import cv2

    video = os.path.join(pysot_dir(), "demo", "bag.avi")
    if not os.path.isfile(video):
        raise ReferenceUnavailable(f"{video} not found")
    capture = cv2.VideoCapture(video)
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    return frames


def set_training_phase(torch_model, phase: int, train_layers) -> None:
    """pysot's ``build_opt_lr`` modes: backbone frozen with eval BN; then ``train_layers``
    trainable with train-mode BN."""
    torch = require_pysot()
    torch_model.train()
    for param in torch_model.backbone.parameters():
        param.requires_grad = False
    for module in torch_model.backbone.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()
    if phase == 1:
        for layer in train_layers:
            for param in getattr(torch_model.backbone, layer).parameters():
                param.requires_grad = True
            for module in getattr(torch_model.backbone, layer).modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.train()


class _KeyedNumpy:
    """Stands in for ``np`` inside pysot's anchor_target module.

    Every one-argument ``where`` (a candidate set) is recorded with the keys of its
    kind; ``random.shuffle`` then orders the indices of the set it is called for by
    those keys, so pysot keeps the members of smallest key, as ``sample_targets`` does.
    """

    def __init__(self, keys_in_where_order):
        self._keys = list(keys_in_where_order)  # (S, S, A) arrays, one per where() call
        self._pending = []
        self.random = types.SimpleNamespace(shuffle=self._shuffle)

    def __getattr__(self, name):
        return getattr(np, name)

    def where(self, *args):
        result = np.where(*args)
        if len(args) == 1:
            self._pending.append((result, self._keys.pop(0)))
        return result

    def _shuffle(self, indices):
        while self._pending:
            (anchor, row, col), keys = self._pending.pop(0)
            if anchor.size == indices.size:  # the set this select() is drawing from
                indices[:] = indices[np.argsort(keys[row, col, anchor], kind="stable")]
                return
        raise AssertionError("shuffle() called for a set that was never recorded")


def pysot_anchor_targets(box_xyxy, negative, pos_keys, neg_keys, score_size=25):
    """pysot's ``AnchorTarget`` for one search box, with its random draws injected.

    ``pos_keys`` / ``neg_keys``: (S, S, A) uniform keys; of each candidate set pysot keeps
    the members of smallest key, as siamjax's ``sample_targets`` does. Returns pysot's
    (label (A, S, S), delta (4, A, S, S), delta_weight (A, S, S)).
    """
    require_pysot()
    from pysot.datasets import anchor_target as module
    from pysot.utils.bbox import Corner

    keys = [neg_keys] if negative else [pos_keys, neg_keys]
    original = module.np
    module.np = _KeyedNumpy(keys)
    try:
        label, delta, weight, _ = module.AnchorTarget()(
            Corner(*[float(v) for v in box_xyxy]), score_size, neg=negative
        )
    finally:
        module.np = original
    return label, delta, weight


def _entries(torch_model) -> list[tuple[str, tuple[int, ...]]]:
    return [(name, tuple(value.shape)) for name, value in torch_model.state_dict().items()]


def synthetic_model(experiment: str, seed: int, loc_head_scale: float = 1.0):
    """pysot model of ``experiment`` with the synthetic weights of ``seed``
    (``synthetic_weights.py``) and BatchNorm calibrated on real crops.

    Returns (model, cfg, entries, running statistics) where the statistics are what a
    golden file stores to rebuild the same weights.
    """
    torch = require_pysot()
    torch_model, cfg = build_pysot_model(experiment)
    entries = _entries(torch_model)
    weights = synthetic_state_dict(entries, seed)
    scale_loc_head(weights, loc_head_scale)
    missing, _ = torch_model.load_state_dict(
        {k: torch.from_numpy(v) for k, v in weights.items()}, strict=False
    )
    assert all(is_running_statistic(name) for name in missing), missing
    calibrate_batch_norm(torch_model, cfg.TRACK.EXEMPLAR_SIZE, cfg.TRACK.INSTANCE_SIZE)
    statistics = {
        name: value.numpy().copy()
        for name, value in torch_model.state_dict().items()
        if is_running_statistic(name)
    }
    return torch_model, cfg, entries, statistics
