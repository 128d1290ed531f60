"""Everything a run builds from its config: data, models, optimisers and the step functions.

Shared by the trainer and the sample, evaluate and bench tools, so each rebuilds a run the same way
(from a config file, or from the ``config.json`` a run left in its workdir).
"""

from __future__ import annotations

import dataclasses
import json
import os

import jax
import ml_collections
import numpy as np

from gan_jax import configs, games, rng
from gan_jax.data import sources
from gan_jax.errors import ConfigError
from gan_jax.games import base as games_base

CONFIG_FILE = "config.json"


@dataclasses.dataclass
class Experiment:
  """A run's config, its data and the game it plays (``gan_jax.games``)."""

  config: ml_collections.ConfigDict
  dataset: sources.Dataset
  game: games_base.Game

  def init_state(self):
    return self.game.init_state(rng.streams(self.config.seed).init)

  def state_template(self):
    """A state of zeros with ``init_state``'s structure, shapes and dtypes, on the host: the
    target a checkpoint is restored into. From ``jax.eval_shape``, so nothing is initialised or
    compiled (an eager ``init_state`` of the MNIST cGAN compiles dozens of small ops: ~13 s)."""
    return jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), jax.eval_shape(self.init_state))

  # The GAN game's players, for the code written against them (sampling, evaluation, bench).
  def __getattr__(self, name):
    if name in ("generator", "discriminator", "optimizers", "steps", "num_classes"):
      return getattr(self.game, name)
    raise AttributeError(name)


def build(config, *, num_devices: int, dataset: sources.Dataset | None = None) -> Experiment:
  """Validates ``config`` and builds the run; raises ConfigError on bad input."""
  configs.validate(config, num_devices=num_devices)
  game_name = config.get("game", "gan")
  game_cls = games.get(game_name)
  dataset = dataset if dataset is not None else game_cls.load_dataset(config.data)
  if game_name == "gan":  # the other games check their data themselves
    configs.validate_against_data(config, dataset)
  return Experiment(config, dataset, game_cls(config, dataset, num_devices=num_devices))


def config_to_dict(config) -> dict:
  return json.loads(config.to_json())


def load_workdir_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a run saved in its workdir."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.isfile(path):
    raise ConfigError(f"--workdir={workdir!r} holds no {CONFIG_FILE}; is it a gan_jax run?")
  with open(path) as f:
    saved = json.load(f)
  # Start from the defaults so runs saved by older versions gain new fields.
  config = configs.base_config()
  config.update_from_flattened_dict(
      {k: v for k, v in configs.flatten(saved).items() if k in configs.flatten(config)})
  return config


def load_run(workdir: str, dataset: sources.Dataset | None = None, step: int | None = None):
  """(experiment, canonical state, step) of checkpoint ``step`` in ``workdir`` (None: the latest
  readable one).

  The experiment is built for one device (inference); raises ConfigError without a checkpoint
  (or without one at ``step``).
  """
  from gan_jax.training import checkpointing

  config = load_workdir_config(workdir)
  exp = build(config, num_devices=1, dataset=dataset)
  restored = None
  if checkpointing.has_checkpoints(workdir):
    ckpt = checkpointing.Checkpointer(workdir, max_to_keep=config.train.keep_checkpoints)
    saved = sorted(ckpt.manager.all_steps())
    if step is None:
      restored = ckpt.restore_latest(exp.state_template())
    elif step in saved:
      restored = ckpt.restore(step, exp.state_template()), step
    ckpt.close()
    if step is not None and restored is None:
      raise ConfigError(f"--step={step}: {workdir!r} has no checkpoint of that step; saved: "
                        f"{', '.join(map(str, saved))}")
  if restored is None:
    raise ConfigError(f"--workdir={workdir!r} holds no checkpoint yet")
  state, step = restored
  return exp, state, step
