r"""A tiny CPU config for tests and smoke runs: a few steps of an MLP on the ring.

  python -m gan_jax.main --config=experiments/tiny.py --workdir=/tmp/gan_jax_tiny
"""

from gan_jax import configs


def get_config():
  c = configs.use_ring(configs.base_config())
  c.model.width = 32  # Small and fast to compile.
  c.model.depth = 2
  c.model.z_dim = 4
  c.train.batch_size = 16
  c.train.num_steps = 6
  c.train.log_every = 2
  c.train.sample_every = 3
  c.train.checkpoint_every = 3
  c.ema_decay = 0.9
  # Constant rates: the tests stop runs early and resume them with a larger num_steps, and a
  # linear schedule decays to 0 at whatever num_steps the run was started with.
  c.optim.schedule = "constant"
  return c
