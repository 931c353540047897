"""One process of the multi-process training test (run by multiprocess_test.py).

    python -m tests.train.multiprocess_worker PORT NUM_PROCESSES PROCESS_ID WORKDIR OUT.json

Every process trains the tiny config on the same global batches (each takes its slice)
and process 0 writes the per-step losses to OUT.json.
"""

import json
import sys


def main():
    port, count, index, workdir, out = sys.argv[1:6]
    import jax

    if int(count) > 1:
        jax.distributed.initialize(f"127.0.0.1:{port}", int(count), int(index))
    from siamjax.train.loop import train
    from tests.train.helpers import random_batch, tiny_config

    config = tiny_config(batch_size=8, group_size=2, steps_per_epoch=2, epochs=2, train_epoch=1)
    process, processes = jax.process_index(), jax.process_count()

    def source(position, local_batch):
        step = position // local_batch
        batch = random_batch(local_batch * processes, 1000 + step)
        part = slice(process * local_batch, (process + 1) * local_batch)
        return position + local_batch, {key: value[part] for key, value in batch.items()}

    summary = train(config, workdir, batch_source=source)
    if process == 0:
        with open(out, "w") as stream:
            json.dump({"losses": summary["losses"], "devices": jax.device_count()}, stream)


if __name__ == "__main__":
    main()
