"""The FID Inception-v3 in Flax, on the published TF weights, read without torch.

  features = inception.load()            # finds the weights file (inception_weights)
  pool3 = features(images)               # (N, 2048) float32; NHWC images in [-1, 1], 1|3 channels
  pool3, is_logits = features.outputs(images)   # is_logits (N, 0) when the weights have no fc

The network and its input protocols: ``inception_net``. The weights files, their lookup and
their mapping onto the network: ``inception_weights``; the reader of torch files that only
reads: ``torch_reader``. This module runs the network in batches over all local devices.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from gan_jax.evaluation.inception_net import (  # noqa: F401 - the package's Inception API
  DEFAULT_PROTOCOL,
  FEATURE_DIM,
  INPUT_SIZE,
  NUM_LOGITS,
  PROTOCOLS,
  FIDInceptionV3,
  Protocol,
  preprocess,
)
from gan_jax.evaluation.inception_weights import (  # noqa: F401
  FETCH_COMMAND,
  TF_FILE,
  WEIGHTS_ENV,
  WEIGHTS_FILE,
  WEIGHTS_URL,
  default_weights_path,
  fetch_weights,
  file_sha256,
  read_variables,
  resolve_weights,
  torch_state_dict_shapes,
  variables_from_state_dict,
)
from gan_jax.evaluation.torch_reader import (  # noqa: F401
  UnsafeCheckpointError,
  read_script_tensors,
  read_state_dict,
)

DEFAULT_BATCH_SIZE = 200
# Images per device in one pass of the network: a chunk runs as a sequence (lax.map) of these,
# so that the activations (and the convolutions' patch buffers) of only a few images are live.
DEFAULT_MICRO_BATCH = 10


# --------------------------------------------------------------------------------------------
# Batched feature extraction over all local devices.


def _round_up(n: int, k: int) -> int:
  return -(-n // k) * k


class InceptionFeatures:
  """pool3 features and IS logits of images, jitted and split over all local devices.

  Images go through in chunks of ``batch_size`` (rounded up to a multiple of the device count,
  and of ``micro_batch`` × devices when larger; smaller when the whole input is smaller); the
  last, ragged chunk is padded to the same size. Within a chunk the network runs on
  ``micro_batch`` images per device at a time (0: the whole chunk at once), which bounds memory.
  The resize to 299×299 (``protocol``) is jitted apart from the network, so the network compiles
  once per chunk size whatever the input resolution. ``is_available``: whether the weights have
  the fc layer that IS needs.
  """

  def __init__(self, variables: dict, *, batch_size: int = DEFAULT_BATCH_SIZE, devices=None,
               weights_sha256: str = "", protocol: Protocol = DEFAULT_PROTOCOL,
               micro_batch: int = DEFAULT_MICRO_BATCH):
    self.devices = list(devices) if devices is not None else jax.local_devices()
    d = len(self.devices)
    self.micro = d * max(int(micro_batch), 0)  # images per network pass, all devices
    self.batch_size = self._chunk_size(max(int(batch_size), 1))
    self.weights_sha256 = weights_sha256
    self.protocol = protocol
    self.is_available = "fc" in variables["params"]
    mesh = Mesh(np.array(self.devices), ("batch",))
    self._split = NamedSharding(mesh, P("batch"))
    replicated = NamedSharding(mesh, P())
    self.variables = jax.device_put(variables, replicated)
    model = FIDInceptionV3(fc=self.is_available)

    def pool3_of(variables, x):
      """pool3 of (n, 299, 299, 3), ``self.micro`` images at a time when n is a multiple."""
      n = x.shape[0]
      if not self.micro or n <= self.micro or n % self.micro:
        return model.apply(variables, x, resize=False)[0]
      k, m = n // self.micro, self.micro // d
      # Device i holds rows [i·k·m, (i+1)·k·m): pass j takes rows j·m.. of every device's block.
      xs = x.reshape(d, k, m, *x.shape[1:]).swapaxes(0, 1).reshape(k, d * m, *x.shape[1:])
      out = lax.map(lambda xb: model.apply(variables, xb, resize=False)[0], xs)
      return out.reshape(k, d, m, FEATURE_DIM).swapaxes(0, 1).reshape(n, FEATURE_DIM)

    def network(variables, x):
      """(pool3, pool3·W): IS takes the fc logits without their bias, as torch-fidelity does."""
      pool3 = pool3_of(variables, x)
      if not self.is_available:
        return pool3, jnp.zeros((len(x), 0), jnp.float32)
      kernel = variables["params"]["fc"]["kernel"]
      return pool3, jnp.dot(pool3, kernel, precision=lax.Precision.HIGHEST)

    self._preprocess = jax.jit(lambda x: preprocess(x, protocol), in_shardings=self._split,
                               out_shardings=self._split)
    self._network = jax.jit(network, in_shardings=(replicated, self._split),
                            out_shardings=(self._split, self._split))

  def _chunk_size(self, n: int) -> int:
    """n rounded up to a multiple of the devices, or of the micro-batch when larger than it."""
    step = self.micro if self.micro and n > self.micro else len(self.devices)
    return _round_up(n, step)

  def outputs(self, images) -> tuple[np.ndarray, np.ndarray]:
    """(pool3 (N, 2048), IS logits (N, 1008), or (N, 0) without fc) as float32 numpy, for NHWC
    images in [-1, 1]."""
    x = np.asarray(images, np.float32)
    if x.ndim == 3:
      x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
      raise ValueError(f"images must have shape (N, H, W, 1 or 3), got {x.shape}")
    n = len(x)
    size = min(self.batch_size, self._chunk_size(max(n, 1)))
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
      logits = NUM_LOGITS if self.is_available else 0
      return np.zeros((0, FEATURE_DIM), np.float32), np.zeros((0, logits), np.float32)
    pool3 = np.concatenate([o[0] for o in outs])[:n]
    logits = np.concatenate([o[1] for o in outs])[:n]
    return pool3, logits

  def __call__(self, images) -> np.ndarray:
    """pool3 features (N, 2048) float32."""
    return self.outputs(images)[0]


def load(weights_path: str | None = None, *, batch_size: int = DEFAULT_BATCH_SIZE,
         cache_dir: str | None = None, devices=None, protocol: Protocol = DEFAULT_PROTOCOL,
         micro_batch: int = DEFAULT_MICRO_BATCH) -> InceptionFeatures:
  """The FID Inception on the weights ``resolve_weights`` finds, as a batched feature function."""
  path = resolve_weights(weights_path, cache_dir=cache_dir)
  return InceptionFeatures(read_variables(path), batch_size=batch_size, devices=devices,
                           weights_sha256=file_sha256(path), protocol=protocol,
                           micro_batch=micro_batch)
