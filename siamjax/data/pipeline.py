"""The tf.data training pipeline: per-host pair batches with a checkpointable position.

    iterator = PairIterator(config.input, seed=config.seed, batch_size=per_host_batch)
    batch = next(iterator)    # numpy, siamjax/data/batch_format.py: template (B,127,127,3)
                              # and search (B,255,255,3) uint8 BGR with their colour offsets
                              # and blurs; search_box (B,4) x1,y1,x2,y2 in search-crop
                              # pixels; negative (B,) bool
    state = iterator.state()  # {"position": n}; PairIterator(..., position=n) resumes exactly

Sample ``i`` of a host is a pure function of (seed, host, i) (``PairSampler.spec``); its two
records are read by byte offset with tf.data's ``FixedLengthRecordDataset``, many samples
at once (``interleave``), and decoded and augmented with TF ops in a parallel map
(``deterministic=True`` keeps the order), so a run restored at a saved position sees
exactly the stream it would have seen.
"""

from __future__ import annotations

import numpy as np

from siamjax.data import schema
from siamjax.data.augment import warp_crop_tf
from siamjax.data.batch_format import photometric_names
from siamjax.data.pair_source import MAX_SUBSTITUTES, PairSource
from siamjax.data.sources import DataError, load_sources
from siamjax.data.staging import start_staging
from siamjax.data.workers import WorkerPairIterator

_PLAN = ("shard", "offset", "length", "shard_size", "box", "xs", "ys", "colour", "blur_size",
         "blur_weight", "flip")  # fmt: skip
_ROLES = ("template", "search")
# Samples read at once; each waits on its own reads (tens of ms on a bucket).
_PARALLEL_SAMPLES = 8


