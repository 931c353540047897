"""One process of the device-count tests (run by device_count_test.py).

    python -m tests.train.multiprocess_worker PORT NUM_PROCESSES PROCESS_ID WORKDIR OUT.json [DTYPE]

Every process trains the 20-step tiny config (16 pairs a step in BatchNorm groups of 2,
the backbone unfrozen at step 8) on the same global batches, each process taking its
slice; process 0 writes the per-step losses and the device count to OUT.json, and the
final parameters are in WORKDIR/model. DTYPE: the compute dtype, float32 (default) or
float64.
"""

import json
import sys

GLOBAL_BATCH = 16
STEPS = 20


def invariance_config(compute_dtype="float32"):
    from tests.train.helpers import tiny_config

    config = tiny_config(batch_size=GLOBAL_BATCH, group_size=2, steps_per_epoch=4, epochs=5,
                         train_epoch=2)  # fmt: skip
    config.train.checkpoint_every = 10
    config.train.compute_dtype = compute_dtype
    return config


def main():
    port, count, index, workdir, out = sys.argv[1:6]
    compute_dtype = sys.argv[6] if len(sys.argv) > 6 else "float32"
    import jax

    # float64: every value and statistic in float64 (jax_enable_x64), so what remains
    # of the device count is rounding at 1e-16 rather than float32's 1e-7.
    jax.config.update("jax_enable_x64", compute_dtype == "float64")

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

    summary = train(invariance_config(compute_dtype), workdir, batch_source=source)
    if process == 0:
        with open(out, "w") as stream:
            json.dump({"losses": summary["losses"], "devices": jax.device_count()}, stream)


if __name__ == "__main__":
    main()
