"""The ``workers`` loader: pair batches built with OpenCV in worker processes.

    iterator = WorkerPairIterator(config.input, seed, batch_size=per_host_batch)
    batch = next(iterator)    # the same arrays as PairIterator's (pipeline.py)
    state = iterator.state()  # {"position": n}; WorkerPairIterator(..., position=n) resumes
    iterator.close()          # stops the workers (also on garbage collection / exit)

Why processes: a pair is milliseconds of JPEG decoding and warping. Inside ``tf.data``
the Python part of a sample holds the GIL and TensorFlow's per-op overhead dominates
(benchmarks/README.md, ``input_pipeline.py``); OpenCV in one process per core runs
outside any shared lock and makes pysot's own calls (``cvtColor``, ``warpAffine``), so
it is also the reference's arithmetic.

Sample ``i`` is ``PairSource.sample(i)``, a pure function of (seed, host, i): the stream
does not depend on the number of workers or on which worker builds which sample, and a run
restored at a saved position sees exactly the stream it would have seen. Workers write
each sample straight into a slot of shared-memory batch buffers; the main process copies a
finished batch out and hands the slot back. The sources (shard indices) are loaded once,
in the main process, and sent to the workers; workers import numpy and OpenCV only.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import shutil
import signal
import threading
import weakref
from multiprocessing import shared_memory

import numpy as np

from siamjax import fs
from siamjax.data.batch_format import batch_layout
from siamjax.data.pair_source import PairSource
from siamjax.data.sources import DataError, load_sources
from siamjax.data.staging import start_staging

_POLL_SECONDS = 1.0


# More workers than this rarely pays: each holds its own copy of the index, and 16 feed
# more pairs than one host's chips take (benchmarks/README.md, input pipeline).
MAX_DEFAULT_WORKERS = 16


def usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def local_process_count() -> int:
    """Training processes sharing this host (one per GPU under SLURM), from the launcher's
    environment: ``SIAMJAX_LOCAL_PROCESSES``, ``SLURM_NTASKS_PER_NODE`` ("8" or
    "8(x2)") or ``LOCAL_WORLD_SIZE``; 1 when none is set."""
    for name in ("SIAMJAX_LOCAL_PROCESSES", "SLURM_NTASKS_PER_NODE", "LOCAL_WORLD_SIZE"):
        value = os.environ.get(name, "").split("(")[0].split(",")[0].strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def default_workers() -> int:
    """``config.input.workers = 0``: the cores this process may use, at most
    ``MAX_DEFAULT_WORKERS``. When the process may use every core of the host while other
    training processes share it (one per GPU, no CPU binding), its share of them."""
    cores = usable_cores()
    if cores >= (os.cpu_count() or cores):  # not bound to a subset: share the host
        cores = cores // local_process_count()
    return max(1, min(cores, MAX_DEFAULT_WORKERS))


# Samples in flight per host that read from a URL (a bucket): a bucket read takes tens of
# milliseconds and a sample makes two, so hundreds must be in flight to keep a host fed
# (benchmarks/bucket_input.py measures it).
URL_SAMPLES_IN_FLIGHT = 256


def default_read_threads(sources, workers: int) -> int:
    """``config.input.read_threads = 0``: 1 for local shards; for shards behind a URL
    enough threads per worker for ``URL_SAMPLES_IN_FLIGHT`` samples in flight."""
    remote = any(fs.is_url(shard) for source in sources for shard in source.shards)
    return -(-URL_SAMPLES_IN_FLIGHT // workers) if remote else 1


def check_shared_memory(size: int, directory: str = "/dev/shm") -> None:
    """Raises before a too-small /dev/shm (Docker's default is 64 MB) would crash a worker
    with SIGBUS half-way through writing a batch."""
    if not os.path.isdir(directory):
        return  # not Linux: shared memory is not a size-limited filesystem there
    free = shutil.disk_usage(directory).free
    if free < size:
        raise RuntimeError(
            f"the workers loader needs {size / 2**20:.0f} MB of shared memory for its batch "
            f"slots but {directory} has {free / 2**20:.0f} MB free: lower "
            "config.input.prefetch_batches or the per-host batch, enlarge /dev/shm (docker "
            "run --shm-size=...), or use config.input.loader='tf'"
        )


def _slot_offsets(layout: dict, slots: int) -> tuple[dict, int]:
    """Byte offset of each array when ``slots`` batches are laid out one array after
    another (each cache-line aligned), and the total size."""
    offsets, offset = {}, 0
    for name, (shape, dtype) in layout.items():
        offsets[name] = offset
        offset += int(np.prod((slots, *shape))) * np.dtype(dtype).itemsize
        offset = -(-offset // 64) * 64
    return offsets, offset


def _slot_arrays(buffer, layout: dict, slots: int) -> dict:
    """Views of ``slots`` batches in ``buffer`` (laid out by ``_slot_offsets``)."""
    offsets, _ = _slot_offsets(layout, slots)
    return {
        name: np.ndarray((slots, *shape), dtype, buffer=buffer, offset=offsets[name])
        for name, (shape, dtype) in layout.items()
    }


def _worker_main(worker_args: dict, tasks, done) -> None:
    """One worker: builds samples named by ``tasks`` into the shared slots."""
    import cv2

    cv2.setNumThreads(1)  # one process per core already
    # Ctrl-C and a preemption SIGTERM reach the whole process group; the trainer handles
    # them (it saves a checkpoint first) and then stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    memory = shared_memory.SharedMemory(name=worker_args["memory_name"])
    # Attaching registers the block with the resource tracker the workers share with the
    # main process; that registration is the main process's own (a set entry), which it
    # removes when it unlinks the block, so nothing is left to clean up here.
    arrays = _slot_arrays(memory.buf, worker_args["layout"], worker_args["slots"])
    source = PairSource(
        worker_args["input_config"],
        worker_args["seed"],
        worker_args["process_index"],
        worker_args["process_count"],
        sources=worker_args["sources"],
        stage_dir=worker_args["stage_dir"],
    )
    parent = worker_args["parent_pid"]
    stopping = threading.Event()

    def next_task():
        """The next (serial, slot, index, position), or None once stopping."""
        while not stopping.is_set():
            try:
                task = tasks.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if os.getppid() != parent:  # the trainer died (SIGKILL): do not linger
                    stopping.set()
                continue
            if task is None:
                stopping.set()
                tasks.put(None)  # for this worker's other threads and the other workers
                return None
            return task
        return None

    def build(task, fetched=None):
        serial, slot, index, position = task
        try:
            sample = source.sample(position, fetched)
            for name, values in arrays.items():
                values[slot, index] = sample[name]
            done.put((serial, index, None, sample["skipped"]))
        except Exception as error:  # noqa: BLE001 (reported to the main process)
            kind = "data" if isinstance(error, DataError) else type(error).__name__
            done.put((serial, index, (kind, f"sample {position}: {error}"), []))

    reader_threads = int(worker_args.get("threads", 1))
    if reader_threads <= 1:

        def serve():
            while (task := next_task()) is not None:
                build(task)

        threads = []
    else:
        # Against a bucket every read waits tens of milliseconds: reader threads keep
        # many samples' reads in flight (the GIL is released while they wait) and hand
        # the bytes to this worker's one builder thread, so decoding and warping run one
        # at a time per process (one per core), not interleaved across cache-thrashing
        # threads. A read that fails is redone by the builder, which reports it.
        fetched = queue.Queue(maxsize=2 * reader_threads)

        def read():
            while (task := next_task()) is not None:
                try:
                    result = source.fetch(task[3])
                except Exception:  # noqa: BLE001 (the builder reads again and reports it)
                    result = None
                fetched.put((task, result))
            fetched.put(None)

        def serve():
            running = len(threads)
            while running:
                item = fetched.get()
                if item is None:
                    running -= 1
                else:
                    build(*item)

        threads = [threading.Thread(target=read, daemon=True) for _ in range(reader_threads)]
    try:
        for thread in threads:
            thread.start()
        serve()
        for thread in threads:
            thread.join()
    finally:
        arrays.clear()  # the views into the block, before closing it
        memory.close()


class WorkerPairIterator:
    """Numpy pair batches from ``workers`` processes; ``state()`` is the next position.

    ``input_config``: ``config.input`` (``workers``: processes, 0 = one per usable core up
    to 16; ``prefetch_batches``: batches built ahead, each a shared-memory slot). A bad record
    stops iteration with a ``DataError`` naming the shard, byte offset and sample; a
    worker that dies stops it with a ``RuntimeError``.
    """

    def __init__(self, input_config, seed: int, batch_size: int, position: int = 0,
                 process_index=None, process_count=None, sources=None):  # fmt: skip
        if process_index is None or process_count is None:
            import jax

            process_index, process_count = jax.process_index(), jax.process_count()
        if sources is None:
            sources = load_sources(input_config, process_index, process_count)
        self.sources = sources
        self._stager = start_staging(input_config, sources)  # URL shards to local disk
        self.input_config = input_config
        self.seed = int(seed)
        self.process_index, self.process_count = int(process_index), int(process_count)
        self.batch_size = int(batch_size)
        self.position = int(position)
        workers = int(input_config.get("workers", 0)) or default_workers()
        self.threads = int(input_config.get("read_threads", 0)) or default_read_threads(
            sources, workers
        )
        self.slots = max(1, int(input_config.get("prefetch_batches", 3)))
        layout = batch_layout(self.batch_size, int(input_config.exemplar_size),
                              int(input_config.search_size))  # fmt: skip
        _, size = _slot_offsets(layout, self.slots)
        check_shared_memory(size)
        self._memory = shared_memory.SharedMemory(create=True, size=size)
        self._arrays = _slot_arrays(self._memory.buf, layout, self.slots)
        context = multiprocessing.get_context("spawn")  # fork is unsafe next to JAX / TF
        self._tasks, self._done = context.Queue(), context.Queue()
        worker_args = {
            "memory_name": self._memory.name,
            "layout": layout,
            "slots": self.slots,
            "input_config": input_config,
            "seed": self.seed,
            "process_index": self.process_index,
            "process_count": self.process_count,
            "sources": sources,
            "parent_pid": os.getpid(),
            "threads": self.threads,
            "stage_dir": None if self._stager is None else self._stager.stage_dir,
        }
        self._workers = [
            context.Process(
                target=_worker_main,
                args=(worker_args, self._tasks, self._done),
                daemon=True,
                name=f"siamjax-input-{i}",
            )  # fmt: skip
            for i in range(workers)
        ]
        for process in self._workers:
            process.start()
        self._closed = False
        self._finalizer = weakref.finalize(
            self, _shutdown, self._workers, self._tasks, self._memory, self._arrays
        )
        self._remaining = {}
        self.skipped = 0  # corrupt samples replaced (input.skip_corrupt)
        self._next_serial = 0
        for serial in range(self.slots):
            self._submit(serial)

    def _submit(self, serial: int) -> None:
        slot = serial % self.slots
        first = self.position + (serial - self._next_serial) * self.batch_size
        self._remaining[serial] = self.batch_size
        for index in range(self.batch_size):
            self._tasks.put((serial, slot, index, first + index))

    def _receive(self) -> None:
        while True:
            try:
                serial, _, error, skipped = self._done.get(timeout=_POLL_SECONDS)
                break
            except queue.Empty:
                dead = [p for p in self._workers if not p.is_alive()]
                if dead:
                    codes = ", ".join(f"{p.name} exit code {p.exitcode}" for p in dead)
                    self.close()
                    raise RuntimeError(f"input worker died ({codes})") from None
        if error is not None:
            kind, message = error
            self.close()
            if kind == "data":
                raise DataError(message)
            raise RuntimeError(f"input worker failed on {message} ({kind})")
        for message in skipped:
            self.skipped += 1
            logging.warning("input: %s (%d skipped so far)", message, self.skipped)
        self._remaining[serial] -= 1

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        if self._closed:
            raise RuntimeError("WorkerPairIterator is closed")
        serial = self._next_serial
        while self._remaining[serial] > 0:
            self._receive()
        slot = serial % self.slots
        batch = {name: np.array(array[slot]) for name, array in self._arrays.items()}
        del self._remaining[serial]
        self._next_serial += 1
        self.position += self.batch_size
        self._submit(serial + self.slots)  # the slot is free again
        return batch

    def state(self) -> dict:
        return {"position": self.position}

    def describe(self) -> str:
        threads = f", {self.threads} reader threads each" if self.threads > 1 else ""
        staging = f"; {self._stager.describe()}" if self._stager is not None else ""
        return (
            f"workers loader, {len(self._workers)} processes{threads}, {self.batch_size} "
            f"pairs per batch, {self.slots} batches ahead, from sample {self.position}"
            f"{staging}"
        )

    def restore(self, state: dict) -> WorkerPairIterator:
        """A new iterator over the same sources continuing at ``state['position']``."""
        return WorkerPairIterator(self.input_config, self.seed, self.batch_size,
                                  int(state["position"]), self.process_index,
                                  self.process_count, sources=self.sources)  # fmt: skip

    def close(self) -> None:
        """Stops the workers and frees the shared memory (idempotent)."""
        if not self._closed:
            self._closed = True
            if self._stager is not None:
                self._stager.close()
            self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _shutdown(workers, tasks, memory, arrays) -> None:
    for _ in workers:
        try:
            tasks.put(None)
        except (OSError, ValueError):
            break
    for process in workers:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()  # workers ignore SIGTERM (see _worker_main)
            process.join(timeout=5)
    arrays.clear()
    memory.close()
    try:
        memory.unlink()
    except FileNotFoundError:
        pass
