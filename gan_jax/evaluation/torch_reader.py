"""Tensors of torch files read without torch.

  tensors = read_state_dict(path)        # torch.save'd state dict (zip or legacy) → {name: array}
  tensors = read_script_tensors(path)    # TorchScript archive's data.pkl → {'a.b.weight': array}

The pickles go through ``torch_pickle``'s reader, which only builds inert records. Here every
storage claim is checked against the bytes the file holds before any is read (and all of them
against ``MAX_STORAGE_BYTES``), and every tensor's view (offset, shape, strides) is checked to
lie inside its storage before it is copied. Any malformation is one ConfigError line.
"""

from __future__ import annotations

import io
import struct
import zipfile

import numpy as np

from gan_jax.errors import ConfigError
from gan_jax.evaluation.torch_pickle import (  # noqa: F401 - UnsafeCheckpointError: the API's
    MAX_PICKLE_BYTES,
    UnsafeCheckpointError,
    _Object,
    _Storage,
    _Tensor,
    _unpickle,
    numpy_dtype,
)

_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
_LEGACY_PROTOCOL = 1001
MAX_STORAGE_BYTES = 1 << 30  # all storages of one file: the FID Inception's are 87 MB


# --------------------------------------------------------------------------------------------
# Storages and views.


def _check_total(claims: dict, where: str) -> None:
  total = sum(c.numel * numpy_dtype(c.dtype).itemsize for c in claims.values())
  if total > MAX_STORAGE_BYTES:
    raise ConfigError(f"{where}: its storages claim {total} bytes, more than the "
                      f"{MAX_STORAGE_BYTES} a tensor file here may hold")


def _storage_array(claim: _Storage, raw: bytes, byteorder: str, where: str) -> np.ndarray:
  dtype = numpy_dtype(claim.dtype)
  if len(raw) != claim.numel * dtype.itemsize:
    raise ConfigError(f"{where}: storage {claim.key} holds {len(raw)} bytes, not the "
                      f"{claim.numel} elements of {claim.dtype} its pickle claims")
  stored = dtype.newbyteorder("<" if byteorder == "little" else ">")
  return np.frombuffer(raw, stored, claim.numel).astype(dtype)


def materialise(tensor: _Tensor, arrays: dict, where: str, name: str) -> np.ndarray:
  """The array a view describes, bounds-checked against its storage, as its own copy."""
  array = arrays.get(tensor.storage.key)
  if array is None:
    raise ConfigError(f"{where}: tensor {name} has no storage data")
  shape, stride, offset = tensor.shape, tensor.stride, tensor.offset
  values = (*shape, *stride, offset)
  if len(shape) != len(stride) or not all(type(v) is int for v in values) or min(values) < 0:
    raise ConfigError(f"{where}: tensor {name} has a malformed view {shape}/{stride}")
  if 0 in shape:
    return np.zeros(shape, array.dtype)
  last = offset + sum((n - 1) * s for n, s in zip(shape, stride, strict=True))
  # More elements than the storage holds (a broadcast view) could ask for any amount of memory.
  if last >= len(array) or np.prod(shape, dtype=object) > len(array):
    raise ConfigError(f"{where}: tensor {name} reaches past its storage")
  itemsize = array.dtype.itemsize
  view = np.lib.stride_tricks.as_strided(array[offset:], shape, [s * itemsize for s in stride],
                                         writeable=False)
  return np.array(view)


def _materialise_all(tensors, arrays: dict, where: str) -> dict[str, np.ndarray]:
  """{name: array} of (name, view) pairs, in all no more bytes than twice the storages'."""
  budget = 2 * sum(a.nbytes for a in arrays.values())
  out = {}
  for name, tensor in tensors:
    out[name] = materialise(tensor, arrays, where, name)
    budget -= out[name].nbytes
    if budget < 0:
      raise ConfigError(f"{where}: its tensors repeat their storages' bytes more than twice")
  return out


# --------------------------------------------------------------------------------------------
# The two container formats.


def _zip_pickle(zf: zipfile.ZipFile, path: str, *, script: bool):
  """(object, storage arrays) of a torch zip archive: <dir>/data.pkl and <dir>/data/<key>."""
  infos = {info.filename: info for info in zf.infolist()}
  pickles = [n for n in infos if n.endswith("/data.pkl") and n.count("/") == 1]
  if len(pickles) != 1:
    raise ConfigError(f"{path}: a torch zip archive has one <dir>/data.pkl, found {len(pickles)}")
  prefix = pickles[0][:-len("data.pkl")]
  if infos[pickles[0]].file_size > MAX_PICKLE_BYTES:
    raise ConfigError(f"{path}: data.pkl claims {infos[pickles[0]].file_size} bytes")
  byteorder = "little"
  if prefix + "byteorder" in infos:
    byteorder = zf.read(prefix + "byteorder")[:16].decode("ascii", "replace").strip()
    if byteorder not in ("little", "big"):
      raise ConfigError(f"{path}: byteorder {byteorder!r} is neither little nor big")
  obj, claims = _unpickle(zf.read(pickles[0]), path, script=script)
  _check_total(claims, path)
  arrays = {}
  for key, claim in claims.items():
    record = f"{prefix}data/{key}"
    info = infos.get(record)
    if info is None:
      raise ConfigError(f"{path}: storage record {record} is missing")
    if info.file_size != claim.numel * numpy_dtype(claim.dtype).itemsize:  # before reading
      raise ConfigError(f"{path}: storage {key} holds {info.file_size} bytes, not the "
                        f"{claim.numel} elements of {claim.dtype} its pickle claims")
    arrays[key] = _storage_array(claim, zf.read(record), byteorder, path)
  return obj, arrays


