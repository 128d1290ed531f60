"""What the image-to-image games (``pix2pix``, ``cyclegan``) share: their data
(``gan_jax.data.translation``: domains a and b), batches, networks, translation on the host,
pictures, samples and evaluation (``gan_jax.evaluation.translation`` with the shipped MNIST
classifier)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gan_jax.errors import ConfigError
from gan_jax.games import updates
from gan_jax.games.base import Game
from gan_jax.models import translation as nets
from gan_jax.ops import conv as conv_ops

DIRECTIONS = ("a2b", "b2a")
GENERATORS = ("unet", "resnet")
TRANSLATE_BATCH = 256
PICTURE_ROWS = 8


def global_example_index(local: int, num_devices: int) -> jax.Array:
  """The global batch index of each of this device's ``local`` examples."""
  if num_devices == 1:
    return jnp.arange(local)
  return lax.axis_index(updates.AXIS) * local + jnp.arange(local)


def example_keys(key, local: int, num_devices: int) -> jax.Array:
  """One key per example, ``fold_in(key, global index)``: per-example draws (dropout masks)
  that k devices make exactly as one device does."""
  return jax.vmap(lambda i: jax.random.fold_in(key, i))(global_example_index(local, num_devices))


def apply(module, params, stats, *args, train: bool, **kwargs):
  """(module's output, its new BatchNorm statistics) with ``stats`` ({} when it has none)."""
  variables = {"params": params, **({"batch_stats": stats} if stats else {})}
  if not (train and stats):
    return module.apply(variables, *args, train=train, **kwargs), stats
  out, mutated = module.apply(variables, *args, train=train, mutable=["batch_stats"], **kwargs)
  return out, mutated["batch_stats"]


def finish_step(old, new, metrics: dict, nonfinite: tuple[str, ...]):
  """(``new`` one step on from ``old``, the step's metrics averaged over devices): the
  non-finite flags are already the same on every device, and ``skipped_updates`` joins them."""
  metrics = {k: v if k in nonfinite else lax.pmean(v, updates.AXIS) for k, v in metrics.items()}
  metrics["skipped_updates"] = new.skipped_updates
  return new.replace(step=old.step + 1), metrics


