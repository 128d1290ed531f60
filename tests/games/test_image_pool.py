"""The history buffer of generated images (gan_jax.games.image_pool)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.games import image_pool


def _images(start: int, n: int) -> jax.Array:
  """n 2x2x1 images, image i filled with the value start + i (so each is recognisable)."""
  return jnp.broadcast_to(jnp.arange(start, start + n, dtype=jnp.float32)[:, None, None, None],
                          (n, 2, 2, 1))


def _ids(images) -> np.ndarray:
  return np.asarray(images)[:, 0, 0, 0].astype(int)


def test_fill_phase_stores_and_returns_the_new_images():
  pool = image_pool.create(5, (2, 2, 1))
  pool, out = image_pool.query(pool, _images(0, 3), jax.random.key(0))
  assert _ids(out).tolist() == [0, 1, 2] and int(pool.count) == 3
  # The batch that fills the pool: images 3 and 4 fill it, 5 and 6 meet a full pool.
  pool, out = image_pool.query(pool, _images(3, 4), jax.random.key(1))
  assert int(pool.count) == 5 and _ids(out)[:2].tolist() == [3, 4]
  stored = set(_ids(pool.images))
  assert {0, 1, 2}.issubset(stored | set(_ids(out)[2:])) and stored <= set(range(7))


def test_a_full_pool_swaps_half_the_time_and_returns_old_or_new_images():
  """Over 4000 queries of a full pool of 50: about half return a stored image (which the new
  one replaces), the rest the new image; nothing else is ever returned."""
  size, batch = 50, 40
  pool = image_pool.create(size, (2, 2, 1))
  pool, _ = image_pool.query(pool, _images(0, size), jax.random.key(0))
  query = jax.jit(image_pool.query)
  swaps = 0
  for step in range(100):
    new = _images(1000 * (step + 1), batch)
    before = set(_ids(pool.images))
    pool, out = query(pool, new, jax.random.fold_in(jax.random.key(1), step))
    out_ids, new_ids = _ids(out), _ids(new)
    from_pool = out_ids != new_ids
    # A returned stored image was in the pool before, or was put there earlier in this batch.
    assert set(out_ids[from_pool]) <= before | set(new_ids)
    swaps += int(from_pool.sum())
    assert set(_ids(pool.images)) <= before | set(new_ids)  # only old and new images stored
  assert int(pool.count) == size
  assert abs(swaps / (100 * batch) - 0.5) < 0.03, swaps


def test_zero_size_pool_returns_the_batch():
  pool = image_pool.create(0, (2, 2, 1))
  pool2, out = image_pool.query(pool, _images(0, 3), jax.random.key(0))
  np.testing.assert_array_equal(out, _images(0, 3))
  assert pool2.images.shape == (0, 2, 2, 1)


def test_resume_from_saved_arrays_continues_exactly(tmp_path):
  """The pool is arrays: saved after 3 queries and reloaded, the next 3 equal an unbroken run."""
  def run(pool, steps):
    outs = []
    for s in steps:
      pool, out = image_pool.query(pool, _images(100 * s, 8), jax.random.fold_in(
          jax.random.key(7), s))
      outs.append(np.asarray(out))
    return pool, outs

  pool, _ = run(image_pool.create(10, (2, 2, 1)), range(3))
  np.savez(tmp_path / "pool.npz", images=np.asarray(pool.images), count=np.asarray(pool.count))
  full_pool, full_outs = run(pool, range(3, 6))
  saved = np.load(tmp_path / "pool.npz")
  restored = image_pool.ImagePool(images=jnp.asarray(saved["images"]),
                                  count=jnp.asarray(saved["count"]))
  resumed_pool, resumed_outs = run(restored, range(3, 6))
  for a, b in zip(full_outs, resumed_outs, strict=True):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(full_pool.images, resumed_pool.images)
