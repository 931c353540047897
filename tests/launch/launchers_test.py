"""The launchers as a user runs them, with stub ``gcloud`` / ``srun`` on PATH."""

import os
import shlex
import stat
import subprocess
import sys

import pytest

from siamjax.cluster import (
    ClusterError,
    first_slurm_host,
    resolve_cluster,
    slurm_port,
    task_gpu,
)
from tests.conftest import free_port

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _stub(folder, name, body):
    path = folder / name
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def _env_with_stubs(bin_dir, **extra):
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}:{os.path.dirname(sys.executable)}:{env['PATH']}"
    env.update(extra)
    return env


def test_slurm_resolution_rules():
    environ = {
        "SLURM_JOB_ID": "123456",
        "SLURM_STEP_NODELIST": "gpu[007-009,011],login1",
        "SLURM_NTASKS": "16",
        "SLURM_PROCID": "9",
        "SLURM_LOCALID": "1",
    }
    cluster = resolve_cluster("auto", environ=environ)
    assert cluster.source == "slurm"
    assert (cluster.num_processes, cluster.process_id) == (16, 9)
    assert cluster.coordinator == f"gpu007:{123456 % 4096 + 61440}"
    assert cluster.local_device_ids == (1,)  # all GPUs visible: the task's local id
    # One GPU visible (CUDA_VISIBLE_DEVICES=<local id>, --gpus-per-task=1): it is GPU 0,
    # where JAX's own SLURM detection would ask for GPU 1 and fail.
    cluster = resolve_cluster("auto", environ={**environ, "CUDA_VISIBLE_DEVICES": "1"})
    assert cluster.local_device_ids == (0,)
    with pytest.raises(ClusterError, match="SLURM_LOCALID 3"):
        task_gpu(3, {"CUDA_VISIBLE_DEVICES": "0,1"})
    assert first_slurm_host("node1") == "node1"
    assert slurm_port("1", {"JAX_COORDINATOR_PORT": "1234"}) == 1234
    assert resolve_cluster("auto", environ={}).source == "jax-auto"  # e.g. a TPU pod
    assert resolve_cluster("off").source == "single"
    with pytest.raises(ClusterError, match="--process-id 4"):
        resolve_cluster("explicit", "h:1", 4, 4)
    with pytest.raises(ClusterError, match="needs --coordinator"):
        resolve_cluster("explicit")


def _srun_stub(bin_dir, nodes, tasks_per_node, one_gpu_per_task):
    """``srun``: starts every task with SLURM's variables (nodes simulated on this host),
    its output in ``--output``'s file pattern (%j job, %t task)."""
    visible = 'export CUDA_VISIBLE_DEVICES="$local"' if one_gpu_per_task else ""
    _stub(
        bin_dir,
        "srun",
        f"""
output=""
while [[ "$1" == --* ]]; do
  case "$1" in --output=*) output="${{1#--output=}}" ;; esac
  shift
done
pids=()
for ((i = 0; i < SLURM_NTASKS; i++)); do
  local_id=$((i % {tasks_per_node}))
  file="${{output//%j/$SLURM_JOB_ID}}"
  file="${{file//%t/$i}}"
  (export SLURM_PROCID=$i SLURM_LOCALID=$local_id SLURM_NODEID=$((i / {tasks_per_node}))
   local=$local_id; {visible}
   exec "$@" > "$file" 2>&1) &
  pids+=("$!")
done
status=0
for pid in "${{pids[@]}}"; do wait "$pid" || status=$?; done
exit $status
""",
    )


