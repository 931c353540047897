"""Augmentation parity with pysot (docs/parity.md §13), run when SIAMJAX_PYSOT_DIR is set.

The same uniform / normal / choice draws are injected into pysot's ``Augmentation`` (by
replacing numpy's global random functions it calls) and into siamjax's
``draw_augmentation``. The TF emulation (``tf`` loader) must agree within one grey level,
the OpenCV path (``workers`` loader, pysot's own calls) within 1e-3, the boxes exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from siamjax.data.augment import augment_image_opencv
from siamjax.data.crop_box import box_in_crop
from siamjax.data.sampling import AugmentParams, draw_augmentation
from siamjax.prep.crop import context_crop
from tests.data.pipeline_test import _augment
from tests.parity.reference_runner import require_pysot, video_frames

pytestmark = pytest.mark.parity


class Script:
    """Replays recorded draws in order: uniform, normal and choice calls."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.log = []

    def random(self, *args):
        value = float(self.rng.random())
        self.log.append(("random", value))
        return value

    def standard_normal(self, shape):
        value = self.rng.standard_normal(shape)
        self.log.append(("normal", value))
        return value

    def choice(self, values):
        value = values[int(self.rng.integers(0, len(values)))]
        self.log.append(("choice", value))
        return value


class Replay:
    def __init__(self, log):
        self.log = list(log)

    def _next(self, kind):
        got, value = self.log.pop(0)
        assert got == kind, f"pysot asked for {kind}, the script has {got}"
        return value

    def random(self, *args):
        return self._next("random")

    def randn(self, *shape):
        return self._next("normal").reshape(shape)

    def choice(self, values):
        return self._next("choice")


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("role", ["template", "search"])
def test_augmentation_matches_pysot(role, seed, monkeypatch):
    require_pysot()
    from pysot.datasets import augmentation as pysot_augmentation
    from pysot.utils.bbox import Corner

    settings = {"template": (4, 0.05, 0.0, 0.0, 1.0, 127), "search": (64, 0.18, 0.2, 0.0, 1.0, 255)}
    shift, scale, blur, flip, color, out_size = settings[role]
    frame = video_frames(1 + seed)[seed]
    target = (190.0 + 7 * seed, 90.0, 250.0 + 3 * seed, 200.0)
    crop = context_crop(frame, target)
    box = box_in_crop(target)
    gray = seed % 3 == 0
    params = AugmentParams(shift, scale, 1.0 if seed % 2 else blur, flip, color)

    script = Script(seed)
    draws = draw_augmentation(script, params)
    ours, geometry = _augment(crop, draws, box, out_size, gray=gray)

    replay = Replay(script.log)
    monkeypatch.setattr(pysot_augmentation.np.random, "random", replay.random)
    monkeypatch.setattr(pysot_augmentation.np.random, "randn", replay.randn)
    monkeypatch.setattr(pysot_augmentation.np.random, "choice", replay.choice)
    augment = pysot_augmentation.Augmentation(shift, scale, params.blur, flip, color)
    reference, reference_box = augment(crop, Corner(*box), out_size, gray=gray)
    assert not replay.log, "pysot consumed fewer draws than siamjax made"
    difference = np.abs(ours - reference)
    print(f"{role} seed {seed}: max |diff| {difference.max():.3f}, "
          f"{np.mean(difference > 0.5) * 100:.3f} % of values differ")  # fmt: skip
    assert difference.max() <= 1.0 + 1e-3
    np.testing.assert_allclose(geometry["box"], list(reference_box), atol=1e-4)
    opencv = augment_image_opencv(crop, geometry["crop_box"], out_size,
                                  draws["colour_offset_bgr"], draws["blur_size"],
                                  draws["blur_weight"], draws.get("flip", False), gray)  # fmt: skip
    print(f"  OpenCV path: max |diff| {np.abs(opencv - reference).max():.2e}")
    np.testing.assert_allclose(opencv, reference, atol=1e-3)
