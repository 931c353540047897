"""``siamjax experiment`` with a bucket URL as its workdir, on the test filesystem
(``fakebucket://``, a local folder behind a URL, shared by the loader's and the data
preparation's worker processes as a bucket is).

Every file siamjax reads or writes goes through ``siamjax/fs.py``: the synthetic
sequences, the prepared shards, the training metrics, the held-out evaluation's frames
and result files, the runs, the comparison and its plots. A file opened with ``open`` or
``os`` would land in the working directory, under the URL's text; the test runs in an
empty one and checks it stays empty. Orbax writes the checkpoints through its own path
layer (``fs.absolute``).
"""

import os

import jax
import numpy as np
import pytest

from siamjax import fake_bucket, fs
from siamjax.checkpoints import load_variables
from siamjax.cli import main
from tests.experiment.experiment_test import CONFIG, TINY


@pytest.mark.slow  # 30 s end to end; tests/url_paths_test.py covers the paths by default
def test_an_experiment_runs_and_resumes_in_a_bucket_url_workdir(tmp_path, monkeypatch, capsys):
    working_directory = tmp_path / "cwd"
    working_directory.mkdir()
    monkeypatch.chdir(working_directory)
    workdir = fake_bucket.url(str(tmp_path / "bucket" / "experiment"), latency_ms=0)
    command = ["experiment", "--config", CONFIG, "--workdir", workdir] + TINY
    assert main(command) == 0
    assert os.listdir(working_directory) == []

    results = fs.read_json(fs.join(workdir, "results.json"))
    assert list(results["variants"]) == ["depthwise"] and results["train_steps"] == 6
    run = fs.read_json(fs.join(workdir, "runs", "depthwise", "seed0", "run.json"))
    auc = run["scores"]["held_out"]["success_auc"]
    assert 0.0 <= auc <= 1.0
    assert results["variants"]["depthwise"]["splits"]["held_out"]["success_auc"]["mean"] == auc
    # The trained model is named by its URL and reads back from it.
    assert run["model_dir"].startswith(workdir + "/train/depthwise/")
    variables = load_variables(run["model_dir"])
    assert all(np.isfinite(leaf).all() for leaf in jax.tree_util.tree_leaves(variables))
    (name,) = run["scores"]["held_out"]["videos"]
    result = fs.join(workdir, "runs", "depthwise", "seed0", "held_out", f"{name}.txt")
    frames = fs.listdir(fs.join(workdir, "data", "raw", "test", name))
    assert len(fs.read_text(result).splitlines()) == len(frames) - 1  # and groundtruth.txt
    assert fs.read_bytes(fs.join(workdir, "plots", "held_out", "success.png"))[:4] == b"\x89PNG"

    # Run again: the finished run is found at the URL, nothing is trained or evaluated.
    capsys.readouterr()
    assert main(command) == 0
    output = capsys.readouterr().out
    assert "1 runs finished earlier, 0 training units left" in output
    assert "== training" not in output and "== evaluating" not in output
    assert fs.read_json(fs.join(workdir, "results.json"))["variants"] == results["variants"]
    assert os.listdir(working_directory) == []
