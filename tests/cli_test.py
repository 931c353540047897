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
