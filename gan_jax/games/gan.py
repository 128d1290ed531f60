"""The GAN game (``game='gan'``): G(z, c) → x against D(x, c), n_critic D updates then one G
update per train step (``games.gan_steps``), for every objective in ``gan_jax.losses``."""

from __future__ import annotations

import numpy as np

from gan_jax import models
from gan_jax.data import sampler
from gan_jax.evaluation import diagnostics, metrics, sampling
from gan_jax.games import gan_state as state_lib
from gan_jax.games import gan_steps as steps_lib
from gan_jax.games.base import Game


class GANGame(Game):
  name = "gan"
  checked_metrics = steps_lib.metric_names()
  nonfinite_metrics = ("d_nonfinite", "g_nonfinite")
  progress_metrics = (("d_loss", "d_loss", ".4f"), ("g_loss", "g_loss", ".4f"),
                      ("D(x)", "d_real", ".3f"), ("D(G(z))", "d_fake", ".3f"))

  def __init__(self, config, dataset, *, num_devices: int):
    super().__init__(config, dataset, num_devices=num_devices)
    self.num_classes = dataset.num_classes if config.conditional else 0
    self.generator, self.discriminator = models.get(
        config.model, example_shape=dataset.example_shape, num_classes=self.num_classes,
        axis_name=steps_lib.AXIS)
    self.optimizers = state_lib.make_optimizers(
        config.optim, num_steps=config.train.num_steps, n_critic=config.train.n_critic)
    self.steps = steps_lib.bind(
        generator=self.generator, discriminator=self.discriminator, optimizers=self.optimizers,
        cfg=steps_lib.StepConfig.from_config(config, num_devices=num_devices,
                                             num_classes=dataset.num_classes))

  def init_state(self, key) -> state_lib.GANState:
    return state_lib.create_state(
        key, generator=self.generator, discriminator=self.discriminator,
        optimizers=self.optimizers, z_dim=self.config.model.z_dim,
        example_shape=self.dataset.example_shape, num_classes=self.num_classes)

  def train_step(self, state, batch, train_key):
    return self.steps.train_step(state, batch, train_key)

  def batch_fn(self, *, process_index: int = 0, process_count: int = 1):
    from gan_jax import rng

    c = self.config
    return sampler.make_batch_fn(
        self.dataset, batch_size=c.train.batch_size, n_critic=c.train.n_critic,
        seed=rng.streams(c.seed).data, with_labels=bool(self.num_classes),
        process_index=process_index, process_count=process_count,
        random_flip=c.data.get("random_flip", False))

  @property
  def _d_fake_is_probability(self) -> bool:
    return self.steps.objective.output == "logit"

  def window_diagnostics(self, per_step: list[dict], history: list[dict]) -> dict:
    """The detrended variance of this logging window's per-step losses and its share in one
    cycle (windows of at least diagnostics.CYCLE_MIN_STEPS steps), and the trailing-window
    oscillation and vanishing-gradient flags."""
    out = {}
    for k in ("d_loss", "g_loss"):
      values = [float(m[k]) for m in per_step]
      out[f"{k}_window_var"] = diagnostics.oscillation(values, window=0)["variance"]
      share = diagnostics.cycle_share(values)
      if share is not None:
        out[f"{k}_cycle_share"] = share
    out["oscillating"] = int(diagnostics.oscillation_flag(
        history[:-1] + [{**history[-1], **out}], window=diagnostics.DEFAULT_WINDOW))
    if self._d_fake_is_probability:
      out["vanishing_gradient"] = int(diagnostics.vanishing_gradient_flag(
          history, window=diagnostics.DEFAULT_WINDOW, d_fake_key="d_fake_g"))
    return out

  def summarize(self, history: list[dict]) -> dict:
    return diagnostics.summarize(history, d_fake_is_probability=self._d_fake_is_probability,
                                 d_fake_key="d_fake_g")

  def picture(self, state, seed: int) -> tuple[np.ndarray, dict]:
    """Fixed-z samples (10 per class per row for conditional runs; a scatter for 2-D data),
    and their diversity: mean pairwise distance of the samples over that of as many real
    examples (a collapsed generator scores near 0)."""
    c = self.config
    generate_fn = sampling.make_generate_fn(self.generator)
    variables = sampling.sampling_variables(self, state)
    if self.dataset.is_image:
      rows = self.num_classes or 8
      num = rows * (10 if self.num_classes else 8)
      z, labels = sampling.fixed_latents(seed, num, c.model.z_dim, self.num_classes)
      if labels is not None:  # row r holds class r
        labels = np.repeat(np.arange(self.num_classes), num // self.num_classes)
      imgs = sampling.generate(generate_fn, variables, z, labels)
      picture, fake = sampling.image_grid(imgs, rows), imgs
    else:
      z, labels = sampling.fixed_latents(seed, 1000, c.model.z_dim, self.num_classes)
      fake = sampling.generate(generate_fn, variables, z, labels)
      picture = sampling.scatter_png(fake, self.dataset.train_x[:1000])
    return picture, {"diversity_ratio": _diversity_ratio(fake, self.dataset.train_x)}

  def evaluate(self, state, *, num: int, seed: int = 0, **kwargs) -> dict:
    from gan_jax.evaluation import evaluator

    return evaluator.evaluate(self, state, num=num, seed=seed, **kwargs)

  def samples(self, state, *, num: int, seed: int, **kwargs) -> dict:
    return sampling.draw_samples(self, state, num, seed)

  def count_params(self) -> dict:
    import jax

    shapes = jax.eval_shape(self.init_state, jax.random.key(0))
    return {"g_params": models.count_params(shapes.g_params),
            "d_params": models.count_params(shapes.d_params)}


def _diversity_ratio(fake: np.ndarray, real: np.ndarray) -> float:
  fake = fake.reshape(len(fake), -1)
  real = real[:len(fake)].reshape(len(fake), -1)
  return metrics.mean_pairwise_distance(fake) / max(metrics.mean_pairwise_distance(real), 1e-12)
