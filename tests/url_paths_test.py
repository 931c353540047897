"""The URL code path (gs:// in production) on TensorFlow's in-memory ``ram://`` file
system, which works offline: prepared data, the dry run, TensorBoard / metrics files,
checkpoint lookup and exported artifacts all go through ``siamjax/fs.py``."""

import json
import os

import cv2
import jax
import numpy as np
import pytest

from siamjax import fake_bucket, fs
from siamjax.checkpoints import _resolve_training_checkpoint
from siamjax.cluster import Cluster
from siamjax.config_defaults import input_config
from siamjax.data.pipeline import PairSource
from siamjax.data.sources import load_sources
from siamjax.datasets import load_benchmark
from siamjax.image_io import read_image, write_image
from siamjax.models import build_model, init_variables
from siamjax.prep.prepare import prepare
from siamjax.tracking.video import frame_source
from siamjax.train.dry_run import describe_launch
from siamjax.train.tensorboard import ScalarWriter
from tests.data_prep.raw_layouts import write_custom, write_lasot
from tests.train.helpers import tiny_config

tf = pytest.importorskip("tensorflow")


def _copy_tree(local: str, url: str) -> None:
    for folder, _, names in os.walk(local):
        target = fs.join(url, os.path.relpath(folder, local)) if folder != local else url
        fs.makedirs(target)
        for name in names:
            with open(os.path.join(folder, name), "rb") as stream:
                fs.write_bytes(fs.join(target, name), stream.read())


@pytest.fixture(scope="module")
def ram_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("url")
    write_custom(str(root / "raw"), videos=4, frames=6)
    prepare("custom", str(root / "raw"), str(root / "data"), videos_per_shard=1, progress=False)
    url = "ram://siamjax-test/data"
    _copy_tree(str(root / "data"), url)
    return url, str(root / "data")


def test_prepared_data_reads_the_same_from_a_url(ram_data):
    url, local = ram_data
    assert fs.is_url(url) and len(fs.listdir(url)) == len(os.listdir(local))

    def config(path):
        entry = {"name": "toy", "path": path, "frame_range": 2, "num_use": -1}
        return input_config([entry])

    from_url, from_disk = load_sources(config(url), 1, 2), load_sources(config(local), 1, 2)
    assert from_url[0].video_names == from_disk[0].video_names
    pair_url = PairSource(config(url), 0, 0, 1).sample(3)
    pair_disk = PairSource(config(local), 0, 0, 1).sample(3)
    for key in ("template", "search", "search_box"):
        np.testing.assert_array_equal(pair_url[key], pair_disk[key])


def test_dry_run_lists_url_shards_and_checkpoint_paths(ram_data):
    url, _ = ram_data
    config = tiny_config()
    config.input = input_config([{"name": "toy", "path": url, "frame_range": 2, "num_use": -1}])
    config.input.videos_per_epoch = 32
    workdir = "ram://siamjax-test/run"
    fs.makedirs(fs.join(workdir, "checkpoints", "4"))
    lines = "\n".join(describe_launch(config, workdir, Cluster("single")))
    assert "data toy: 4 shard(s) on this host" in lines
    assert f"resumes at step 4 of 12 (4 per epoch); first checkpoint {workdir}/checkpoints/6" in (
        lines
    )


def test_tensorboard_and_metrics_write_to_a_url():
    logdir = "ram://siamjax-test/tb"
    writer = ScalarWriter(logdir)
    writer.scalars(3, {"loss": 0.5})
    writer.close()
    (name,) = fs.listdir(logdir)
    events = list(tf.compat.v1.train.summary_iterator(fs.join(logdir, name)))
    assert [(e.step, v.tag, v.simple_value) for e in events for v in e.summary.value] == [
        (3, "loss", 0.5)
    ]
    with fs.open_file("ram://siamjax-test/metrics.jsonl", "a") as stream:
        stream.write(json.dumps({"step": 1}) + "\n")
    assert fs.read_text("ram://siamjax-test/metrics.jsonl") == '{"step": 1}\n'


def test_checkpoint_lookup_resolves_a_url_workdir_to_its_newest_step():
    workdir = "ram://siamjax-test/trained"
    for step in (2, 10):
        fs.makedirs(fs.join(workdir, "checkpoints", str(step), "state"))
    assert _resolve_training_checkpoint(workdir) == f"{workdir}/checkpoints/10/state"
    step = f"{workdir}/checkpoints/2"
    assert _resolve_training_checkpoint(step) == f"{step}/state"


