"""A local folder behind a bucket-like URL that costs a fixed latency per request.

    fakebucket://50/abs/path/to/prepared   the folder /abs/path/to/prepared, 50 ms a request

It lets the input pipeline be measured and tested against an object store's latency on a
machine without one (``benchmarks/bucket_input.py``); it is not for real data. What counts
as a request follows a bucket client (GCS through ``tf.io.gfile``): every listing, stat,
open and write, and every read that starts outside the block the previous request fetched
(a read after a seek elsewhere); a request fetches at least ``BLOCK`` bytes, so the
header, data and checksum of one record cost one request. Requests from different threads
and processes wait concurrently, as on a real store.

``siamjax/fs.py`` hands every ``fakebucket://`` path here; this module has the subset of
``tf.io.gfile``'s interface that ``fs`` uses.
"""

from __future__ import annotations

import os
import time

SCHEME = "fakebucket://"
BLOCK = 256 * 1024


def is_fake(path) -> bool:
    return str(path).startswith(SCHEME)


def _split(path: str) -> tuple[float, str]:
    """``fakebucket://<ms>/<absolute path>`` -> (seconds per request, local path)."""
    rest = str(path)[len(SCHEME) :]
    latency, _, local = rest.partition("/")
    try:
        seconds = float(latency) / 1000.0
    except ValueError:
        raise ValueError(f"{path}: expected fakebucket://<milliseconds>/<absolute path>") from None
    return seconds, "/" + local


def local_path(path: str) -> str:
    """The local file or folder behind a ``fakebucket://`` URL."""
    return _split(path)[1]


def _request(path: str) -> str:
    seconds, local = _split(path)
    time.sleep(seconds)
    return local


def url(local_path: str, latency_ms: float) -> str:
    """The fake-bucket URL of a local folder or file."""
    return f"{SCHEME}{latency_ms:g}{os.path.abspath(local_path)}"


class _Reader:
    """A read-only file whose reads are served by block-sized requests.

    Its own work is one ``pread`` per request and one copy per read, so a benchmark
    through it measures the loader, not this stand-in."""

    def __init__(self, path: str):
        self._seconds, local = _split(path)
        time.sleep(self._seconds)  # the open (a stat) is a request
        self._descriptor = os.open(local, os.O_RDONLY)
        self._position = 0
        self._block_start = 0
        self._block = memoryview(b"")

    def seek(self, position: int, whence: int = 0) -> int:
        if whence != 0:
            raise ValueError("fakebucket files seek from the start only")
        self._position = int(position)
        return self._position

    def tell(self) -> int:
        return self._position

    def read(self, size: int = -1) -> bytes:
        start = self._position - self._block_start
        end = len(self._block) if size < 0 else start + size
        if start < 0 or end > len(self._block) or size < 0:
            if self._seconds:  # sleep(0) alone costs ~80 us
                time.sleep(self._seconds)  # one request from here, at least a block
            wanted = os.fstat(self._descriptor).st_size if size < 0 else max(size, BLOCK)
            self._block = memoryview(os.pread(self._descriptor, wanted, self._position))
            self._block_start = self._position
            start, end = 0, (len(self._block) if size < 0 else size)
        data = bytes(self._block[start:end])
        self._position += len(data)
        return data

    def close(self) -> None:
        if self._descriptor >= 0:
            os.close(self._descriptor)
            self._descriptor = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Writer:
    """A file written locally and 'uploaded' (one request) when closed."""

    def __init__(self, path: str, mode: str):
        self._path = path
        _, local = _split(path)
        self._file = open(local, mode)

    def write(self, data):
        return self._file.write(data)

    def flush(self) -> None:
        """Uploads what was written so far, as gfile does on GCS: a request."""
        self._file.flush()
        _request(self._path)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
            _request(self._path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def GFile(path: str, mode: str = "r"):  # noqa: N802 (gfile's name)
    if "r" in mode:
        if "b" not in mode:
            raise ValueError("fakebucket files are read in binary mode")
        return _Reader(path)
    return _Writer(path, mode)


def listdir(path: str) -> list[str]:
    return os.listdir(_request(path))


def isdir(path: str) -> bool:
    return os.path.isdir(_request(path))


def exists(path: str) -> bool:
    return os.path.exists(_request(path))


def makedirs(path: str) -> None:
    os.makedirs(_request(path), exist_ok=True)


def rename(source: str, target: str, overwrite: bool = False) -> None:
    _, local_target = _split(target)
    if not overwrite and os.path.exists(local_target):
        raise FileExistsError(target)
    os.replace(_request(source), local_target)


def walk(root: str):
    prefix_length = len(_split(root)[1])
    for folder, folders, names in os.walk(_request(root)):
        yield root.rstrip("/") + folder[prefix_length:], folders, names


class _Stat:
    def __init__(self, length: int, mtime_nsec: int):
        self.length = length
        self.mtime_nsec = mtime_nsec


def stat(path: str) -> _Stat:
    result = os.stat(_request(path))
    return _Stat(result.st_size, result.st_mtime_ns)
