"""Local copies of shards behind a URL, made while training reads from the bucket.

Reading a training sample from a bucket costs a request per record; reader threads hide
the latency but cost CPU on the host (benchmarks/README.md, ``bucket_input.py``). So each
host also copies its own shards to local disk in the background, one shard per
sequential read, and the readers switch to a shard's local copy as soon as it is
complete. The pairs are the same either way (the copy is byte for byte; records keep
their checksums).

    stager = start_staging(input_config, sources)  # the loader, once per host (or None)
    local = staged_copy(stager.stage_dir, url)     # readers: its complete copy, or None
    stager.close()

``config.input.stage_dir``: ``'auto'`` (default) stages URL shards under the system's
temporary folder, ``''`` never stages, any other value is the local folder to use. A
copy is named by a hash of its URL and kept after the run, so a restarted job reuses it
once a request has confirmed the shard's size and modification time are unchanged.
Shards that do not fit in the folder's free space (keeping ``RESERVE_FRACTION`` of the
disk free) stay in the bucket, with a warning. Only the loaders start a stager and read
copies (``PairSource(stage_dir=...)``); a ``PairSource`` alone reads the bucket.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading

from siamjax import fs

log = logging.getLogger(__name__)

CHUNK = 64 * 1024 * 1024  # bytes per sequential read of a shard being copied
RESERVE_FRACTION = 0.05  # of the stage folder's disk, never filled by copies
AUTO_FOLDER = "siamjax-staged-shards"


def stage_directory(input_config, sources) -> str | None:
    """The local folder for this run's staged shards, or None (no URL shards, or
    ``input.stage_dir`` is ``''``)."""
    setting = str(input_config.get("stage_dir", "auto"))
    if not setting or not any(fs.is_url(s) for source in sources for s in source.shards):
        return None
    if setting == "auto":
        return os.path.join(tempfile.gettempdir(), AUTO_FOLDER)
    if fs.is_url(setting):
        raise ValueError(f"config.input.stage_dir: {setting!r} must be a local folder")
    return os.path.abspath(setting)


def staged_copy_path(stage_dir: str, url: str) -> str:
    """Where the local copy of shard ``url`` lives (complete or not yet there)."""
    digest = hashlib.sha1(url.encode()).hexdigest()[:16]
    return os.path.join(stage_dir, f"{digest}-{fs.basename(url)}")


def staged_copy(stage_dir: str | None, url: str) -> str | None:
    """The complete local copy of shard ``url``, or None. A copy appears under its final
    name only once complete (renamed into place), so its existence is enough."""
    if stage_dir is None or not fs.is_url(url):
        return None
    path = staged_copy_path(stage_dir, url)
    return path if os.path.exists(path) else None


def copy_paths(stage_dir: str | None, shards) -> list:
    """Per shard, where its copy will appear (None: a local shard, or no staging), for
    readers that look for it on every read."""
    if stage_dir is None:
        return [None] * len(shards)
    return [staged_copy_path(stage_dir, s) if fs.is_url(s) else None for s in shards]


def start_staging(input_config, sources) -> ShardStager | None:
    """A started ``ShardStager`` for this host's URL shards, or None (nothing to stage)."""
    stage_dir = stage_directory(input_config, sources)
    return None if stage_dir is None else ShardStager(sources, stage_dir).start()


class ShardStager:
    """Copies this host's URL shards into ``stage_dir`` on background threads.

    A copy becomes visible to readers under its final name only when complete and known to
    match its shard: a ``.source`` file beside it records the shard's URL, size and
    modification time. Copies left by an earlier run are set aside when the stager starts
    and put back only after a request confirms the shard is unchanged, so a shard
    rewritten in the bucket is never read from a stale copy.
    """

    def __init__(self, sources, stage_dir: str, threads: int = 4):
        self.stage_dir = stage_dir
        self.urls = [s for source in sources for s in source.shards if fs.is_url(s)]
        self.threads = int(threads)
        self._stop = threading.Event()
        self._pool = None
        self._futures = []
        self._space_lock = threading.Lock()
        self.copied, self.reused, self.left_in_bucket = [], [], []

    def start(self) -> ShardStager:
        os.makedirs(self.stage_dir, exist_ok=True)
        for url in self.urls:  # readers must not see a copy before it is verified
            target = staged_copy_path(self.stage_dir, url)
            if os.path.exists(target):
                os.replace(target, target + ".unverified")
        self._pool = concurrent.futures.ThreadPoolExecutor(
            self.threads, thread_name_prefix="siamjax-stage"
        )
        self._futures = [self._pool.submit(self._stage, url) for url in self.urls]
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Waits for every copy; True when all are done (copied, reused or skipped)."""
        done, pending = concurrent.futures.wait(self._futures, timeout=timeout)
        for future in done:
            if not future.cancelled():  # cancelled: the stager was closed
                future.result()  # an unexpected error surfaces here, not silently
        return not pending

    def describe(self) -> str:
        return f"staging {len(self.urls)} shards from the bucket to {self.stage_dir}"

    def close(self) -> None:
        """Stops copying (a copy in progress is abandoned and its partial file removed)."""
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _stage(self, url: str) -> None:
        if self._stop.is_set():
            return
        target = staged_copy_path(self.stage_dir, url)
        size, mtime = fs.version(url)
        source = {"url": url, "bytes": size, "mtime_nsec": mtime}
        if self._reuse(target, source):
            self.reused.append(url)
            return
        partial = f"{target}.partial-{os.getpid()}-{threading.get_ident()}"
        if not self._allocate(partial, size, url):
            return
        try:
            self._copy(url, partial, size)
            if not self._stop.is_set():
                with open(target + ".source", "w") as stream:
                    json.dump(source, stream)
                os.replace(partial, target)  # readers see only complete copies
                self.copied.append(url)
        except OSError as error:
            self.left_in_bucket.append(url)
            log.warning("shard %s stays in the bucket: copy failed (%s)", url, error)
        finally:
            if os.path.exists(partial):
                os.remove(partial)

    @staticmethod
    def _reuse(target: str, source: dict) -> bool:
        """Puts an earlier run's copy back if it is of this very shard; else removes it."""
        unverified = target + ".unverified"
        if not os.path.exists(unverified):
            return False
        try:
            with open(target + ".source") as stream:
                recorded = json.load(stream)
        except (OSError, ValueError):
            recorded = None
        if recorded == source and os.path.getsize(unverified) == source["bytes"]:
            os.replace(unverified, target)
            return True
        os.remove(unverified)
        return False

    def _allocate(self, partial: str, size: int, url: str) -> bool:
        """Creates ``partial`` with ``size`` bytes allocated if they fit in the stage
        folder's disk; one at a time, so concurrent copies do not count the same free
        space twice."""
        with self._space_lock:
            usage = shutil.disk_usage(self.stage_dir)
            if usage.free - size < RESERVE_FRACTION * usage.total:
                self.left_in_bucket.append(url)
                log.warning("shard %s (%d bytes) stays in the bucket: %s is nearly full",
                            url, size, self.stage_dir)  # fmt: skip
                return False
            with open(partial, "wb") as target:
                os.posix_fallocate(target.fileno(), 0, max(size, 1))
                target.truncate(size)
            return True

    def _copy(self, url: str, partial: str, size: int) -> None:
        with fs.open_file(url, "rb") as source, open(partial, "r+b") as target:
            copied = 0
            while copied < size and not self._stop.is_set():
                chunk = source.read(min(CHUNK, size - copied))
                if not chunk:
                    raise OSError(f"{url} ended after {copied} of {size} bytes")
                target.write(chunk)
                copied += len(chunk)
