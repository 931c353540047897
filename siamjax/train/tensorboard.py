"""TensorBoard scalars through tensorboardX, without importing TensorFlow.

``tf.summary`` (and ``tensorboard``'s own event writer, which opens files with
``tf.io.gfile``) would import TensorFlow into the trainer, which costs about half a
gigabyte of resident memory (benchmarks/README.md). tensorboardX writes the same event
files in pure Python. URL log directories (``gs://``, ...) reach it through the path
layer (``siamjax/fs.py``), registered as tensorboardX's writer factory for each URL
scheme.
"""

from __future__ import annotations

from siamjax import fs


class _PathLayerFactory:
    """tensorboardX's writer-factory interface over ``siamjax.fs``."""

    def open(self, path):
        return fs.open_file(path, "wb")

    def directory_check(self, path):
        fs.makedirs(path)


def _register_url_schemes(logdir: str) -> None:
    from tensorboardX import record_writer

    if "://" in logdir:
        record_writer.register_writer_factory(logdir.split("://", 1)[0], _PathLayerFactory())


class ScalarWriter:
    """``writer.scalars(step, {'loss': 0.3, ...})`` into ``logdir/events.out.tfevents.*``."""

    def __init__(self, logdir: str):
        from tensorboardX import FileWriter

        _register_url_schemes(logdir)
        # Flushed by ``flush()`` / ``close()``: the trainer calls them at its log intervals.
        self._writer = FileWriter(logdir, max_queue=1000, flush_secs=3600)
        self.path = self._writer.get_logdir()

    def restart(self, step: int) -> None:
        """Marks a resumed run: TensorBoard drops what earlier event files logged after
        ``step`` (a ``SessionLog.START`` event, its convention for restarts)."""
        from tensorboardX.proto import event_pb2

        start = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
        self._writer.add_event(event_pb2.Event(step=int(step), session_log=start))

    def scalars(self, step: int, values: dict) -> None:
        from tensorboardX.summary import scalar

        for tag, value in values.items():
            self._writer.add_summary(scalar(tag, float(value)), global_step=int(step))

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
