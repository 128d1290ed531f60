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


def _summary(gan: dict, vae: dict, gan_fcds=(10.0, 14.0), vae_fcds=(40.0, 41.0)):
  base = {"precision": 0.5, "recall": 0.5, "coverage": 0.5, "class_kl_from_uniform": 0.01,
          "laplacian_var_ratio": 1.0, "path_length": 5.0}
  runs = {"gan": [dict(base, **gan, fcd=f) for f in gan_fcds],
          "vae": [dict(base, **vae, fcd=f, recon_mse=0.05) for f in vae_fcds]}
  return gan_vs_vae.summarize_models(runs)


def test_claim_verdicts_follow_the_numbers_not_the_lectures():
  """The textbook picture confirms every claim; the reverse numbers contradict them; a split
  of the sharpness tests is 'mixed'."""
  textbook = _summary(
      gan={"precision": 0.9, "recall": 0.3, "coverage": 0.4, "class_kl_from_uniform": 0.2,
           "laplacian_var_ratio": 0.95, "path_length": 50.0},
      vae={"precision": 0.4, "recall": 0.8, "coverage": 0.7, "class_kl_from_uniform": 0.001,
           "laplacian_var_ratio": 0.3, "path_length": 5.0})
  verdicts = {v["claim"].split(":")[0]: v["verdict"]
              for v in gan_vs_vae.claim_verdicts(textbook)}
  assert set(verdicts.values()) == {"confirmed"}, verdicts
  textbook["gan"].update(diverged=1, runs=3)  # a GAN run diverged, no VAE run: still confirmed
  assert {v["verdict"] for v in gan_vs_vae.claim_verdicts(textbook)} == {"confirmed"}
  textbook["vae"].update(diverged=2, runs=2)  # ... but every VAE run diverging counts against
  (training,) = [v for v in gan_vs_vae.claim_verdicts(textbook) if v["claim"][:8] == "training"]
  assert training["verdict"] == "mixed"

  reverse = _summary(
      gan={"precision": 0.3, "recall": 0.9, "coverage": 0.8, "class_kl_from_uniform": 0.001,
           "laplacian_var_ratio": 0.2, "path_length": 1.0},
      vae={"precision": 0.9, "recall": 0.3, "coverage": 0.3, "class_kl_from_uniform": 0.3,
           "laplacian_var_ratio": 1.0, "path_length": 9.0},
      gan_fcds=(50.0, 50.5), vae_fcds=(10.0, 20.0))
  verdicts = {v["claim"].split(":")[0]: v["verdict"]
              for v in gan_vs_vae.claim_verdicts(reverse)}
  assert verdicts["output quality"] == "contradicted"
  assert verdicts["latent space"] == "contradicted"
  assert verdicts["mode coverage"] == "contradicted"
  assert verdicts["training"] == "contradicted"  # steadier GAN; no divergence is not counted

  close = _summary(gan={}, vae={}, gan_fcds=(10.0, 11.0), vae_fcds=(40.0, 43.0))  # 0.048, 0.036
  (training,) = [v for v in gan_vs_vae.claim_verdicts(close) if v["claim"][:8] == "training"]
  assert training["verdict"] == "undetermined"  # within 1.5x: a tie, not a finding
  assert verdicts["an encoder"] == "confirmed"

  split = _summary(gan={"precision": 0.3}, vae={"precision": 0.9})  # fcd lower, precision lower
  (quality,) = [v for v in gan_vs_vae.claim_verdicts(split) if v["claim"].startswith("output")]
  assert quality["verdict"] == "mixed"
  assert [held for _, held in quality["tests"]] == [True, False, False]
  table = gan_vs_vae.markdown_verdicts(gan_vs_vae.claim_verdicts(split))
  assert "| output quality: GAN sharp, VAE blurry | **mixed** | GAN's fcd lower: yes;" in table


def test_a_claim_is_undetermined_when_its_numbers_are_missing():
  """One seed per model and no divergence: the stability claim has no counted test, and a claim
  whose only metric is missing is undetermined, not contradicted."""
  one_seed = _summary(gan={}, vae={}, gan_fcds=(10.0,), vae_fcds=(40.0,))
  del one_seed["gan"]["path_length"]
  verdicts = {v["claim"].split(":")[0]: v for v in gan_vs_vae.claim_verdicts(one_seed)}
  assert [held for _, held in verdicts["training"]["tests"]] == [None, None]
  assert verdicts["training"]["verdict"] == "undetermined"
  assert verdicts["latent space"]["verdict"] == "undetermined"
  assert "GAN's path length longer: n/a" in gan_vs_vae.markdown_verdicts(
      gan_vs_vae.claim_verdicts(one_seed))
