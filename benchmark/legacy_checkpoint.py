"""Read ``torch.save`` files -- including whole pickled modules from PyTorch 0.3/0.4 -- without
executing any code from them.

Official checkpoints of older papers (SVG's ``svglp_*.pth``, DRNet's ``kth128x128_model.pth``) are
``torch.save({'encoder': <module>, ..., 'opt': <argparse.Namespace>})``: pickles of module
*objects*. ``torch.load`` would import the authors' classes and run whatever the pickle names;
``torch.load(weights_only=True)`` refuses them outright. :func:`load_checkpoint` instead runs the
pickle with a restricted unpickler:

* classes under the allowed module prefixes (:data:`STUB_PREFIXES`: the official repositories'
  ``models.*``, ``torch.nn.modules.*``, ``torch.optim.*``, ``argparse.Namespace``, ...) become inert
  :class:`PickledObject` records of their class path and pickled state -- nothing of theirs is
  imported or called;
* tensors, parameters and storages are rebuilt by this module from the raw bytes (legacy
  ``.tar``-less format of PyTorch <= 1.5 and the zip format of >= 1.6);
* a few plain-data constructors (``collections.OrderedDict``, ``set``, ``torch.Size``, ...) are
  allowed; any other global (``os.system``, ``builtins.eval``, ``subprocess.Popen`` ...) is refused
  with :class:`UnsafeCheckpointError` before anything runs.

:func:`module_state` flattens a pickled module into its ``state_dict`` (parameters and buffers by
dotted name, in registration order) and :func:`class_path` names its class, so method code can map
official weights onto ours.

>>> import io, pickle, os
>>> bad = pickle.dumps(os.system)  # a global the unpickler must refuse
>>> try:
...     RestrictedUnpickler(io.BytesIO(bad)).load()
... except UnsafeCheckpointError as e:
...     print("refused:", str(e).split(":")[0])
refused: refusing to load global 'posix.system'
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from benchmark.utils import UserError

#: Module prefixes whose classes are replaced by inert records (never imported).
STUB_PREFIXES: tuple[str, ...] = ("models.", "torch.nn.modules.", "torch.nn.backends.", "torch.nn.parallel.",
                                  "torch.optim.", "torch.nn.utils.", "argparse", "misc.")
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES = {
    "DoubleStorage": torch.float64, "FloatStorage": torch.float32, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


class UnsafeCheckpointError(UserError):
    """The file names a global this loader will not create (possible code execution), or is not a
    ``torch.save`` file it can read."""


class PickledObject:
    """An inert stand-in for an object of an allowed class: its ``class_path``, the arguments it
    was reconstructed with, and its pickled ``state`` (for modules: their ``__dict__``)."""

    class_path: str = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> "PickledObject":
        # pickle's NEWOBJ calls only __new__ (with the pickled args); REDUCE calls the class.
        obj = object.__new__(cls)
        obj.args, obj.kwargs, obj.state = args, kwargs, None
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    # Attribute-style access to a Namespace's or module's fields (opt.g_dim, module._modules ...).
    def __getattr__(self, name: str) -> Any:
        state = self.__dict__.get("state")
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict):
            state = {**state[0], **(state[1] or {})}  # (dict state, slot state)
        if isinstance(state, dict) and name in state:
            return state[name]
        raise AttributeError(f"{self.class_path} object has no field {name!r}")

    def fields(self) -> dict[str, Any]:
        return dict(self.state) if isinstance(self.state, dict) else {}

    def __repr__(self) -> str:
        return f"<pickled {self.class_path}>"


_stub_types: dict[str, type] = {}


def _stub_type(path: str) -> type:
    if path not in _stub_types:
        _stub_types[path] = type(path.rsplit(".", 1)[-1], (PickledObject,), {"class_path": path})
    return _stub_types[path]


class _Storage:
    """A storage named by the pickle; its bytes arrive later (legacy) or from the zip."""

    def __init__(self, dtype: torch.dtype, key: str, numel: int | None) -> None:
        self.dtype, self.key, self.numel = dtype, key, numel
        self.data: torch.Tensor | None = None  # 1-D, filled in by the loader


class _TensorRef:
    """A tensor to build once its storage's bytes are known."""

    def __init__(self, storage: Any, offset: int, size: tuple[int, ...], stride: tuple[int, ...]) -> None:
        self.storage, self.offset, self.size, self.stride = storage, int(offset), tuple(size), tuple(stride)

    def build(self) -> torch.Tensor:
        base, off = self.storage, self.offset
        if isinstance(base, tuple):  # a view of a storage (legacy view_metadata): (storage, offset, size)
            base, view_off, _ = base
            off += view_off
        if not isinstance(base, _Storage) or base.data is None:
            raise UnsafeCheckpointError("a tensor refers to a storage whose data is missing from the file")
        if not self.size:
            return base.data[off].clone()
        return torch.as_strided(base.data, self.size, self.stride, off).clone()


