"""StyleGAN2's networks: parameter parity with stylegan2-ada-pytorch, demodulation, equalised
learning rate, FIR resampling and shapes."""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gan_jax.models import stylegan2 as sg
from gan_jax.models import stylegan2_layers as layers
from gan_jax.ops import upfirdn2d
from tests.helpers import FIXTURES

FIXTURE = os.path.join(FIXTURES, "stylegan2_params.json")


def _counts(params) -> dict:
  flat = jax.tree_util.tree_leaves_with_path(params)
  return {".".join(k.key for k in path): int(np.prod(leaf.shape)) for path, leaf in flat}


def _model_config(c):
  return ml_collections.ConfigDict(dict(
      z_dim=512, w_dim=512, mapping_layers=c["map"], channel_base=c["base"],
      channel_max=c["cmax"], d_architecture=c["arch"], mbstd_group_size=4))


@pytest.mark.parametrize("name", ["cifar_cond", "cifar_uncond", "cifar_cond_resnet"])
def test_parameter_counts_equal_stylegan2_ada_pytorch_per_parameter(name):
  """--cfg=cifar's G and D, name by name, against benchmarks/stylegan2_reference_params.py's
  counts of the reference networks."""
  with open(FIXTURE) as f:
    ref = json.load(f)[name]
  c = ref["config"]
  g, d = sg.build(_model_config(c), example_shape=(c["res"], c["res"], c["channels"]),
                  num_classes=c["c_dim"])
  z, labels = jnp.zeros((4, 512)), jnp.zeros((4,), jnp.int32)
  g_shapes = jax.eval_shape(lambda: g.init(jax.random.key(0), z, labels))["params"]
  d_shapes = jax.eval_shape(lambda: d.init(
      jax.random.key(0), jnp.zeros((4, c["res"], c["res"], c["channels"])), labels))["params"]
  assert _counts(g_shapes) == ref["G"]
  assert _counts(d_shapes) == ref["D"]
  assert sum(ref["G"].values()) == ref["G_total"]


REFERENCE_FORWARD = os.path.join(FIXTURES, "stylegan2_reference_forward.npz")
REF_Z, REF_RES, REF_BATCH = 64, 32, 8


def reference_case(channel_base: int = 512, channel_max: int = 32, arch: str = "resnet") -> dict:
  """The case benchmarks/stylegan2_reference_forward.py runs through stylegan2-ada-pytorch:
  experiments/stylegan2_mnist.py's unconditional G and D at the given width, every parameter
  perturbed off its init, z of a fixed key; {'G:name', 'D:name' (params), 'z', 'w', 'img' (no
  noise), 'logits' = D(img), 'gradG:name', 'gradD:name' (of Σ D(G(z)))}."""
  cfg = ml_collections.ConfigDict(dict(z_dim=REF_Z, w_dim=REF_Z, mapping_layers=2,
                                       channel_base=channel_base, channel_max=channel_max,
                                       d_architecture=arch, mbstd_group_size=4))
  g, d = sg.build(cfg, example_shape=(REF_RES, REF_RES, 1))
  z = jax.random.normal(jax.random.key(1), (REF_BATCH, REF_Z))
  perturb = lambda p, k: jax.tree.map(  # noqa: E731
      lambda x: x + 0.1 * jax.random.normal(jax.random.fold_in(k, x.size), x.shape), p)
  gp = perturb(g.init(jax.random.key(2), z)["params"], jax.random.key(4))
  dp = perturb(d.init(jax.random.key(3), jnp.zeros((REF_BATCH, REF_RES, REF_RES, 1)))["params"],
               jax.random.key(5))

  def synthesize(gp_):
    w = g.apply({"params": gp_}, z, method=g.map)
    ws = jnp.broadcast_to(w[:, None], (REF_BATCH, g.num_ws, REF_Z))
    return w, g.apply({"params": gp_}, ws, None, method=g.synthesize)

  w, img = synthesize(gp)
  total = lambda gp_, dp_: jnp.sum(d.apply({"params": dp_}, synthesize(gp_)[1]))  # noqa: E731
  ggrad, dgrad = jax.grad(total, argnums=(0, 1))(gp, dp)
  out = {"z": z, "w": w, "img": img, "logits": d.apply({"params": dp}, img)}
  for prefix, tree in (("G", gp), ("D", dp), ("gradG", ggrad), ("gradD", dgrad)):
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
      out[f"{prefix}:" + ".".join(k.key for k in path)] = leaf
  return {k: np.asarray(v) for k, v in out.items()}


