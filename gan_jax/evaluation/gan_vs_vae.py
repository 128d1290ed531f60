"""The lectures' GAN-versus-VAE table as measurements (experiments/gan_vs_vae.py).

One row per claim, each a few numbers per model, means (± std) over seeds:

- sharpness: fcd, precision (``evaluate``), and ``laplacian_variance`` of the samples over the
  data's: Var(∇²x) per image, the mean over images (blur lowers it; a ratio near 1 is sharp);
- mode coverage: recall, coverage and KL(class histogram ‖ uniform) (``evaluate``);
- latent smoothness: ``path_length``, the perceptual path length of Karras et al. (2019) in the
  classifier's feature space: E ‖φ(G(slerp(z0, z1; t))) - φ(G(slerp(z0, z1; t + ε)))‖² / ε²,
  t ~ U(0, 1), the 1 % tails dropped;
- an encoder: the test reconstruction error ``recon_mse`` of the VAE games, "—" for the GAN;
- stability: the std over seeds of fcd (absolute, and relative to the mean), and the number of
  runs that diverged.

``claim_verdicts`` then marks each lecture claim (GAN against VAE) confirmed, contradicted, mixed
or undetermined by these numbers alone, by the rules in ``CLAIMS``.
"""

from __future__ import annotations

import numpy as np

from gan_jax import rng
from gan_jax.evaluation import sampling

# The Laplacian's 4-neighbour stencil.
_LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32)
PPL_EPSILON = 1e-4


def laplacian_variance(images) -> float:
  """Mean over images of the variance of the discrete Laplacian ∇²x (per channel, valid
  positions): the usual focus measure, lower for blurrier images."""
  x = np.asarray(images, np.float32)
  lap = sum(_LAPLACIAN[i, j] * x[:, i:x.shape[1] - 2 + i, j:x.shape[2] - 2 + j]
            for i in range(3) for j in range(3) if _LAPLACIAN[i, j])
  return float(np.mean(np.var(lap.reshape(len(x), -1, x.shape[-1]), axis=1)))


def slerp(a, b, t):
  """Spherical interpolation between rows of a and b at fractions t (rows)."""
  a_n = a / np.linalg.norm(a, axis=-1, keepdims=True)
  b_n = b / np.linalg.norm(b, axis=-1, keepdims=True)
  omega = np.arccos(np.clip(np.sum(a_n * b_n, -1, keepdims=True), -1.0, 1.0))
  so = np.sin(omega)
  t = np.reshape(t, (-1, 1))
  return (np.sin((1.0 - t) * omega) / so) * a + (np.sin(t * omega) / so) * b


def path_length(generate, feature_fn, *, z_dim: int, num: int, seed: int = 0,
                epsilon: float = PPL_EPSILON) -> float:
  """The perceptual path length in ``feature_fn``'s space of ``generate(z) -> images``
  (module docstring): ``num`` pairs, the mean of the 1st-99th percentile."""
  r = np.random.default_rng([seed, 0x99])
  z0, z1 = r.standard_normal((2, num, z_dim)).astype(np.float32)
  t = r.uniform(0.0, 1.0 - epsilon, num).astype(np.float32)
  za, zb = slerp(z0, z1, t), slerp(z0, z1, t + epsilon)
  fa, fb = feature_fn(generate(za)), feature_fn(generate(zb))
  d = np.sum(np.square(fa.astype(np.float64) - fb), -1) / epsilon ** 2
  lo, hi = np.percentile(d, [1, 99])
  return float(np.mean(d[(d >= lo) & (d <= hi)]))


def run_generate_fn(exp, state):
  """z (N, z_dim) -> images of a run's generator (the decoder of the VAE games), with the
  variables ``evaluate`` samples with."""
  variables = sampling.sampling_variables(exp, state)
  fn = sampling.make_generate_fn(exp.generator)
  return lambda z: sampling.generate(fn, variables, np.asarray(z), None)


