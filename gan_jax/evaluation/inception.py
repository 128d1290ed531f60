"""The FID Inception-v3 in Flax, on pytorch-fid's published weights, read without torch.

  features = inception.load()            # finds (or downloads once) the weights file
  pool3 = features(images)               # (N, 2048) float32; NHWC images in [-1, 1], 1|3 channels
  pool3, is_logits = features.outputs(images)

The network is pytorch-fid's ``FIDInceptionV3``: torchvision's Inception-v3 with the blocks of the
2015-12-05 TF graph (``FIDInceptionA/C/E_1/E_2``: average pools that do not count the padding, a
max pool in the last block) and a 1008-way classifier. The input protocol is pytorch-fid's:
u = (x + 1)/2 ∈ [0, 1] → bilinear resize to 299×299 with half-pixel centres and no antialiasing
(``F.interpolate(u, (299, 299), mode='bilinear', align_corners=False)``) → 2u - 1. One-channel
images are repeated to three channels first.

Weights come from the torch checkpoint ``pt_inception-2015-12-05-6726825d.pth`` (zip or legacy
``torch.save`` format), read by a restricted unpickler that builds numpy arrays and refuses every
global other than the few that rebuild the tensors of a state dict, so a file cannot run code.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import io
import os
import pickle
import struct
import sys
import urllib.request
import zipfile
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from gan_jax.errors import ConfigError

INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_LOGITS = 1008
BN_EPSILON = 1e-3  # as in the TF graph (torchvision's BasicConv2d)
DEFAULT_BATCH_SIZE = 200

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_SHA256_PREFIX = "6726825d"  # torch hub names files by their sha256's first 8 hex digits
WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
               + WEIGHTS_FILE)
WEIGHTS_ENV = "GAN_JAX_INCEPTION_WEIGHTS"
URL_ENV = "GAN_JAX_INCEPTION_URL"  # overrides the download URL; '' turns the download off


# --------------------------------------------------------------------------------------------
# The network.


class BasicConv(nn.Module):
  """relu(BN(conv(x))): a bias-free convolution, BatchNorm on running statistics (ε = 1e-3)."""

  features: int
  kernel: tuple[int, int]
  stride: int = 1
  padding: tuple[int, int] = (0, 0)

  @nn.compact
  def __call__(self, x):
    x = nn.Conv(self.features, self.kernel, (self.stride, self.stride),
                padding=[(p, p) for p in self.padding], use_bias=False,
                precision=lax.Precision.HIGHEST, name="conv")(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=BN_EPSILON, name="bn")(x)
    return nn.relu(x)


def _conv(name: str, features: int, kernel, stride: int = 1, padding=0) -> BasicConv:
  kernel = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
  padding = (padding, padding) if isinstance(padding, int) else tuple(padding)
  return BasicConv(features, kernel, stride, padding, name=name)


def _avg_pool_3x3(x):
  """3×3 stride-1 average over the window's in-image pixels only (TF's pool, not torch's)."""
  return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3(x, stride: int, padding: int = 0):
  return nn.max_pool(x, (3, 3), (stride, stride), ((padding, padding), (padding, padding)))


def _cat(*xs):
  return jnp.concatenate(xs, axis=-1)


class InceptionA(nn.Module):
  """FIDInceptionA: 1×1 | 1×1→5×5 | 1×1→3×3→3×3 | avg-pool→1×1."""

  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = _conv("branch1x1", 64, 1)(x)
    b5 = _conv("branch5x5_2", 64, 5, padding=2)(_conv("branch5x5_1", 48, 1)(x))
    b3 = _conv("branch3x3dbl_1", 64, 1)(x)
    b3 = _conv("branch3x3dbl_3", 96, 3, padding=1)(_conv("branch3x3dbl_2", 96, 3, padding=1)(b3))
    bp = _conv("branch_pool", self.pool_features, 1)(_avg_pool_3x3(x))
    return _cat(b1, b5, b3, bp)


