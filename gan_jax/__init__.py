"""gan_jax: GAN objectives, theory tests and trainers in functional JAX/Flax."""

__version__ = "0.1.0"
