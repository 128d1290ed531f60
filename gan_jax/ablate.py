r"""Ablation sweeps: trains every run of a sweep, evaluates each one, tabulates and plots them.

The command line over ``gan_jax.sweeps`` (``spec``: the runs; ``runner``: training and
evaluating them; ``report``: tables and plots).

  python -m gan_jax.ablate --config=experiments/ablation_losses.py --workdir=runs/ablation

The config file returns a ConfigDict with two parts:
  base   an ordinary run config (what ``gan_jax.main`` takes);
  sweep  variants       name -> field overrides, nested like the run config, e.g.
                        ``sweep.variants.r1 = {'reg': {'r1_weight': 1.0}}`` ({} = the base);
         variant_names  the variants to run, in this order (empty: all, alphabetically);
         axes           field -> tuple of values, nested like the run config, e.g.
                        ``sweep.axes.seed = (0, 1, 2)``, ``sweep.axes.model.spectral_norm = (...)``.
The runs are variants × axis₁ × axis₂ × ... (no variants: the axes alone); a variant and an axis
may not set the same field. Everything can be overridden from the command line:
``--config.base.train.num_steps=500``, ``--config.sweep.axes.seed=0 --config.sweep.axes.seed=1``
(a tuple by repetition), ``--config.sweep.variant_names=none --config.sweep.variant_names=r1``.

Run ``<name>`` trains in ``WORKDIR/runs/<name>``, a normal run directory (``gan_jax.sample`` and
``gan_jax.evaluate`` work on it). Runs are trained one after another in this process (the same
jitted code, data and classifier are reused; the per-run overhead is a recompile of ~1 s), seed
outermost, so an interrupted sweep has seed 0 of every variant first. A run is finished when its
``result.json`` (written atomically after its evaluation) exists; rerunning the command skips the
finished runs and resumes an unfinished one from its checkpoint. A run whose losses become
non-finite is recorded as diverged (with the step) and the sweep goes on. SIGTERM or SIGINT
checkpoints the run in training and stops the sweep (exit status 0); rerunning continues it. A
failed write (disk full, ...) stops the sweep with exit status 1; a second sweep on a workdir
that a live one holds is refused (exit 2).

WORKDIR then receives ``results.csv`` and ``results.md`` (one row per run, and mean ± sample std
over seeds per variant), ``curves.png`` (training metrics over steps, mean over seeds with a
min–max band), ``grad_norms.png`` (G's gradient norms on a log axis) and ``samples.png`` (final
samples of each variant's first seed).
"""


from __future__ import annotations

import os
import sys
import time

from absl import app, flags
from ml_collections import config_flags

from gan_jax import cli
from gan_jax.errors import ConfigError
from gan_jax.sweeps import report, runner
from gan_jax.training import preemption
from gan_jax.training import workdir as workdir_lib

FLAGS = flags.FLAGS
COMPILE_CACHE_DIR = "compile_cache"

def main(argv):
  cli.check_run_flags(argv, FLAGS, config_example="experiments/ablation_losses.py",
                      workdir_example="runs/ablation")
  t0 = time.perf_counter()
  enable_compile_cache(os.path.join(FLAGS.workdir, COMPILE_CACHE_DIR))
  with workdir_lib.WorkdirLock(FLAGS.workdir) as lock:  # taken by run_sweep, released here
    try:
      if FLAGS.takeover_lock:
        workdir_lib.take_over(FLAGS.workdir)
      results = runner.run_sweep(FLAGS.config, FLAGS.workdir, lock=lock)
    except ConfigError as e:
      cli.fail(str(e))
    except preemption.Preempted as e:
      print(f"{e.run_tag}: {e}; the sweep continues from there", flush=True)
      return
    except workdir_lib.WriteError as e:
      cli.fail(f"{e.run_tag}: {e}", status=1)
    command = "python -m gan_jax.ablate " + " ".join(
        a for a in _original_argv() if a.startswith("--"))
    for path in report.write_report(results, FLAGS.workdir, command=command):
      print(f"wrote {path}", flush=True)
  counts = {s: sum(r["status"] == s for r in results) for s in ("ok", "diverged", "failed")}
  print(f"sweep of {len(results)} runs: {counts['ok']} ok, {counts['diverged']} diverged, "
        f"{counts['failed']} failed; {time.perf_counter() - t0:.1f} s", flush=True)
  if counts["failed"]:
    raise SystemExit(1)


def enable_compile_cache(directory: str) -> None:
  """JAX's persistent compilation cache in ``directory`` (unless one is configured already):
  runs that differ only in seed compile the same programs, so all but the first load them."""
  import jax

  if jax.config.jax_compilation_cache_dir:
    return
  jax.config.update("jax_compilation_cache_dir", directory)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def _original_argv() -> list[str]:
  return sys.argv[1:]


flags.DEFINE_string("workdir", None, "Directory of the sweep: runs/<name>/ plus tables and plots.")
flags.DEFINE_bool("takeover_lock", False, "Take over the workdir's lock even if its holder "
                  "looks alive (a run on another host that is known to be gone).")
config_flags.DEFINE_config_file(
    "config", None, "An experiments/ablation_*.py file (base run config + sweep); fields can "
    "be overridden with --config.base.x.y=value or --config.sweep.axes.x=value.",
    lock_config=True)

if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
