"""The GAN-versus-VAE table's metrics: the Laplacian variance ranks blur, the path length is
that of a known map, and the table marks a missing encoder and diverged runs."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from gan_jax.evaluation import gan_vs_vae


def test_laplacian_variance_is_lower_for_blurred_images_and_matches_its_stencil():
  x = np.random.default_rng(0).uniform(-1, 1, (4, 12, 12, 1)).astype(np.float32)
  blurred = ndimage.gaussian_filter(x, sigma=(0, 1.0, 1.0, 0))
  assert gan_vs_vae.laplacian_variance(blurred) < 0.2 * gan_vs_vae.laplacian_variance(x)
  lap = ndimage.laplace(x[0, :, :, 0])[1:-1, 1:-1]  # scipy's 4-neighbour Laplacian
  np.testing.assert_allclose(gan_vs_vae.laplacian_variance(x[:1]), np.var(lap), rtol=1e-5)


def test_path_length_of_a_linear_map_is_its_squared_gain_times_the_slerp_speed():
  """For G(z) = c·z and φ = identity, ‖Δφ‖²/ε² = c²‖d slerp/dt‖² = c²·ω²·|z|² (|z0| = |z1|)."""
  z_dim, c = 4, 3.0
  length = gan_vs_vae.path_length(lambda z: c * np.asarray(z), lambda f: f, z_dim=z_dim,
                                  num=400, seed=0, epsilon=1e-3)
  r = np.random.default_rng([0, 0x99])
  z0, z1 = r.standard_normal((2, 400, z_dim))
  # Unequal norms add the radial term; compare with a direct finite difference instead.
  t = r.uniform(0.0, 1.0 - 1e-3, 400)
  d = np.sum(np.square(c * (gan_vs_vae.slerp(z0, z1, t + 1e-3) - gan_vs_vae.slerp(z0, z1, t))),
             -1) / 1e-6
  lo, hi = np.percentile(d, [1, 99])
  np.testing.assert_allclose(length, np.mean(d[(d >= lo) & (d <= hi)]), rtol=1e-3)
  assert gan_vs_vae.path_length(lambda z: 2 * c * np.asarray(z), lambda f: f, z_dim=z_dim,
                                num=400, seed=0, epsilon=1e-3) > 3.9 * length


def test_slerp_ends_and_keeps_the_norm_between_equal_norm_ends():
  a, b = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
  np.testing.assert_allclose(gan_vs_vae.slerp(a, b, np.array([0.0])), a, atol=1e-7)
  np.testing.assert_allclose(gan_vs_vae.slerp(a, b, np.array([1.0])), b, atol=1e-7)
  np.testing.assert_allclose(np.linalg.norm(gan_vs_vae.slerp(a, b, np.array([0.3]))), 1.0)


def test_the_table_has_a_dash_for_the_gan_encoder_and_counts_divergence():
  runs = {
      "gan": [{"fcd": 10.0, "precision": 0.8, "recall": 0.7, "coverage": 0.6,
               "class_kl_from_uniform": 0.01, "laplacian_var_ratio": 1.0, "path_length": 5.0},
              {"fcd": 14.0, "precision": 0.8, "recall": 0.7, "coverage": 0.6,
               "class_kl_from_uniform": 0.01, "laplacian_var_ratio": 1.0, "path_length": 5.0},
              {"diverged": True}],
      "vae": [{"fcd": 40.0, "precision": 0.3, "recall": 0.9, "coverage": 0.5,
               "class_kl_from_uniform": 0.0, "laplacian_var_ratio": 0.3, "path_length": 1.0,
               "recon_mse": 0.05}] * 3,
  }
  summary = gan_vs_vae.summarize_models(runs)
  assert summary["gan"]["fcd"] == (12.0, 2.0)
  assert summary["gan"]["diverged"] == 1 and summary["vae"]["diverged"] == 0
  table = gan_vs_vae.markdown_table(summary)
  row = next(line for line in table.splitlines() if "recon" in line)
  assert row.split("|")[3].strip() == "—" and "0.0500 ± 0.0000" in row
  assert "| stability | runs diverged | 1 of 3 | 0 of 3 |" in table
  assert "| stability | std of fcd over seeds | 2.00 | 0.00 |" in table
