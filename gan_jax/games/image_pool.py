"""A history buffer of generated images for the discriminator's updates (Shrivastava et al. 2017;
CycleGAN's ``ImagePool`` in junyanz/pytorch-CycleGAN-and-pix2pix, ``util/image_pool.py``).

D is updated on fakes drawn partly from the generator's past, which damps oscillation. For each
new fake x_i of a batch, in order, with a pool of capacity P holding n images:
  - n < P (filling): store x_i at slot n, return x_i;
  - else with probability 1/2: pick a slot j ~ U{0..P-1}, return the stored image there and
    store x_i in its place; otherwise return x_i.
The pool is arrays in the game state (so checkpoints carry it and resume is exact), and every
draw comes from the key passed in (the trainer's ``fold_in`` of the step key): example i draws
from ``fold_in(key, i)``. P = 0 returns the batch unchanged.

Data parallelism (``query_global``): the pool is replicated, so every device gathers the global
batch of fakes over ``updates.AXIS``, applies the same draws to it (leaving identical pools on
every device, and the same pool as one device would) and keeps its own slice of the returned
images.
"""

from __future__ import annotations

import flax
import jax
import jax.numpy as jnp
from jax import lax

from gan_jax.games import updates

SWAP_PROBABILITY = 0.5


@flax.struct.dataclass
class ImagePool:
  images: jax.Array  # (P, H, W, C): the stored fakes (zeros in slots not yet filled)
  count: jax.Array  # int32 scalar: slots filled so far, at most P


def create(pool_size: int, image_shape) -> ImagePool:
  """An empty pool of ``pool_size`` images of ``image_shape`` (H, W, C)."""
  return ImagePool(images=jnp.zeros((pool_size, *image_shape), jnp.float32),
                   count=jnp.zeros((), jnp.int32))


def query(pool: ImagePool, images: jax.Array, key: jax.Array) -> tuple[ImagePool, jax.Array]:
  """(updated pool, the images D sees in place of ``images``), image by image as the module
  docstring says; pure."""
  size = pool.images.shape[0]
  if size == 0:
    return pool, images

  def one(carry, inputs):
    stored, count = carry
    image, i = inputs
    u_key, slot_key = jax.random.split(jax.random.fold_in(key, i))
    filling = count < size
    swap = ~filling & (jax.random.uniform(u_key) < SWAP_PROBABILITY)
    slot = jnp.where(filling, count, jax.random.randint(slot_key, (), 0, size))
    old = stored[slot]
    stored = lax.dynamic_update_index_in_dim(
        stored, jnp.where(filling | swap, image, old), slot, 0)
    return (stored, count + filling.astype(jnp.int32)), jnp.where(swap, old, image)

  (stored, count), returned = lax.scan(
      one, (pool.images, pool.count), (images, jnp.arange(images.shape[0])))
  return ImagePool(images=stored, count=count), returned


def query_global(pool: ImagePool, local_images: jax.Array, key: jax.Array, num_devices: int
                 ) -> tuple[ImagePool, jax.Array]:
  """``query`` on the global batch inside the data-parallel map: every device gathers the
  fakes of all devices, updates its replica of the pool alike and returns its own slice."""
  if num_devices == 1 or pool.images.shape[0] == 0:
    return query(pool, local_images, key)
  everything = lax.all_gather(local_images, updates.AXIS, tiled=True)
  pool, returned = query(pool, everything, key)
  return pool, updates.local_slice(returned, num_devices)