def _rebuild_tensor(storage: Any, offset: int, size: Any, stride: Any, *rest: Any) -> _TensorRef:
    return _TensorRef(storage, offset, tuple(size), tuple(stride))


def _rebuild_parameter(data: Any, requires_grad: Any = True, *rest: Any) -> Any:
    return data


def _ordered_dict(*args: Any) -> OrderedDict:
    return OrderedDict(*args)


#: Globals that may be called, mapped to the safe function that stands in for them.
SAFE_GLOBALS: dict[tuple[str, str], Callable[..., Any]] = {
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.nn.parameter", "Parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): _ordered_dict,
    ("torch", "Size"): tuple,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
    ("__builtin__", "set"): set,
    ("torch", "device"): str,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that creates only tensors, plain data and inert :class:`PickledObject` records."""

    def __init__(self, file: Any, persistent: Callable[[Any], Any] | None = None) -> None:
        super().__init__(file, encoding="latin1")
        self._persistent = persistent

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in SAFE_GLOBALS:
            return SAFE_GLOBALS[(module, name)]
        if module in ("torch", "torch.cuda") and name in _STORAGE_DTYPES:
            return ("storage-type", _STORAGE_DTYPES[name])
        if module == "torch" and name.endswith("Storage") and name != "Storage":
            raise UnsafeCheckpointError(f"unsupported storage type torch.{name}")
        path = f"{module}.{name}"
        if any(path.startswith(p) or module == p.rstrip(".") for p in STUB_PREFIXES):
            return _stub_type(path)
        raise UnsafeCheckpointError(f"refusing to load global {path!r}: not a tensor, plain data or an "
                                    f"allowed module class (the file may run code when loaded with torch.load)")

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent is None:
            raise UnsafeCheckpointError("unexpected persistent id in a plain pickle")
        return self._persistent(pid)


def _storage_type(obj: Any) -> torch.dtype:
    if isinstance(obj, tuple) and len(obj) == 2 and obj[0] == "storage-type":
        return obj[1]
    if isinstance(obj, torch.dtype):
        return obj
    raise UnsafeCheckpointError(f"unexpected storage type {obj!r}")


def _decode(x: Any) -> str:
    return x.decode("ascii") if isinstance(x, bytes) else str(x)


def _load_legacy(f: io.BufferedIOBase, source: str) -> Any:
    storages: dict[str, _Storage] = {}

    def persistent(pid: Any) -> Any:
        if isinstance(pid, tuple) and _decode(pid[0]) == "module":
            # Legacy torch.save names each nn.Module class as ('module', cls, source_file, source):
            # cls already went through find_class (an inert record type); the source is ignored.
            if isinstance(pid[1], type) and issubclass(pid[1], PickledObject):
                return pid[1]
            raise UnsafeCheckpointError(f"{source}: unexpected module class {pid[1]!r}")
        if not isinstance(pid, tuple) or _decode(pid[0]) != "storage":
            raise UnsafeCheckpointError(f"{source}: unexpected persistent id {pid!r}")
        storage_type, key, _location, numel, view = pid[1:6]
        key = _decode(key)
        if key not in storages:
            storages[key] = _Storage(_storage_type(storage_type), key, int(numel))
        root = storages[key]
        if view is not None:
            _view_key, offset, size = view
            return (root, int(offset), int(size))
        return root

    magic = RestrictedUnpickler(f).load()
    if magic != LEGACY_MAGIC:
        raise UnsafeCheckpointError(f"{source}: not a torch.save file (bad magic number)")
    version = RestrictedUnpickler(f).load()
    if version != LEGACY_PROTOCOL:
        raise UnsafeCheckpointError(f"{source}: unsupported torch.save protocol {version}")
    RestrictedUnpickler(f).load()  # sys_info: endianness, type sizes
    result = RestrictedUnpickler(f, persistent).load()
    keys = RestrictedUnpickler(f).load()
    for key in keys:
        st = storages.get(_decode(key))
        if st is None:
            raise UnsafeCheckpointError(f"{source}: storage {key!r} listed but never used")
        (numel,) = struct.unpack("<q", f.read(8))
        itemsize = torch.empty((), dtype=st.dtype).element_size()
        raw = f.read(numel * itemsize)
        if len(raw) != numel * itemsize:
            raise UnsafeCheckpointError(f"{source}: truncated (storage {st.key} needs {numel * itemsize} bytes)")
        st.data = torch.frombuffer(bytearray(raw), dtype=st.dtype) if numel else torch.empty(0, dtype=st.dtype)
    return result


def _load_zip(path: Path) -> Any:
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pkl:
            raise UnsafeCheckpointError(f"{path}: zip archive without data.pkl (not a torch.save file)")
        prefix = pkl[0][: -len("data.pkl")]
        storages: dict[str, _Storage] = {}

        def persistent(pid: Any) -> Any:
            if not isinstance(pid, tuple) or _decode(pid[0]) != "storage":
                raise UnsafeCheckpointError(f"{path}: unexpected persistent id {pid!r}")
            storage_type, key = pid[1], _decode(pid[2])
            if key not in storages:
                st = _Storage(_storage_type(storage_type), key, None)
                raw = z.read(f"{prefix}data/{key}")
                st.data = torch.frombuffer(bytearray(raw), dtype=st.dtype) if raw else torch.empty(0, dtype=st.dtype)
                storages[key] = st
            return storages[key]

        with z.open(pkl[0]) as f:
            return RestrictedUnpickler(io.BytesIO(f.read()), persistent).load()


def _materialise(obj: Any, seen: dict[int, Any]) -> Any:
    """Replace every :class:`_TensorRef` in ``obj`` (dicts, lists, tuples, records) by its tensor."""
    if isinstance(obj, _TensorRef):
        if id(obj) not in seen:
            seen[id(obj)] = obj.build()
        return seen[id(obj)]
    if isinstance(obj, PickledObject):
        if id(obj) in seen:
            return obj
        seen[id(obj)] = obj
        obj.args = tuple(_materialise(a, seen) for a in obj.args)
        obj.state = _materialise(obj.state, seen)
        return obj
    if isinstance(obj, OrderedDict):
        return OrderedDict((k, _materialise(v, seen)) for k, v in obj.items())
    if isinstance(obj, dict):
        return {k: _materialise(v, seen) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_materialise(v, seen) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_materialise(v, seen) for v in obj)
    return obj


def load_checkpoint(path: str | Path) -> Any:
    """The object ``torch.save`` wrote to ``path``, with tensors as CPU tensors and every pickled
    module/Namespace as an inert :class:`PickledObject`; raises :class:`UnsafeCheckpointError` for
    anything else."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint file")
    if zipfile.is_zipfile(path):
        result = _load_zip(path)
    else:
        with open(path, "rb") as f:
            try:
                result = _load_legacy(f, str(path))
            except (pickle.UnpicklingError, EOFError, struct.error, ValueError) as e:
                raise UnsafeCheckpointError(f"{path}: not a readable torch.save file ({e})") from e
    return _materialise(result, {})