def test_export_writes_artifacts_to_a_url():
    from siamjax.export.jax_artifacts import export_tracker

    config = tiny_config()
    variables = init_variables(build_model(config.model), jax.random.key(0))
    out = "ram://siamjax-test/export"
    manifest = export_tracker(config, variables, out, ("cpu",), progress=lambda line: None)
    assert sorted(fs.listdir(out)) == sorted(
        ["manifest.json"] + [entry["file"] for entry in manifest["artifacts"]]
    )
    entry = manifest["artifacts"][0]
    assert fs.size(fs.join(out, entry["file"])) == entry["bytes"]


def test_experiment_and_quickstart_state_files_live_at_a_url(tmp_path):
    """An experiment's workdir files (its config record, runs, costs, results, plots) and
    the quickstart's elapsed time and report go through ``siamjax/fs.py``, so a
    ``gs://``-style workdir holds them (training checkpoints are orbax's)."""
    from siamjax.eval.report import write_report
    from siamjax.experiment.plan import ExperimentError, check_workdir_config
    from siamjax.experiment.runner import finished_runs
    from siamjax.quickstart import add_elapsed

    workdir = "ram://siamjax-test/experiment"
    import ml_collections

    config = tiny_config()
    config.experiment = ml_collections.ConfigDict(
        {"variants": {"a": {"overrides": []}}, "seeds": [0], "baseline": "a"}
    )
    check_workdir_config(workdir, config)
    assert fs.exists(fs.join(workdir, "experiment.json"))
    changed = tiny_config()
    changed.experiment = config.experiment
    changed.train.batch_size = 16
    with pytest.raises(ExperimentError, match="different config"):
        check_workdir_config(workdir, changed)
    fs.write_json(fs.join(workdir, "runs", "a", "seed0", "run.json"), {"seed": 0})
    assert finished_runs(workdir, config.experiment) == {("a", 0)}
    assert add_elapsed(workdir, 2.5) == 2.5 and add_elapsed(workdir, 1.0) == 3.5
    from siamjax.eval import metrics

    success = list(np.linspace(1, 0, len(metrics.SUCCESS_THRESHOLDS)))
    precision = list(np.linspace(0, 1, len(metrics.PRECISION_THRESHOLDS)))
    summary = {"ours": {"success_auc": 0.5, "precision": 0.6, "norm_precision": 0.4,
                        "success_curve": success, "precision_curve": precision,
                        "norm_precision_curve": precision, "invalid_frames": 0}}  # fmt: skip
    written = write_report(summary, fs.join(workdir, "report"), title="url")
    assert fs.read_json(written["json"])["ours"]["success_auc"] == 0.5
    assert all(fs.read_bytes(path)[:4] == b"\x89PNG" for path in written["plots"])


def test_images_at_a_url_read_and_write_as_opencv_does_locally(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    local = str(tmp_path / "local.jpg")
    cv2.imwrite(local, image)
    url = fake_bucket.url(str(tmp_path / "bucket" / "remote.jpg"), latency_ms=0)
    fs.makedirs(fs.dirname(url))
    write_image(url, image)
    assert fs.read_bytes(url) == open(local, "rb").read()
    for flags in (cv2.IMREAD_COLOR, cv2.IMREAD_UNCHANGED, cv2.IMREAD_GRAYSCALE):
        np.testing.assert_array_equal(read_image(url, flags), cv2.imread(local, flags))
    assert read_image(fs.join(fs.dirname(url), "missing.jpg")) is None
    assert read_image("ram://siamjax-test/missing.jpg") is None
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        fs.read_bytes("ram://siamjax-test/missing.jpg")
    fs.write_bytes(fs.join(fs.dirname(url), "empty.jpg"), b"")
    assert read_image(fs.join(fs.dirname(url), "empty.jpg")) is None


def test_benchmarks_and_frame_folders_read_the_same_from_a_url(tmp_path):
    write_custom(str(tmp_path / "custom"), videos=2, frames=4)
    write_lasot(str(tmp_path / "lasot"), frames=4)
    for dataset, folder in (("custom", "custom"), ("LaSOT", "lasot")):
        local = str(tmp_path / folder)
        url = fake_bucket.url(local, latency_ms=0)
        from_disk, from_url = load_benchmark(dataset, local), load_benchmark(dataset, url)
        assert [v.name for v in from_url] == [v.name for v in from_disk]
        for remote, disk in zip(from_url, from_disk, strict=True):
            np.testing.assert_array_equal(remote.gt, disk.gt)
            assert remote.frame_paths == [fake_bucket.url(p, 0) for p in disk.frame_paths]
            if disk.evaluate is not None:
                np.testing.assert_array_equal(remote.evaluate, disk.evaluate)
    sequence = str(tmp_path / "custom" / "seq0")
    frames, count, _ = frame_source(fake_bucket.url(sequence, latency_ms=0))
    local_frames, local_count, _ = frame_source(sequence)
    assert count == local_count == 4
    for remote, disk in zip(frames, local_frames, strict=True):
        np.testing.assert_array_equal(remote, disk)
