"""The random streams of a run, all derived from one integer seed (``config.seed``).

====================  ==========================================  ==================================
stream                derivation                                  used by
====================  ==========================================  ==================================
``init``              ``key(seed)``                               ``state.create_state`` splits it
                                                                  into G's and D's init keys
``train``             ``key(seed)``                               ``steps.train_step``: step s
                                                                  draws from ``fold_in(train, s)``
``sample``            seed ``seed`` of ``latents``                the trainer's sample pictures,
                                                                  ``gan_jax.sample`` (its --seed)
``eval``              seed ``seed + 1`` of ``latents``            ``evaluation.evaluator`` and the
                                                                  Inception metrics' fakes
``standing``          seed ``seed + 104729`` of ``latents``       standing BatchNorm statistics
``data``              ``np.random.default_rng([seed, epoch])``    ``data.sampler`` (and its flips,
                                                                  ``[seed, FLIP_STREAM, step]``)
====================  ==========================================  ==================================

``latents(seed)`` draws from ``fold_in(key(seed), LATENT_STREAM)``. ``init`` and ``train`` share
their root: these are the derivations the runs made before the streams were named, kept so that
results (and checkpoints' continuations) stay bit-identical; the two never meet, since ``init``
is only split and ``train`` only folded with step numbers.
"""

from __future__ import annotations

from typing import NamedTuple

import jax

LATENT_STREAM = 7919  # fold_in of the latents' key, apart from init/train draws
EVAL_OFFSET = 1  # the evaluation's latents: seed + 1, apart from the sample pictures'
STANDING_OFFSET = 104729  # standing statistics' latents, apart from sample and eval


class Streams(NamedTuple):
  """A run's streams: JAX keys for ``init`` and ``train``, integer seeds of ``latent_key`` for
  the fixed-latent draws (``sample``, ``eval``, ``standing``), and numpy's ``data`` seed."""

  init: jax.Array
  train: jax.Array
  sample: int
  eval: int
  standing: int
  data: int


def streams(seed: int) -> Streams:
  """Splits ``seed`` into the named streams (module docstring)."""
  root = jax.random.key(seed)
  return Streams(init=root, train=root, sample=seed, eval=seed + EVAL_OFFSET,
                 standing=seed + STANDING_OFFSET, data=seed)


def latent_key(seed: int) -> jax.Array:
  """The key of the fixed latents drawn with ``seed`` (a ``sample``/``eval``/``standing`` seed)."""
  return jax.random.fold_in(jax.random.key(seed), LATENT_STREAM)
