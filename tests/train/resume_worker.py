"""A tiny training run for the SIGKILL resume test (run by resume_test.py).

python -m tests.train.resume_worker WORKDIR [SLEEP_PER_STEP]
"""

import sys
import time


def main():
    workdir = sys.argv[1]
    pause = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    from siamjax.train.loop import train
    from tests.train.helpers import batch_source, tiny_config

    config = tiny_config(batch_size=8, group_size=4, steps_per_epoch=4, epochs=3, train_epoch=1)
    config.train.checkpoint_every = 3
    config.train.log_every = 1  # metrics.jsonl: one line per step
    source = batch_source()

    def slow_source(position, batch_size):
        time.sleep(pause)  # leaves the parent time to kill us mid-run
        return source(position, batch_size)

    summary = train(config, workdir, batch_source=slow_source)
    print(f"done {summary['status']} {summary['step']}", flush=True)


if __name__ == "__main__":
    main()
