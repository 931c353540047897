"""One process of the multi-host rehearsal (run by multihost_test.py).

    python -m tests.train.multihost_worker PORT NUM_PROCESSES PROCESS_ID DATA WORKDIR OUT.json
    python -m tests.train.multihost_worker reference EMULATED_HOSTS DATA WORKDIR OUT.json

The first form is one host of a ``jax.distributed`` run on 127.0.0.1 training from the
prepared TFRecords in DATA with the default loader; it writes the shard files it reads.
The second is one process with the same global batch, assembled by concatenating the
per-host input streams of EMULATED_HOSTS hosts, as ``jax.make_array_from_process_local_data``
assembles them from several hosts.
"""

import json
import sys


def rehearsal_config(data: str):
    from siamjax.config_defaults import input_config
    from tests.train.helpers import tiny_config

    config = tiny_config(batch_size=8, group_size=2, steps_per_epoch=4, epochs=3, train_epoch=1)
    config.input = input_config([{"name": "toy", "path": data, "frame_range": 3, "num_use": -1}])
    config.input.videos_per_epoch = 8 * 4
    config.input.workers = 1  # 4 hosts share 2 cores here
    config.input.prefetch_batches = 2
    config.train.checkpoint_every = 2
    return config


def host(port, count, index, data, workdir, out):
    import jax

    jax.distributed.initialize(f"127.0.0.1:{port}", int(count), int(index))
    from siamjax.data.sources import host_shards, list_shards
    from siamjax.train.loop import train

    config = rehearsal_config(data)
    summary = train(config, workdir)
    shards = host_shards(list_shards(data), jax.process_index(), jax.process_count())
    with open(out, "w") as stream:
        json.dump({"status": summary["status"], "step": summary["step"], "shards": shards,
                   "devices": jax.device_count(), "losses": summary["losses"]}, stream)  # fmt: skip


def reference(hosts, data, workdir, out):
    import jax
    import numpy as np

    from siamjax.data.pipeline import pair_iterator
    from siamjax.train.loop import train

    config = rehearsal_config(data)
    hosts = int(hosts)
    local = int(config.train.batch_size) // hosts
    iterators = {}

    def source(position, batch_size):
        assert batch_size == local * hosts
        parts = []
        for index in range(hosts):
            if index not in iterators:
                iterators[index] = pair_iterator(config.input, int(config.seed), local,
                                                 position // hosts, index, hosts)  # fmt: skip
            parts.append(next(iterators[index]))
        batch = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
        return position + batch_size, batch

    try:
        summary = train(config, workdir, batch_source=source)
    finally:
        for iterator in iterators.values():
            iterator.close()
    with open(out, "w") as stream:
        json.dump({"status": summary["status"], "step": summary["step"],
                   "devices": jax.device_count(), "losses": summary["losses"]}, stream)  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1] == "reference":
        reference(*sys.argv[2:6])
    else:
        host(*sys.argv[1:7])