@pytest.mark.parametrize(
    "nodes, tasks_per_node, one_gpu_per_task",
    [
        (1, 2, True),
        (1, 2, False),
        pytest.param(2, 8, True, marks=pytest.mark.slow),  # 16 JAX processes on 2 cores
    ],
)
def test_slurm_launcher_one_process_per_gpu_dry_run(tmp_path, nodes, tasks_per_node,
                                                    one_gpu_per_task):  # fmt: skip
    """``sbatch launch/slurm_gpu.sbatch`` on ``nodes`` x ``tasks_per_node`` GPUs,
    simulated: the stub ``srun`` starts each task with SLURM's variables; each resolves its
    process id, count, coordinator and GPU, joins jax.distributed, and prints its shard
    files into its own log under WORKDIR/logs."""
    tasks = nodes * tasks_per_node
    data = tmp_path / "data"
    data.mkdir()
    for index in range(2 * tasks):
        (data / f"train-{index:05d}-of-{2 * tasks:05d}.tfrecord").write_bytes(b"")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _srun_stub(bin_dir, nodes, tasks_per_node, one_gpu_per_task)
    env = _env_with_stubs(
        bin_dir,
        SLURM_JOB_ID="4242",
        SLURM_STEP_NODELIST=",".join(["localhost"] * nodes),
        SLURM_NTASKS=str(tasks),
        SLURM_NTASKS_PER_NODE=str(tasks_per_node),
        SLURM_NNODES=str(nodes),
        JAX_COORDINATOR_PORT=str(free_port()),
        JAX_PLATFORMS="cpu",
        XLA_FLAGS="--xla_force_host_platform_device_count=1",
        SIAMJAX_TRAIN_FLAGS="--dry-run",
    )
    env.pop("CUDA_VISIBLE_DEVICES", None)
    run = tmp_path / "run"
    result = subprocess.run(
        [
            "bash",
            os.path.join(REPO, "launch/slurm_gpu.sbatch"),
            "configs/quickstart.py",
            str(run),
            f"--config.input.datasets.0.path={data}",
            f"--config.train.batch_size={4 * tasks}",
            "--config.train.bn_group_size=4",
        ],  # fmt: skip
        cwd=REPO,
        env=env,
        timeout=600,
    )
    logs = [run / "logs" / f"slurm-4242-task{i}.log" for i in range(tasks)]
    outputs = [log.read_text() for log in logs]
    assert result.returncode == 0, outputs
    port = env["JAX_COORDINATOR_PORT"]
    for task, output in enumerate(outputs):
        gpu = 0 if one_gpu_per_task else task % tasks_per_node
        assert (
            f"cluster: slurm: process {task} of {tasks}, coordinator localhost:{port}, "
            f"local devices [{gpu}]" in output
        ), output
        assert (
            f"jax: process {task} of {tasks}, 1 local devices; {tasks} x cpu (cpu, lowers for "
            f"cpu) over {tasks} process(es)" in output
        )
        assert f"batch: global {4 * tasks}, per host 4, per device 4" in output
        shards = [
            f"train-{i:05d}-of-{2 * tasks:05d}.tfrecord" for i in range(task, 2 * tasks, tasks)
        ]
        assert f"data synthetic: 2 shard(s) on this host: {', '.join(shards)}" in output
        # Every 200 steps or at an epoch's end (1,600 pairs in the quickstart's epoch).
        first = min(200, 1600 // (4 * tasks))
        assert f"first checkpoint {run / 'checkpoints' / str(first)}" in output
    assert os.listdir(run) == ["logs"]  # a dry run writes nothing but the launcher's logs
    # launch/logs.sh shows every task's log.
    shown = subprocess.run(["bash", os.path.join(REPO, "launch/logs.sh"), str(run), "3"],
                           capture_output=True, text=True)  # fmt: skip
    assert shown.returncode == 0 and shown.stdout.count("== ") == tasks


def test_preempted_training_exits_75_and_a_finished_one_0(monkeypatch, tmp_path):
    import siamjax.train.loop as loop
    from siamjax.cli import EXIT_PREEMPTED, main

    assert EXIT_PREEMPTED == 75
    for status, code in (("preempted", 75), ("finished", 0)):
        summary = {"status": status, "step": 3, "skipped": 0}
        monkeypatch.setattr(loop, "train", lambda *args, s=summary, **kwargs: s)
        assert main(["train", "--config", "configs/quickstart.py", "--workdir",
                     str(tmp_path)]) == code  # fmt: skip


def test_slurm_launcher_requeues_a_preempted_job(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stub(bin_dir, "srun", "exit 75\n")
    _stub(bin_dir, "scontrol", f'echo "$@" > {shlex.quote(str(tmp_path / "scontrol"))}\n')
    env = _env_with_stubs(bin_dir, SLURM_JOB_ID="777")
    result = subprocess.run(
        ["bash", os.path.join(REPO, "launch/slurm_gpu.sbatch"), "configs/x.py", "runs/x"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 75
    assert (tmp_path / "scontrol").read_text().split() == ["requeue", "777"]
    _stub(bin_dir, "srun", "exit 3\n")
    (tmp_path / "scontrol").unlink()
    result = subprocess.run(
        ["bash", os.path.join(REPO, "launch/slurm_gpu.sbatch"), "configs/x.py", "runs/x"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 3 and not (tmp_path / "scontrol").exists()


def test_local_launcher_resumes_after_a_preemption_when_asked(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    # A stand-in trainer: preempted on its first run, finished on its second.
    _stub(
        bin_dir,
        "siamjax",
        f"""echo run >> {shlex.quote(str(calls))}
[ "$(wc -l < {shlex.quote(str(calls))})" -ge 2 ] && exit 0
exit 75
""",
    )
    script = os.path.join(REPO, "launch/local.sh")
    env = _env_with_stubs(bin_dir)
    assert subprocess.run(["bash", script, "c.py", "w"], env=env).returncode == 75
    calls.unlink()
    env["SIAMJAX_RESTARTS"] = "3"
    assert subprocess.run(["bash", script, "c.py", "w"], env=env).returncode == 0
    assert calls.read_text().count("run") == 2
