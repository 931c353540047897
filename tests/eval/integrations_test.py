"""The got10k Tracker adapter and the vot-toolkit adapter give the same boxes as siamjax."""

import types

import cv2
import jax
import numpy as np
import pytest

from siamjax.config_loader import load_config
from siamjax.datasets.benchmark_layout import read_otb
from siamjax.integrations.vot_adapter import run_session
from siamjax.models import build_model, init_variables
from siamjax.tracking import TrackerNetwork, build_tracker
from tests.conftest import config_path
from tests.eval.synthetic_benchmark import write_otb_benchmark


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("integrations")
    write_otb_benchmark(str(root), videos=1, frames=6)
    (video,) = read_otb(str(root))
    config = load_config(config_path("siamrpn_alex_dwxcorr"))
    model = build_model(config.model)
    network = TrackerNetwork(model, init_variables(model, jax.random.key(0), 127, 287))
    reference = build_tracker(config, network)
    frames = [cv2.imread(path) for path in video.frame_paths]
    reference.init(frames[0], video.gt[0])
    expected = [reference.track(frame) for frame in frames[1:]]
    return config, network, video, expected


def test_got10k_adapter_matches(setup):
    pytest.importorskip("got10k")
    from siamjax.integrations.got10k_adapter import Got10kTracker

    config, network, video, expected = setup
    adapter = Got10kTracker(build_tracker(config, network))
    boxes, times = adapter.track(video.frame_paths, video.gt[0])
    np.testing.assert_allclose(boxes[0], video.gt[0])
    np.testing.assert_allclose(boxes[1:], [box for box, _ in expected], atol=1e-6)
    assert len(times) == len(video)


def test_vot_adapter_matches(setup):
    config, network, video, expected = setup
    reported = []

    class Handle:
        def __init__(self, region_format):
            assert region_format == "rectangle"
            self.paths = list(video.frame_paths)

        def region(self):
            x, y, w, h = video.gt[0]
            return types.SimpleNamespace(x=x, y=y, width=w, height=h)

        def frame(self):
            return self.paths.pop(0) if self.paths else None

        def report(self, region, confidence):
            reported.append((region, confidence))

    fake_vot = types.SimpleNamespace(VOT=Handle, Rectangle=lambda *box: np.asarray(box))
    assert run_session(fake_vot, build_tracker(config, network)) == len(video) - 1
    np.testing.assert_allclose([r for r, _ in reported], [b for b, _ in expected], atol=1e-6)
    np.testing.assert_allclose([c for _, c in reported], [s for _, s in expected], atol=1e-7)
