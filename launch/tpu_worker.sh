#!/usr/bin/env bash
# The worker side of launch/tpu_pod.sh: run on every TPU VM worker (over ssh) from the
# siamjax checkout there. Not meant to be called by hand.
#   tpu_worker.sh install
#   tpu_worker.sh start WORKDIR CONFIG [--config.a.b=v ...]
#   tpu_worker.sh status|logs [LINES]|stop WORKDIR
# Per worker (id: $SIAMJAX_WORKER_ID, else the host name): worker-ID.log, .pid and .exit
# under WORKDIR/logs for a local (shared) WORKDIR, else under
# ~/siamjax-runs/<WORKDIR as a file name>/, the log copied to WORKDIR/logs/ at exit.
set -uo pipefail
python="${SIAMJAX_PYTHON:-python3}"
worker="${SIAMJAX_WORKER_ID:-$(hostname)}"

action="${1:-}"
if [ "$action" = "install" ]; then
  # The [tpu] extra pulls jax[tpu] (libtpu); without it a TPU VM gets CPU-only jaxlib.
  exec "$python" -m pip install --upgrade -e ".[tpu]"
fi
if [ "$#" -lt 2 ]; then
  echo "usage: $0 install | start WORKDIR CONFIG [overrides] | status|logs|stop WORKDIR" >&2
  exit 2
fi
workdir="$2"
shift 2
case "$workdir" in
  *://*) state="$HOME/siamjax-runs/$(printf '%s' "$workdir" | tr -c 'A-Za-z0-9._-' '_')" ;;
  *) state="$workdir/logs" ;;
esac
log="$state/worker-$worker.log"
pidfile="$state/worker-$worker.pid"
exitfile="$state/worker-$worker.exit"

running() {
  # Alive and not a zombie (an exited wrapper its reaper has not collected yet).
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null \
    && [[ "$(ps -o stat= -p "$(cat "$pidfile")" 2>/dev/null)" != Z* ]]
}

clear_stale_libtpu() {
  # A process still holding the TPU (an earlier run killed without cleanup) makes libtpu
  # fail with "TPU in use"; its lock file outlives it.
  local devices="${SIAMJAX_TPU_DEVICES:-/dev/accel* /dev/vfio/[0-9]*}" pids=""
  local sudo=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo="sudo -n"
  # shellcheck disable=SC2086  # a list of globs
  if command -v lsof >/dev/null; then
    pids="$($sudo lsof -t $devices 2>/dev/null | sort -u)"
  elif command -v fuser >/dev/null; then
    pids="$($sudo fuser $devices 2>/dev/null)"
  fi
  for pid in $pids; do
    [ "$pid" = "$$" ] && continue
    echo "worker $worker: killing stale TPU user $pid ($(ps -o comm= -p "$pid" 2>/dev/null))"
    $sudo kill -9 "$pid" 2>/dev/null
  done
  local lockfile="${SIAMJAX_LIBTPU_LOCKFILE:-/tmp/libtpu_lockfile}"
  if [ -e "$lockfile" ]; then
    echo "worker $worker: removing stale $lockfile"
    $sudo rm -f "$lockfile"
  fi
}

case "$action" in
  start)
    if [ "$#" -lt 1 ]; then
      echo "usage: $0 start WORKDIR CONFIG [overrides]" >&2
      exit 2
    fi
    config="$1"
    shift
    mkdir -p "$state"
    if running; then
      echo "worker $worker: already running (pid $(cat "$pidfile")); stop it first" >&2
      exit 2
    fi
    clear_stale_libtpu
    rm -f "$exitfile"
    # Detached (own session, no terminal, SIGHUP ignored): a dropped ssh connection does
    # not reach it. SIGTERM to the wrapper is passed to the trainer, which saves at the
    # step all workers agree on and exits 75; the exit code lands in worker-ID.exit.
    # shellcheck disable=SC2016  # expanded by the inner shell
    SIAMJAX_EXIT_FILE="$exitfile" SIAMJAX_LOG="$log" SIAMJAX_WORKDIR="$workdir" \
      setsid nohup bash -c '
      "$@" &
      child=$!
      trap "kill -TERM $child 2>/dev/null" TERM INT
      wait "$child"
      code=$?
      # A trapped signal ends the wait early (128 + signal): wait again for the trainer.
      # If it has exited meanwhile, the shell kept its status; 127: the first wait was
      # the end of the trainer itself (e.g. killed by the signal, 143).
      while [ "$code" -gt 128 ]; do
        wait "$child"
        next=$?
        [ "$next" -eq 127 ] && break
        code=$next
      done
      echo "$code" > "$SIAMJAX_EXIT_FILE"
      case "$SIAMJAX_WORKDIR" in
        *://*) gcloud storage cp "$SIAMJAX_LOG" "$SIAMJAX_WORKDIR/logs/" >/dev/null 2>&1 ;;
      esac
      exit "$code"
    ' siamjax-worker "$python" -m siamjax train --distributed auto --config "$config" \
        --workdir "$workdir" ${SIAMJAX_TRAIN_FLAGS:-} "$@" \
        >> "$log" 2>&1 < /dev/null &
    pid=$!
    echo "$pid" > "$pidfile"
    # Report only once the trainer has its own session: until setsid has run, a hang-up
    # of this ssh session would still reach it.
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break  # already finished
      [ "$(ps -o sid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ] && break
      sleep 0.02
    done
    echo "worker $worker: started (pid $pid), log $log"
    ;;
  status)
    if running; then
      echo "worker $worker: running (pid $(cat "$pidfile"))"
    elif [ -f "$exitfile" ]; then
      echo "worker $worker: exited $(cat "$exitfile")"
    elif [ -f "$pidfile" ]; then
      echo "worker $worker: exited ? (killed without an exit code)"
    else
      echo "worker $worker: not started"
    fi
    ;;
  logs)
    echo "== worker $worker: $log"
    tail -n "${1:-20}" "$log" 2>/dev/null || echo "(no log)"
    ;;
  stop)
    if running; then
      kill -TERM "$(cat "$pidfile")" && echo "worker $worker: SIGTERM sent"
    else
      echo "worker $worker: not running"
    fi
    ;;
  *)
    echo "unknown action '$action'" >&2
    exit 2
    ;;
esac
