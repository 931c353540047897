"""One process of the multi-process preemption tests (run by preemption_test.py).

    python -m tests.train.preemption_worker PORT NUM_PROCESSES PROCESS_ID WORKDIR OUT.json PAUSE

Every process trains the tiny config (12 steps) on the same global batches, sleeping
PAUSE seconds before each batch so a signal lands mid-run, then writes its summary to
OUT.json and exits 75 when preempted (as ``siamjax train`` does).
"""

import json
import sys
import time


def main():
    port, count, index, workdir, out, pause = sys.argv[1:7]
    import jax

    jax.distributed.initialize(f"127.0.0.1:{port}", int(count), int(index))
    from siamjax.cli.common import EXIT_PREEMPTED
    from siamjax.train.loop import train
    from tests.train.helpers import random_batch, tiny_config

    config = tiny_config(batch_size=8, group_size=2, steps_per_epoch=4, epochs=3, train_epoch=1)
    config.train.checkpoint_every = 1000  # saves: epoch ends and the preemption's
    config.train.log_every = 1
    process, processes = jax.process_index(), jax.process_count()

    def source(position, local_batch):
        time.sleep(float(pause))
        step = position // local_batch
        with open(f"{out}.progress", "w") as stream:
            stream.write(str(step))
        batch = random_batch(local_batch * processes, 1000 + step)
        part = slice(process * local_batch, (process + 1) * local_batch)
        return position + local_batch, {key: value[part] for key, value in batch.items()}

    summary = train(config, workdir, batch_source=source)
    with open(out, "w") as stream:
        json.dump({"status": summary["status"], "step": summary["step"]}, stream)
    jax.distributed.shutdown()
    sys.exit(EXIT_PREEMPTED if summary["status"] == "preempted" else 0)


if __name__ == "__main__":
    main()