class InceptionB(nn.Module):
  """Grid reduction 35→17: 3×3/2 | 1×1→3×3→3×3/2 | max-pool/2."""

  @nn.compact
  def __call__(self, x):
    b3 = _conv("branch3x3", 384, 3, stride=2)(x)
    bd = _conv("branch3x3dbl_2", 96, 3, padding=1)(_conv("branch3x3dbl_1", 64, 1)(x))
    bd = _conv("branch3x3dbl_3", 96, 3, stride=2)(bd)
    return _cat(b3, bd, _max_pool_3x3(x, 2))


class InceptionC(nn.Module):
  """FIDInceptionC: factorised 7×7 branches (1×7 and 7×1) with ``channels_7x7`` inner width."""

  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c7 = self.channels_7x7
    b1 = _conv("branch1x1", 192, 1)(x)
    b7 = _conv("branch7x7_1", c7, 1)(x)
    b7 = _conv("branch7x7_2", c7, (1, 7), padding=(0, 3))(b7)
    b7 = _conv("branch7x7_3", 192, (7, 1), padding=(3, 0))(b7)
    bd = _conv("branch7x7dbl_1", c7, 1)(x)
    bd = _conv("branch7x7dbl_2", c7, (7, 1), padding=(3, 0))(bd)
    bd = _conv("branch7x7dbl_3", c7, (1, 7), padding=(0, 3))(bd)
    bd = _conv("branch7x7dbl_4", c7, (7, 1), padding=(3, 0))(bd)
    bd = _conv("branch7x7dbl_5", 192, (1, 7), padding=(0, 3))(bd)
    bp = _conv("branch_pool", 192, 1)(_avg_pool_3x3(x))
    return _cat(b1, b7, bd, bp)


class InceptionD(nn.Module):
  """Grid reduction 17→8: 1×1→3×3/2 | 1×1→1×7→7×1→3×3/2 | max-pool/2."""

  @nn.compact
  def __call__(self, x):
    b3 = _conv("branch3x3_2", 320, 3, stride=2)(_conv("branch3x3_1", 192, 1)(x))
    b7 = _conv("branch7x7x3_1", 192, 1)(x)
    b7 = _conv("branch7x7x3_2", 192, (1, 7), padding=(0, 3))(b7)
    b7 = _conv("branch7x7x3_3", 192, (7, 1), padding=(3, 0))(b7)
    b7 = _conv("branch7x7x3_4", 192, 3, stride=2)(b7)
    return _cat(b3, b7, _max_pool_3x3(x, 2))


class InceptionE(nn.Module):
  """FIDInceptionE_1 (``max_pool=False``) and FIDInceptionE_2 (``max_pool=True``).

  The second one pools its last branch with a 3×3 stride-1 max pool, as the TF graph does.
  """

  max_pool: bool = False

  @nn.compact
  def __call__(self, x):
    b1 = _conv("branch1x1", 320, 1)(x)
    b3 = _conv("branch3x3_1", 384, 1)(x)
    b3 = _cat(_conv("branch3x3_2a", 384, (1, 3), padding=(0, 1))(b3),
              _conv("branch3x3_2b", 384, (3, 1), padding=(1, 0))(b3))
    bd = _conv("branch3x3dbl_2", 384, 3, padding=1)(_conv("branch3x3dbl_1", 448, 1)(x))
    bd = _cat(_conv("branch3x3dbl_3a", 384, (1, 3), padding=(0, 1))(bd),
              _conv("branch3x3dbl_3b", 384, (3, 1), padding=(1, 0))(bd))
    pooled = _max_pool_3x3(x, 1, padding=1) if self.max_pool else _avg_pool_3x3(x)
    bp = _conv("branch_pool", 192, 1)(pooled)
    return _cat(b1, b3, bd, bp)


def preprocess(images):
  """NHWC images in [-1, 1] (1 or 3 channels) → the network's (N, 299, 299, 3) input.

  pytorch-fid's protocol on u = (x + 1)/2: bilinear resize with half-pixel centres and no
  antialiasing (as ``F.interpolate(..., align_corners=False)``), then 2u - 1.
  """
  x = jnp.asarray(images, jnp.float32)
  if x.shape[-1] == 1:
    x = jnp.repeat(x, 3, axis=-1)
  u = (x + 1.0) / 2.0
  u = jax.image.resize(u, (x.shape[0], INPUT_SIZE, INPUT_SIZE, 3), "bilinear", antialias=False)
  return 2.0 * u - 1.0


