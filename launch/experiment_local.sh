#!/usr/bin/env bash
# An experiment's runs split over N processes on this machine, one GPU each when there are
# GPUs (CUDA_VISIBLE_DEVICES=i), else the host CPU; process 0 writes the report.
#   launch/experiment_local.sh N CONFIG WORKDIR [--add FILE] [--config.a.b=v ...]
# Under SLURM use one task per GPU instead:
#   srun --ntasks=N --gpus-per-task=1 siamjax experiment --distributed auto --config ... --workdir ...
set -euo pipefail
if [ "$#" -lt 3 ]; then
  echo "usage: $0 N CONFIG WORKDIR [siamjax experiment options ...]" >&2
  exit 2
fi
count="$1"
config="$2"
workdir="$3"
shift 3
gpus=0
if command -v nvidia-smi > /dev/null 2>&1; then
  gpus="$(nvidia-smi --list-gpus | wc -l)"
fi
pids=()
for ((i = 0; i < count; i++)); do
  if [ "$gpus" -gt 0 ]; then
    export CUDA_VISIBLE_DEVICES="$((i % gpus))"
  fi
  siamjax experiment --distributed explicit --num-processes "$count" --process-id "$i" \
    --config "$config" --workdir "$workdir" "$@" &
  pids+=("$!")
done
status=0
for pid in "${pids[@]}"; do
  wait "$pid" || status=$?
done
exit "$status"
