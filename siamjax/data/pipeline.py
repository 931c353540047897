"""The tf.data training pipeline: per-host pair batches with a checkpointable position.

    iterator = PairIterator(config.input, seed=config.seed, batch_size=per_host_batch)
    batch = next(iterator)    # numpy, siamjax/data/batch_format.py: template (B,127,127,3)
                              # and search (B,255,255,3) uint8 BGR with their colour offsets
                              # and blurs; search_box (B,4) x1,y1,x2,y2 in search-crop
                              # pixels; negative (B,) bool
    state = iterator.state()  # {"position": n}; PairIterator(..., position=n) resumes exactly

Sample ``i`` of a host is a pure function of (seed, host, i) (``PairSampler.spec``), read
by byte offset and augmented with TF ops in parallel (``deterministic=True`` keeps the
order), so a run restored at a saved position sees exactly the stream it would have seen.
"""

from __future__ import annotations

from siamjax.data.augment import warp_crop_tf
from siamjax.data.batch_format import photometric_names
from siamjax.data.pair_source import PairSource
from siamjax.data.sources import DataError

_FIELDS = ("jpeg", "box", "xs", "ys", "colour", "blur_size", "blur_weight", "flip")


def make_dataset(pair_source: PairSource, batch_size: int, start_position: int = 0):
    """tf.data.Dataset of per-host batches starting at sample ``start_position``."""
    import tensorflow as tf

    # Import what the loader threads use here, in the calling thread: first imports run
    # concurrently inside tf.numpy_function threads are a needless risk.
    from google.protobuf import message  # noqa: F401
    from tensorflow.core.example import example_pb2  # noqa: F401

    dtypes = [tf.string, tf.float32, tf.float32, tf.float32, tf.float32, tf.int32, tf.float32,
              tf.bool] * 2 + [tf.bool, tf.bool]  # fmt: skip

    def load(position):
        values = tf.numpy_function(pair_source.load, [position], dtypes, stateful=False)
        return values

    def build(*values):
        gray, negative = values[-2], values[-1]
        sample = {"negative": negative}
        for offset, role in ((0, "template"), (len(_FIELDS), "search")):
            jpeg, box, xs, ys, colour, blur_size, blur_weight, flip = values[offset : offset + 8]
            size = pair_source.sizes[role]
            # INTEGER_ACCURATE is libjpeg's ISLOW IDCT, what OpenCV (and so pysot's
            # cv2.imread) decodes with; TF's default IDCT is up to 7 grey levels away.
            image = tf.io.decode_jpeg(jpeg, channels=3, dct_method="INTEGER_ACCURATE")
            image = image[..., ::-1]  # RGB -> BGR
            xs.set_shape([size])
            ys.set_shape([size])
            crop = warp_crop_tf(image, {"xs": xs, "ys": ys}, flip, gray)
            crop.set_shape([size, size, 3])
            sample[role] = crop
            names = photometric_names(role)
            colour.set_shape([3])
            blur_size.set_shape([])
            blur_weight.set_shape([])
            sample[names["colour_bgr"]] = colour
            sample[names["blur_size"]] = blur_size
            sample[names["blur_weight"]] = blur_weight
            if role == "search":
                box.set_shape([4])
                sample["search_box"] = box
        sample["negative"].set_shape([])
        return sample

    options = tf.data.Options()
    options.deterministic = True
    dataset = tf.data.Dataset.range(int(start_position), 2**62)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.map(build, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    return dataset.prefetch(2).with_options(options)


class PairIterator:
    """Iterates numpy batches; ``state()`` is the position of the next unread sample."""

    def __init__(self, input_config, seed: int, batch_size: int, position: int = 0,
                 process_index=None, process_count=None, pair_source=None):  # fmt: skip
        self.source = pair_source or PairSource(input_config, seed, process_index, process_count)
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
        return f"tf loader, {self.batch_size} pairs per batch, from sample {self.position}"

    def restore(self, state: dict) -> PairIterator:
        """A new iterator over the same sources continuing at ``state['position']``."""
        return PairIterator(
            None, 0, self.batch_size, int(state["position"]), pair_source=self.source
        )

    def close(self) -> None:
        self._iterator = None


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
        from siamjax.data.workers import WorkerPairIterator

        return WorkerPairIterator(input_config, seed, batch_size, position, process_index,
                                  process_count)  # fmt: skip
    if loader == "tf":
        return PairIterator(input_config, seed, batch_size, position, process_index,
                            process_count)  # fmt: skip
    raise ValueError(f"config.input.loader: {loader!r} is neither 'workers' nor 'tf'")