class FIDInceptionV3(nn.Module):
  """images (N, H, W, 1|3) in [-1, 1] → (pool3 (N, 2048), logits (N, 1008)).

  ``resize=False`` takes the network input itself: (N, 299, 299, 3), already ``preprocess``-ed.
  """

  @nn.compact
  def __call__(self, images, resize: bool = True):
    x = preprocess(images) if resize else images
    x = _conv("Conv2d_1a_3x3", 32, 3, stride=2)(x)
    x = _conv("Conv2d_2a_3x3", 32, 3)(x)
    x = _conv("Conv2d_2b_3x3", 64, 3, padding=1)(x)
    x = _max_pool_3x3(x, 2)
    x = _conv("Conv2d_3b_1x1", 80, 1)(x)
    x = _conv("Conv2d_4a_3x3", 192, 3)(x)
    x = _max_pool_3x3(x, 2)
    x = InceptionA(32, name="Mixed_5b")(x)
    x = InceptionA(64, name="Mixed_5c")(x)
    x = InceptionA(64, name="Mixed_5d")(x)
    x = InceptionB(name="Mixed_6a")(x)
    for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
      x = InceptionC(c7, name=name)(x)
    x = InceptionD(name="Mixed_7a")(x)
    x = InceptionE(max_pool=False, name="Mixed_7b")(x)
    x = InceptionE(max_pool=True, name="Mixed_7c")(x)
    pool3 = x.mean(axis=(1, 2))
    logits = nn.Dense(NUM_LOGITS, precision=lax.Precision.HIGHEST, name="fc")(pool3)
    return pool3, logits


# --------------------------------------------------------------------------------------------
# Torch state-dict keys ↔ the Flax variables.

# (torch module kind, torch leaf) → (Flax collection, Flax leaf).
_LEAF_MAP = {
    ("conv", "weight"): ("params", "kernel"),
    ("bn", "weight"): ("params", "scale"),
    ("bn", "bias"): ("params", "bias"),
    ("bn", "running_mean"): ("batch_stats", "mean"),
    ("bn", "running_var"): ("batch_stats", "var"),
    ("fc", "weight"): ("params", "kernel"),
    ("fc", "bias"): ("params", "bias"),
}
_FLAX_TO_TORCH = {(module, flax): (collection, torch)  # (module kind, Flax leaf) is unique
                  for (module, torch), (collection, flax) in _LEAF_MAP.items()}
_IGNORED_SUFFIX = ".num_batches_tracked"  # BatchNorm's step counter: unused at inference


def _to_flax_layout(a: np.ndarray) -> np.ndarray:
  """Conv (O, I, kh, kw) → (kh, kw, I, O); Linear (O, I) → (I, O); vectors unchanged."""
  return a.transpose(2, 3, 1, 0) if a.ndim == 4 else (a.T if a.ndim == 2 else a)


def _to_torch_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
  if len(shape) == 4:
    return (shape[3], shape[2], shape[0], shape[1])
  return tuple(reversed(shape)) if len(shape) == 2 else tuple(shape)


@functools.cache
def _variable_shapes() -> dict:
  """{'params': ..., 'batch_stats': ...} of FIDInceptionV3 as ShapeDtypeStructs (no compute)."""
  shapes = jax.eval_shape(FIDInceptionV3().init, jax.random.key(0),
                          jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32))
  return dict(shapes)


def torch_state_dict_shapes() -> dict[str, tuple[int, ...]]:
  """The published state dict's tensor names and shapes (num_batches_tracked left out)."""
  out = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(_variable_shapes())[0]:
    collection, *modules, flax_leaf = (k.key for k in path)
    kind = "fc" if modules == ["fc"] else modules[-1]
    _, torch_leaf = _FLAX_TO_TORCH[(kind, flax_leaf)]
    out[".".join(modules + [torch_leaf])] = _to_torch_shape(tuple(leaf.shape))
  return out


