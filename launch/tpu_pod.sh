#!/usr/bin/env bash
# Training on every worker of a Cloud TPU VM pod, over `gcloud compute tpus tpu-vm ssh`.
# jax.distributed.initialize() finds the pod by itself (--distributed auto); data and
# WORKDIR should be gs:// URLs (or a shared mount) that every worker sees.
#
#   launch/tpu_pod.sh install TPU ZONE                 pip install -e '.[tpu]' on every worker
#   launch/tpu_pod.sh start   TPU ZONE CONFIG WORKDIR [--config.a.b=v ...]
#   launch/tpu_pod.sh wait    TPU ZONE WORKDIR         follow a started run
#   launch/tpu_pod.sh status  TPU ZONE WORKDIR         one line per worker
#   launch/tpu_pod.sh logs    TPU ZONE WORKDIR [LINES] the end of every worker's log
#   launch/tpu_pod.sh stop    TPU ZONE WORKDIR         SIGTERM: all save one step, exit 75
#
# `start` clears stale TPU users and /tmp/libtpu_lockfile on every worker, starts
# `python3 -m siamjax train` detached (a dropped ssh connection or a closed laptop does not
# stop it), then follows the run like `wait`: it exits 0 when every worker has finished,
# with a failed worker's exit code as soon as one fails (after stopping the others, which
# would otherwise wait for it in a collective), or 75 when the run was preempted (start it
# again to resume). Ctrl-C stops the following, not the run. Each worker logs to
# WORKDIR/logs/worker-<host>.log (a gs:// WORKDIR: ~/siamjax-runs/ on the worker while it
# runs, copied to WORKDIR/logs/ at exit; `logs` reads them live).
#
# Environment: SIAMJAX_REMOTE_DIR, the checkout on the workers (default: siamjax, in the
# home directory; clone it there first, e.g. `gcloud compute tpus tpu-vm ssh TPU --zone Z
# --worker=all --command "git clone URL siamjax"`); SIAMJAX_TRAIN_FLAGS, extra flags such
# as --dry-run; SIAMJAX_DETACH=1, `start` returns once the workers are started;
# SIAMJAX_POLL_SECONDS, how often `wait` asks (default 30).
set -uo pipefail
usage() {
  grep '^#   launch/tpu_pod.sh' "$0" | sed 's/^#   /usage: /' >&2
  exit 2
}
[ "$#" -lt 3 ] && usage
action="$1"
tpu="$2"
zone="$3"
shift 3
remote_dir="${SIAMJAX_REMOTE_DIR:-siamjax}"

# Runs `tpu_worker.sh ARGS...` on every worker: one remote command line, every argument
# quoted for the remote shell.
on_workers() {
  local command
  command="cd $(printf '%q' "$remote_dir") && "
  if [ -n "${SIAMJAX_TRAIN_FLAGS:-}" ]; then
    command+="SIAMJAX_TRAIN_FLAGS=$(printf '%q' "$SIAMJAX_TRAIN_FLAGS") "
  fi
  command+="bash launch/tpu_worker.sh"
  for argument in "$@"; do
    command+=" $(printf '%q' "$argument")"
  done
  gcloud compute tpus tpu-vm ssh "$tpu" --zone "$zone" --worker=all --command "$command"
}

# Follows the run until every worker has exited; see the header for the exit codes.
follow() {
  local workdir="$1" poll="${SIAMJAX_POLL_SECONDS:-30}" misses=0 lines
  while true; do
    if ! lines="$(on_workers status "$workdir" 2>&1)"; then
      misses=$((misses + 1))
      echo "tpu_pod: workers not reachable ($misses): ${lines##*$'\n'}" >&2
      if [ "$misses" -ge 10 ]; then
        echo "tpu_pod: giving up following; the run goes on: $0 status $tpu $zone $workdir" >&2
        return 1
      fi
      sleep "$poll"
      continue
    fi
    misses=0
    local workers running failed preempted
    workers="$(grep -c '^worker ' <<< "$lines")"
    running="$(grep -c ': running' <<< "$lines")"
    # The first worker that exited with anything but 0 (finished) or 75 (preempted).
    failed="$(awk '/: exited / { if ($4 != "0" && $4 != "75") { print; exit } }' <<< "$lines")"
    preempted="$(grep -c ': exited 75$' <<< "$lines")"
    if [ -n "$failed" ]; then
      echo "tpu_pod: $failed; stopping the others" >&2
      on_workers stop "$workdir" >&2
      on_workers logs "$workdir" 30 >&2
      local code="${failed##*exited }"
      [[ "$code" =~ ^[0-9]+$ ]] || code=1
      return "$code"
    fi
    if [ "$workers" -gt 0 ] && [ "$running" -eq 0 ]; then
      if grep -q ': not started' <<< "$lines"; then
        echo "tpu_pod: some workers never started:" >&2
        echo "$lines" >&2
        return 1
      fi
      if [ "$preempted" -gt 0 ]; then
        echo "tpu_pod: preempted; every worker saved (start again to resume)" >&2
        return 75
      fi
      echo "tpu_pod: every worker finished"
      return 0
    fi
    sleep "$poll"
  done
}

case "$action" in
  install)
    on_workers install
    ;;
  start)
    [ "$#" -lt 2 ] && usage
    config="$1"
    workdir="$2"
    shift 2
    on_workers start "$workdir" "$config" "$@" || exit $?
    if [ "${SIAMJAX_DETACH:-0}" = "1" ]; then
      echo "tpu_pod: started; follow with: $0 wait $tpu $zone $workdir"
      exit 0
    fi
    trap 'echo; echo "tpu_pod: stopped following; the run goes on: $0 status $tpu $zone $workdir" >&2; exit 130' INT
    follow "$workdir"
    ;;
  wait)
    [ "$#" -lt 1 ] && usage
    follow "$1"
    ;;
  status | stop)
    [ "$#" -lt 1 ] && usage
    on_workers "$action" "$1"
    ;;
  logs)
    [ "$#" -lt 1 ] && usage
    on_workers logs "$1" "${2:-20}"
    ;;
  *)
    usage
    ;;
esac
