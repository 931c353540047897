"""``siamjax check-data DIR``: decode every record of a prepared folder and check every box."""

from __future__ import annotations

import json

import numpy as np
from tqdm import tqdm

from siamjax import fs
from siamjax.data import schema


def check_folder(path: str, progress: bool = True) -> dict:
    """Returns {'shards', 'records', 'problems': [(item, reason)], 'per_dataset': {...}}."""
    import tensorflow as tf

    problems, per_dataset, records = [], {}, 0
    if not fs.isdir(path):
        return {"shards": 0, "records": 0, "problems": [(path, "not a folder")], "per_dataset": {}}
    shards = [n for n in fs.listdir(path) if n.endswith(".tfrecord")]
    if not shards:
        problems.append((path, "no .tfrecord shards"))
    spec = schema.feature_spec()
    for shard in tqdm(shards, desc="check-data", unit="shard", disable=not progress or not shards):
        shard_path = fs.join(path, shard)
        index_path = fs.join(path, schema.index_name(shard))
        expected = None
        if fs.isfile(index_path):
            try:
                expected = len(json.loads(fs.read_text(index_path))["records"])
            except (OSError, ValueError, KeyError, TypeError) as error:
                problems.append((index_path, f"unreadable index ({type(error).__name__}: "
                                             f"{str(error)[:120]})"))  # fmt: skip
        else:
            problems.append((shard_path, "index file missing"))
        count = 0
        try:
            for serialized in tf.data.TFRecordDataset(shard_path):
                item = f"{shard_path} record {count}"
                count += 1
                try:
                    example = tf.io.parse_single_example(serialized, spec)
                    image = tf.io.decode_jpeg(example["image"], channels=3)
                except tf.errors.OpError as error:
                    problems.append((item, f"cannot decode ({error.message.splitlines()[0]})"))
                    continue
                if tuple(image.shape) != (511, 511, 3):
                    problems.append((item, f"crop is {tuple(image.shape)}, expected (511, 511, 3)"))
                box = example["box"].numpy()
                if not np.all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
                    problems.append((item, f"bad box {box.tolist()}"))
                name = example["dataset"].numpy().decode()
                per_dataset[name] = per_dataset.get(name, 0) + 1
        except tf.errors.DataLossError as error:
            problems.append(
                (shard_path, f"truncated or corrupt after {count} records ({error.message})")
            )
        except tf.errors.OpError as error:  # unreadable: permissions, a folder, I/O
            problems.append((shard_path, f"cannot read ({error.message.splitlines()[0]})"))
        if expected is not None and count != expected:
            problems.append((shard_path, f"{count} records, index lists {expected}"))
        records += count
    return {"shards": len(shards), "records": records, "problems": problems,
            "per_dataset": per_dataset}  # fmt: skip