def variables_from_state_dict(state_dict: dict, where: str = "the state dict") -> dict:
  """The Flax variables {'params', 'batch_stats'} (float32) of a pytorch-fid state dict.

  Every key of the published layout must be present with its shape, and no other key (besides
  BatchNorm's num_batches_tracked) may be: a mismatch raises one ConfigError line.
  """
  expected = torch_state_dict_shapes()
  given = {k: v for k, v in state_dict.items() if not k.endswith(_IGNORED_SUFFIX)}
  missing = sorted(set(expected) - set(given))
  unexpected = sorted(set(given) - set(expected))
  if missing or unexpected:
    raise ConfigError(
        f"{where} is not pytorch-fid's FID Inception state dict: {len(missing)} key(s) missing "
        f"{missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}")
  variables: dict = {"params": {}, "batch_stats": {}}
  for key, shape in expected.items():
    value = np.asarray(given[key])
    if value.shape != shape:
      raise ConfigError(f"{where}: {key} has shape {value.shape}, expected {shape}")
    *modules, torch_leaf = key.split(".")
    kind = "fc" if modules == ["fc"] else modules[-1]
    collection, flax_leaf = _LEAF_MAP[(kind, torch_leaf)]
    node = variables[collection]
    for m in modules:
      node = node.setdefault(m, {})
    node[flax_leaf] = _to_flax_layout(value.astype(np.float32))
  return variables


# --------------------------------------------------------------------------------------------
# Reading torch checkpoints without torch.

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": jnp.bfloat16, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
_LEGACY_PROTOCOL = 1001


class UnsafeCheckpointError(ConfigError):
  """A checkpoint whose pickle names a global that a tensor state dict never needs."""


class _Storage:
  """A torch storage: its element dtype, size and (once read) its elements as a 1-D array."""

  def __init__(self, dtype: np.dtype, numel: int):
    self.dtype, self.numel, self.array = np.dtype(dtype), numel, None


class _TensorRef(NamedTuple):
  storage: _Storage
  offset: int
  shape: tuple
  stride: tuple


def _rebuild_tensor(storage, storage_offset, size, stride, requires_grad=False,
                    backward_hooks=None, metadata=None):
  """Stands in for torch._utils._rebuild_tensor_v2: records the view, reads nothing."""
  del requires_grad, backward_hooks, metadata
  return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
  """Stands in for torch._utils._rebuild_parameter: a Parameter is its tensor."""
  del requires_grad, backward_hooks
  return data


# The only globals a state-dict pickle may name, each mapped to a harmless stand-in.
_SAFE_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): np.dtype(dtype) for name, dtype in _STORAGE_DTYPES.items()},
}


class _RestrictedUnpickler(pickle.Unpickler):
  """Unpickles only state dicts: find_class serves _SAFE_GLOBALS and refuses everything else."""

  def __init__(self, file, where: str, storage_fn):
    super().__init__(file)
    self._where, self._storage_fn = where, storage_fn

  def find_class(self, module, name):
    try:
      return _SAFE_GLOBALS[(module, name)]
    except KeyError:
      raise UnsafeCheckpointError(
          f"refusing to load {self._where}: its pickle names {module}.{name}, which a tensor "
          "state dict never needs (a .pth that does may run code)") from None

  def persistent_load(self, pid):
    if isinstance(pid, tuple) and pid and isinstance(pid[0], bytes):
      pid = (pid[0].decode("ascii"),) + pid[1:]
    if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
            and isinstance(pid[1], np.dtype) and isinstance(pid[4], int) and pid[4] >= 0):
      raise UnsafeCheckpointError(
          f"refusing to load {self._where}: persistent id {str(pid)[:60]!r} is not a storage")
    if len(pid) == 6 and pid[5] is not None:
      raise ConfigError(f"{self._where}: storage views (old torch) are not supported")
    return self._storage_fn(pid[1], str(pid[2]), pid[4])


def _restricted_load(file, where: str, storage_fn=None):
  def no_storage(*_):
    raise UnsafeCheckpointError(f"refusing to load {where}: a storage outside the tensor pickle")
  return _RestrictedUnpickler(file, where, storage_fn or no_storage).load()


