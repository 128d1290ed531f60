"""The StyleGAN2 game (``game='stylegan2'``): stylegan2-ada-pytorch's training loop
(training/training_loop.py) and loss (training/loss.py StyleGAN2Loss) on ``model.name=
'stylegan2'`` (or any G/D pair), as one pure train step per iteration of ``train.batch_size``:

  Gmain  G ← Adam step on E softplus(-D(A(G(z, c))))  (non-saturating logistic);
  Gpl    every pl_interval steps: G ← Adam step on pl_interval·pl_weight·E (‖J_wᵀ y‖ - a)²,
         y ~ N(0, I)/√(HW), J_w = ∂G/∂w over batch/pl_batch_shrink; ‖·‖ = √(mean over ws of the
         per-w squared norm); a ← a + pl_decay·(E‖J_wᵀ y‖ - a) (the updated a in the penalty,
         differentiated through, as the reference);
  Dmain  D ← Adam step on E softplus(D(A(G(z)))) + E softplus(-D(A(x)));
  Dr1    every r1_interval steps: D ← Adam step on r1_interval·γ/2·E ‖∇_x D(A(x))‖²;
  then G's EMA (β = 0.5^(batch/n), n = min(ema_kimg·1000, rampup·images seen)) and, every
  ada_interval steps, ADA's p (ops.ada). A = ADA's augmentation (identity when off).
Lazy regularisation: each player's Adam has lr·c and β^c, c = interval/(interval + 1).
Style mixing: with probability style_mixing_prob a batch's ws from one cutoff ~ U{1..num_ws-1}
on come from a second z. Every G forward of training lerps the tracked w̄ toward its batch
mean of w (β = w_avg_beta). Gradients are nan_to_num'd (nan → 0, ±inf → ±1e5) before Adam.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import struct
from jax import lax

from gan_jax import models, rng
from gan_jax.data import sampler
from gan_jax.errors import ConfigError
from gan_jax.evaluation import sampling
from gan_jax.games import updates
from gan_jax.games.base import Game
from gan_jax.games.updates import AXIS
from gan_jax.models import stylegan2 as sg
from gan_jax.ops import ada

METRICS = ("d_loss", "g_loss", "r1_penalty", "pl_penalty", "pl_mean", "d_real", "d_fake",
           "real_sign", "ada_p", "d_nonfinite", "g_nonfinite")


@struct.dataclass
class StyleGAN2State:
  step: jax.Array
  g_params: Any
  d_params: Any
  g_opt_state: Any
  d_opt_state: Any
  ema_g_params: Any
  w_avg: jax.Array  # tracked mean of w (truncation)
  pl_mean: jax.Array  # running mean of path lengths
  ada_p: jax.Array  # ADA's augmentation probability
  ada_sign_sum: jax.Array  # Σ sign(D(real)) since the last p update
  ada_sign_count: jax.Array
  g_batch_stats: Any  # {} (no BatchNorm; sampling.sampling_variables reads it)
  skipped_updates: jax.Array


def lazy_adam(lr: float, b1: float, b2: float, interval: int) -> optax.GradientTransformation:
  """Adam(lr·c, β1^c, β2^c), c = interval/(interval + 1) (1 without lazy regularisation)."""
  c = interval / (interval + 1) if interval else 1.0
  return optax.adam(lr * c, b1=b1 ** c, b2=b2 ** c, eps=1e-8)


def ema_beta(step, *, batch_size: int, ema_kimg: float, rampup: float):
  """0.5^(batch / n), n = ema_kimg·1000, or min(n, rampup·step·batch) with a ramp-up."""
  n = jnp.asarray(ema_kimg * 1000.0, jnp.float32)
  if rampup:
    n = jnp.minimum(n, step.astype(jnp.float32) * batch_size * rampup)
  return 0.5 ** (batch_size / jnp.maximum(n, 1e-8))


def path_length_penalty(synthesize, ws, noise, pl_mean, decay: float,
                        mean_over_devices=lambda x: lax.pmean(x, AXIS)):
  """(E_i (L_i - a')², a'): L_i = √(mean_k ‖∂⟨G(ws), y⟩/∂ws[i, k]‖²) with y = ``noise`` (N(0, I)
  scaled by 1/√(HW)), a' = a + decay·(E L - a) (E L averaged over devices too), the penalty
  differentiated through a' as the reference's (its stored a is a' detached)."""
  _, vjp = jax.vjp(synthesize, ws)
  (grads,) = vjp(noise)
  lengths = jnp.sqrt(jnp.mean(jnp.sum(jnp.square(grads), axis=2), axis=1))
  mean = pl_mean + decay * (mean_over_devices(jnp.mean(lengths)) - pl_mean)
  return jnp.mean(jnp.square(lengths - mean)), mean


def nan_to_num(tree):
  return jax.tree.map(lambda g: jnp.nan_to_num(g, nan=0.0, posinf=1e5, neginf=-1e5), tree)


class StyleGAN2Game(Game):
  name = "stylegan2"
  checked_metrics = ("d_loss", "g_loss", "r1_penalty", "pl_penalty")
  nonfinite_metrics = ("d_nonfinite", "g_nonfinite")
  progress_metrics = (("d_loss", "d_loss", ".4f"), ("g_loss", "g_loss", ".4f"),
                      ("D(x)", "d_real", ".3f"), ("D(G(z))", "d_fake", ".3f"),
                      ("r1", "r1_penalty", ".4f"), ("pl", "pl_mean", ".4f"),
                      ("p", "ada_p", ".3f"))

  def __init__(self, config, dataset, *, num_devices: int):
    super().__init__(config, dataset, num_devices=num_devices)
    c, s = config, config.stylegan2
    if not dataset.is_image:
      raise ConfigError(f"game='stylegan2' needs an image dataset, not {dataset.name!r}")
    self.num_classes = dataset.num_classes if c.conditional else 0
    self.generator, self.discriminator = models.get(
        c.model, example_shape=dataset.example_shape, num_classes=self.num_classes,
        axis_name=AXIS)
    self.resolution = self.generator.img_resolution
    self.batch = c.train.batch_size
    self.pl_batch = self.batch // s.pl_batch_shrink
    for field, value in (("stylegan2.r1_interval", s.r1_interval),
                         ("stylegan2.pl_interval", s.pl_interval),
                         ("reg.ada_interval", c.reg.ada_interval),
                         ("stylegan2.pl_batch_shrink", s.pl_batch_shrink)):
      if not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{field}={value!r} must be a positive integer")
    local = self.batch // num_devices
    group = c.model.get("mbstd_group_size", 4)
    if s.pl_weight and (self.pl_batch % num_devices or (self.pl_batch // num_devices) % min(
        group, self.pl_batch // num_devices)):
      raise ConfigError(f"stylegan2.pl_batch_shrink={s.pl_batch_shrink}: the path-length batch "
                        f"{self.pl_batch} must split evenly over {num_devices} devices")
    if local % min(group, local):
      raise ConfigError(f"model.mbstd_group_size={group} must divide the per-device batch {local}")
    ada.check_pipe(c.reg.ada_pipe)
    self.g_opt = lazy_adam(c.optim.g_lr, c.optim.b1, c.optim.b2, s.pl_interval)
    self.d_opt = lazy_adam(c.optim.d_lr, c.optim.b1, c.optim.b2, s.r1_interval)

  # ---- device side ---------------------------------------------------------------------------

  def init_state(self, key) -> StyleGAN2State:
    kg, kd = jax.random.split(key)
    z = jnp.zeros((1, self.config.model.z_dim))
    labels = jnp.zeros((1,), jnp.int32) if self.num_classes else None
    g_params = self.generator.init(kg, z, labels)["params"]
    img = jnp.zeros((1, self.resolution, self.resolution, self.dataset.example_shape[-1]))
    d_params = self.discriminator.init(kd, img, labels)["params"]
    zero = jnp.zeros((), jnp.float32)
    return StyleGAN2State(
        step=jnp.zeros((), jnp.int32), g_params=g_params, d_params=d_params,
        g_opt_state=self.g_opt.init(g_params), d_opt_state=self.d_opt.init(d_params),
        ema_g_params=g_params, w_avg=jnp.zeros((self.generator.w_dim,), jnp.float32),
        pl_mean=zero, ada_p=jnp.asarray(self.config.reg.ada_p, jnp.float32),
        ada_sign_sum=zero, ada_sign_count=zero, g_batch_stats={},
        skipped_updates=jnp.zeros((), jnp.int32))

  def _slice(self, x):
    return updates.local_slice(x, self.num_devices)

  def _latents(self, key, n_global: int):
    z = self._slice(jax.random.normal(jax.random.fold_in(key, 0),
                                      (n_global, self.config.model.z_dim)))
    labels = None
    if self.num_classes:
      labels = self._slice(jax.random.randint(jax.random.fold_in(key, 1), (n_global,), 0,
                                              self.num_classes))
    return z, labels

  def mapped_ws(self, g_params, key, n_global: int):
    """(ws (n, num_ws, w_dim) with style mixing, labels, batch mean of w) of fresh latents."""
    g, prob = self.generator, self.config.stylegan2.style_mixing_prob
    z, labels = self._latents(key, n_global)
    w = g.apply({"params": g_params}, z, labels, method=g.map)
    ws = jnp.broadcast_to(w[:, None], (w.shape[0], g.num_ws, w.shape[-1]))
    if prob > 0:
      cutoff = jax.random.randint(jax.random.fold_in(key, 2), (), 1, g.num_ws)
      cutoff = jnp.where(jax.random.uniform(jax.random.fold_in(key, 3)) < prob, cutoff, g.num_ws)
      z2 = self._slice(jax.random.normal(jax.random.fold_in(key, 4), (n_global, z.shape[1])))
      w2 = g.apply({"params": g_params}, z2, labels, method=g.map)
      ws = jnp.where(jnp.arange(g.num_ws)[None, :, None] < cutoff, ws, w2[:, None])
    return ws, labels, lax.pmean(jnp.mean(w, axis=0), AXIS)

  def synthesize(self, g_params, ws, key):
    g = self.generator
    return g.apply({"params": g_params}, ws, jax.random.fold_in(key, 5), self.num_devices,
                   method=g.synthesize)

  def run_d(self, d_params, img, labels, key, p):
    if self.config.reg.ada_pipe:
      keys = self._slice(jax.random.split(key, img.shape[0] * self.num_devices))
      img = ada.augment(img, keys, p)
    return self.discriminator.apply({"params": d_params}, img, labels)

  def _lerp_w_avg(self, w_avg, w_mean):
    return w_mean + self.config.stylegan2.w_avg_beta * (w_avg - w_mean)

  def _update(self, params, opt_state, grads, optimizer, loss):
    norm = optax.tree.norm(grads)
    params, opt_state, _ = updates.apply_gradients(params, opt_state, nan_to_num(grads), optimizer)
    return params, opt_state, updates.finite(loss, norm)

  def g_main(self, state, key):
    def loss_fn(gp):
      ws, labels, w_mean = self.mapped_ws(gp, key, self.batch)
      logits = self.run_d(state.d_params, self.synthesize(gp, ws, key), labels,
                          jax.random.fold_in(key, 6), state.ada_p)
      return jnp.mean(jax.nn.softplus(-logits)), w_mean

    (loss, w_mean), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.g_params)
    params, opt_state, ok = self._update(state.g_params, state.g_opt_state, grads, self.g_opt, loss)
    state = state.replace(g_params=params, g_opt_state=opt_state,
                          w_avg=self._lerp_w_avg(state.w_avg, w_mean))
    return state, loss, ok

  def pl_loss(self, g_params, pl_mean, key):
    """(pl_interval·pl_weight·E(‖J_wᵀy‖ - a')², (a', E penalty, batch mean of w))."""
    s = self.config.stylegan2
    ws, _, w_mean = self.mapped_ws(g_params, key, self.pl_batch)
    res, ch = self.resolution, self.dataset.example_shape[-1]
    noise = self._slice(jax.random.normal(jax.random.fold_in(key, 7),
                                          (self.pl_batch, res, res, ch))) / res
    penalty, mean = path_length_penalty(lambda w: self.synthesize(g_params, w, key), ws, noise,
                                        pl_mean, s.pl_decay)
    return penalty * s.pl_weight * s.pl_interval, (lax.stop_gradient(mean), penalty, w_mean)

  def g_pl(self, state, key):
    (loss, (mean, penalty, w_mean)), grads = jax.value_and_grad(self.pl_loss, has_aux=True)(
        state.g_params, state.pl_mean, key)
    params, opt_state, ok = self._update(state.g_params, state.g_opt_state, grads, self.g_opt, loss)
    return state.replace(g_params=params, g_opt_state=opt_state, pl_mean=mean,
                         w_avg=self._lerp_w_avg(state.w_avg, w_mean)), penalty, ok

  def d_main(self, state, real, real_labels, key):
    ws, labels, w_mean = self.mapped_ws(state.g_params, key, self.batch)
    fake = lax.stop_gradient(self.synthesize(state.g_params, ws, key))

    def loss_fn(dp):
      fake_logits = self.run_d(dp, fake, labels, jax.random.fold_in(key, 6), state.ada_p)
      real_logits = self.run_d(dp, real, real_labels, jax.random.fold_in(key, 7), state.ada_p)
      loss = jnp.mean(jax.nn.softplus(fake_logits)) + jnp.mean(jax.nn.softplus(-real_logits))
      return loss, (fake_logits, real_logits)

    (loss, (fake_l, real_l)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.d_params)
    params, opt_state, ok = self._update(state.d_params, state.d_opt_state, grads, self.d_opt, loss)
    state = state.replace(d_params=params, d_opt_state=opt_state,
                          w_avg=self._lerp_w_avg(state.w_avg, w_mean))
    return state, loss, fake_l, real_l, ok

  def r1_loss(self, d_params, real, real_labels, key, p):
    """(r1_interval·γ/2·E‖∇_x D(A(x))‖², (real logits, E‖∇_x D‖²))."""
    s = self.config.stylegan2

    def logit_sum(x):
      logits = self.run_d(d_params, x, real_labels, jax.random.fold_in(key, 7), p)
      return jnp.sum(logits), logits

    grads, logits = jax.grad(logit_sum, has_aux=True)(real)
    r1 = jnp.sum(jnp.square(grads), axis=(1, 2, 3))
    return jnp.mean(r1) * (s.r1_gamma / 2) * s.r1_interval, (logits, jnp.mean(r1))

  def d_r1(self, state, real, real_labels, key):
    (loss, (logits, r1)), grads = jax.value_and_grad(self.r1_loss, has_aux=True)(
        state.d_params, real, real_labels, key, state.ada_p)
    params, opt_state, ok = self._update(state.d_params, state.d_opt_state, grads, self.d_opt, loss)
    return state.replace(d_params=params, d_opt_state=opt_state), logits, r1, ok

  def train_step(self, state, batch, train_key):
    c, s = self.config, self.config.stylegan2
    key = jax.random.fold_in(train_key, state.step)
    real = sg.pad_to(batch["x"][:, 0], self.resolution)  # the sampler's (N, n_critic=1, ...)
    real_labels = batch["y"][:, 0] if self.num_classes else None
    zero = jnp.zeros((), jnp.float32)
    metrics = {}

    g_state, g_loss, g_ok = self.g_main(state, jax.random.fold_in(key, 0))
    pl_penalty = zero
    if s.pl_weight:
      g_state, pl_penalty, pl_ok = lax.cond(
          state.step % s.pl_interval == 0, lambda st: self.g_pl(st, jax.random.fold_in(key, 1)),
          lambda st: (st, zero, jnp.ones((), bool)), g_state)
      g_ok = g_ok & pl_ok
    state, metrics = updates.guard(state, g_state, g_ok, metrics, "g", c.train.skip_nonfinite)

    d_state, d_loss, fake_l, real_l, d_ok = self.d_main(state, real, real_labels,
                                                         jax.random.fold_in(key, 2))
    signs = lax.psum(jnp.sum(jnp.sign(real_l)), AXIS)
    count = lax.psum(jnp.asarray(real_l.size, jnp.float32), AXIS)  # real logits, all devices
    r1 = zero
    if s.r1_gamma:
      def do_r1(st):
        st, logits, penalty, ok = self.d_r1(st, real, real_labels, jax.random.fold_in(key, 3))
        return st, lax.psum(jnp.sum(jnp.sign(logits)), AXIS), count, penalty, ok

      d_state, r1_signs, r1_count, r1, r1_ok = lax.cond(
          state.step % s.r1_interval == 0, do_r1,
          lambda st: (st, zero, zero, zero, jnp.ones((), bool)), d_state)
      signs, count, d_ok = signs + r1_signs, count + r1_count, d_ok & r1_ok
    state, metrics = updates.guard(state, d_state, d_ok, metrics, "d", c.train.skip_nonfinite)

    beta = ema_beta(state.step, batch_size=self.batch, ema_kimg=s.ema_kimg, rampup=s.ema_rampup)
    ema = (updates.ema(state.ema_g_params, state.g_params, beta) if s.ema_kimg
           else state.g_params)
    step = state.step + 1
    sign_sum, sign_count, p = state.ada_sign_sum + signs, state.ada_sign_count + count, state.ada_p
    if c.reg.ada_pipe and c.reg.ada_target:
      due = step % c.reg.ada_interval == 0
      p = jnp.where(due, ada.adjust_p(p, sign_sum, sign_count, target=c.reg.ada_target,
                                      batch_size=self.batch, interval=c.reg.ada_interval,
                                      ada_kimg=c.reg.ada_kimg), p)
      sign_sum, sign_count = jnp.where(due, 0.0, sign_sum), jnp.where(due, 0.0, sign_count)
    state = state.replace(step=step, ema_g_params=ema, ada_p=p, ada_sign_sum=sign_sum,
                          ada_sign_count=sign_count)
    metrics.update(
        d_loss=d_loss, g_loss=g_loss, r1_penalty=r1, pl_penalty=pl_penalty, pl_mean=state.pl_mean,
        d_real=jnp.mean(jax.nn.sigmoid(real_l)), d_fake=jnp.mean(jax.nn.sigmoid(fake_l)),
        real_sign=jnp.mean(jnp.sign(real_l)), ada_p=p)
    metrics = {k: (v if k in ("d_nonfinite", "g_nonfinite", "ada_p", "pl_mean")
                   else lax.pmean(v, AXIS)) for k, v in metrics.items()}
    return state, metrics

  # ---- host side -----------------------------------------------------------------------------

  def batch_fn(self, *, process_index: int = 0, process_count: int = 1):
    c = self.config
    return sampler.make_batch_fn(
        self.dataset, batch_size=c.train.batch_size, n_critic=1, seed=rng.streams(c.seed).data,
        with_labels=bool(self.num_classes), process_index=process_index,
        process_count=process_count, random_flip=c.data.get("random_flip", False))

  def _view(self):
    """This game as evaluation.evaluator/sampling see a run: G(z, c) with the EMA params."""
    config = ml_collections.ConfigDict(self.config.to_dict())
    config.ema_decay = 0.5 if self.config.stylegan2.ema_kimg else 0.0
    return _View(config, self.dataset, self.generator, self.num_classes)

  def samples(self, state, *, num: int, seed: int, truncation: float = 1.0, **kwargs) -> dict:
    """G_ema(z, c) of the fixed latents of ``seed``; ``truncation`` ψ: w ← w̄ + ψ(w - w̄)."""
    from gan_jax.evaluation import stylegan2_sampling

    return stylegan2_sampling.draw(self, state, num=num, seed=seed, truncation=truncation)

  def picture(self, state, seed: int):
    rows = self.num_classes or 8
    num = rows * (10 if self.num_classes else 8)
    out = self.samples(state, num=num, seed=seed)
    images = out["images"]
    if self.num_classes:  # row r holds class r
      order = np.argsort(out["labels"], kind="stable")
      images = images[order]
    return sampling.image_grid(images, rows), {}

  def evaluate(self, state, *, num: int, seed: int = 0, truncation: float = 1.0,
               **kwargs) -> dict:
    """``evaluator.evaluate`` of G_ema, and on labelled images in the classifier's features the
    perceptual path length ``ppl_w`` (``evaluation.ppl``: W, endpoints, ε = 1e-4, ``num`` pairs,
    dist = the squared distance of classifier features). ``truncation`` ψ ≠ 1 measures the
    truncated samples of the same latents (w ← w̄ + ψ(w - w̄)) instead, with 'truncation': ψ
    and no ``ppl_w``."""
    from gan_jax.evaluation import classifier as classifier_lib
    from gan_jax.evaluation import evaluator, ppl, stylegan2_sampling

    if truncation != 1.0:
      fake = stylegan2_sampling.draw(self, state, num=num, seed=rng.streams(seed).eval,
                                     truncation=truncation)
      out = evaluator.evaluate(self._view(), state, num=num, seed=seed, fake=fake, **kwargs)
      return {**out, "truncation": float(truncation)}
    ds = self.dataset
    if not (kwargs.get("features", "classifier") == "classifier" and ds.is_image
            and ds.has_labels):
      return evaluator.evaluate(self._view(), state, num=num, seed=seed, **kwargs)
    # One classifier for both: evaluate_images would otherwise load it again.
    kwargs["classifier"] = kwargs.get("classifier") or classifier_lib.get_classifier(
        ds, cache_dir=kwargs.get("cache_dir"))
    out = evaluator.evaluate(self._view(), state, num=num, seed=seed, **kwargs)
    out["ppl_w"] = ppl.perceptual_path_length(
        self, state, ppl.classifier_distance(kwargs["classifier"]), num=num,
        seed=rng.streams(seed).eval)
    return out

  def count_params(self) -> dict:
    shapes = jax.eval_shape(self.init_state, jax.random.key(0))
    return {"g_params": models.count_params(shapes.g_params),
            "d_params": models.count_params(shapes.d_params)}


@struct.dataclass
class _View:
  config: Any = struct.field(pytree_node=False)
  dataset: Any = struct.field(pytree_node=False)
  generator: Any = struct.field(pytree_node=False)
  num_classes: int = struct.field(pytree_node=False)
