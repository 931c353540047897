"""The pysot runner (``siamjax/pysot_reference/runner.py``) for tests: a missing pysot,
torch or demo video skips the calling test instead of failing it."""

from __future__ import annotations

import functools

import pytest

from siamjax.pysot_reference import runner


def _skipping(function):
    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except runner.ReferenceUnavailable as error:
            pytest.skip(str(error))

    return wrapped


require_pysot = _skipping(runner.require_pysot)
build_pysot_model = _skipping(runner.build_pysot_model)
calibrate_batch_norm = _skipping(runner.calibrate_batch_norm)
converted_variables = _skipping(runner.converted_variables)
nchw = _skipping(runner.nchw)
pysot_dir = _skipping(runner.pysot_dir)
pysot_anchor_targets = _skipping(runner.pysot_anchor_targets)
real_crops = _skipping(runner.real_crops)
scale_pysot_loc_head = _skipping(runner.scale_pysot_loc_head)
set_training_phase = _skipping(runner.set_training_phase)
video_frames = _skipping(runner.video_frames)
