"""``siamjax track`` on a frame folder and a video file, and its error messages."""

import os

import cv2
import jax
import pytest

from siamjax import cli
from siamjax.checkpoints import save_variables
from siamjax.config_loader import load_config
from siamjax.models import build_model, init_variables
from tests.conftest import config_path
from tests.eval.synthetic_benchmark import write_otb_benchmark

CONFIG = config_path("siamrpn_alex_dwxcorr")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    write_otb_benchmark(str(root / "otb"), videos=1, frames=5)
    frames_dir = str(root / "otb" / "Seq0" / "img")
    video_path = str(root / "clip.mp4")
    names = sorted(os.listdir(frames_dir))
    first = cv2.imread(os.path.join(frames_dir, names[0]))
    writer = cv2.VideoWriter(video_path, cv2.VideoWriter_fourcc(*"mp4v"), 10.0, first.shape[1::-1])
    for name in names:
        writer.write(cv2.imread(os.path.join(frames_dir, name)))
    writer.release()
    config = load_config(CONFIG)
    variables = init_variables(build_model(config.model), jax.random.key(0), 127, 287)
    checkpoint = save_variables(str(root / "ckpt"), variables)
    return {"root": root, "frames": frames_dir, "video": video_path, "checkpoint": checkpoint}


def _track(setup, source, *extra):
    argv = ["track", "--config", CONFIG, "--checkpoint", setup["checkpoint"], "--video", source]
    return cli.main(argv + list(extra))


@pytest.mark.parametrize("kind", ["frames", "video"])
def test_track_writes_boxes_and_annotated_video(setup, kind, capsys):
    boxes_path = str(setup["root"] / f"{kind}_boxes.txt")
    out_path = str(setup["root"] / f"{kind}_annotated.mp4")
    status = _track(setup, setup[kind], "--init", "50,40,28,36", "--boxes", boxes_path,
                    "--out", out_path)  # fmt: skip
    assert status == 0
    lines = open(boxes_path).read().splitlines()
    assert len(lines) == 5
    assert [float(v) for v in lines[0].split(",")] == [50, 40, 28, 36]
    assert all(len(line.split(",")) == 4 for line in lines)
    capture = cv2.VideoCapture(out_path)
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    assert "fps" in capsys.readouterr().out


@pytest.mark.parametrize(
    "source,init,message",
    [
        ("empty", "1,1,10,10", "folder has no image files"),
        ("broken.mp4", "1,1,10,10", "cannot open video"),
        ("missing.mp4", "1,1,10,10", "no such file"),
        ("frames", "50,40,0,36", "zero or negative size"),
        ("frames", "900,40,20,36", "outside the 260x200 frame"),
        ("frames", "50,40,28", "4 values"),
    ],
)
def test_track_errors_name_the_problem(setup, source, init, message, capsys):
    (setup["root"] / "empty").mkdir(exist_ok=True)
    (setup["root"] / "broken.mp4").write_bytes(b"not a video")
    path = setup["frames"] if source == "frames" else str(setup["root"] / source)
    assert _track(setup, path, "--init", init) == 2
    assert message in capsys.readouterr().err