def table_metrics(exp, state, *, num: int = 2000, ppl_num: int = 500, seed: int = 0,
                  classifier=None) -> dict:
  """The table's metrics that ``evaluate`` does not report: the samples' and the data's mean
  Laplacian variance and their ratio, and the classifier-space path length."""
  from gan_jax.evaluation import classifier as classifier_lib

  clf = classifier or classifier_lib.get_classifier(exp.dataset)
  generate = run_generate_fn(exp, state)
  z = np.asarray(sampling.fixed_latents(rng.streams(seed).eval, num, exp.config.model.z_dim,
                                        0)[0])
  fake_lv = laplacian_variance(generate(z))
  real = exp.dataset.test_x[:num]
  real_lv = laplacian_variance(real)
  return {"laplacian_var": fake_lv, "laplacian_var_data": real_lv,
          "laplacian_var_ratio": fake_lv / real_lv,
          "path_length": path_length(generate, clf.features, z_dim=exp.config.model.z_dim,
                                     num=ppl_num, seed=seed)}


# (row, [(column label, metric key, format)]) of the table; metrics are means over seeds.
ROWS = (
    ("sharpness", (("fcd", "fcd", ".2f"), ("fcd floor (real vs real)", "fcd_floor", ".2f"),
                   ("precision", "precision", ".3f"),
                   ("Laplacian var / data's", "laplacian_var_ratio", ".2f"))),
    ("mode coverage", (("recall", "recall", ".3f"), ("coverage", "coverage", ".3f"),
                       ("KL(classes ‖ uniform)", "class_kl_from_uniform", ".3f"))),
    ("latent smoothness", (("path length", "path_length", ".3g"),)),
    ("an encoder", (("test recon. MSE", "recon_mse", ".4f"),)),
)


def summarize_models(per_model: dict[str, list[dict]]) -> dict[str, dict]:
  """{model: {metric: (mean, std)} plus 'fcd_seed_std', 'diverged', 'runs'} from per-seed
  metric dicts (a run that diverged is a dict with ``diverged=True`` and no metrics)."""
  out = {}
  for model, runs in per_model.items():
    ok = [r for r in runs if not r.get("diverged")]
    keys = sorted({k for r in ok for k, v in r.items() if isinstance(v, int | float)
                   and not isinstance(v, bool)})
    stats = {}
    for k in keys:
      values = np.array([r[k] for r in ok if k in r], np.float64)
      stats[k] = (float(np.mean(values)), float(np.std(values)))
    fcds = [r["fcd"] for r in ok if "fcd" in r]
    stats["fcd_seed_std"] = float(np.std(fcds)) if len(fcds) > 1 else float("nan")
    stats["fcd_seed_rel_std"] = (stats["fcd_seed_std"] / float(np.mean(fcds)) if fcds
                                 else float("nan"))
    stats["diverged"] = sum(bool(r.get("diverged")) for r in runs)
    stats["runs"] = len(runs)
    out[model] = stats
  return out


def markdown_table(summary: dict[str, dict]) -> str:
  """The table: one row per claim and metric, one column per model, mean ± std over seeds;
  "—" where a model lacks the metric (the GAN's reconstruction error)."""
  models = list(summary)
  lines = ["| claim | metric | " + " | ".join(models) + " |",
           "|---|---|" + "---|" * len(models)]

  def cell(stats, key, fmt):
    if key not in stats:
      return "—"
    mean, std = stats[key]
    return f"{mean:{fmt}} ± {std:{fmt}}"

  for claim, columns in ROWS:
    for label, key, fmt in columns:
      lines.append(f"| {claim} | {label} | "
                   + " | ".join(cell(summary[m], key, fmt) for m in models) + " |")
  lines.append("| stability | std of fcd over seeds | "
               + " | ".join(f"{summary[m]['fcd_seed_std']:.2f}" for m in models) + " |")
  lines.append("| stability | std of fcd / mean fcd | "
               + " | ".join(f"{summary[m]['fcd_seed_rel_std']:.3f}" for m in models) + " |")
  lines.append("| stability | runs diverged | "
               + " | ".join(f"{summary[m]['diverged']} of {summary[m]['runs']}"
                            for m in models) + " |")
  return "\n".join(lines) + "\n"


def _mean(stats: dict, key: str) -> float:
  value = stats.get(key, float("nan"))
  return float(value[0] if isinstance(value, tuple | list) else value)


SPREAD_MARGIN = 1.5  # A std from a few seeds is itself uncertain by tens of per cent.


def _clearly_greater(a: float, b: float) -> bool | None:
  """a > b by more than SPREAD_MARGIN×: True; b > a by as much: False; else None (a tie)."""
  if a > SPREAD_MARGIN * b:
    return True
  if b > SPREAD_MARGIN * a:
    return False
  return None


