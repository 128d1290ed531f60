"""Micro-benchmark: stock ``nn.ConvTranspose`` vs ``FastConvTranspose``, forward + backward.

Times one jitted (y, dx, dW, db) of sum(y·c) on the DCGAN-28 generator's transposed convs at
batch 64, alternating stock and fast so CPU noise hits both alike. Prints one JSON line per layer.
Usage: python benchmarks/convt_micro.py [--batch 64] [--repeats 7] [--iters 50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.ops.conv import FastConvTranspose

SHAPES = {"convt1": ((7, 7, 128), 64), "convt2": ((14, 14, 64), 1)}


def _step_fn(layer):
  def loss(params, x, c):
    return jnp.vdot(layer.apply(params, x), c)

  return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))


def _time(fn, args, iters):
  t0 = time.perf_counter()
  for _ in range(iters):
    out = fn(*args)
  jax.block_until_ready(out)
  return (time.perf_counter() - t0) / iters


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--batch", type=int, default=64)
  ap.add_argument("--repeats", type=int, default=7)
  ap.add_argument("--iters", type=int, default=50)
  a = ap.parse_args()
  for name, (in_shape, feats) in SHAPES.items():
    kx, kc, kp = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, (a.batch,) + in_shape)
    kw = dict(features=feats, kernel_size=(4, 4), strides=(2, 2))
    layers = {"stock": nn.ConvTranspose(padding="SAME", **kw), "fast": FastConvTranspose(**kw)}
    params = layers["stock"].init(kp, x)
    c = jax.random.normal(kc, layers["stock"].apply(params, x).shape)
    fns = {k: _step_fn(m) for k, m in layers.items()}
    for fn in fns.values():
      _time(fn, (params, x, c), 3)
    ms = {k: [] for k in fns}
    for _ in range(a.repeats):
      for k, fn in fns.items():
        ms[k].append(1e3 * _time(fn, (params, x, c), a.iters))
    med = {k: statistics.median(v) for k, v in ms.items()}
    print(json.dumps(dict(layer=name, batch=a.batch, in_shape=in_shape, features=feats,
                          stock_ms=round(med["stock"], 3), fast_ms=round(med["fast"], 3),
                          speedup=round(med["stock"] / med["fast"], 2))))


if __name__ == "__main__":
  main()
