#!/usr/bin/env bash
# Every worker of a Cloud TPU VM pod runs the same command; jax.distributed.initialize()
# finds the pod by itself (--distributed auto). Data and WORKDIR should be gs:// URLs
# that all workers see.
#   launch/tpu_pod.sh TPU_NAME ZONE CONFIG WORKDIR [--config.a.b=v ...]
# Assumes the repository is checked out and installed (pip install -e .) at ~/siamjax on
# every worker, e.g. with: gcloud compute tpus tpu-vm ssh NAME --zone Z --worker=all \
#   --command "git clone ... ~/siamjax && pip install -e ~/siamjax"
set -euo pipefail
if [ "$#" -lt 4 ]; then
  echo "usage: $0 TPU_NAME ZONE CONFIG WORKDIR [--config.a.b=v ...]" >&2
  exit 2
fi
tpu="$1"
zone="$2"
config="$3"
workdir="$4"
shift 4
# One remote command line, every argument quoted for the remote shell (no trailing
# empty argument when there are no overrides). SIAMJAX_TRAIN_FLAGS adds flags such as
# --dry-run to check the resolved cluster, mesh and shards before a long run.
command="cd ~/siamjax && siamjax train --distributed auto"
for argument in --config "$config" --workdir "$workdir" ${SIAMJAX_TRAIN_FLAGS:-} "$@"; do
  command+=" $(printf '%q' "$argument")"
done
gcloud compute tpus tpu-vm ssh "$tpu" --zone "$zone" --worker=all --command "$command"
