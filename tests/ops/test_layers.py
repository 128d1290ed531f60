"""FastConvTranspose / FastConv equal nn.ConvTranspose / nn.Conv: outputs, grads, grads of grads."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, PartitionSpec

from gan_jax.ops.conv import FastConv, FastConvTranspose
from tests.helpers import run_script

RTOL, ATOL = 1e-4, 1e-5


def _close(a, b):
  """Leafwise |a - b| ≤ atol + rtol·max|a|, a scale-aware float32 tolerance."""
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    assert x.shape == y.shape
    scale = float(jnp.max(jnp.abs(x))) + 1e-12
    np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=0, atol=ATOL + RTOL * scale)


def _pair(stock, fast, shape, seed=0):
  kx, kp = jax.random.split(jax.random.key(seed))
  x = jax.random.normal(kx, shape)
  params = jax.jit(stock.init)(kp, x)
  fast_params = jax.jit(fast.init)(kp, x)
  assert jax.tree.structure(params) == jax.tree.structure(fast_params)
  _close(params, fast_params)  # Same names, shapes and initialisers.
  return params, x


def _loss(layer):
  # A non-linear readout so that dy varies over space and channels.
  return lambda params, x: jnp.sum(jnp.sin(layer.apply(params, x)) * (1.0 + x.mean()))


def _penalty(layer):
  """WGAN-GP style ‖∇_x L‖²: its params gradient differentiates the backward pass."""
  return lambda params, x: jnp.sum(jax.grad(_loss(layer), argnums=1)(params, x) ** 2)


def _everything(layer):
  """One jitted call: output, first-order grads, grads of the penalty (second order)."""
  return jax.jit(lambda params, x: (
      layer.apply(params, x), jax.grad(_loss(layer), argnums=(0, 1))(params, x),
      jax.grad(_penalty(layer), argnums=(0, 1))(params, x)))


def _check_all(stock, fast, shape):
  params, x = _pair(stock, fast, shape)
  _close(_everything(stock)(params, x), _everything(fast)(params, x))


DCGAN_SHAPES = [((3, 7, 7, 128), 64), ((3, 14, 14, 64), 1)]


@pytest.mark.parametrize("shape,features", DCGAN_SHAPES)
def test_conv_transpose_matches_stock_dcgan(shape, features):
  kw = dict(features=features, kernel_size=(4, 4), strides=(2, 2))
  stock, fast = nn.ConvTranspose(padding="SAME", **kw), FastConvTranspose(**kw)
  _check_all(stock, fast, shape)
  y = jax.eval_shape(fast.init_with_output, jax.random.key(0), jnp.zeros(shape))[0]
  assert y.shape == (shape[0], 2 * shape[1], 2 * shape[2], features)


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
@pytest.mark.parametrize("k,s", [(4, 2), (3, 2), (5, 3), (3, 1), (1, 2)])
def test_conv_transpose_matches_stock_general(k, s, padding):
  kw = dict(features=3, kernel_size=(k, k), strides=(s, s), padding=padding)
  _check_all(nn.ConvTranspose(**kw), FastConvTranspose(**kw), (2, 5, 6, 4))


@pytest.mark.parametrize("padding", [((1, 1), (1, 1)), "SAME", "VALID", ((0, 2), (1, 0))])
@pytest.mark.parametrize("k,s", [(4, 2), (3, 2), (3, 1)])
def test_conv_matches_stock(k, s, padding):
  kw = dict(features=3, kernel_size=(k, k), strides=(s, s), padding=padding)
  _check_all(nn.Conv(**kw), FastConv(**kw), (2, 9, 8, 4))


def test_dcgan_discriminator_conv_penalty_matches_stock():
  kw = dict(features=16, kernel_size=(4, 4), strides=(2, 2), padding=((1, 1), (1, 1)))
  _check_all(nn.Conv(**kw), FastConv(**kw), (3, 14, 14, 8))


# Shapes where FastConv's forward and kernel gradient run as one matrix product on the
# space-to-depth patches (s > 1, s | k, ≥ 16 input channels): odd sizes (rows S never reads are
# cropped), uneven and zero padding, s = 3.
PATCH_CASES = [
    ((3, 14, 14, 16), 4, 2, ((1, 1), (1, 1))),
    ((2, 9, 8, 16), 4, 2, "SAME"),
    ((2, 9, 11, 20), 4, 2, ((0, 2), (3, 0))),
    ((2, 10, 9, 16), 2, 2, "VALID"),
    ((2, 13, 12, 17), 6, 3, ((1, 2), (2, 0))),
]


@pytest.mark.parametrize("shape,k,s,padding", PATCH_CASES)
def test_conv_patch_path_matches_stock(shape, k, s, padding):
  kw = dict(features=24, kernel_size=(k, k), strides=(s, s), padding=padding)
  fast = FastConv(**kw)
  params, x = _pair(nn.Conv(**kw), fast, shape)
  # The patch path is the one under test: the forward is a dot, not a convolution.
  jaxpr = str(jax.make_jaxpr(fast.apply)(params, x))
  assert "dot_general" in jaxpr and "conv_general_dilated" not in jaxpr
  _check_all(nn.Conv(**kw), fast, shape)


def test_no_bias_and_extra_batch_axes():
  kw = dict(features=5, kernel_size=(4, 4), strides=(2, 2), use_bias=False)
  stock, fast = nn.ConvTranspose(**kw), FastConvTranspose(**kw)
  params, x = _pair(stock, fast, (2, 3, 4, 4, 6))
  assert "bias" not in params["params"]
  _close(jax.jit(stock.apply)(params, x), jax.jit(fast.apply)(params, x))
  params, x = _pair(stock, fast, (4, 4, 6))  # No batch axis.
  _close(jax.jit(stock.apply)(params, x), jax.jit(fast.apply)(params, x))


def test_vmap_and_jit():
  kw = dict(features=8, kernel_size=(4, 4), strides=(2, 2))
  stock, fast = nn.ConvTranspose(**kw), FastConvTranspose(**kw)
  params, x = _pair(stock, fast, (4, 2, 5, 5, 6))  # vmapped axis of 4, batch 2 inside.
  per_example = lambda layer: jax.jit(jax.vmap(jax.grad(_loss(layer), argnums=(0, 1)),
                                               in_axes=(None, 0)))
  _close(per_example(stock)(params, x), per_example(fast)(params, x))
  # vmap over the params too (e.g. an ensemble of generators).
  stacked = jax.tree.map(lambda p: jnp.stack([p, 2 * p]), params)
  both = lambda layer: jax.jit(jax.vmap(jax.grad(_penalty(layer)), in_axes=(0, None)))(
      stacked, x[0])
  _close(both(stock), both(fast))


def check_pmap_and_shard_map(num_devices: int):
  """Under pmap and shard_map over ``num_devices`` devices, the pmean of the per-device penalty
  gradients equals the mean over the device slices computed on one device, for both layers."""
  assert jax.local_device_count() == num_devices
  kw = dict(features=8, kernel_size=(4, 4), strides=(2, 2))
  stock, fast = nn.ConvTranspose(**kw), FastConvTranspose(**kw)
  params, x = _pair(stock, fast, (num_devices, 2, 5, 5, 6))

  def step(layer):
    def f(params, x):
      g = jax.grad(_penalty(layer))(params, x)
      return jax.lax.pmean(g, "d")
    return f

  per_slice = jax.vmap(jax.grad(_penalty(stock)), in_axes=(None, 0))(params, x)
  assert not np.allclose(per_slice["params"]["kernel"][0], per_slice["params"]["kernel"][1])
  mean = jax.tree.map(lambda g: jnp.mean(g, axis=0), per_slice)
  pm = lambda layer: jax.tree.map(lambda g: g[0], jax.pmap(
      step(layer), axis_name="d", in_axes=(None, 0))(params, x))
  mesh = Mesh(np.array(jax.devices()), ("d",))
  # check_vma=False as in training.parallel: with it on, grad w.r.t. the replicated params would
  # already be summed over devices (the transpose of the implicit pvary) before the pmean.
  sm = lambda layer: jax.jit(jax.shard_map(
      lambda p, x: step(layer)(p, x[0]), mesh=mesh, in_specs=(PartitionSpec(), PartitionSpec("d")),
      out_specs=PartitionSpec(), check_vma=False))(params, x)
  for layer in (stock, fast):
    _close(mean, pm(layer))
    _close(mean, sm(layer))


def test_pmap_and_shard_map():
  """On 4 (fake CPU) devices, in a subprocess: on one device pmean is the identity."""
  run_script("from tests.ops.test_layers import check_pmap_and_shard_map as c; c(4)", num_devices=4)


def test_unsupported_padding_raises():
  x = jnp.zeros((1, 4, 4, 2))
  with pytest.raises(ValueError, match="SAME"):
    FastConvTranspose(3, (4, 4), strides=(2, 2), padding="CIRCULAR").init(jax.random.key(0), x)
  with pytest.raises(ValueError, match="2-D"):
    FastConvTranspose(3, (4,), strides=(2,)).init(jax.random.key(0), x)


@pytest.mark.slow
@pytest.mark.parametrize("spectral_norm", [False, True])
def test_dcgan_fast_and_stock_models_agree_including_the_gradient_penalty(spectral_norm):
  """The whole DCGAN-28 G and D: same params, outputs, grads and WGAN-GP grads either way."""
  from gan_jax.models import dcgan

  def pair(impl):
    g = dcgan.DCGAN28Generator(out_shape=(28, 28, 1), conv_impl=impl)
    d = dcgan.DCGAN28Discriminator(spectral_norm=spectral_norm, conv_impl=impl)
    return g, d

  (g_stock, d_stock), (g_fast, d_fast) = pair("stock"), pair("fast")
  kz, kg, kd = jax.random.split(jax.random.key(3), 3)
  z = jax.random.normal(kz, (4, 100))
  g_vars = g_stock.init(kg, z, train=False)
  assert jax.tree.structure(g_vars) == jax.tree.structure(g_fast.init(kg, z, train=False))
  x = g_stock.apply(g_vars, z, train=False)
  d_vars = d_stock.init(kd, x, train=False)
  assert jax.tree.structure(d_vars) == jax.tree.structure(d_fast.init(kd, x, train=False))

  def everything(g, d):
    def d_out(d_params, images):
      return d.apply({**d_vars, "params": d_params}, images, train=False)

    def g_loss(g_params):  # Through G's transposed convs and D's convs.
      images, _ = g.apply({**g_vars, "params": g_params}, z, train=True,
                          mutable=["batch_stats"])
      return jnp.mean(jax.nn.softplus(-d_out(d_vars["params"], images)))

    def penalty(d_params):  # ‖∇_x D(x)‖ at x: its params gradient is a double backward.
      grads = jax.grad(lambda images: jnp.sum(d_out(d_params, images)))(x)
      return jnp.mean((jnp.sqrt(jnp.sum(grads**2, axis=(1, 2, 3))) - 1.0) ** 2)

    return jax.jit(lambda: (g.apply(g_vars, z, train=False), jax.value_and_grad(g_loss)(
        g_vars["params"]), jax.value_and_grad(penalty)(d_vars["params"])))()

  _close(everything(g_stock, d_stock), everything(g_fast, d_fast))


def test_conv_impl_is_resolved_per_backend_when_the_models_are_built():
  """'auto' is the fast layers on CPU and flax.linen's elsewhere; 'fast' off CPU keeps the custom
  gradients without the patches path; models.get hands the layers the resolved choice."""
  from gan_jax import configs, models
  from gan_jax.ops import conv

  assert [conv.resolve_impl(i, "cpu") for i in conv.CONV_IMPLS] == ["fast", "stock", "fast"]
  assert [conv.resolve_impl(i, "gpu") for i in conv.CONV_IMPLS] == ["fast_conv", "stock", "stock"]
  fast, fast_t = conv.layer_classes("fast")
  no_patches, _ = conv.layer_classes("fast_conv")
  assert fast(4, (3, 3)).patches and fast_t(4, (3, 3)).patches
  assert not no_patches(4, (3, 3)).patches
  assert conv.layer_classes("stock") == (nn.Conv, nn.ConvTranspose)
  with pytest.raises(ValueError, match="conv_impl='nope'"):
    conv.resolve_impl("nope", "cpu")
  c = configs.base_config()
  c.model.conv_impl = "auto"
  configs.validate(c, num_devices=1)
  g, d = models.get(c.model, example_shape=(28, 28, 1))
  assert g.conv_impl == d.conv_impl == conv.resolve_impl("auto", jax.default_backend())
