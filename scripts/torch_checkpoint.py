"""Read a PyTorch checkpoint (state dict of tensors) into numpy arrays, without torch.

Both serialization formats are handled:
- zip format (torch >= 1.6): a zip holding `<root>/data.pkl` and one raw file per storage
  `<root>/data/<key>`; persistent ids are ('storage', StorageType, key, location, numel).
- legacy format (torch < 1.6, what torchvision's 2018-2019 checkpoints use): a stream of pickles
  (magic number, protocol version, sys info, the object, the list of storage keys) followed by,
  for each storage key in that order, an int64 element count and the raw little-endian bytes.
  Persistent ids are ('storage', StorageType, key, location, numel, view_metadata).

Only plain tensors (torch._utils._rebuild_tensor / _rebuild_tensor_v2) and containers are rebuilt;
any other global in the pickle is refused (no arbitrary code runs).
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name: str):
        self.name = name
        self.dtype = np.dtype(STORAGE_DTYPES[name])


class _Storage:
    def __init__(self, dtype: np.dtype, key: str, numel: int):
        self.dtype, self.key, self.numel = dtype, key, numel
        self.array: np.ndarray | None = None


class _LazyTensor:
    """A tensor whose storage bytes may come after the pickle (legacy format)."""

    def __init__(self, storage: _Storage, offset: int, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def materialize(self) -> np.ndarray:
        base = self.storage.array
        if base is None:
            raise ValueError(f"storage {self.storage.key} has no data")
        item = base.dtype.itemsize
        if len(self.size) == 0:
            return np.array(base[self.offset])
        view = np.lib.stride_tricks.as_strided(
            base[self.offset:],
            shape=self.size,
            strides=tuple(s * item for s in self.stride),
        )
        return np.array(view)  # copy: contiguous, owns its memory


def _rebuild_tensor(storage, storage_offset, size, stride, *rest):
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad, backward_hooks, *rest):
    return data


class _Unpickler(pickle.Unpickler):
    ALLOWED = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }

    def __init__(self, f, storages: dict[str, _Storage]):
        super().__init__(f, encoding="utf-8")
        self.storages = storages

    def find_class(self, module, name):
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        if (module, name) in self.ALLOWED:
            return self.ALLOWED[(module, name)]
        raise pickle.UnpicklingError(f"refusing global {module}.{name}")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        storage_type, key, _location, numel = pid[1], str(pid[2]), pid[3], pid[4]
        view_metadata = pid[5] if len(pid) > 5 else None
        if view_metadata is not None:
            raise pickle.UnpicklingError("storage views (legacy view_metadata) are not supported")
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, key, numel)
        return self.storages[key]


def _resolve(obj):
    if isinstance(obj, _LazyTensor):
        return obj.materialize()
    if isinstance(obj, collections.OrderedDict):
        out = collections.OrderedDict((k, _resolve(v)) for k, v in obj.items())
        return out
    if isinstance(obj, dict):
        return {k: _resolve(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v) for v in obj)
    return obj


def _load_zip(data: bytes):
    z = zipfile.ZipFile(io.BytesIO(data))
    pkl = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
    if len(pkl) != 1:
        raise ValueError(f"zip checkpoint without a single data.pkl: {z.namelist()[:10]}")
    root = pkl[0][: -len("data.pkl")]
    storages: dict[str, _Storage] = {}
    obj = _Unpickler(io.BytesIO(z.read(pkl[0])), storages).load()
    for key, st in storages.items():
        raw = z.read(f"{root}data/{key}")
        st.array = np.frombuffer(raw, dtype=st.dtype.newbyteorder("<"), count=st.numel)
    return _resolve(obj)


def _load_legacy(data: bytes):
    f = io.BytesIO(data)
    magic = pickle.load(f)
    if magic != LEGACY_MAGIC:
        raise ValueError("not a torch checkpoint (bad magic number)")
    protocol = pickle.load(f)
    if protocol != 1001:
        raise ValueError(f"unsupported legacy protocol version {protocol}")
    sys_info = pickle.load(f)
    if not sys_info.get("little_endian", True):
        raise ValueError("big-endian checkpoints are not supported")
    storages: dict[str, _Storage] = {}
    obj = _Unpickler(f, storages).load()
    keys = pickle.load(f)
    for key in keys:
        st = storages[str(key)]
        (numel,) = struct.unpack("<q", f.read(8))
        if numel != st.numel:
            raise ValueError(f"storage {key}: {numel} elements on disk, {st.numel} in the pickle")
        raw = f.read(numel * st.dtype.itemsize)
        if len(raw) != numel * st.dtype.itemsize:
            raise ValueError(f"storage {key}: truncated")
        st.array = np.frombuffer(raw, dtype=st.dtype.newbyteorder("<"))
    return _resolve(obj)


def load(data: bytes):
    """Return the checkpoint's object with every tensor as a numpy array."""
    if data[:4] == b"PK\x03\x04":
        return _load_zip(data)
    return _load_legacy(data)
