"""The path layer: file access for local paths and any URL ``tf.io.gfile`` handles.

Every file siamjax reads or writes outside orbax goes through here (images through
``image_io.py``): raw and prepared data, benchmarks, workdirs (metrics, TensorBoard
events, results, experiments), checkpoint lookup and exported artifacts; local only are
config and variant files (imported as Python), pysot .pth files, video files and the mp4s
OpenCV writes.

Local paths use ``os`` (no TensorFlow import); paths with a scheme (``gs://``, and
TensorFlow's in-memory ``ram://`` that the tests use as an offline stand-in) go through
gfile; ``fakebucket://<ms>/<path>`` is a local folder with a bucket's latency per request
(``siamjax/fake_bucket.py``: the input pipeline's benchmark, and the test filesystem a
whole experiment runs on). Orbax checkpoints take the same strings through ``absolute``
(orbax has its own path layer, etils ``epath``).
"""

from __future__ import annotations

import errno
import json
import os

from siamjax import fake_bucket

# The image files frame folders may hold (benchmarks, raw datasets, `siamjax track`).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def is_url(path: str) -> bool:
    return "://" in str(path)


def _gfile(path):
    """gfile for ``path``'s scheme (``fakebucket://``: ``siamjax/fake_bucket.py``)."""
    if fake_bucket.is_fake(path):
        return fake_bucket
    import tensorflow as tf

    return tf.io.gfile


def absolute(path: str) -> str:
    """``path`` as orbax and JAX's compilation cache take it (their path layer is etils
    ``epath``): a local path made absolute, a bucket URL unchanged, and a ``fakebucket://``
    URL its local folder (``epath`` does not know the scheme; those requests cost no
    latency)."""
    if fake_bucket.is_fake(path):
        return fake_bucket.local_path(path)
    return str(path) if is_url(path) else os.path.abspath(path)


def dirname(path: str) -> str:
    if is_url(path):
        return str(path).rstrip("/").rsplit("/", 1)[0]
    return os.path.dirname(path)


def basename(path: str) -> str:
    return str(path).rstrip("/").rsplit("/", 1)[-1] if is_url(path) else os.path.basename(path)


def join(*parts) -> str:
    if is_url(parts[0]):
        return "/".join([str(parts[0]).rstrip("/")] + [str(p).strip("/") for p in parts[1:]])
    return os.path.join(*parts)


def listdir(path: str) -> list[str]:
    if is_url(path):
        return sorted(name.rstrip("/") for name in _gfile(path).listdir(path))
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def isdir(path: str) -> bool:
    return _gfile(path).isdir(path) if is_url(path) else os.path.isdir(path)


def isfile(path: str) -> bool:
    if is_url(path):
        return _gfile(path).exists(path) and not _gfile(path).isdir(path)
    return os.path.isfile(path)


def exists(path: str) -> bool:
    return _gfile(path).exists(path) if is_url(path) else os.path.exists(path)


def makedirs(path: str) -> None:
    if is_url(path):
        _gfile(path).makedirs(path)
    else:
        os.makedirs(path, exist_ok=True)


def _not_found(path) -> tuple:
    """The exceptions ``path``'s file system raises for a missing file."""
    if not is_url(path) or fake_bucket.is_fake(path):
        return (FileNotFoundError,)
    import tensorflow as tf

    return (FileNotFoundError, tf.errors.NotFoundError)


def read_bytes(path: str) -> bytes:
    """A file's bytes; a missing file raises ``FileNotFoundError`` on every file system."""
    if is_url(path):
        try:
            with _gfile(path).GFile(path, "rb") as stream:
                return stream.read()
        except _not_found(path):
            raise FileNotFoundError(errno.ENOENT, "no such file", path) from None
    with open(path, "rb") as stream:
        return stream.read()


def write_bytes(path: str, data: bytes) -> None:
    """Writes via a temporary name and a rename, so a file that exists is complete."""
    temporary = f"{path}.partial"
    with open_file(temporary, "wb") as stream:
        stream.write(data)
    rename(temporary, path)


def open_file(path: str, mode: str = "r"):
    """A file object for a local path or a URL (gfile; append to a URL rewrites on GCS)."""
    return _gfile(path).GFile(path, mode) if is_url(path) else open(path, mode)


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8")


def write_text(path: str, text: str) -> None:
    """Writes via a temporary name of this process's own and a rename, so a file that
    exists is complete (also when processes write it at once)."""
    temporary = f"{path}.partial{os.getpid()}"
    if is_url(path):
        with _gfile(path).GFile(temporary, "w") as stream:
            stream.write(text)
        _gfile(path).rename(temporary, path, overwrite=True)
    else:
        with open(temporary, "w") as stream:
            stream.write(text)
        os.replace(temporary, path)


def read_json(path: str):
    return json.loads(read_text(path))


def write_json(path: str, value, indent: int = 2, sort_keys: bool = False) -> None:
    """``write_text`` of ``value`` as JSON, making the folder first."""
    if dirname(path):
        makedirs(dirname(path))
    write_text(path, json.dumps(value, indent=indent, sort_keys=sort_keys))


def rename(source: str, target: str) -> None:
    if is_url(source):
        _gfile(source).rename(source, target, overwrite=True)
    else:
        os.replace(source, target)


def walk_files(root: str, suffix: str):
    """Paths under ``root`` ending with ``suffix``, sorted."""
    if is_url(root):
        found = []
        for folder, _, names in _gfile(root).walk(root):
            found += [join(folder, n) for n in names if n.endswith(suffix)]
        return sorted(found)
    found = []
    for folder, _, names in os.walk(root):
        found += [os.path.join(folder, n) for n in names if n.endswith(suffix)]
    return sorted(found)


def size(path: str) -> int:
    return _gfile(path).stat(path).length if is_url(path) else os.path.getsize(path)


def version(path: str) -> tuple[int, int]:
    """(bytes, modification time in ns) of a file: tells a rewritten file from the one
    seen before (a store without modification times gives 0)."""
    if is_url(path):
        info = _gfile(path).stat(path)
        return int(info.length), int(getattr(info, "mtime_nsec", 0) or 0)
    info = os.stat(path)
    return int(info.st_size), int(info.st_mtime_ns)
