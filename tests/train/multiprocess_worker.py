"""One process of the device-count tests (run by device_count_test.py).

    python -m tests.train.multiprocess_worker PORT NUM_PROCESSES PROCESS_ID WORKDIR OUT.json

Every process trains the 20-step tiny config (16 pairs a step in BatchNorm groups of 2,
the backbone unfrozen at step 8) on the same global batches, each process taking its
slice; process 0 writes the per-step losses and the device count to OUT.json, and the
final parameters are in WORKDIR/model.
"""

import json
import sys

GLOBAL_BATCH = 16
STEPS = 20


def invariance_config():
    from tests.train.helpers import tiny_config

    config = tiny_config(batch_size=GLOBAL_BATCH, group_size=2, steps_per_epoch=4, epochs=5,
                         train_epoch=2)  # fmt: skip
    config.train.checkpoint_every = 10
    return config


def main():
    port, count, index, workdir, out = sys.argv[1:6]
    import jax

    if int(count) > 1:
        jax.distributed.initialize(f"127.0.0.1:{port}", int(count), int(index))
    from siamjax.train.loop import train
    from tests.train.helpers import random_batch

    process, processes = jax.process_index(), jax.process_count()

    def source(position, local_batch):
        step = position // local_batch
        batch = random_batch(local_batch * processes, 1000 + step)
        part = slice(process * local_batch, (process + 1) * local_batch)
        return position + local_batch, {key: value[part] for key, value in batch.items()}

    summary = train(invariance_config(), workdir, batch_source=source)
    if process == 0:
        with open(out, "w") as stream:
            json.dump({"losses": summary["losses"], "devices": jax.device_count()}, stream)


if __name__ == "__main__":
    main()