def _storage_table(fill):
  """storage_fn for the unpickler: one _Storage per key, ``fill(key, storage)`` on first use."""
  table: dict[str, _Storage] = {}

  def storage_fn(dtype, key, numel):
    if key not in table:
      table[key] = _Storage(dtype, numel)
      fill(key, table[key])
    return table[key]

  return table, storage_fn


def _set_elements(storage: _Storage, raw: bytes, byteorder: str, where: str, key: str) -> None:
  if len(raw) < storage.numel * storage.dtype.itemsize:
    raise ConfigError(f"{where}: storage {key} holds {len(raw)} bytes, fewer than its "
                      f"{storage.numel} elements of {storage.dtype}")
  stored = storage.dtype.newbyteorder("<" if byteorder == "little" else ">")
  storage.array = np.frombuffer(raw, stored, storage.numel).astype(storage.dtype)


def _load_zip(path: str):
  """The object of a zip-format torch.save: ``<dir>/data.pkl`` and ``<dir>/data/<key>`` records."""
  with zipfile.ZipFile(path) as zf:
    names = set(zf.namelist())
    pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
      raise ConfigError(f"{path}: a torch zip checkpoint has one <dir>/data.pkl, found "
                        f"{len(pickles)}")
    prefix = pickles[0][:-len("data.pkl")]
    byteorder = "little"
    if prefix + "byteorder" in names:
      byteorder = zf.read(prefix + "byteorder").decode("ascii").strip()

    def fill(key, storage):
      record = f"{prefix}data/{key}"
      if record not in names:
        raise ConfigError(f"{path}: storage record {record} is missing")
      _set_elements(storage, zf.read(record), byteorder, path, key)

    _, storage_fn = _storage_table(fill)
    return _restricted_load(io.BytesIO(zf.read(pickles[0])), path, storage_fn)


def _load_legacy(path: str):
  """The object of a legacy torch.save: magic, version, sys info, the pickle, keys, storages."""
  with open(path, "rb") as f:
    try:
      magic = _restricted_load(f, path)
    except UnsafeCheckpointError:
      raise
    except Exception:  # noqa: BLE001 - any other failure: not a torch file at all
      magic = None
    if magic != _LEGACY_MAGIC:
      raise ConfigError(f"{path} is not a torch checkpoint (neither a zip archive nor the "
                        "legacy torch.save format)")
    if _restricted_load(f, path) != _LEGACY_PROTOCOL:
      raise ConfigError(f"{path}: unsupported legacy torch.save protocol")
    _restricted_load(f, path)  # sys info; legacy storages are little-endian regardless
    table, storage_fn = _storage_table(lambda key, storage: None)
    obj = _restricted_load(f, path, storage_fn)
    keys = _restricted_load(f, path)
    if not isinstance(keys, list):
      raise ConfigError(f"{path}: the legacy storage key list is malformed")
    for key in keys:
      storage = table.get(str(key))
      if storage is None:
        raise ConfigError(f"{path}: storage {key} is not used by the pickle")
      (numel,) = struct.unpack("<q", f.read(8))
      if numel != storage.numel:
        raise ConfigError(f"{path}: storage {key} holds {numel} elements, not {storage.numel}")
      _set_elements(storage, f.read(numel * storage.dtype.itemsize), "little", path, str(key))
  return obj


def _materialise(ref: _TensorRef, where: str, name: str) -> np.ndarray:
  """The tensor a view describes, bounds-checked against its storage, as its own numpy array."""
  storage = ref.storage
  if not isinstance(storage, _Storage) or storage.array is None:
    raise ConfigError(f"{where}: tensor {name} has no storage data")
  shape, stride = ref.shape, ref.stride
  values = (*shape, *stride, ref.offset)
  if (len(shape) != len(stride) or not all(type(v) is int for v in values)
      or min(values) < 0):
    raise ConfigError(f"{where}: tensor {name} has a malformed view {shape}/{stride}")
  if 0 in shape:
    return np.zeros(shape, storage.dtype)
  last = ref.offset + sum((n - 1) * s for n, s in zip(shape, stride, strict=True))
  # More elements than the storage holds (a broadcast view) could ask for any amount of memory.
  if last >= len(storage.array) or np.prod(shape, dtype=object) > len(storage.array):
    raise ConfigError(f"{where}: tensor {name} reaches past its storage")
  itemsize = storage.dtype.itemsize
  view = np.lib.stride_tricks.as_strided(storage.array[ref.offset:], shape,
                                         [s * itemsize for s in stride], writeable=False)
  return np.array(view)


