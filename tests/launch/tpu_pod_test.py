"""``launch/tpu_pod.sh`` as a user runs it, on a pod of 4 simulated workers: a stub
``gcloud`` runs the remote command once per worker on this machine (each with its own home
holding the checkout), and a stub trainer stands in for ``python3`` with a per-worker plan
(how long it runs, its exit code, what it does on SIGTERM)."""

import os
import shlex
import signal
import stat
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAUNCHER = os.path.join(REPO, "launch/tpu_pod.sh")
WORKERS = 4

# What a trainer does on SIGTERM: save and exit 75 (as `siamjax train` does).
TRAINER_UNTIL_TERM = "trap 'echo saved; exit 75' TERM\nsleep 120 & wait\n"


def _executable(path, body):
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


class Pod:
    def __init__(self, root):
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir()
        self.plans = root / "plans"
        self.plans.mkdir()
        self.workdir = root / "run"
        self.lockfile = root / "libtpu_lockfile"
        self.stale = root / "stale_pids"
        self.stale.write_text("")
        for index in range(WORKERS):
            home = root / f"home{index}"
            home.mkdir()
            os.symlink(REPO, home / "siamjax")
        # gcloud: `compute tpus tpu-vm ssh NAME --zone Z --worker=all --command CMD` runs
        # CMD on every worker (here: one after the other, each in its own home).
        calls = shlex.quote(str(root / "gcloud_calls"))
        _executable(
            self.bin / "gcloud",
            f"""printf '%s\\n' "$*" >> {calls}
[ "$1 $2 $3 $4" = "compute tpus tpu-vm ssh" ] || exit 0
while [ "$#" -gt 0 ] && [ "$1" != "--command" ]; do shift; done
command="$2"
status=0
for ((i = 0; i < {WORKERS}; i++)); do
  (cd "{root}/home$i" && HOME="{root}/home$i" SIAMJAX_WORKER_ID="w$i" bash -c "$command") \\
    || status=$?
done
exit $status
""",
        )
        # The trainer: records its arguments, then follows the worker's plan.
        _executable(
            self.bin / "fake_python",
            f"""trap 'echo saved; exit 75' TERM  # from the start, as the real trainer saves
printf '%s\\n' "$@" > "$HOME/trainer_args"
plan="{self.plans}/$SIAMJAX_WORKER_ID.sh"
[ -f "$plan" ] && source "$plan"
exit 0
""",
        )
        # lsof -t DEVICES: the pids a test planted as stale TPU users.
        _executable(self.bin / "lsof", f"cat {shlex.quote(str(self.stale))}\n")

    def env(self, **extra):
        env = dict(os.environ)
        env["PATH"] = f"{self.bin}:{os.path.dirname(sys.executable)}:{env['PATH']}"
        env.update(
            SIAMJAX_PYTHON=str(self.bin / "fake_python"),
            SIAMJAX_LIBTPU_LOCKFILE=str(self.lockfile),
            SIAMJAX_TPU_DEVICES=str(self.root / "accel0"),
            SIAMJAX_POLL_SECONDS="0.2",
        )
        env.update(extra)
        return env

    def plan(self, worker, body):
        (self.plans / f"w{worker}.sh").write_text(body)

    def run(self, *arguments, timeout=60, **env):
        return subprocess.run(
            ["bash", LAUNCHER, arguments[0], "my-tpu", "us-central2-b", *arguments[1:]],
            env=self.env(**env), capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    def start(self, *overrides, timeout=60, **env):
        return self.run("start", "configs/x.py", str(self.workdir), *overrides,
                        timeout=timeout, **env)  # fmt: skip

    def log(self, worker):
        return (self.workdir / "logs" / f"worker-w{worker}.log").read_text()

    def pid(self, worker):
        return int((self.workdir / "logs" / f"worker-w{worker}.pid").read_text())


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes.
    with open(f"/proc/{pid}/stat") as stream:
        return stream.read().split(")")[-1].split()[0] != "Z"


def _wait_gone(pids, seconds=20):
    deadline = time.time() + seconds
    while any(_alive(pid) for pid in pids) and time.time() < deadline:
        time.sleep(0.1)
    return not any(_alive(pid) for pid in pids)


@pytest.fixture
def pod(tmp_path):
    pod = Pod(tmp_path)
    yield pod
    # Never leave a detached stand-in trainer behind.
    for worker in range(WORKERS):
        try:
            os.killpg(pod.pid(worker), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def test_install_uses_the_tpu_extra_on_every_worker(pod):
    _executable(pod.bin / "fake_python", 'printf "%s\\n" "$PWD" "$@" > "$HOME/install_args"\n')
    result = pod.run("install")
    assert result.returncode == 0, result.stderr
    for worker in range(WORKERS):
        words = (pod.root / f"home{worker}" / "install_args").read_text().split("\n")
        assert os.path.realpath(words[0]) == os.path.realpath(REPO)  # from the checkout
        assert words[1:5] == ["-m", "pip", "install", "--upgrade"]
        assert words[5:7] == ["-e", ".[tpu]"]


def test_start_runs_python_m_siamjax_detached_with_a_log_per_worker(pod):
    overrides = ["--config.train.batch_size=256", "--config.name=with space's"]
    result = pod.start(*overrides)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every worker finished" in result.stdout
    for worker in range(WORKERS):
        args = (pod.root / f"home{worker}" / "trainer_args").read_text().split("\n")[:-1]
        assert args == ["-m", "siamjax", "train", "--distributed", "auto", "--config",
                        "configs/x.py", "--workdir", str(pod.workdir), *overrides]  # fmt: skip
        assert (pod.workdir / "logs" / f"worker-w{worker}.exit").read_text().strip() == "0"
        assert (pod.workdir / "logs" / f"worker-w{worker}.log").exists()
    calls = (pod.root / "gcloud_calls").read_text()
    assert "--worker=all" in calls and "cd siamjax && bash launch/tpu_worker.sh start" in calls


def test_stale_tpu_users_and_lock_are_cleared_before_start(pod):
    stale = subprocess.Popen(["sleep", "300"])
    try:
        pod.stale.write_text(f"{stale.pid}\n")
        pod.lockfile.write_text("")
        pod.plan(0, f"[ -e {shlex.quote(str(pod.lockfile))} ] && echo LOCK STILL THERE\n")
        result = pod.start()
        assert result.returncode == 0, result.stdout + result.stderr
        assert stale.wait(timeout=10) == -signal.SIGKILL
        assert not pod.lockfile.exists()
        assert f"killing stale TPU user {stale.pid}" in result.stdout
        assert "LOCK STILL THERE" not in pod.log(0)
    finally:
        stale.kill()


def test_a_failed_worker_fails_the_launcher_at_once_and_stops_the_others(pod):
    for worker in (0, 1, 3):
        pod.plan(worker, TRAINER_UNTIL_TERM)
    pod.plan(2, "sleep 0.5\necho 'worker 2: out of memory' >&2\nexit 3\n")
    started = time.time()
    result = pod.start(timeout=60)
    assert result.returncode == 3, result.stdout + result.stderr
    assert time.time() - started < 30  # not the 120 s the others would run
    assert "worker w2: exited 3; stopping the others" in result.stderr
    assert "out of memory" in result.stderr  # the logs' ends are shown
    assert _wait_gone([pod.pid(worker) for worker in range(WORKERS)])
    for worker in (0, 1, 3):
        assert "saved" in pod.log(worker)


def test_detached_workers_survive_the_launcher_and_answer_status_logs_stop(pod):
    for worker in range(WORKERS):
        # The handler first, so the SIGTERM below never finds the trainer without it.
        pod.plan(worker, "trap 'echo saved; exit 75' TERM\necho step 1\nsleep 120 & wait\n")
    follower = subprocess.Popen(
        ["bash", LAUNCHER, "start", "my-tpu", "zone", "configs/x.py", str(pod.workdir)],
        env=pod.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
        # An ssh session's shell takes SIGHUP's default action; a test run started under
        # nohup would hand the launcher an ignored SIGHUP, which bash cannot un-ignore.
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.time() + 30
    while not all((pod.workdir / "logs" / f"worker-w{w}.pid").exists() for w in range(WORKERS)):
        assert time.time() < deadline and follower.poll() is None
        time.sleep(0.1)
    # The ssh session and the launcher die (a dropped connection: SIGHUP to them all).
    os.killpg(follower.pid, signal.SIGHUP)
    follower.wait(timeout=10)
    time.sleep(0.5)
    status = pod.run("status", str(pod.workdir))
    assert status.stdout.count(": running (pid") == WORKERS, status.stdout
    logs = pod.run("logs", str(pod.workdir), "5")
    assert logs.stdout.count("step 1") == WORKERS
    assert pod.run("stop", str(pod.workdir)).stdout.count("SIGTERM sent") == WORKERS
    assert _wait_gone([pod.pid(worker) for worker in range(WORKERS)])
    status = pod.run("status", str(pod.workdir))
    assert status.stdout.count(": exited 75") == WORKERS, status.stdout
    # `wait` on a preempted run: 75, so a wrapper can start it again to resume.
    assert pod.run("wait", str(pod.workdir)).returncode == 75


def test_usage_and_a_second_start_on_a_running_worker_are_refused(pod):
    result = pod.run("start")
    assert result.returncode == 2 and "usage: launch/tpu_pod.sh start" in result.stderr
    pod.plan(0, TRAINER_UNTIL_TERM)
    assert pod.start(SIAMJAX_DETACH="1").returncode == 0
    again = pod.start(SIAMJAX_DETACH="1")
    assert again.returncode != 0 and "worker w0: already running" in again.stderr
    pod.run("stop", str(pod.workdir))
