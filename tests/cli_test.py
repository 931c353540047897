"""The `siamjax info` command on a built-in config (random weights)."""

from siamjax.cli import main
from tests.conftest import config_path


def test_info_prints_parts_and_shapes(capsys):
    assert main(["info", "--config", config_path("siamrpn_alex_dwxcorr")]) == 0
    out = capsys.readouterr().out
    assert "6,251,102 parameters" in out
    assert "scores: (1, 21, 21, 5, 2)" in out


def test_info_rejects_unknown_override(capsys):
    status = main(["info", "--config", config_path("siamrpn_alex_dwxcorr"), "--config.nope=1"])
    assert status == 2
    assert "unknown config key" in capsys.readouterr().err


def test_a_checkpoint_of_another_architecture_is_one_line(tmp_path, capsys):
    """track / info / export name the checkpoint and the first mismatching parameter."""
    import jax

    from siamjax.checkpoints import save_variables
    from siamjax.config_loader import load_config
    from siamjax.models import build_model, init_variables

    quick = load_config("configs/quickstart.py")
    checkpoint = save_variables(
        str(tmp_path / "tiny"), init_variables(build_model(quick.model), jax.random.key(0))
    )
    alex = "configs/siamrpn_alex_dwxcorr.py"
    frames = tmp_path / "frames"
    frames.mkdir()
    import cv2
    import numpy as np

    cv2.imwrite(str(frames / "0001.jpg"), np.zeros((64, 64, 3), np.uint8))
    for argv in (
        ["info", "--config", alex, "--checkpoint", checkpoint],
        ["track", "--config", alex, "--checkpoint", checkpoint, "--video", str(frames),
         "--init", "1,1,20,20"],
        ["export", "--config", alex, "--checkpoint", checkpoint, "--out", str(tmp_path / "x")],
        ["info", "--config", alex, "--checkpoint", str(tmp_path / "missing")],
    ):  # fmt: skip
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert str(tmp_path) in err
    assert "params/backbone" in err or "missing" in err


def test_tensorflow_start_up_lines_are_hidden(tmp_path):
    """check-data imports TensorFlow: no oneDNN / CPU-feature / absl lines on stderr."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")}  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "siamjax", "check-data", str(tmp_path)],
                            capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert result.returncode == 1 and "no .tfrecord shards" in result.stdout
    assert result.stderr.strip() == "", result.stderr


def test_help_shows_defaults(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["quickstart", "--help"])
    out = capsys.readouterr().out
    assert "(default: 300)" in out and "(default: 0)" in out