def _legacy_pickle(path: str):
  """(object, storage arrays) of a legacy torch.save: magic, version, sys info, the pickle,
  the storage keys, then each storage as its int64 element count and its bytes."""
  with open(path, "rb") as file:
    f = io.BytesIO(file.read())  # a BytesIO reads at most what it holds, whatever a length says
  size = len(f.getbuffer())
  try:
    magic, _ = _unpickle(f, path)
  except UnsafeCheckpointError:
    raise
  except ConfigError:
    magic = None
  if type(magic) is not int or magic != _LEGACY_MAGIC:
    raise ConfigError(f"{path} is not a torch checkpoint (neither a zip archive nor the "
                      "legacy torch.save format)")
  if _unpickle(f, path)[0] != _LEGACY_PROTOCOL:
    raise ConfigError(f"{path}: unsupported legacy torch.save protocol")
  _unpickle(f, path)  # sys info; legacy storages are little-endian regardless
  obj, claims = _unpickle(f, path)
  _check_total(claims, path)
  keys, _ = _unpickle(f, path)
  if (type(keys) is not list or not all(type(k) in (str, int) for k in keys)
      or sorted(map(str, keys)) != sorted(claims)):
    raise ConfigError(f"{path}: the legacy storage key list does not match the pickle's")
  arrays = {}
  for key in map(str, keys):
    claim = claims[key]
    header = f.read(8)
    if len(header) != 8:
      raise ConfigError(f"{path}: truncated before storage {key}")
    (numel,) = struct.unpack("<q", header)
    nbytes = claim.numel * numpy_dtype(claim.dtype).itemsize
    if numel != claim.numel or nbytes > size - f.tell():
      raise ConfigError(f"{path}: storage {key} holds {numel} elements of the file's "
                        f"{size - f.tell()} remaining bytes, its pickle claims {claim.numel}")
    arrays[key] = _storage_array(claim, f.read(nbytes), "little", path)
  return obj, arrays


def _read(path: str, *, script: bool):
  try:
    if zipfile.is_zipfile(path):
      with zipfile.ZipFile(path) as zf:
        return _zip_pickle(zf, path, script=script)
    if script:
      raise ConfigError(f"{path} is not a TorchScript archive (not a zip file)")
    return _legacy_pickle(path)
  except ConfigError:
    raise
  except (OSError, zipfile.BadZipFile, EOFError, ValueError, NotImplementedError,
          RuntimeError) as e:  # truncated or corrupt archives fail in these ways
    raise ConfigError(f"{path} is not a readable torch file "
                      f"({type(e).__name__}: {' '.join(str(e).split())[:120]})") from None


def read_state_dict(path: str) -> dict[str, np.ndarray]:
  """{name: numpy array} of a torch.save'd state dict (zip or legacy format), without torch."""
  obj, arrays = _read(path, script=False)
  if type(obj) is not dict or not all(
      type(k) is str and type(v) is _Tensor for k, v in obj.items()):
    raise ConfigError(f"{path} holds no state dict (a mapping of names to tensors)")
  return _materialise_all(obj.items(), arrays, path)


def read_script_tensors(path: str) -> dict[str, np.ndarray]:
  """{'attr.attr.leaf': array} of every tensor attribute in a TorchScript archive's module tree,
  in the pickle's attribute order (the order the module declared them)."""
  obj, arrays = _read(path, script=True)
  if type(obj) is not _Object:
    raise ConfigError(f"{path} holds no TorchScript module")
  tensors: list[tuple[str, _Tensor]] = []
  seen: set[int] = set()
  todo = [("", obj)]
  while todo:  # depth-first, in attribute order; shared or cyclic objects are visited once
    prefix, node = todo.pop()
    if id(node) in seen:
      continue
    seen.add(id(node))
    children = []
    for attr, value in (node.attrs or {}).items():
      name = prefix + attr
      if type(value) is _Tensor:
        tensors.append((name, value))
      elif type(value) is _Object:
        children.append((name + ".", value))
    todo.extend(reversed(children))
  return _materialise_all(tensors, arrays, path)
