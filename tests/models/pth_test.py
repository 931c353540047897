"""The torch-free .pth reader: zip and legacy formats, truncation, refusing pickled code."""

import collections
import io
import pickle
import struct
import zipfile

import numpy as np
import pytest

from siamjax.models.pth import PthError, load_pth, save_pth


def _sample_state():
    rng = np.random.default_rng(0)
    return collections.OrderedDict(
        [
            ("conv.weight", rng.normal(size=(4, 3, 3, 3)).astype(np.float32)),
            ("bn.running_var", rng.uniform(size=4).astype(np.float32)),
            ("bn.num_batches_tracked", np.array(7, dtype=np.int64)),
            ("half", rng.normal(size=(2, 2)).astype(np.float16)),
        ]
    )


def test_zip_round_trip_preserves_bits(tmp_path):
    state = _sample_state()
    path = tmp_path / "m.pth"
    save_pth(str(path), {"state_dict": state, "epoch": 4, "names": ["a", "b"]})
    loaded = load_pth(str(path))
    assert loaded["epoch"] == 4 and loaded["names"] == ["a", "b"]
    assert list(loaded["state_dict"]) == list(state)
    for key, value in state.items():
        assert loaded["state_dict"][key].dtype == value.dtype
        assert loaded["state_dict"][key].tobytes() == value.tobytes()


class _Storage:
    def __init__(self, key, array):
        self.key, self.array = key, array


class _Rebuild:
    def __init__(self, storage, shape, stride):
        self.storage, self.shape, self.stride = storage, shape, stride


def _write_legacy(path, state):
    """Writes the pre-1.6 PyTorch stream (what pysot's released models use)."""
    storages = {}

    class Pickler(pickle._Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                storages[obj.key] = obj.array
                return ("storage", _GlobalRef("torch", "FloatStorage"), obj.key, "cpu",
                        obj.array.size, None)  # fmt: skip
            return None

        def save(self, obj, save_persistent_id=True):
            if isinstance(obj, _GlobalRef):
                self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
                return
            if isinstance(obj, _Rebuild):
                self.save(_GlobalRef("torch._utils", "_rebuild_tensor_v2"))
                self.save((obj.storage, 0, obj.shape, obj.stride, False, collections.OrderedDict()))
                self.write(pickle.REDUCE)
                return
            super().save(obj, save_persistent_id)

    stream = io.BytesIO()
    pickle.dump(0x1950A86A20F9469CFC6C, stream, protocol=2)
    pickle.dump(1001, stream, protocol=2)
    pickle.dump({"protocol_version": 1001, "little_endian": True}, stream, protocol=2)
    wrapped = collections.OrderedDict()
    for index, (key, array) in enumerate(state.items()):
        strides = tuple(s // array.itemsize for s in array.strides)
        wrapped[key] = _Rebuild(_Storage(str(index), array), array.shape, strides)
    Pickler(stream, protocol=2).dump(wrapped)
    pickle.dump(sorted(storages), stream, protocol=2)
    for key in sorted(storages):
        array = storages[key]
        stream.write(struct.pack("<q", array.size))
        stream.write(array.astype("<f4").tobytes())
    path.write_bytes(stream.getvalue())


class _GlobalRef:
    def __init__(self, module, name):
        self.module, self.name = module, name


def test_legacy_format_is_read(tmp_path):
    rng = np.random.default_rng(1)
    state = collections.OrderedDict(
        w=rng.normal(size=(2, 3)).astype(np.float32), b=np.arange(5, dtype=np.float32)
    )
    path = tmp_path / "legacy.pth"
    _write_legacy(path, state)
    loaded = load_pth(str(path))
    for key, value in state.items():
        assert loaded[key].tobytes() == value.tobytes()


def test_truncated_zip_is_reported(tmp_path):
    path = tmp_path / "m.pth"
    save_pth(str(path), _sample_state())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(PthError, match="truncated"):
        load_pth(str(path))


def test_truncated_legacy_is_reported(tmp_path):
    path = tmp_path / "legacy.pth"
    _write_legacy(path, collections.OrderedDict(w=np.ones((64, 64), np.float32)))
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    with pytest.raises(PthError, match="truncated"):
        load_pth(str(path))


def test_non_checkpoint_is_reported(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("hello, not a checkpoint\n")
    with pytest.raises(PthError, match="not a PyTorch checkpoint"):
        load_pth(str(path))
    with pytest.raises(PthError, match="no such file"):
        load_pth(str(tmp_path / "missing.pth"))


def _malicious_pickle(marker):
    # GLOBAL os.system, then REDUCE with one string argument.
    command = f"touch {marker}".encode()
    return (
        b"\x80\x02cos\nsystem\nq\x00X"
        + struct.pack("<I", len(command))
        + command
        + b"q\x01\x85q\x02Rq\x03."
    )


def test_pickled_code_is_refused_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", _malicious_pickle(marker))
    with pytest.raises(PthError, match="os.system"):
        load_pth(str(path))
    assert not marker.exists()
    legacy = tmp_path / "evil_legacy.pth"
    legacy.write_bytes(_malicious_pickle(marker))
    with pytest.raises(PthError, match="os.system"):
        load_pth(str(legacy))
    assert not marker.exists()
