r"""A VAE on the embedded MNIST: Gaussian encoder (DCGAN-28's D trunk) and DCGAN-28's G as the
decoder, Bernoulli likelihood, β = 1.

  python -m gan_jax.main --config=experiments/vae_mnist.py --workdir=runs/vae_mnist

The same networks and widths as experiments/cgan.py's GAN (made unconditional), so the GAN-versus-
VAE comparison (experiments/gan_vs_vae.py) changes the objective only.
"""

from gan_jax import configs


def get_config():
  c = configs.base_config()
  c.game = "vae"
  c.data.name = "mnist"
  c.model.name = "dcgan28"
  c.model.z_dim = 100  # G's: the decoder is the GAN's generator, parameter for parameter.
  c.vae.likelihood = "bernoulli"
  c.vae.beta = 1.0
  # Adam(1e-3, β1 = 0.9): the usual VAE rates; the ELBO has no adversary to keep β1 low for.
  c.optim.update(g_lr=1e-3, d_lr=1e-3, b1=0.9, b2=0.999)
  c.ema_decay = 0.0  # Samples and reconstructions from the same (live) decoder.
  c.train.batch_size = 64
  c.train.num_steps = 3000
  return c
