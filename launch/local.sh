#!/usr/bin/env bash
# One process on all local devices (CPU, one GPU host, or a single TPU VM).
#   launch/local.sh CONFIG WORKDIR [--config.a.b=v ...]
# Re-running the same command resumes from WORKDIR's newest checkpoint.
set -euo pipefail
if [ "$#" -lt 2 ]; then
  echo "usage: $0 CONFIG WORKDIR [--config.a.b=v ...]" >&2
  exit 2
fi
config="$1"
workdir="$2"
shift 2
# Exit code 75: stopped by SIGTERM after saving (e.g. a preemptible VM's notice). Set
# SIAMJAX_RESTARTS=N to resume up to N times in place; by default the code is returned.
restarts="${SIAMJAX_RESTARTS:-0}"
while true; do
  status=0
  siamjax train --config "$config" --workdir "$workdir" "$@" || status=$?
  if [ "$status" -ne 75 ] || [ "$restarts" -le 0 ]; then
    exit "$status"
  fi
  restarts=$((restarts - 1))
  echo "siamjax: preempted after saving; resuming ($restarts restarts left)" >&2
done
