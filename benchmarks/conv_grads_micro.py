"""Micro-benchmark: forward, input gradient and kernel gradient of DCGAN-28's convolutions.

Times each piece alone (jitted, median of 5×30 calls) for the fast layers of
gan_jax.models.layers, and the stock ``lax`` convolution's forward and kernel gradient beside
them.
Usage: python benchmarks/conv_grads_micro.py
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gan_jax.ops import conv as layers

DN = ("NHWC", "HWIO", "NHWC")
BATCH = 64
CASES = {  # name: (input shape, kernel shape, 'T' transposed | 'S' strided)
    "convT 128->64 7->14": ((BATCH, 7, 7, 128), (4, 4, 128, 64), "T"),
    "convT 64->1 14->28": ((BATCH, 14, 14, 64), (4, 4, 64, 1), "T"),
    "conv 1->64 28->14 (real+fake)": ((2 * BATCH, 28, 28, 1), (4, 4, 1, 64), "S"),
    "conv 64->128 14->7 (real+fake)": ((2 * BATCH, 14, 14, 64), (4, 4, 64, 128), "S"),
}


def median_ms(fn, *args, calls: int = 30, repeats: int = 5) -> float:
  fn = jax.jit(fn)
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    for _ in range(calls):
      out = fn(*args)
    jax.block_until_ready(out)
    times.append((time.perf_counter() - t0) / calls * 1e3)
  return float(np.median(times))


def layer_fns(kind: str):
  """(fast, stock) y = conv(x, w) for a transposed ('T') or strided ('S') layer."""
  if kind == "T":
    return (lambda x, w: layers.conv_transpose(x, w, (2, 2), "SAME"),
            lambda x, w: lax.conv_transpose(x, w, (2, 2), "SAME", dimension_numbers=DN))
  pads = ((1, 1), (1, 1))
  return (lambda x, w: layers.conv_strided(x, w, (2, 2), pads),
          lambda x, w: lax.conv_general_dilated(x, w, (2, 2), pads, dimension_numbers=DN))


def time_layer(x, w, kind: str) -> dict:
  fast, stock = layer_fns(kind)
  g = jnp.ones_like(fast(x, w))
  return {
      "forward": median_ms(fast, x, w),
      "forward (stock)": median_ms(stock, x, w),
      "input grad": median_ms(lambda x, w: jax.vjp(lambda x: fast(x, w), x)[1](g)[0], x, w),
      "kernel grad": median_ms(lambda x, w: jax.vjp(lambda w: fast(x, w), w)[1](g)[0], x, w),
      "kernel grad (stock)": median_ms(
          lambda x, w: jax.vjp(lambda w: stock(x, w), w)[1](g)[0], x, w),
  }


def main():
  key = jax.random.key(0)
  for name, (x_shape, k_shape, kind) in CASES.items():
    x, w = jax.random.normal(key, x_shape), 0.05 * jax.random.normal(key, k_shape)
    times = time_layer(x, w, kind)
    print(f"{name}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in times.items()))


if __name__ == "__main__":
  main()
