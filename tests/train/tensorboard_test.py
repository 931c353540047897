"""The TensorFlow-free event writer (tensorboardX): files TensorFlow and TensorBoard read."""

import os
import subprocess
import sys

import google_crc32c
import numpy as np

from siamjax.data.schema import masked_crc32c
from siamjax.train.tensorboard import ScalarWriter

crc32c = google_crc32c.value


def test_crc32c_known_answers():
    # RFC 3720 B.4 test vectors and the standard check value.
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(bytes([0xFF] * 32)) == 0x62A8AB43
    assert masked_crc32c(b"") != crc32c(b"")


def test_scalars_are_read_back_by_tensorflow_and_tensorboard(tmp_path):
    import tensorflow as tf
    from tensorboard.backend.event_processing import event_accumulator

    writer = ScalarWriter(str(tmp_path))
    writer.scalars(10, {"loss": 0.5, "lr/head": 0.005})
    writer.scalars(20, {"loss": 0.25, "lr/head": 0.004})
    writer.close()
    (name,) = os.listdir(tmp_path)
    # TFRecordDataset checks both CRCs of every record: a wrong checksum raises.
    records = list(tf.data.TFRecordDataset(str(tmp_path / name)).as_numpy_iterator())
    assert len(records) == 5  # file version + one event per scalar
    accumulator = event_accumulator.EventAccumulator(str(tmp_path))
    accumulator.Reload()
    losses = accumulator.Scalars("loss")
    assert [event.step for event in losses] == [10, 20]
    np.testing.assert_allclose([event.value for event in losses], [0.5, 0.25])
    np.testing.assert_allclose([e.value for e in accumulator.Scalars("lr/head")], [0.005, 0.004])


def test_writing_does_not_import_tensorflow(tmp_path):
    code = (
        "import sys; from siamjax.train.tensorboard import ScalarWriter; "
        f"w = ScalarWriter({str(tmp_path)!r}); w.scalars(1, {{'a': 1.0}}); w.close(); "
        "print('tensorflow' in sys.modules)"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout  # fmt: skip
    assert output.strip().splitlines()[-1] == "False"