# (claim as the lectures state it, [(what the GAN must show against the VAE for the claim to
# hold, the metrics it reads, test(gan means, vae means) -> bool | None)]). A test whose metrics
# are missing or NaN for either model (the std over seeds of one seed), or that returns None (no
# run of either diverged, or spreads within SPREAD_MARGIN of each other: no evidence), is not
# counted. A claim is confirmed when every counted test holds, contradicted when none does, mixed
# otherwise, and undetermined when none is counted. The encoder test reads whether recon_mse is
# reported.
CLAIMS = (
    ("output quality: GAN sharp, VAE blurry", (
        ("GAN's fcd lower", ("fcd",), lambda g, v: g["fcd"] < v["fcd"]),
        ("GAN's precision higher", ("precision",), lambda g, v: g["precision"] > v["precision"]),
        ("GAN's Laplacian variance nearer the data's (in log ratio)", ("laplacian_var_ratio",),
         lambda g, v: abs(np.log(g["laplacian_var_ratio"]))
         < abs(np.log(v["laplacian_var_ratio"]))),
    )),
    ("training: GAN unstable, VAE stable", (
        ("GAN's fcd spreads more over seeds (std / mean, by 1.5x either way)",
         ("fcd_seed_rel_std",), lambda g, v: _clearly_greater(g["fcd_seed_rel_std"],
                                                              v["fcd_seed_rel_std"])),
        ("GAN diverged more often", ("diverged", "runs"),
         lambda g, v: (g["diverged"] / g["runs"] > v["diverged"] / v["runs"])
         if g["diverged"] or v["diverged"] else None),
    )),
    ("latent space: GAN unstructured, VAE smooth", (
        ("GAN's path length longer", ("path_length",),
         lambda g, v: g["path_length"] > v["path_length"]),
    )),
    ("mode coverage: GAN may collapse, VAE covers all modes", (
        ("GAN's recall lower", ("recall",), lambda g, v: g["recall"] < v["recall"]),
        ("GAN's coverage lower", ("coverage",), lambda g, v: g["coverage"] < v["coverage"]),
        ("GAN's class histogram further from uniform", ("class_kl_from_uniform",),
         lambda g, v: g["class_kl_from_uniform"] > v["class_kl_from_uniform"]),
    )),
    ("an encoder: GAN none, VAE one", (
        ("only the VAE reconstructs test images", (),
         lambda g, v: "recon_mse" not in g and "recon_mse" in v),
    )),
)


def claim_verdicts(summary: dict[str, dict], gan: str = "gan", vae: str = "vae") -> list[dict]:
  """Per lecture claim: {'claim', 'verdict' ('confirmed' | 'contradicted' | 'mixed' |
  'undetermined'), 'tests': [(test, held: bool | None)]}, from ``summarize_models``'s summary
  of the ``gan`` and ``vae`` models (None: the test was not counted)."""
  g_stats, v_stats = summary[gan], summary[vae]
  out = []
  for claim, tests in CLAIMS:
    held = []
    for name, keys, test in tests:
      g = {k: _mean(g_stats, k) for k in keys}
      v = {k: _mean(v_stats, k) for k in keys}
      if any(np.isnan(x) for x in (*g.values(), *v.values())):
        held.append((name, None))
      else:
        result = test(g, v) if keys else test(g_stats, v_stats)
        held.append((name, None if result is None else bool(result)))
    counted = [h for _, h in held if h is not None]
    n = sum(counted)
    verdict = ("undetermined" if not counted else "confirmed" if n == len(counted)
               else "contradicted" if n == 0 else "mixed")
    out.append({"claim": claim, "verdict": verdict, "tests": held})
  return out


def markdown_verdicts(verdicts: list[dict]) -> str:
  """The verdicts as a table: claim, verdict, and each test with whether it held."""
  lines = ["| lecture claim (GAN vs VAE) | verdict | the numbers |", "|---|---|---|"]
  for v in verdicts:
    tests = "; ".join(f"{name}: {'n/a' if held is None else 'yes' if held else 'no'}"
                      for name, held in v["tests"])
    lines.append(f"| {v['claim']} | **{v['verdict']}** | {tests} |")
  return "\n".join(lines) + "\n"
