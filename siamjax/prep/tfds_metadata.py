"""TFDS metadata for a prepared folder, so ``tfds.builder_from_directory`` reads it.

``siamjax prep`` writes ``dataset_info.json`` and ``features.json`` beside the shards
(the shards themselves are unchanged): any TFDS user can then inspect or reuse the crops
without siamjax,

    import tensorflow_datasets as tfds
    crops = tfds.builder_from_directory("data/got10k").as_dataset(split="train")

with features ``image`` (511x511x3 uint8, **RGB** as TensorFlow decodes JPEG; siamjax's
own loaders decode BGR with OpenCV), ``box`` (x1, y1, x2, y2 of the target in the
original image), ``dataset``, ``video``, ``track`` and ``frame``. The record format is
``siamjax/data/schema.py``'s; these files only describe it.
"""

from __future__ import annotations

import logging

import numpy as np

from siamjax import fs
from siamjax.data import schema


def crop_features():
    import tensorflow_datasets as tfds

    return tfds.features.FeaturesDict(
        {
            "dataset": tfds.features.Text(),
            "video": tfds.features.Text(),
            "track": tfds.features.Text(),
            "frame": tfds.features.Scalar(dtype=np.int64),
            "box": tfds.features.Tensor(shape=(4,), dtype=np.float32),
            "image": tfds.features.Image(shape=(511, 511, 3), encoding_format="jpeg"),
        }
    )


def write_tfds_metadata(out: str, manifest: dict) -> bool:
    """Describes the shards of ``manifest`` (one ``train`` split) in ``out``; False (and a
    warning) where TensorFlow Datasets cannot be imported (e.g. a JAX GPU image without
    TensorFlow): the shards are complete and siamjax reads them without the metadata."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:
        logging.getLogger(__name__).warning(
            "%s: no TFDS metadata written (%s); siamjax reads the shards without it", out, error
        )
        return False

    shards = sorted(manifest["shards"], key=lambda shard: shard["file"])
    out = fs.absolute(out)  # TFDS's path layer is etils epath, as orbax's
    # Shard files are named as schema.shard_name: <dataset>-00000-of-00012.tfrecord
    template = tfds.core.ShardedFileTemplate(
        data_dir=out,
        template="{DATASET}-{SHARD_X_OF_Y}.{FILEFORMAT}",
        dataset_name=manifest["dataset"],
        split="train",
        filetype_suffix="tfrecord",
    )
    assert template.sharded_filepath(
        shard_index=0, num_shards=len(shards)
    ).name == schema.shard_name(manifest["dataset"], 0, len(shards))
    split = tfds.core.SplitInfo(
        name="train",
        shard_lengths=[int(shard["records"]) for shard in shards],
        num_bytes=sum(int(shard["bytes"]) for shard in shards),
        filename_template=template,
    )
    tfds.folder_dataset.write_metadata(
        data_dir=out,
        features=crop_features(),
        split_infos=[split],
        filename_template=template,
        check_data=False,
        description=f"511x511 context crops of {manifest['dataset']}, written by siamjax prep",
    )
    return True