@pytest.mark.slow
def test_networks_equal_stylegan2_ada_pytorch_at_equal_weights():
  """The reference's image, D logits and gradients of Σ D(G(z)) for gan_jax's weights (fixture
  from benchmarks/stylegan2_reference_forward.py): the same to float32 rounding."""
  ours = reference_case()
  with np.load(REFERENCE_FORWARD) as ref:
    scale = np.abs(ref["img"]).max()
    np.testing.assert_allclose(ours["img"], ref["img"], rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(ours["logits"], ref["logits"], rtol=1e-4, atol=1e-5)
    grads = [k for k in ref.files if k.startswith("grad")]
    assert len(grads) >= 40 and {"gradG:mapping.fc0.weight", "gradD:b4.fc.weight"} <= set(grads)
    for key in grads:
      scale = np.abs(ref[key]).max()
      np.testing.assert_allclose(ours[key], ref[key], rtol=0, atol=1e-5 * scale, err_msg=key)


def test_demodulation_gives_unit_output_variance_per_output_channel():
  """Unit-variance i.i.d. input, random weights and styles: every (example, output channel)
  of the demodulated convolution has variance ≈ 1 (away from the zero-padded border)."""
  kx, kw, ks = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(kx, (3, 64, 64, 16))
  weight = jax.random.normal(kw, (3, 3, 16, 8)) * jnp.linspace(0.1, 3.0, 8)
  styles = jnp.exp(jax.random.normal(ks, (3, 16)))
  y = layers.modulated_conv2d(x, weight, styles, padding=1)[:, 1:-1, 1:-1]
  var = np.asarray(jnp.var(y, axis=(1, 2)))
  np.testing.assert_allclose(var, 1.0, atol=0.08)
  y_plain = layers.modulated_conv2d(x, weight, styles, padding=1, demodulate=False)
  assert np.asarray(jnp.var(y_plain, axis=(1, 2))).std() > 1.0  # without it: far from 1


def test_equalised_learning_rate_scales_weights_at_run_time():
  """Stored weights ~ N(0, 1/lr_mul²); the layer uses ŵ·lr_mul/√fan_in and b̂·lr_mul."""
  fc = layers.FullyConnected(256, lr_multiplier=0.01, bias_init=0.5)
  x = jax.random.normal(jax.random.key(1), (4, 512))
  params = fc.init(jax.random.key(2), x)["params"]
  assert abs(float(jnp.std(params["weight"])) - 100.0) < 2.0
  expect = x @ (params["weight"] * 0.01 / np.sqrt(512)) + params["bias"] * 0.01
  np.testing.assert_allclose(fc.apply({"params": params}, x), expect, rtol=1e-5, atol=1e-6)
  conv = layers.Conv2dLayer(8, 3)
  xi = jax.random.normal(jax.random.key(3), (2, 8, 8, 4))
  p = conv.init(jax.random.key(4), xi)["params"]
  assert abs(float(jnp.std(p["weight"])) - 1.0) < 0.2
  expect = upfirdn2d.conv2d(xi, p["weight"] / np.sqrt(4 * 9), padding=1)
  np.testing.assert_allclose(conv.apply({"params": p}, xi), expect, rtol=1e-5, atol=1e-5)


def test_fir_resampling_keeps_a_constant_image_constant_inside():
  f = upfirdn2d.setup_filter()
  np.testing.assert_allclose(np.outer(f, f).sum(), 1.0, rtol=1e-6)
  x = jnp.ones((1, 8, 8, 2))
  up = upfirdn2d.upsample2d(x, f)
  assert up.shape == (1, 16, 16, 2)
  np.testing.assert_allclose(up[:, 2:-2, 2:-2], 1.0, rtol=1e-6)
  down = upfirdn2d.downsample2d(x, f)
  assert down.shape == (1, 4, 4, 2)
  np.testing.assert_allclose(down[:, 1:-1, 1:-1], 1.0, rtol=1e-6)
  w = jnp.ones((3, 3, 2, 5))
  assert upfirdn2d.conv2d_resample(x, w, f, up=2, padding=1).shape == (1, 16, 16, 5)
  assert upfirdn2d.conv2d_resample(x, w, f, down=2, padding=1).shape == (1, 4, 4, 5)
  assert upfirdn2d.conv2d_resample(x, w[:1, :1], f, down=2).shape == (1, 4, 4, 5)


@pytest.mark.slow
def test_shapes_of_a_small_conditional_mnist_network():
  cfg = ml_collections.ConfigDict(dict(z_dim=16, w_dim=32, mapping_layers=2, channel_base=256,
                                       channel_max=32, d_architecture="resnet",
                                       mbstd_group_size=4))
  g, d = sg.build(cfg, example_shape=(28, 28, 1), num_classes=10)
  z, labels = jnp.ones((8, 16)), jnp.arange(8)
  gv = g.init(jax.random.key(0), z, labels)
  x = g.apply(gv, z, labels)
  assert x.shape == (8, 28, 28, 1)
  ws = jnp.zeros((8, g.num_ws, 32))
  assert g.num_ws == 8
  assert g.apply(gv, ws, method=g.synthesize).shape == (8, 32, 32, 1)
  dv = d.init(jax.random.key(1), x, labels)
  assert d.apply(dv, x, labels).shape == (8,)
