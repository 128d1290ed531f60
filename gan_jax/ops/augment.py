"""DiffAugment (Zhao et al. 2020): random, differentiable transforms T applied to every image D
sees, real and fake alike, so that D(T(x)) and G's loss through D(T(G(z))) share one T.

A policy is a comma-separated subset of ``POLICIES`` (``reg.diffaug``, e.g.
'color,translation,cutout'; '' = off), applied in that order, per image, each from its own key:
  color        x + (b - 1/2); then (x - m_c)·2s + m_c with m_c the per-pixel channel mean; then
               (x - m)·(k + 1/2) + m with m the image mean; b, s, k ~ U[0, 1)
  translation  x shifted by (t_h, t_w) ∈ {-⌊H/8 + 1/2⌋, ..., ⌊H/8 + 1/2⌋}², zero-filled
  cutout       a square of side ⌊H/2 + 1/2⌋ zeroed, centred at (o_h, o_w) ∈ {0, ..., H}²,
               clipped at the border
as the reference implementation (mit-han-lab/data-efficient-gans, as in StudioGAN). Every
transform is a pure function of (image, key), differentiable in the image.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from gan_jax.errors import ConfigError

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str) -> tuple[str, ...]:
  """'color,cutout' -> ('color', 'cutout'); raises ConfigError naming reg.diffaug."""
  names = tuple(p.strip() for p in (policy or "").split(",") if p.strip())
  unknown = [p for p in names if p not in POLICIES]
  if unknown:
    raise ConfigError(f"reg.diffaug={policy!r} has unknown transforms {unknown}; valid: "
                      f"comma-separated {', '.join(POLICIES)} (or '' for none)")
  return names


def color(x, key):
  """Brightness, saturation and contrast of one HWC image."""
  b, s, k = jax.random.uniform(key, (3,), x.dtype)
  x = x + (b - 0.5)
  m_c = jnp.mean(x, axis=-1, keepdims=True)
  x = (x - m_c) * (2.0 * s) + m_c
  m = jnp.mean(x)
  return (x - m) * (k + 0.5) + m


def translation(x, key, ratio: float = 0.125):
  """One HWC image shifted by up to ratio·size pixels per axis, zeros shifted in."""
  h, w, _ = x.shape
  sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
  kh, kw = jax.random.split(key)
  th = jax.random.randint(kh, (), -sh, sh + 1)
  tw = jax.random.randint(kw, (), -sw, sw + 1)
  padded = jnp.pad(x, ((sh, sh), (sw, sw), (0, 0)))
  # out[i, j] = x[i + t_h, j + t_w] (0 outside), as the reference's index grid.
  return lax.dynamic_slice(padded, (sh + th, sw + tw, 0), x.shape)


def cutout(x, key, ratio: float = 0.5):
  """One HWC image with a zeroed square of side ratio·size."""
  h, w, _ = x.shape
  ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
  kh, kw = jax.random.split(key)
  oh = jax.random.randint(kh, (), 0, h + (1 - ch % 2))
  ow = jax.random.randint(kw, (), 0, w + (1 - cw % 2))
  rows = jnp.arange(h)[:, None] - (oh - ch // 2)
  cols = jnp.arange(w)[None, :] - (ow - cw // 2)
  inside = (rows >= 0) & (rows < ch) & (cols >= 0) & (cols < cw)
  return x * (~inside)[..., None].astype(x.dtype)


_TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout}


def augment_image(x, key, policy: str):
  """T(x) for one HWC image: the policy's transforms in order, transform i from fold_in(key, i)."""
  for i, name in enumerate(parse_policy(policy)):
    x = _TRANSFORMS[name](x, jax.random.fold_in(key, i))
  return x


def diff_augment(images, keys, policy: str):
  """T_n(x_n) for NHWC ``images`` and one key per image (``keys`` of shape (N,))."""
  if not parse_policy(policy):
    return images
  return jax.vmap(lambda x, k: augment_image(x, k, policy))(images, keys)
