#!/usr/bin/env bash
# N processes on this machine talking over 127.0.0.1: the multi-host code path on a CPU.
#   launch/multiprocess_local.sh N CONFIG WORKDIR [--config.a.b=v ...]
# Each process gets DEVICES_PER_PROCESS (default 2) host CPU devices.
set -euo pipefail
if [ "$#" -lt 3 ]; then
  echo "usage: $0 N CONFIG WORKDIR [--config.a.b=v ...]" >&2
  exit 2
fi
count="$1"
config="$2"
workdir="$3"
shift 3
port="${PORT:-$((20000 + RANDOM % 20000))}"
devices="${DEVICES_PER_PROCESS:-2}"
pids=()
for ((i = 0; i < count; i++)); do
  JAX_PLATFORMS=cpu XLA_FLAGS="--xla_force_host_platform_device_count=$devices" \
    siamjax train --distributed explicit --coordinator "127.0.0.1:$port" \
    --num-processes "$count" --process-id "$i" --config "$config" --workdir "$workdir" "$@" &
  pids+=("$!")
done
status=0
for pid in "${pids[@]}"; do
  wait "$pid" || status=$?
done
exit "$status"