def class_path(obj: Any) -> str:
    """The dotted class path of a pickled object (e.g. ``"models.vgg_64.encoder"``) or of a pickled
    class reference (e.g. ``opt.optimizer``: ``"torch.optim.adam.Adam"``), else ``""``."""
    if isinstance(obj, PickledObject) or (isinstance(obj, type) and issubclass(obj, PickledObject)):
        return obj.class_path
    return ""


def module_state(obj: Any, prefix: str = "") -> "OrderedDict[str, torch.Tensor]":
    """The ``state_dict`` of a pickled ``nn.Module`` record: its ``_parameters`` and ``_buffers``
    and those of its ``_modules``, recursively, in registration order (as ``Module.state_dict``).

    A plain dict of tensors (a state dict saved as such) is returned as it is."""
    if isinstance(obj, dict) and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return OrderedDict((prefix + k, v) for k, v in obj.items())
    if not isinstance(obj, PickledObject):
        raise UnsafeCheckpointError(f"expected a pickled module, got {type(obj).__name__}")
    fields = obj.fields()
    if "_parameters" not in fields:
        raise UnsafeCheckpointError(f"{obj.class_path} is not a pickled nn.Module (no _parameters)")
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for group in ("_parameters", "_buffers"):
        for name, t in (fields.get(group) or {}).items():
            if t is not None:
                if not isinstance(t, torch.Tensor):
                    raise UnsafeCheckpointError(f"{obj.class_path}.{name}: expected a tensor, got {type(t).__name__}")
                out[prefix + name] = t
    for name, child in (fields.get("_modules") or {}).items():
        if child is not None:
            out.update(module_state(child, f"{prefix}{name}."))
    return out


def to_numpy(t: torch.Tensor) -> np.ndarray:  # pragma: no cover - convenience for notebooks
    return t.detach().cpu().numpy()
