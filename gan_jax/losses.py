"""GAN objectives and regularisers as pure, jit-able functions of discriminator outputs.

Every loss takes the raw outputs of D (shape ``(N,)`` or ``(N, 1)``; a scalar counts as a
batch of one) and averages each term over the batch. For the logit objectives D(x) = σ(a) with
a the raw output, and every log D is written with softplus: log σ(a) = -softplus(-a) and
log(1 - σ(a)) = -softplus(a), which stay finite and exact at logits of ±100.

With r the outputs on real data and f those on generated data:

  minimax         d = E softplus(-r) + E softplus(f)      g = -E softplus(f) = E log(1 - D(G(z)))
  non_saturating  d = as minimax                          g = E softplus(-f) = -E log D(G(z))
  wgan, wgan_gp   d = E f - E r                           g = -E f
  lsgan           d = E (r - 1)²/2 + E f²/2               g = E (f - 1)²/2
  hinge           d = E relu(1 - r) + E relu(1 + f)       g = -E f

wgan_gp's penalty (``gradient_penalty``) and the R1 penalty (``r1_penalty``) are added by the
trainer with their weights.

Example:

  >>> import gan_jax.losses as L, jax.numpy as jnp
  >>> print(L.get('hinge').d_loss(jnp.array([2.0, 0.5]), jnp.array([-1.5, 0.3])))
  0.9
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

NAMES = ("minimax", "non_saturating", "wgan", "wgan_gp", "lsgan", "hinge")

def _flat(outputs: jax.Array) -> jax.Array:
  """D outputs of shape (), (N,) or (N, 1) as a vector of shape (N,)."""
  outputs = jnp.asarray(outputs)
  if outputs.ndim > 2 or (outputs.ndim == 2 and outputs.shape[1] != 1):
    raise ValueError(f"D outputs must have shape (N,) or (N, 1); got {outputs.shape}")
  return jnp.reshape(outputs, (-1,))


# ---- Per-example terms: real term ℓ_r(r; ε), fake term ℓ_f(f), generator term ℓ_g(f) ----------


def _logit_real(r, eps):
  """Sigmoid cross-entropy against the target 1 - ε: (1 - ε)·softplus(-r) + ε·softplus(r)."""
  return (1.0 - eps) * jax.nn.softplus(-r) + eps * jax.nn.softplus(r)


def _logit_fake(f):
  """-log(1 - σ(f)) = softplus(f)."""
  return jax.nn.softplus(f)


def _minimax_gen(f):
  """log(1 - σ(f)) = -softplus(f): saturates (gradient -σ(f) → 0) when D rejects the fake."""
  return -jax.nn.softplus(f)


def _non_saturating_gen(f):
  """-log σ(f) = softplus(-f): gradient σ(f) - 1 → -1 when D rejects the fake."""
  return jax.nn.softplus(-f)


def _critic_real(r, eps):
  del eps  # Checked to be zero in Objective.d_loss.
  return -r


def _critic_fake(f):
  return f


def _critic_gen(f):
  return -f


def _ls_real(r, eps):
  """(r - (1 - ε))²/2."""
  return 0.5 * jnp.square(r - (1.0 - eps))


def _ls_fake(f):
  """f²/2."""
  return 0.5 * jnp.square(f)


def _ls_gen(f):
  """(f - 1)²/2."""
  return 0.5 * jnp.square(f - 1.0)


def _hinge_real(r, eps):
  del eps  # Checked to be zero in Objective.d_loss.
  return jax.nn.relu(1.0 - r)


def _hinge_fake(f):
  return jax.nn.relu(1.0 + f)


@dataclasses.dataclass(frozen=True)
class Objective:
  """One GAN objective: d_loss = E ℓ_r(r; ε) + E ℓ_f(f) and g_loss = E ℓ_g(f).

  ``output`` says what D's raw output is: 'logit' (D(x) = σ(output)), 'critic' (an unbounded
  Wasserstein/hinge critic) or 'score' (LSGAN's least-squares score).
  """

  name: str
  output: str
  uses_gradient_penalty: bool
  smoothable: bool
  real_term: Callable[[jax.Array, float], jax.Array]
  fake_term: Callable[[jax.Array], jax.Array]
  gen_term: Callable[[jax.Array], jax.Array]

  def d_loss(self, real_logits, fake_logits, *, label_smoothing=0.0) -> jax.Array:
    """D's loss, E ℓ_r(r; ε) + E ℓ_f(f); ε (one-sided label smoothing) moves the real target
    from 1 to 1 - ε. It must be 0 (a Python number) for wgan, wgan_gp and hinge."""
    if not self.smoothable and (isinstance(label_smoothing, jax.core.Tracer)
                                or float(label_smoothing) != 0.0):
      raise ValueError(f"label smoothing is undefined for the {self.name!r} objective; "
                       f"got label_smoothing={label_smoothing}, use 0.0")
    real, fake = _flat(real_logits), _flat(fake_logits)
    return jnp.mean(self.real_term(real, label_smoothing)) + jnp.mean(self.fake_term(fake))

  def g_loss(self, fake_logits) -> jax.Array:
    """G's loss, E ℓ_g(f) over D's outputs f on generated data."""
    return jnp.mean(self.gen_term(_flat(fake_logits)))

  def d_prob_or_score(self, outputs) -> jax.Array:
    """Mean D(x) for logging: E σ(a) for 'logit' objectives, the mean raw output otherwise."""
    outputs = _flat(outputs)
    if self.output == "logit":
      return jnp.mean(jax.nn.sigmoid(outputs))
    return jnp.mean(outputs)


_REGISTRY = {
    "minimax": Objective("minimax", "logit", False, True, _logit_real, _logit_fake,
                         _minimax_gen),
    "non_saturating": Objective("non_saturating", "logit", False, True, _logit_real,
                                _logit_fake, _non_saturating_gen),
    "wgan": Objective("wgan", "critic", False, False, _critic_real, _critic_fake, _critic_gen),
    "wgan_gp": Objective("wgan_gp", "critic", True, False, _critic_real, _critic_fake,
                         _critic_gen),
    "lsgan": Objective("lsgan", "score", False, True, _ls_real, _ls_fake, _ls_gen),
    "hinge": Objective("hinge", "critic", False, False, _hinge_real, _hinge_fake, _critic_gen),
}


def get(name: str) -> Objective:
  """The objective called ``name``, one of ``NAMES``."""
  try:
    return _REGISTRY[name]
  except (KeyError, TypeError):
    raise ValueError(f"unknown objective {name!r}; valid: {', '.join(NAMES)}") from None


# ---- Regularisers on D's input gradients -------------------------------------------------------


def _input_gradients(critic_fn: Callable[[jax.Array], jax.Array], x: jax.Array) -> jax.Array:
  """∇ₓ Σᵢ critic(x)ᵢ, of x's shape: example i's own input gradient when the critic treats
  examples independently (no cross-example statistics such as training-mode batch norm)."""
  return jax.grad(lambda inputs: jnp.sum(critic_fn(inputs)))(x)


def _safe_norm(v: jax.Array) -> jax.Array:
  """Row-wise ‖v‖₂ for v of shape (N, D), with a zero (not NaN) gradient where v = 0."""
  sq = jnp.sum(jnp.square(v), axis=-1)
  nonzero = sq > 0
  return jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, sq, 1.0)), 0.0)


def gradient_penalty(critic_fn: Callable[[jax.Array], jax.Array], real: jax.Array,
                     fake: jax.Array, key: jax.Array | None = None, target: float = 1.0, *,
                     alpha: jax.Array | None = None) -> jax.Array:
  """WGAN-GP's penalty E_x̂ (‖∇critic(x̂)‖₂ / target - 1)² at x̂ = real + α(fake - real).

  α ~ U[0, 1) has one draw per example, from ``key`` or given as ``alpha`` (shape (N,)), which
  lets a data-parallel trainer pass its slice of a global draw. ``critic_fn`` maps (N, ...) to
  (N,) or (N, 1); when it closes over D's parameters the penalty is differentiable in them.
  """
  real = jnp.asarray(real)
  fake = jnp.asarray(fake)
  n = real.shape[0]
  if alpha is None:
    if key is None:
      raise ValueError("gradient_penalty needs a PRNG key or alpha")
    alpha = jax.random.uniform(key, (n,), dtype=real.dtype)
  alpha = jnp.reshape(alpha, (n,) + (1,) * (real.ndim - 1))
  x_hat = real + alpha * (fake - real)
  grads = _input_gradients(critic_fn, x_hat)
  norms = _safe_norm(jnp.reshape(grads, (n, -1)))
  return jnp.mean(jnp.square(norms / target - 1.0))


def r1_penalty(critic_fn: Callable[[jax.Array], jax.Array], real: jax.Array) -> jax.Array:
  """The zero-centred R1 penalty on real data, E_x ‖∇critic(x)‖₂², without the γ/2 factor
  (the trainer adds γ/2 · r1_penalty to D's loss)."""
  real = jnp.asarray(real)
  grads = _input_gradients(critic_fn, real)
  return jnp.mean(jnp.sum(jnp.reshape(jnp.square(grads), (real.shape[0], -1)), axis=-1))


def auxiliary_classifier_loss(class_logits: jax.Array, labels: jax.Array) -> jax.Array:
  """AC-GAN's class term, E -log softmax(class_logits)[label] over integer labels."""
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(class_logits, labels))


# ---- Image-to-image terms (Pix2Pix, CycleGAN) --------------------------------------------------


def l1_reconstruction(output: jax.Array, target: jax.Array) -> jax.Array:
  """Pix2Pix's L1 term, E |G(x) - y| over every pixel and channel (torch's ``L1Loss``)."""
  return jnp.mean(jnp.abs(jnp.asarray(output) - jnp.asarray(target)))


def cycle_consistency(inputs: jax.Array, reconstructions: jax.Array) -> jax.Array:
  """CycleGAN's cycle term for one direction, E |F(G(x)) - x| (the trainer adds both directions,
  each weighted by λ_cycle)."""
  return l1_reconstruction(reconstructions, inputs)


def identity_loss(inputs: jax.Array, mapped: jax.Array) -> jax.Array:
  """CycleGAN's identity term for one generator G: X -> Y fed a y of its target domain,
  E |G(y) - y| (weighted by λ_identity·λ_cycle)."""
  return l1_reconstruction(mapped, inputs)
