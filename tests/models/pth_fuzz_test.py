"""Hostile ``.pth`` files: crafted tensor layouts and thousands of seeded mutations of
valid files (zip and legacy) give a clean ``PthError`` or a valid load, never another
exception and never a crash (the fuzz runs in a subprocess, so a segfault fails it)."""

import collections
import io
import os
import pickle
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from siamjax.models.pth import PthError, load_pth, save_pth
from tests.conftest import REPO_ROOT


class _GlobalRef:
    def __init__(self, module, name):
        self.module, self.name = module, name


class _StorageRef:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class _Rebuild:
    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset, self.shape, self.stride = storage, offset, shape, stride


def _tensor_pickle(layout, numel):
    """The pickle of {'w': tensor} with an arbitrary (offset, shape, stride) over one
    float32 storage of ``numel`` elements."""

    class Pickler(pickle._Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _StorageRef):
                return ("storage", _GlobalRef("torch", "FloatStorage"), obj.key, "cpu", obj.numel)
            return None

        def save(self, obj, save_persistent_id=True):
            if isinstance(obj, _GlobalRef):
                self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
                return
            if isinstance(obj, _Rebuild):
                self.save(_GlobalRef("torch._utils", "_rebuild_tensor_v2"))
                self.save((obj.storage, obj.offset, obj.shape, obj.stride, False,
                           collections.OrderedDict()))  # fmt: skip
                self.write(pickle.REDUCE)
                return
            super().save(obj, save_persistent_id)

    offset, shape, stride = layout
    stream = io.BytesIO()
    Pickler(stream, protocol=2).dump(
        collections.OrderedDict(w=_Rebuild(_StorageRef("0", numel), offset, shape, stride))
    )
    return stream.getvalue()


def write_crafted(path, layout, numel=64, fmt="zip", claimed=None):
    """A .pth whose tensor 'w' has ``layout`` over a storage of ``numel`` floats;
    ``claimed``: the element count the legacy stream announces (default: numel)."""
    data = np.arange(numel, dtype="<f4").tobytes()
    payload = _tensor_pickle(layout, numel)
    if fmt == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", payload)
            archive.writestr("archive/byteorder", "little")
            archive.writestr("archive/data/0", data)
        return
    stream = io.BytesIO()
    pickle.dump(0x1950A86A20F9469CFC6C, stream, protocol=2)
    pickle.dump(1001, stream, protocol=2)
    pickle.dump({"protocol_version": 1001, "little_endian": True}, stream, protocol=2)
    stream.write(payload)
    pickle.dump(["0"], stream, protocol=2)
    stream.write(struct.pack("<q", numel if claimed is None else claimed))
    stream.write(data)
    with open(path, "wb") as out:
        out.write(stream.getvalue())


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
@pytest.mark.parametrize(
    "layout,match",
    [
        ((0, (2**26,), (-1,)), "negative"),  # read backwards out of the storage: SIGSEGV
        ((0, (2**43,), (0,)), "zero stride"),  # 32 TiB of one element
        ((0, (2**20, 2**20), (1, 1)), "more elements than storage"),
        ((60, (8,), (1,)), "needs 68 elements"),  # runs past the end
        ((100, (), ()), "outside storage"),
        ((-3, (2,), (1,)), "offset -3"),
        ((0, (2, "x"), (1, 1)), "not a tuple of integers"),
        ((0, (2, 2), (1,)), "differ in length"),
    ],
)
def test_crafted_tensor_layouts_are_rejected_before_any_view(tmp_path, fmt, layout, match):
    path = tmp_path / f"crafted_{fmt}.pth"
    write_crafted(path, layout, fmt=fmt)
    with pytest.raises(PthError, match=match) as caught:
        load_pth(str(path))
    assert str(path) in str(caught.value)


def test_a_legacy_storage_claiming_more_than_the_file_is_rejected(tmp_path):
    path = tmp_path / "claims.pth"
    write_crafted(path, (0, (4,), (1,)), fmt="legacy", claimed=2**43)
    with pytest.raises(PthError, match="more than the file holds"):
        load_pth(str(path))


def test_valid_crafted_layouts_still_load(tmp_path):
    path = tmp_path / "ok.pth"
    write_crafted(path, (4, (3, 2), (1, 3)), numel=16)  # a transposed view at an offset
    loaded = load_pth(str(path))["w"]
    # element [i, j] = storage[4 + i + 3 j]
    np.testing.assert_array_equal(loaded, np.array([[4, 7], [5, 8], [6, 9]], np.float32))


FUZZ_SCRIPT = """
import os, sys, random
import numpy as np
from siamjax.models.pth import PthError, load_pth
seeds, sources, folder = int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3]
failures, loaded, rejected = [], 0, 0
for seed in range(seeds):
    rng = random.Random(seed)
    source = open(sources[seed % len(sources)], "rb").read()
    data = bytearray(source)
    for _ in range(rng.choice([1, 1, 2, 4, 16])):
        kind = rng.random()
        at = rng.randrange(len(data))
        if kind < 0.5:
            data[at] = rng.randrange(256)
        elif kind < 0.7:
            del data[at:at + rng.randrange(1, 64)]
        elif kind < 0.85:
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
        else:
            data = data[:at]
        if not data:
            data = bytearray(b"\\x80")
    path = os.path.join(folder, f"m{seed % 8}.pth")
    with open(path, "wb") as stream:
        stream.write(bytes(data))
    try:
        load_pth(path)
        loaded += 1
    except PthError:
        rejected += 1
    except BaseException as error:
        failures.append(f"seed {seed}: {type(error).__name__}: {str(error)[:120]}")
print(f"loaded {loaded} rejected {rejected} failures {len(failures)}")
for line in failures[:20]:
    print(line)
sys.exit(1 if failures else 0)
"""


def test_thousands_of_mutated_files_never_crash_or_raise_anything_else(tmp_path):
    from tests.models.pth_test import _write_legacy

    rng = np.random.default_rng(0)
    state = collections.OrderedDict(
        (f"layer{i}.weight", rng.normal(size=(3, 4)).astype(np.float32)) for i in range(3)
    )
    sources = [tmp_path / "zip.pth", tmp_path / "legacy.pth"]
    save_pth(str(sources[0]), {"state_dict": state, "epoch": 3})
    _write_legacy(sources[1], state)
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", FUZZ_SCRIPT, "2000", ",".join(map(str, sources)), str(work)],
        cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=REPO_ROOT), capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "rejected" in result.stdout
