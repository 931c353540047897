"""Bad input from the environment: unreadable shards, broken indexes, an empty JPEG in a
custom dataset, non-UTF-8 result files and unusable output paths give one line naming
the file (exit code 2, or a counted problem), never a traceback or a hang."""

import json
import os
import shutil
import sys

import cv2
import numpy as np
import pytest

from siamjax import cli
from siamjax.data import schema
from siamjax.data.pipeline import pair_iterator
from siamjax.data.sources import DataError, load_sources
from siamjax.eval import results
from siamjax.prep.prepare import prepare
from tests.data.pipeline_test import _config, prepared  # noqa: F401 (fixture)
from tests.data_prep.raw_layouts import write_custom


def _shards(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith(".tfrecord"))


@pytest.fixture()
def copy(prepared, tmp_path):  # noqa: F811
    target = tmp_path / "data"
    shutil.copytree(prepared / "data", target)
    return target


def _make_unreadable(folder):
    """A shard that cannot be opened: a folder in its place (root reads any file, so
    permissions would not make it unreadable here)."""
    shard = folder / _shards(folder)[0]
    size = shard.stat().st_size
    shard.unlink()
    shard.mkdir()
    return shard, size


def test_check_data_reports_unreadable_shards_and_broken_indexes(copy, capsys):
    shard, _ = _make_unreadable(copy)
    index = copy / schema.index_name(_shards(copy)[1])
    index.write_text("{not json")
    assert cli.main(["check-data", str(copy)]) == 1
    out = capsys.readouterr().out
    assert f"{shard}: cannot read" in out
    assert f"{index}: unreadable index" in out
    assert "Traceback" not in out


def test_training_input_names_an_index_that_is_not_json(copy):
    index = copy / schema.index_name(_shards(copy)[0])
    index.write_text("{not json")
    with pytest.raises(DataError, match=f"{index}: not a shard index"):
        load_sources(_config(copy), 0, 1)
    index.write_text(json.dumps({"records": "x", "bytes": 1}))
    with pytest.raises(DataError, match="no 'records' list"):
        load_sources(_config(copy), 0, 1)


@pytest.mark.parametrize("loader", ["workers", "tf"])
def test_an_unreadable_shard_stops_the_loader_with_its_name(copy, loader):
    shard, size = _make_unreadable(copy)
    config = _config(copy, loader=loader, workers=1)
    index = json.loads((copy / schema.index_name(shard.name)).read_text())
    index["bytes"] = 0  # a folder's size is not the shard's: let the size check pass
    (copy / schema.index_name(shard.name)).write_text(json.dumps(index))
    iterator = pair_iterator(config, 0, 4, 0, 0, 1)
    try:
        with pytest.raises(DataError, match=f"{shard}: cannot read"):
            for _ in range(40):
                next(iterator)
    finally:
        iterator.close()
    assert size > 0


def test_prep_skips_an_empty_jpeg_and_keeps_the_rest_of_its_shard(tmp_path):
    raw = tmp_path / "raw"
    write_custom(str(raw), videos=3, frames=5)
    frame = sorted((raw / "seq1").glob("*.jpg"))[2]
    frame.write_bytes(b"")
    broken = sorted((raw / "seq2").glob("*.jpg"))[1]
    broken.write_bytes(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes()[:40])
    out = tmp_path / "out"
    manifest = prepare("custom", str(raw), str(out), videos_per_shard=3, progress=False)
    reasons = {entry["item"]: entry["reason"] for entry in manifest["skipped"]}
    assert "empty, corrupt or undecodable image" in reasons[str(frame)]
    assert str(broken) in reasons
    assert manifest["counts"]["records"] == 3 * 5 - 2
    assert not list(out.glob("*.partial*"))
    again = prepare("custom", str(raw), str(out), videos_per_shard=3, progress=False)
    assert again["counts"]["records"] == manifest["counts"]["records"]


def test_score_names_a_result_file_that_is_not_utf8(tmp_path, capsys):
    from tests.eval.synthetic_benchmark import write_otb_benchmark

    data = str(tmp_path / "OTB")
    truth = write_otb_benchmark(data, videos=2, frames=4)
    out = str(tmp_path / "res")
    for name, gt in truth.items():
        results.write_results(out, "OTB100", name, gt)
    bad = results.result_paths(out, "OTB100", "Seq1")["boxes"]
    with open(bad, "ab") as stream:
        stream.write(b"\xff\xfe1,2,3,4\n")
    assert cli.main(["score", "--dataset", "OTB100", "--data-dir", data, "--results", out]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: not a text result file" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["train", "prep"])
def test_output_paths_under_a_regular_file_are_one_line_errors(tmp_path, capsys, command):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    if command == "train":
        argv = ["train", "--config", "configs/quickstart.py", "--workdir", str(blocker / "run")]
    else:
        raw = tmp_path / "raw"
        write_custom(str(raw), videos=1, frames=2)
        argv = ["prep", "--dataset", "custom", "--src", str(raw), "--out", str(blocker)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert str(blocker) in err and len(err.splitlines()) == 1, err


def test_siamjax_debug_shows_the_traceback(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("SIAMJAX_DEBUG", "1")
    with pytest.raises(OSError):
        cli.main(["train", "--config", "configs/quickstart.py", "--workdir", str(blocker / "r")])
    assert sys.exc_info() is not None