def read_state_dict(path: str) -> dict[str, np.ndarray]:
  """{name: numpy array} of a torch.save'd state dict (zip or legacy format), without torch.

  The restricted unpickler only rebuilds tensors; a pickle that names any other global raises
  UnsafeCheckpointError, any other malformation a ConfigError, both as one line.
  """
  try:
    obj = _load_zip(path) if zipfile.is_zipfile(path) else _load_legacy(path)
  except ConfigError:
    raise
  except Exception as e:  # noqa: BLE001 - truncated/corrupt files fail in many ways
    raise ConfigError(f"{path} is not a readable torch checkpoint "
                      f"({type(e).__name__}: {' '.join(str(e).split())[:120]})") from None
  if not isinstance(obj, dict) or not all(
      isinstance(k, str) and isinstance(v, _TensorRef) for k, v in obj.items()):
    raise ConfigError(f"{path} holds no state dict (a mapping of names to tensors)")
  return {k: _materialise(v, path, k) for k, v in obj.items()}


# --------------------------------------------------------------------------------------------
# Finding the weights file.


def default_weights_path(cache_dir: str | None = None) -> str:
  """<cache root>/inception/pt_inception-2015-12-05-6726825d.pth (~/.cache/gan_jax by default)."""
  from gan_jax.evaluation.classifier import cache_root

  return os.path.join(cache_root(cache_dir), "inception", WEIGHTS_FILE)


_DOWNLOAD_FAILED: dict[str, str] = {}  # url → reason: the download is tried once per process


def _download(url: str, dest: str) -> None:
  """url → dest via a .part file, checking the sha256 prefix the file name promises.

  Prints one notice once the server answers, so that an offline attempt prints nothing.
  """
  part = dest + ".part"
  digest = hashlib.sha256()
  try:
    with urllib.request.urlopen(url, timeout=60) as response:
      print(f"downloading the FID Inception weights from {url} to {dest}", file=sys.stderr,
            flush=True)
      os.makedirs(os.path.dirname(dest), exist_ok=True)
      with open(part, "wb") as f:
        while chunk := response.read(1 << 20):
          digest.update(chunk)
          f.write(chunk)
    if not digest.hexdigest().startswith(WEIGHTS_SHA256_PREFIX):
      raise OSError(f"sha256 {digest.hexdigest()[:8]} != {WEIGHTS_SHA256_PREFIX}")
    os.replace(part, dest)
  finally:
    if os.path.exists(part):
      os.remove(part)


def resolve_weights(weights_path: str | None = None, *, cache_dir: str | None = None) -> str:
  """The weights file: ``weights_path``, else $GAN_JAX_INCEPTION_WEIGHTS, else the cache file.

  When none is set and the cache holds no file, the official URL is tried once; if that fails
  (offline), one ConfigError line says where to put the file.
  """
  for value, label in ((weights_path, "--inception_weights"),
                       (os.environ.get(WEIGHTS_ENV), f"${WEIGHTS_ENV}")):
    if value:
      path = os.path.abspath(os.path.expanduser(value))
      if not os.path.isfile(path):
        raise ConfigError(f"{label}={value!r} does not exist or is not a file")
      return path
  dest = default_weights_path(cache_dir)
  if os.path.isfile(dest):
    return dest
  url = os.environ.get(URL_ENV, WEIGHTS_URL)
  if url and url not in _DOWNLOAD_FAILED:
    try:
      _download(url, dest)
      return dest
    except Exception as e:  # noqa: BLE001 - offline, refused, truncated, wrong file
      _DOWNLOAD_FAILED[url] = f"{type(e).__name__}: {' '.join(str(e).split())[:100]}"
  reason = f"download of {url} failed: {_DOWNLOAD_FAILED[url]}" if url else "download disabled"
  raise ConfigError(
      f"no FID Inception weights: put {WEIGHTS_FILE} (from {WEIGHTS_URL}) at {dest}, or pass "
      f"--inception_weights=PATH or set ${WEIGHTS_ENV} ({reason})")


