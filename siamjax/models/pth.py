"""Reads (and writes) PyTorch ``.pth`` checkpoints without PyTorch and without running
pickled code.

A ``.pth`` file is either the zip format of PyTorch >= 1.6 (``<dir>/data.pkl`` plus one
raw storage file per tensor under ``<dir>/data/``) or the older "legacy" stream
(magic number, protocol version, system info, the object pickle, the storage keys,
then each storage as an int64 element count followed by its raw bytes). pysot's
released models predate 1.6, so both are read.

The unpickler is restricted: it rebuilds tensors (as numpy arrays), ``OrderedDict``
and plain Python containers, and refuses every other global with ``PthError``.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from typing import Any

import numpy as np


class PthError(ValueError):
    """A file that is not a readable PyTorch checkpoint, or that asks for unsafe code."""


_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "BFloat16Storage": None,  # handled below: numpy has no bfloat16
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
    "UntypedStorage": np.uint8,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _StorageType:
    """What ``torch.FloatStorage`` etc. unpickle to: just a dtype."""

    def __init__(self, name: str):
        self.name = name


class _Storage:
    """A storage referenced by the pickle; its bytes are attached when known."""

    def __init__(self, storage_type: _StorageType, key: str, numel: int):
        self.storage_type = storage_type
        self.key = key
        self.numel = numel
        self.array: np.ndarray | None = None

    def attach(self, raw: bytes, byteorder: str) -> None:
        name = self.storage_type.name
        if name == "BFloat16Storage":
            # bfloat16 is the top half of a float32.
            halves = np.frombuffer(raw, dtype=np.dtype("<u2" if byteorder == "little" else ">u2"))
            self.array = (halves.astype(np.uint32) << 16).view(np.float32)
            return
        if byteorder not in ("little", "big"):
            raise PthError(f"byte order {byteorder!r} is neither 'little' nor 'big'")
        dtype = np.dtype(_STORAGE_DTYPES[name]).newbyteorder("<" if byteorder == "little" else ">")
        expected = self.numel * dtype.itemsize
        if len(raw) < expected:
            raise PthError(
                f"storage {self.key} holds {len(raw)} bytes, expected {expected}: "
                "the file is truncated"
            )
        self.array = np.frombuffer(raw[:expected], dtype=dtype).astype(dtype.newbyteorder("="))


def _int_tuple(values, what: str) -> tuple[int, ...]:
    if not isinstance(values, (tuple, list)) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in values
    ):
        raise PthError(f"tensor {what} {values!r} is not a tuple of integers")
    return tuple(values)


class _LazyTensor:
    """A tensor whose storage bytes may not be loaded yet (legacy format)."""

    def __init__(self, storage: _Storage, offset: int, size, stride):
        if not isinstance(storage, _Storage):
            raise PthError(f"tensor storage is {type(storage).__name__}, not a storage")
        if not isinstance(offset, int) or offset < 0:
            raise PthError(f"tensor storage offset {offset!r} is not a non-negative integer")
        self.storage = storage
        self.offset = offset
        self.size = _int_tuple(size, "size")
        self.stride = _int_tuple(stride, "stride")
        if len(self.size) != len(self.stride):
            raise PthError(f"tensor size {self.size} and stride {self.stride} differ in length")
        if any(s < 0 for s in self.size) or any(st < 0 for st in self.stride):
            raise PthError(f"tensor size {self.size} / stride {self.stride} is negative")

    def materialize(self) -> np.ndarray:
        """The tensor as a new array, after checking every element it reads lies in its
        storage (a crafted size / stride / offset never reads outside it) and that it has
        no more elements than its storage (overlapping strides cannot blow up memory)."""
        data = self.storage.array
        key = self.storage.key
        if data is None:
            raise PthError(f"storage {key} is missing from the file")
        if not self.size:
            if self.offset >= data.size:
                raise PthError(f"scalar at offset {self.offset} outside storage {key}")
            return np.array(data[self.offset])
        count = int(np.prod(self.size, dtype=object))
        if count == 0:
            return np.zeros(self.size, data.dtype)
        if any(st == 0 for s, st in zip(self.size, self.stride) if s > 1):
            raise PthError(f"tensor of storage {key} has a zero stride {self.stride}")
        if count > data.size:
            raise PthError(
                f"tensor of size {self.size} has more elements than storage {key} ({data.size})"
            )
        needed = self.offset + sum((s - 1) * st for s, st in zip(self.size, self.stride)) + 1
        if needed > data.size:
            raise PthError(f"tensor needs {needed} elements of storage {key} ({data.size})")
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :],
            shape=self.size,
            strides=tuple(st * data.itemsize for st in self.stride),
        )
        return np.array(view)


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *unused):
    return data


def _ordered_dict(*args, **kwargs):
    return collections.OrderedDict(*args, **kwargs)


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): _ordered_dict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, stream, source: str):
        super().__init__(stream)
        self.source = source
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        if module in ("torch", "torch.storage") and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise PthError(
            f"{self.source}: the pickle asks for {module}.{name}; only tensors and plain "
            "containers are loaded (refusing to run pickled code)"
        )

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
            raise PthError(f"{self.source}: unsupported persistent id {pid!r}")
        storage_type, key, _location, numel = pid[1], str(pid[2]), pid[3], pid[4]
        if not isinstance(storage_type, _StorageType):
            raise PthError(f"{self.source}: storage {key} has unknown type {storage_type!r}")
        if not isinstance(numel, int) or isinstance(numel, bool) or numel < 0:
            raise PthError(f"{self.source}: storage {key} has element count {numel!r}")
        if len(pid) > 5 and pid[5] is not None:
            raise PthError(f"{self.source}: storage views (PyTorch < 0.4) are not supported")
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type, key, numel)
        return self.storages[key]


def load_pth(path: str) -> Any:
    """Loads a ``.pth`` file into plain Python objects with numpy arrays for tensors.

    Raises:
      PthError: the file is missing, truncated, not a PyTorch checkpoint, or its pickle
        asks for anything but tensors and containers.
    """
    if not os.path.isfile(path):
        raise PthError(f"{path}: no such file")
    try:
        with open(path, "rb") as stream:
            head = stream.read(4)
    except OSError as error:
        raise PthError(f"{path}: cannot read ({error.strerror or error})") from None
    if head[:2] == b"PK":
        return _decoded(_read_zip, path)
    if head[:1] == b"\x80":
        return _decoded(_read_legacy, path)
    raise PthError(f"{path}: not a PyTorch checkpoint (neither zip nor pickle stream)")


def _decoded(read, path: str) -> Any:
    """``read(path)`` with every decoding failure turned into a ``PthError`` naming
    ``path``."""
    try:
        return read(path)
    except PthError as error:
        raise PthError(_named(path, error)) from None
    except _DECODING_ERRORS as error:
        raise PthError(f"{path}: truncated or corrupt checkpoint ({_describe(error)})") from None


def _read_zip(path: str) -> Any:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [name for name in names if name.endswith("data.pkl")]
        if len(pickles) != 1:
            raise PthError(f"{path}: zip without exactly one data.pkl; not a PyTorch checkpoint")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = archive.read(prefix + "byteorder").decode().strip()
        unpickler = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), path)
        obj = unpickler.load()
        for key, storage in unpickler.storages.items():
            entry = f"{prefix}data/{key}"
            if entry not in names:
                raise PthError(f"{path}: storage {key} is missing from the archive")
            expected = storage.numel * _itemsize(storage.storage_type)
            size = archive.getinfo(entry).file_size
            if size < expected:
                raise PthError(
                    f"{path}: storage {key} holds {size} bytes, expected {expected}: "
                    "the file is truncated"
                )
            with archive.open(entry) as stream:
                storage.attach(stream.read(expected), byteorder)
        return _materialize(obj)


def _read_legacy(path: str) -> Any:
    file_size = os.path.getsize(path)
    with open(path, "rb") as stream:
        magic = _RestrictedUnpickler(stream, path).load()
        if magic != _LEGACY_MAGIC:
            raise PthError(f"{path}: a pickle file, but not a PyTorch checkpoint")
        _protocol = _RestrictedUnpickler(stream, path).load()
        sys_info = _RestrictedUnpickler(stream, path).load()
        byteorder = "little" if sys_info.get("little_endian", True) else "big"
        unpickler = _RestrictedUnpickler(stream, path)
        obj = unpickler.load()
        keys = _RestrictedUnpickler(stream, path).load()
        for key in keys:
            storage = unpickler.storages.get(str(key))
            header = stream.read(8)
            if len(header) < 8:
                raise PthError(f"{path}: truncated before storage {key}")
            (numel,) = struct.unpack("<q" if byteorder == "little" else ">q", header)
            if storage is None:
                raise PthError(f"{path}: storage {key} is not referenced by the pickle")
            itemsize = _itemsize(storage.storage_type)
            if numel < 0 or numel * itemsize > file_size - stream.tell():
                raise PthError(
                    f"{path}: storage {key} claims {numel} elements, more than the file holds"
                )
            raw = stream.read(numel * itemsize)
            storage.numel = numel
            storage.attach(raw, byteorder)
    return _materialize(obj)


# What decoding a damaged file can raise besides PthError (each becomes a PthError).
_DECODING_ERRORS = (
    pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError, KeyError,
    IndexError, struct.error, OverflowError, RecursionError, MemoryError, OSError,
    NotImplementedError, zipfile.BadZipFile, zipfile.LargeZipFile,
)  # fmt: skip


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__


def _named(path: str, error: PthError) -> str:
    text = str(error)
    return text if text.startswith(str(path)) else f"{path}: {text}"


def _itemsize(storage_type: _StorageType) -> int:
    if storage_type.name == "BFloat16Storage":
        return 2
    return np.dtype(_STORAGE_DTYPES[storage_type.name]).itemsize


def _materialize(obj):
    if isinstance(obj, _LazyTensor):
        return obj.materialize()
    if isinstance(obj, collections.OrderedDict):
        return collections.OrderedDict((k, _materialize(v)) for k, v in obj.items())
    if isinstance(obj, dict):
        return {k: _materialize(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_materialize(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_materialize(v) for v in obj)
    return obj


# --------------------------------------------------------------------------- writing


class _Global:
    """Pickles as a GLOBAL opcode naming ``module.name`` (torch need not be importable)."""

    def __init__(self, module: str, name: str):
        self.module = module
        self.name = name

    def __call__(self, *args):  # pickle's save_reduce insists on a callable
        raise TypeError(f"{self.module}.{self.name} is a placeholder")


class _TensorRecord:
    def __init__(self, key: str, array: np.ndarray):
        self.key = key
        self.array = np.ascontiguousarray(array)

    def __reduce__(self):
        shape = self.array.shape
        stride = tuple(s // self.array.itemsize for s in self.array.strides)
        storage = _StorageRecord(self.key, self.array)
        rebuild = _Global("torch._utils", "_rebuild_tensor_v2")
        return rebuild, (storage, 0, shape, stride, False, collections.OrderedDict())


class _StorageRecord:
    def __init__(self, key: str, array: np.ndarray):
        self.key = key
        self.array = array


_DTYPE_STORAGES = {
    np.dtype(np.float32): "FloatStorage",
    np.dtype(np.float64): "DoubleStorage",
    np.dtype(np.float16): "HalfStorage",
    np.dtype(np.int64): "LongStorage",
    np.dtype(np.int32): "IntStorage",
    np.dtype(np.uint8): "ByteStorage",
    np.dtype(np.bool_): "BoolStorage",
}


class _TorchPickler(pickle._Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _StorageRecord):
            storage_name = _DTYPE_STORAGES[obj.array.dtype]
            return ("storage", _Global("torch", storage_name), obj.key, "cpu", obj.array.size)
        return None

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, _Global):
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
            return
        super().save(obj, save_persistent_id)


def save_pth(path: str, state: Any, archive_name: str = "archive") -> None:
    """Writes ``state`` (containers of numpy arrays) in PyTorch's zip ``.pth`` format.

    ``torch.load`` reads the result; used to export siamjax weights to pysot and by tests.
    """
    records: list[_TensorRecord] = []

    def wrap(obj):
        if isinstance(obj, np.ndarray) or np.isscalar(obj) and isinstance(obj, np.generic):
            array = np.asarray(obj)
            if array.dtype not in _DTYPE_STORAGES:
                raise TypeError(f"cannot store dtype {array.dtype} in a .pth file")
            record = _TensorRecord(str(len(records)), array)
            records.append(record)
            return record
        if isinstance(obj, collections.OrderedDict):
            return collections.OrderedDict((k, wrap(v)) for k, v in obj.items())
        if isinstance(obj, dict):
            return {k: wrap(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return type(obj)(wrap(v) for v in obj)
        return obj

    wrapped = wrap(state)
    buffer = io.BytesIO()
    _TorchPickler(buffer, protocol=2).dump(wrapped)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{archive_name}/data.pkl", buffer.getvalue())
        archive.writestr(f"{archive_name}/byteorder", "little")
        for record in records:
            data = record.array.astype(record.array.dtype.newbyteorder("<")).tobytes()
            archive.writestr(f"{archive_name}/data/{record.key}", data)
        archive.writestr(f"{archive_name}/version", "3\n")
