r"""The GAN-versus-VAE table of a finished ``ablate`` sweep of experiments/gan_vs_vae.py.

  python -m gan_jax.gan_vs_vae --workdir=runs/gan_vs_vae [--out=runs/gan_vs_vae/gan_vs_vae.md]

Reads every run's ``result.json`` (its ``evaluate`` metrics), adds the metrics ``evaluate`` does
not report (``evaluation.gan_vs_vae.table_metrics``: Laplacian variance, path length), and writes
the table (``evaluation.gan_vs_vae.markdown_table``) with mean ± std over seeds per variant, and
when the sweep holds a 'gan' and a 'vae' variant, each lecture claim's verdict
(``evaluation.gan_vs_vae.claim_verdicts``).
"""

from __future__ import annotations

import json
import os

from absl import app, flags

from gan_jax import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "The workdir of an ablate sweep of experiments/gan_vs_vae.py.")
flags.DEFINE_string("out", None, "Markdown output (default: WORKDIR/gan_vs_vae.md).")
flags.DEFINE_integer("num", 2000, "Samples for the Laplacian variance.")
flags.DEFINE_integer("ppl_num", 500, "Latent pairs for the path length.")


def collect(workdir: str, *, num: int, ppl_num: int) -> dict[str, list[dict]]:
  """{variant: [per-seed metrics]} of the finished runs under ``workdir``."""
  from gan_jax.evaluation import gan_vs_vae
  from gan_jax.sweeps import runner
  from gan_jax.training import experiment

  per_model: dict[str, list[dict]] = {}
  root = os.path.join(workdir, runner.RUNS_DIR)
  names = sorted(os.listdir(root)) if os.path.isdir(root) else []
  for name in names:
    result = runner.load_result(os.path.join(root, name))
    if result is None:
      continue
    variant = result["settings"].get("variant", result["group"])
    if result["status"] != "ok":
      metrics = {"diverged": True}
    else:
      exp, state, _ = experiment.load_run(os.path.join(root, name))
      metrics = dict(result["eval"])
      metrics.update(gan_vs_vae.table_metrics(exp, state, num=num, ppl_num=ppl_num))
    per_model.setdefault(variant, []).append(metrics)
  return per_model


def main(argv):
  from absl import logging

  from gan_jax.evaluation import gan_vs_vae

  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # Orbax logs every restore
  if len(argv) > 1:
    cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
  if not FLAGS.workdir:
    cli.fail("--workdir is required, e.g. --workdir=runs/gan_vs_vae")
  per_model = collect(FLAGS.workdir, num=FLAGS.num, ppl_num=FLAGS.ppl_num)
  if not per_model:
    cli.fail(f"--workdir={FLAGS.workdir!r} holds no finished run of a sweep")
  summary = gan_vs_vae.summarize_models(per_model)
  table = gan_vs_vae.markdown_table(summary)
  if {"gan", "vae"} <= summary.keys():
    verdicts = gan_vs_vae.claim_verdicts(summary)
    summary["verdicts"] = verdicts
    table += "\n" + gan_vs_vae.markdown_verdicts(verdicts)
  out = FLAGS.out or os.path.join(FLAGS.workdir, "gan_vs_vae.md")
  with open(out, "w") as f:
    f.write(table)
  with open(os.path.splitext(out)[0] + ".json", "w") as f:
    json.dump(summary, f, indent=2)
  print(table)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
