#!/usr/bin/env bash
# The end of every process's log of a run (SLURM tasks, TPU workers on a shared WORKDIR),
# with the exit code where one was recorded.
#   launch/logs.sh WORKDIR [LINES]
set -uo pipefail
if [ "$#" -lt 1 ]; then
  echo "usage: $0 WORKDIR [LINES]" >&2
  exit 2
fi
folder="$1/logs"
if ! compgen -G "$folder/*.log" > /dev/null; then
  echo "$folder: no logs" >&2
  exit 2
fi
for log in "$folder"/*.log; do
  exit_file="${log%.log}.exit"
  state=""
  [ -f "$exit_file" ] && state=" (exited $(cat "$exit_file"))"
  echo "== $log$state"
  tail -n "${2:-20}" "$log"
done
