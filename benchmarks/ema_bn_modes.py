r"""FD etc. of one run's final checkpoint under each choice of the EMA generator's BN stats.

  python benchmarks/ema_bn_modes.py WORKDIR NUM_SAMPLES
"""
import json
import sys
import time

from gan_jax.evaluation import evaluator as evaluation
from gan_jax.training import experiment

workdir, num = sys.argv[1], int(sys.argv[2])
exp, state, step = experiment.load_run(workdir)
rows = []
for name, fields in (("ema+standing", dict(ema_bn_stats="standing")),
                     ("ema+ema_stats", dict(ema_bn_stats="ema")),
                     ("ema+live", dict(ema_bn_stats="live")),
                     ("raw+running", dict(ema_decay=0.0))):
  exp.config.unlock()
  exp.config.ema_bn_stats, exp.config.ema_decay = "standing", 0.999
  for k, v in fields.items():
    exp.config[k] = v
  t = time.time()
  r = evaluation.evaluate(exp, state, num=num)
  row = {"run": workdir, "step": step, "generator": name, "num": num,
         **{k: r[k] for k in ("fcd", "fcd_floor", "conditional_accuracy", "precision", "recall",
                              "intra_class_fcd")}, "eval_s": round(time.time() - t, 1)}
  print(json.dumps(row), flush=True)
