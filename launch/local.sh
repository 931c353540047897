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
exec siamjax train --config "$config" --workdir "$workdir" "$@"
