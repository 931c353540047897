"""``siamjax precision-check`` writes a verdict from real measurements, and
``siamjax track --precision`` runs a mode only where the CPU and the verdict allow."""

import json
import os
import sys

import jax
import numpy as np
import pytest

from siamjax import machine
from siamjax.checkpoints import save_variables
from siamjax.cli import main
from siamjax.config_loader import load_config
from siamjax.eval.boxes import init_box
from siamjax.eval.metrics import ope_scores
from siamjax.eval.precision_budget import generated_sequences, track_sequence
from siamjax.image_io import write_image
from siamjax.loading import load_tracker
from siamjax.models import build_model, init_variables
from tests.tracking.precision_test import real_flags

CONFIG = "configs/quickstart.py"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    root = tmp_path_factory.mktemp("precision")
    config = load_config(CONFIG)
    variables = init_variables(build_model(config.model), jax.random.key(1))
    checkpoint = save_variables(str(root / "ckpt"), variables)
    other = save_variables(
        str(root / "other"), init_variables(build_model(config.model), jax.random.key(2))
    )
    video = root / "video"
    video.mkdir()
    sequence = generated_sequences(1, seed=9)[0]
    for index, frame in enumerate(sequence.frames[:8]):
        write_image(str(video / f"{index:04d}.jpg"), frame)
    x, y, w, h = sequence.gt[0]
    return {"root": root, "checkpoint": checkpoint, "other": other, "video": str(video),
            "init": f"{x:.0f},{y:.0f},{w:.0f},{h:.0f}"}  # fmt: skip


def _use_cpu(monkeypatch, cpuinfo: str) -> None:
    """This process's CPU reports the flags of a real CPU's /proc/cpuinfo."""
    flags = real_flags(cpuinfo)
    monkeypatch.setattr(machine, "cpu_flags", lambda: flags)


def _check(setup, *extra):
    return main(["precision-check", "--config", CONFIG, "--checkpoint", setup["checkpoint"],
                 "--precision", "int8", "--video", setup["video"], "--init", setup["init"],
                 *extra])  # fmt: skip


def _track(setup, checkpoint, *extra):
    return main(["track", "--config", CONFIG, "--checkpoint", checkpoint, "--video",
                 setup["video"], "--init", setup["init"], *extra])  # fmt: skip


def test_check_then_track(setup, monkeypatch, capsys):
    _use_cpu(monkeypatch, "xeon_amx.txt")
    assert _check(setup, "--sequences", "3") == 1  # fewer sequences than the budget needs
    captured = capsys.readouterr()
    assert "not offered for these weights (3 sequences, the budget needs 20" in captured.err
    path = os.path.join(setup["checkpoint"], "precision_int8.json")
    verdict = json.loads(open(path).read())
    assert verdict["passed"] is False and verdict["instructions"] == [
        "amx_int8", "avx512_vnni", "avx_vnni"]  # fmt: skip
    assert verdict["video"]["frames"] == 8

    # The float32 figure is the benchmark's AUC as `siamjax eval` scores it (JAX tracker).
    tracker = load_tracker(CONFIG, setup["checkpoint"])
    sequences = generated_sequences(3)
    boxes = {s.name: (s.gt, track_sequence(tracker, s.frames, init_box(s.gt[0])), None)
             for s in sequences}  # fmt: skip
    assert verdict["success_auc"]["float32"] == pytest.approx(
        ope_scores(boxes)["success_auc"], abs=1e-9
    )

    assert _track(setup, setup["checkpoint"], "--precision", "int8") == 2
    assert "missed the accuracy budget (3 sequences" in capsys.readouterr().err

    # A passing verdict for these weights lets the mode run, and says so.
    verdict.update(passed=True, failures=[])
    open(path, "w").write(json.dumps(verdict))
    assert _track(setup, setup["checkpoint"], "--precision", "int8") == 0
    err = capsys.readouterr().err
    assert "precision int8 on onnxruntime-int8 (amx_int8, avx512_vnni, avx_vnni on this CPU)" in err

    # The same verdict does not carry over to other weights ...
    report = ["--precision", "int8", "--precision-report", path]
    assert _track(setup, setup["other"], *report) == 2
    assert "measured on other weights" in capsys.readouterr().err
    # ... nor to a CPU without the instructions.
    _use_cpu(monkeypatch, "ryzen_zen3.txt")
    assert _track(setup, setup["checkpoint"], "--precision", "int8") == 2
    assert "this CPU has none of amx_int8, avx512_vnni, avx_vnni" in capsys.readouterr().err
    assert _check(setup, "--sequences", "3") == 2


def test_bad_input_is_one_line(setup, monkeypatch, capsys):
    _use_cpu(monkeypatch, "xeon_amx.txt")
    assert _check(setup, "--init", "900,900,10,10") == 2
    err = capsys.readouterr().err.strip()
    assert "--init [900.0, 900.0, 10.0, 10.0] lies outside the 320x240 frame" in err
    assert len(err.splitlines()) == 1
    assert main(["precision-check", "--config", CONFIG, "--checkpoint", setup["checkpoint"],
                 "--precision", "int8", "--video", str(setup["root"] / "none"),
                 "--init", setup["init"]]) == 2  # fmt: skip
    assert "no such file, folder or camera index" in capsys.readouterr().err
    np.testing.assert_equal(os.path.exists(os.path.join(setup["other"], "precision_int8.json")),
                            False)  # fmt: skip
    # Without the mode's runtime: the extra to install, not an ImportError's traceback.
    monkeypatch.setitem(sys.modules, "openvino", None)
    status = main(["precision-check", "--precision", "bfloat16", "--video", setup["video"],
                   "--config", CONFIG, "--checkpoint", setup["checkpoint"],
                   "--init", setup["init"]])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert status == 2 and err.endswith('needs openvino: pip install -e ".[openvino]"'), err