def test_track_without_init_and_without_display_asks_for_init(setup, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert _track(setup, setup["frames"]) == 2
    assert "pass --init" in capsys.readouterr().err


def test_track_with_the_toolkit_convention_reproduces_eval(setup):
    """``eval`` starts from ground truth shifted as pysot's test scripts do; ``track
    --init-convention toolkit`` applies the same shift, so both give the same boxes."""
    import numpy as np

    from siamjax.datasets.benchmark_layout import read_otb
    from siamjax.eval import results

    (video,) = read_otb(str(setup["root"] / "otb"))
    out = str(setup["root"] / "eval_out")
    assert cli.main(["eval", "--config", CONFIG, "--checkpoint", setup["checkpoint"],
                     "--dataset", "OTB100", "--data-dir", str(setup["root"] / "otb"),
                     "--out", out]) == 0  # fmt: skip
    evaluated = results.read_boxes(out, "OTB100", video.name, len(video))
    init = ",".join(str(v) for v in video.gt[0])
    tracked = {}
    for convention in ("toolkit", "raw"):
        path = setup["root"] / f"{convention}.txt"
        assert _track(setup, setup["frames"], "--init", init, "--boxes", str(path),
                      "--init-convention", convention) == 0  # fmt: skip
        tracked[convention] = np.loadtxt(path, delimiter=",")
    np.testing.assert_allclose(tracked["toolkit"][1:], evaluated[1:], atol=1e-3)
    np.testing.assert_allclose(tracked["toolkit"][0], video.gt[0] + [0.5, 0.5, 0, 0])
    np.testing.assert_allclose(tracked["raw"][0], video.gt[0])


def test_fps_leaves_out_compilation_and_the_codec_is_named(setup, capsys):
    import time

    import numpy as np

    from siamjax.tracking.video import track_video

    class SlowFirstCall:
        """A tracker whose first search call takes 1 s, as a compilation does."""

        def __init__(self):
            self.calls, self.state = 0, None

        def init(self, frame, box):
            self.state = np.asarray(box, np.float64)

        def track(self, frame):
            self.calls += 1
            if self.calls == 1:
                time.sleep(1.0)
            return self.state, 0.9

    _, fps = track_video(SlowFirstCall(), setup["frames"], (50, 40, 28, 36))
    assert fps > 50  # 4 tracked frames in well under a second once compiled
    out_path = str(setup["root"] / "codec.mp4")
    assert _track(setup, setup["frames"], "--init", "50,40,28,36", "--out", out_path) == 0
    out = capsys.readouterr().out
    assert f"annotated video: {out_path} (H.264)" in out or "(MPEG-4 Part 2" in out


def test_several_targets_track_as_each_alone_from_init_flags_and_a_file(setup, capsys):
    """Two targets tracked together (repeated --init, then --init-file): each target's box
    file equals a single-target run of it; the annotated video has every frame."""
    import numpy as np

    root, boxes = setup["root"], ["50,40,28,36", "10,12,30,24"]
    single = []
    for index, box in enumerate(boxes):
        path = str(root / f"single{index}.txt")
        assert _track(setup, setup["frames"], "--init", box, "--boxes", path) == 0
        single.append(np.loadtxt(path, delimiter=","))
    out_path = str(root / "targets.mp4")
    assert _track(setup, setup["frames"], "--init", boxes[0], "--init", boxes[1], "--boxes",
                  str(root / "multi.txt"), "--out", out_path) == 0  # fmt: skip
    assert "tracked 2 targets through 5 frames" in capsys.readouterr().out
    init_file = root / "inits.txt"
    init_file.write_text(f"# two targets\n{boxes[0]}\n\n{boxes[1].replace(',', ' ')}\n")
    assert _track(setup, setup["frames"], "--init-file", str(init_file), "--boxes",
                  str(root / "from_file.txt")) == 0  # fmt: skip
    for index in range(2):
        for name in ("multi", "from_file"):
            together = np.loadtxt(root / f"{name}.target{index}.txt", delimiter=",")
            assert together.shape == (5, 4)
            np.testing.assert_allclose(together, single[index], atol=1e-3)
    assert int(cv2.VideoCapture(out_path).get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    init_file.write_text("50,40,28,36\n1,2,3\n")
    assert _track(setup, setup["frames"], "--init-file", str(init_file)) == 2
    assert f"{init_file}:2: --init must have 4 values" in capsys.readouterr().err
    assert _track(setup, setup["frames"], "--init", "50,40,28,36", "--init", "900,1,5,5") == 2
    assert "init box of target 1 [900.0, 1.0, 5.0, 5.0] lies outside" in capsys.readouterr().err