def file_sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    while chunk := f.read(1 << 20):
      digest.update(chunk)
  return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Batched feature extraction over all local devices.


def _round_up(n: int, k: int) -> int:
  return -(-n // k) * k


class InceptionFeatures:
  """pool3 features and IS logits of images, jitted and split over all local devices.

  Images go through in chunks of ``batch_size`` (rounded up to a multiple of the device count;
  smaller when the whole input is smaller); the last, ragged chunk is padded to the same size.
  The resize to 299×299 is jitted apart from the network, so the network compiles once per
  chunk size whatever the input resolution.
  """

  def __init__(self, variables: dict, *, batch_size: int = DEFAULT_BATCH_SIZE, devices=None,
               weights_sha256: str = ""):
    self.devices = list(devices) if devices is not None else jax.local_devices()
    self.batch_size = _round_up(max(int(batch_size), 1), len(self.devices))
    self.weights_sha256 = weights_sha256
    mesh = Mesh(np.array(self.devices), ("batch",))
    self._split = NamedSharding(mesh, P("batch"))
    replicated = NamedSharding(mesh, P())
    self.variables = jax.device_put(variables, replicated)
    model = FIDInceptionV3()

    def network(variables, x):
      """(pool3, pool3·W): IS takes the fc logits without their bias, as torch-fidelity does."""
      pool3, _ = model.apply(variables, x, resize=False)
      kernel = variables["params"]["fc"]["kernel"]
      return pool3, jnp.dot(pool3, kernel, precision=lax.Precision.HIGHEST)

    self._preprocess = jax.jit(preprocess, in_shardings=self._split, out_shardings=self._split)
    self._network = jax.jit(network, in_shardings=(replicated, self._split),
                            out_shardings=(self._split, self._split))

  def outputs(self, images) -> tuple[np.ndarray, np.ndarray]:
    """(pool3 (N, 2048), IS logits (N, 1008)) as float32 numpy, for NHWC images in [-1, 1]."""
    x = np.asarray(images, np.float32)
    if x.ndim == 3:
      x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
      raise ValueError(f"images must have shape (N, H, W, 1 or 3), got {x.shape}")
    n = len(x)
    size = min(self.batch_size, _round_up(max(n, 1), len(self.devices)))
    pending, outs = None, []
    for start in range(0, n, size):
      chunk = x[start:start + size]
      if len(chunk) < size:
        chunk = np.concatenate([chunk, np.zeros((size - len(chunk),) + x.shape[1:], x.dtype)])
      chunk = self._preprocess(jax.device_put(chunk, self._split))
      result = self._network(self.variables, chunk)
      if pending is not None:  # fetch the previous chunk while this one runs
        outs.append(jax.device_get(pending))
      pending = result
    if pending is not None:
      outs.append(jax.device_get(pending))
    if not outs:
      return np.zeros((0, FEATURE_DIM), np.float32), np.zeros((0, NUM_LOGITS), np.float32)
    pool3 = np.concatenate([o[0] for o in outs])[:n]
    logits = np.concatenate([o[1] for o in outs])[:n]
    return pool3, logits

  def __call__(self, images) -> np.ndarray:
    """pool3 features (N, 2048) float32."""
    return self.outputs(images)[0]


def load(weights_path: str | None = None, *, batch_size: int = DEFAULT_BATCH_SIZE,
         cache_dir: str | None = None, devices=None) -> InceptionFeatures:
  """The FID Inception on the weights ``resolve_weights`` finds, as a batched feature function."""
  path = resolve_weights(weights_path, cache_dir=cache_dir)
  variables = variables_from_state_dict(read_state_dict(path), where=path)
  return InceptionFeatures(variables, batch_size=batch_size, devices=devices,
                           weights_sha256=file_sha256(path))
