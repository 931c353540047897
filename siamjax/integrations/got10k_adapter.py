"""A got10k-toolkit ``Tracker`` that runs a siamjax tracker.

    from got10k.experiments import ExperimentOTB
    from siamjax.integrations.got10k_adapter import Got10kTracker

    tracker = Got10kTracker.from_files("configs/siamrpn_r50_l234_dwxcorr.py:otb", "ckpt/")
    ExperimentOTB("data/OTB", version=2015).run(tracker)

got10k hands PIL RGB images and [x, y, w, h] boxes; siamjax trackers take BGR arrays.
"""

from __future__ import annotations

import numpy as np

from siamjax.integrations import load_tracker

try:
    from got10k.trackers import Tracker as _Got10kBase
except ImportError:  # the adapter stays importable; using it needs `pip install got10k`
    _Got10kBase = object


class Got10kTracker(_Got10kBase):
    def __init__(self, tracker, name: str = "siamjax"):
        if _Got10kBase is object:
            raise ImportError("the got10k package is not installed: pip install got10k")
        super().__init__(name=name, is_deterministic=True)
        self.tracker = tracker

    @classmethod
    def from_files(cls, config_spec, checkpoint_dir, name="siamjax", overrides=()):
        return cls(load_tracker(config_spec, checkpoint_dir, overrides), name)

    @staticmethod
    def _bgr(image) -> np.ndarray:
        array = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
        return np.ascontiguousarray(array[:, :, ::-1])

    def init(self, image, box):
        self.tracker.init(self._bgr(image), np.asarray(box, np.float64))

    def update(self, image):
        box, _ = self.tracker.track(self._bgr(image))
        return np.asarray(box, np.float64)