class TranslationGame(Game):
  """Base of the games that translate images of domain a into domain b (and back)."""

  default_generator = "unet"
  default_norm = "batch"
  directions: tuple[str, ...] = ("a2b",)
  progress_metrics = (("d_loss", "d_loss", ".4f"), ("g_loss", "g_loss", ".4f"))

  def __init__(self, config, dataset, *, num_devices: int):
    super().__init__(config, dataset, num_devices=num_devices)
    t = config.translation
    self.generator_kind = t.generator or self.default_generator
    self.norm = t.norm or self.default_norm
    if self.generator_kind not in GENERATORS:
      raise ConfigError(f"translation.generator={t.generator!r} is unknown; valid: "
                        f"{', '.join(GENERATORS)} (or '' for the game's)")
    if self.norm not in nets.NORMS:
      raise ConfigError(f"translation.norm={t.norm!r} is unknown; valid: "
                        f"{', '.join(nets.NORMS)} (or '' for the game's)")
    for field in ("ngf", "ndf", "d_layers", "unet_depth", "resnet_blocks"):
      if not isinstance(t[field], int) or t[field] <= 0:
        raise ConfigError(f"translation.{field}={t[field]!r} must be a positive integer")
    for field in ("lambda_l1", "lambda_cycle", "lambda_identity", "pool_size", "dropout_blocks"):
      if t[field] < 0:
        raise ConfigError(f"translation.{field}={t[field]!r} must be non-negative")
    n = min(dataset.num_train_a, dataset.num_train_b)
    if config.train.batch_size > n:
      raise ConfigError(f"train.batch_size={config.train.batch_size} exceeds the {n} training "
                        f"examples of {dataset.name!r}")
    self.conv_impl = conv_ops.resolve_impl(config.model.get("conv_impl", "fast"),
                                           jax.default_backend())
    self._translate_fns = {}
    self._classifier = None

  @classmethod
  def load_dataset(cls, data_config):
    from gan_jax.data import translation

    return translation.load(data_config)

  # ---- networks ------------------------------------------------------------------------------

  def make_generator(self, out_shape, reframe_to: tuple | None = None):
    """The config's generator; ``reframe_to`` as ``models.translation.generator_input``."""
    t = self.config.translation
    if self.generator_kind == "unet":
      return nets.UNetGenerator(
          out_shape=tuple(out_shape), norm=self.norm, axis_name=updates.AXIS,
          conv_impl=self.conv_impl, dropout_blocks=t.dropout_blocks,
          channels=tuple(t.ngf * min(2 ** i, 4) for i in range(t.unet_depth)),
          spatial_transformer=t.spatial_transformer, reframe_to=reframe_to)
    return nets.ResNetGenerator(out_shape=tuple(out_shape), ngf=t.ngf, num_blocks=t.resnet_blocks,
                                norm=self.norm, axis_name=updates.AXIS, conv_impl=self.conv_impl,
                                spatial_transformer=t.spatial_transformer, reframe_to=reframe_to)

  def make_discriminator(self):
    t = self.config.translation
    return nets.PatchDiscriminator(ndf=t.ndf, n_layers=t.d_layers, norm=self.norm,
                                   axis_name=updates.AXIS, conv_impl=self.conv_impl)

  def optimizer(self, lr: float):
    o = self.config.optim
    return updates.adam(lr, o.b1, o.b2, schedule=o.get("schedule", "constant"),
                        num_updates=self.config.train.num_steps)

  # ---- host side -----------------------------------------------------------------------------

  def batch_fn(self, *, process_index: int = 0, process_count: int = 1):
    from gan_jax import rng
    from gan_jax.data import translation

    return translation.make_batch_fn(
        self.dataset, batch_size=self.config.train.batch_size,
        seed=rng.streams(self.config.seed).data, process_index=process_index,
        process_count=process_count)

  def generator_for(self, direction: str):
    """(generator module, the function of the state giving its variables)."""
    raise NotImplementedError

  def check_images(self, images, direction: str) -> np.ndarray:
    """``images`` as float32 (N, H, W, C) of the direction's input domain; ConfigError else."""
    if direction not in self.directions:
      raise ConfigError(f"direction={direction!r} is not one of this {self.name} run's: "
                        f"{', '.join(self.directions)}")
    shape = self.dataset.shape_a if direction == "a2b" else self.dataset.shape_b
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != tuple(shape) or not np.issubdtype(
        images.dtype, np.floating):
      raise ConfigError(f"images must be float (N, {', '.join(map(str, shape))}) for "
                        f"{direction}, got {images.dtype} {images.shape}")
    if images.size and not (np.all(np.isfinite(images)) and np.abs(images).max() <= 1.0 + 1e-5):
      raise ConfigError("images must be finite and lie in [-1, 1]")
    return images.astype(np.float32)

  def translate(self, state, images, direction: str = "a2b") -> np.ndarray:
    """G(images) as float32 numpy in inference mode (BN running statistics, no dropout), in
    padded batches of ``TRANSLATE_BATCH`` (one compiled shape)."""
    images = self.check_images(images, direction)
    generator, variables_of = self.generator_for(direction)
    if direction not in self._translate_fns:
      self._translate_fns[direction] = jax.jit(
          lambda variables, x: generator.apply(variables, x, train=False))
    fn, variables = self._translate_fns[direction], variables_of(state)
    size = min(TRANSLATE_BATCH, max(len(images), 1))
    outs = []
    for i in range(0, len(images), size):
      chunk = images[i:i + size]
      padded = np.concatenate([chunk, np.repeat(chunk[-1:], size - len(chunk), 0)])
      outs.append(np.asarray(fn(variables, padded), np.float32)[:len(chunk)])
    out_shape = self.dataset.shape_b if direction == "a2b" else self.dataset.shape_a
    return np.concatenate(outs) if outs else np.zeros((0, *out_shape), np.float32)

  def _display(self, images) -> np.ndarray:
    """Images as 28x28 (or the target size) tiles: small inputs up-sampled (nearest)."""
    size = self.dataset.shape_b[0]
    return np.asarray(nets.upsample_to(jnp.asarray(images), size))

  def picture_columns(self, state) -> list[np.ndarray]:
    """The picture's columns of one row per example (e.g. input, output, target)."""
    raise NotImplementedError

  def picture(self, state, seed: int) -> tuple[np.ndarray, dict]:
    """``PICTURE_ROWS`` rows of the first test examples; each row is the picture's columns
    (Pix2Pix: input | output | target; CycleGAN: a | a2b | a2b2a | b | b2a | b2a2b)."""
    from gan_jax.evaluation import sampling

    del seed  # the same test examples at every step
    columns = [self._display(c) for c in self.picture_columns(state)]
    tiles = np.stack(columns, 1).reshape(-1, *columns[0].shape[1:])
    return sampling.image_grid(tiles, PICTURE_ROWS), {}

  def classifier(self, cache_dir=None):
    """The shipped MNIST classifier (``evaluation.classifier``)."""
    if self._classifier is None:
      import ml_collections

      from gan_jax.data import sources
      from gan_jax.evaluation import classifier

      mnist = sources.load_dataset(ml_collections.ConfigDict({"name": "mnist", "path": ""}))
      self._classifier = classifier.get_classifier(mnist, cache_dir, log=lambda _: None)
    return self._classifier

  def evaluate(self, state, *, num: int, seed: int = 0, **kwargs) -> dict:
    from gan_jax.evaluation.translation import evaluate_paired, evaluate_unpaired

    features = kwargs.get("features", "classifier")
    if features != "classifier":
      raise ConfigError(f"features={features!r}: the {self.name} game evaluates with the "
                        "MNIST classifier only; valid: classifier")
    clf = self.classifier(kwargs.get("cache_dir"))
    if len(self.directions) == 1:
      return evaluate_paired(lambda x: self.translate(state, x, "a2b"), self.dataset,
                             num=num, classifier=clf)
    return evaluate_unpaired(lambda x: self.translate(state, x, "a2b"),
                             lambda x: self.translate(state, x, "b2a"), self.dataset,
                             num=num, classifier=clf)

  def samples(self, state, *, num: int, seed: int, input=None, direction: str = "a2b",
              **kwargs) -> dict:
    """{'images': translations of ``input`` (or of the first ``num`` test images of the
    direction's input domain, then also 'inputs')}."""
    del seed, kwargs  # inference is deterministic
    if input is not None:
      return {"images": self.translate(state, input, direction)}
    source = self.dataset.test_a if direction == "a2b" else self.dataset.test_b
    inputs = source[:num]
    return {"images": self.translate(state, inputs, direction), "inputs": inputs}

  def count_params(self) -> dict:
    from gan_jax import models

    shapes = jax.eval_shape(self.init_state, jax.random.key(0))
    return {"g_params": models.count_params(shapes.g_params),
            "d_params": models.count_params(shapes.d_params)}