def make_dataset(pair_source: PairSource, batch_size: int, start_position: int = 0):
    """tf.data.Dataset of per-host batches starting at sample ``start_position``.

    Per sample: its plan (which two records, the crop geometry and photometric draws: a
    pure function of the position, ``PairSource.plan``), the two records read from their
    shards with ``FixedLengthRecordDataset`` at their byte offsets (interleaved, many
    samples in flight), their checksums checked, the Examples parsed, the JPEGs decoded
    and warped with TF ops in a parallel map. Deterministic: the batches are the same
    samples, in the same order, as the ``workers`` loader's (within one grey level).
    """
    import tensorflow as tf

    def plan(position):
        dtypes = [tf.string, tf.int64, tf.int64, tf.int64, tf.float32, tf.float32, tf.float32,
                  tf.float32, tf.int32, tf.float32, tf.bool] * 2 + [tf.bool, tf.bool]  # fmt: skip
        values = tf.numpy_function(pair_source.plan, [position], dtypes, stateful=False)
        count = len(_PLAN)
        sample = {role: dict(zip(_PLAN, values[k * count : (k + 1) * count], strict=True))
                  for k, role in enumerate(_ROLES)}  # fmt: skip
        sample["gray"], sample["negative"] = values[-2], values[-1]
        return sample

    def record(crop):
        framed = crop["length"] + schema.RECORD_HEADER + schema.RECORD_FOOTER
        # The shard's bytes after the record are its "footer", so the dataset holds
        # exactly one record and reads nothing else.
        return tf.data.FixedLengthRecordDataset(
            crop["shard"], framed, header_bytes=crop["offset"],
            footer_bytes=crop["shard_size"] - crop["offset"] - framed, buffer_size=framed,
        )  # fmt: skip

    def with_records(sample):
        records = tf.data.Dataset.zip(tuple(record(sample[role]) for role in _ROLES))
        return records.map(lambda *framed: (sample, *framed))

    def sound(sample, *framed):
        crops = [sample[role] for role in _ROLES]
        arguments = [*framed] + [crop[key] for key in ("shard", "offset", "length")
                                 for crop in crops]  # fmt: skip
        return tf.numpy_function(_pair_check(pair_source), arguments, tf.bool, stateful=False)

    def exhausted(position):
        # Raises the DataError; the element is never made.
        failed = tf.numpy_function(_no_sound_sample, [position], tf.int64, stateful=True)
        return plan(failed), tf.constant(b""), tf.constant(b"")

    attempts = MAX_SUBSTITUTES + 1 if pair_source.skip_corrupt else 1

    def first_sound(position):
        """Sample ``position``, or with ``input.skip_corrupt`` the first sound one of the
        next ``MAX_SUBSTITUTES`` (``PairSource.sample``'s rule)."""
        candidates = tf.data.Dataset.range(position, position + attempts).map(plan)
        found = candidates.flat_map(with_records).filter(sound)
        return found.concatenate(tf.data.Dataset.from_tensors(position).map(exhausted)).take(1)

    def build(sample, *framed):
        result = {"negative": sample["negative"]}
        for role, framed_record in zip(_ROLES, framed, strict=True):
            crop = sample[role]
            data = tf.strings.substr(
                framed_record, tf.constant(schema.RECORD_HEADER, tf.int64), crop["length"]
            )
            jpeg = tf.io.parse_single_example(
                data, {"image": tf.io.FixedLenFeature([], tf.string)}
            )["image"]
            # INTEGER_ACCURATE is libjpeg's ISLOW IDCT, what OpenCV (and so pysot's
            # cv2.imread) decodes with; TF's default IDCT is up to 7 grey levels away.
            image = tf.io.decode_jpeg(jpeg, channels=3, dct_method="INTEGER_ACCURATE")
            image = image[..., ::-1]  # RGB -> BGR
            size = pair_source.sizes[role]
            crop["xs"].set_shape([size])
            crop["ys"].set_shape([size])
            warped = warp_crop_tf(image, {"xs": crop["xs"], "ys": crop["ys"]}, crop["flip"],
                                  sample["gray"])  # fmt: skip
            warped.set_shape([size, size, 3])
            result[role] = warped
            names = photometric_names(role)
            crop["colour"].set_shape([3])
            crop["blur_size"].set_shape([])
            crop["blur_weight"].set_shape([])
            result[names["colour_bgr"]] = crop["colour"]
            result[names["blur_size"]] = crop["blur_size"]
            result[names["blur_weight"]] = crop["blur_weight"]
            if role == "search":
                crop["box"].set_shape([4])
                result["search_box"] = crop["box"]
        result["negative"].set_shape([])
        return result

    options = tf.data.Options()
    options.deterministic = True
    dataset = tf.data.Dataset.range(int(start_position), 2**62)
    # Each position gives exactly one element, so the interleave keeps their order.
    dataset = dataset.interleave(
        first_sound,
        cycle_length=_PARALLEL_SAMPLES,
        block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    dataset = dataset.map(build, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    return dataset.prefetch(2).with_options(options)


def _pair_check(pair_source: PairSource):
    """(both framed records, their shards, offsets, lengths) -> whether both are sound
    (``PairSource.check_record``); one Python call per sample."""

    def check(template, search, *where):
        shards, offsets, lengths = where[0:2], where[2:4], where[4:6]
        checks = [
            pair_source.check_record(*args)
            for args in zip((template, search), shards, offsets, lengths, strict=True)
        ]
        return np.bool_(all(checks))

    return check


def _no_sound_sample(position):
    raise DataError(
        f"sample {int(position)} and the {MAX_SUBSTITUTES} after it read corrupt records"
    )


class PairIterator:
    """Iterates numpy batches; ``state()`` is the position of the next unread sample."""

    def __init__(self, input_config, seed: int, batch_size: int, position: int = 0,
                 process_index=None, process_count=None, pair_source=None):  # fmt: skip
        self._stager = None  # a restored iterator shares its source, not the copying
        if pair_source is None:
            if process_index is None or process_count is None:
                import jax  # not at module level: the loader's workers import no JAX

                process_index, process_count = jax.process_index(), jax.process_count()
            sources = load_sources(input_config, process_index, process_count)
            self._stager = start_staging(input_config, sources)  # URL shards to local disk
            stage_dir = None if self._stager is None else self._stager.stage_dir
            pair_source = PairSource(input_config, seed, process_index, process_count, sources,
                                     stage_dir)  # fmt: skip
        self.source = pair_source
        self.batch_size = int(batch_size)
        self.position = int(position)
        self._iterator = iter(
            make_dataset(self.source, self.batch_size, self.position).as_numpy_iterator()
        )

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        import tensorflow as tf

        try:
            batch = next(self._iterator)
        except tf.errors.OpError as error:
            # A DataError raised inside the graph's py_function arrives wrapped in TF's
            # error; give the trainer the one line that names shard and byte offset.
            raise DataError(_data_error_line(str(error))) from None
        self.position += self.batch_size
        return batch

    def state(self) -> dict:
        return {"position": self.position}

    def describe(self) -> str:
        staging = f"; {self._stager.describe()}" if self._stager is not None else ""
        return f"tf loader, {self.batch_size} pairs per batch, from sample {self.position}{staging}"

    def restore(self, state: dict) -> PairIterator:
        """A new iterator over the same sources continuing at ``state['position']``."""
        return PairIterator(
            None, 0, self.batch_size, int(state["position"]), pair_source=self.source
        )

    def close(self) -> None:
        self._iterator = None
        if self._stager is not None:
            self._stager.close()


def _data_error_line(text: str) -> str:
    """The ``DataError: ...`` line of a TensorFlow error text, else its first line."""
    for line in text.splitlines():
        _, marker, message = line.partition("DataError: ")
        if marker:
            return message.strip()
    return text.strip().splitlines()[0] if text.strip() else "input pipeline failed"


def pair_iterator(input_config, seed: int, batch_size: int, position: int = 0,
                  process_index=None, process_count=None):  # fmt: skip
    """The loader ``config.input.loader`` names: ``'workers'`` (OpenCV in worker
    processes, ``WorkerPairIterator``) or ``'tf'`` (this module's tf.data graph,
    ``PairIterator``). Both give the same samples up to OpenCV-vs-TF rounding (within one
    grey level); each is deterministic and resumable on its own."""
    loader = input_config.get("loader", "workers")
    if loader == "workers":
        return WorkerPairIterator(input_config, seed, batch_size, position, process_index,
                                  process_count)  # fmt: skip
    if loader == "tf":
        return PairIterator(input_config, seed, batch_size, position, process_index,
                            process_count)  # fmt: skip
    raise ValueError(f"config.input.loader: {loader!r} is neither 'workers' nor 'tf'")
