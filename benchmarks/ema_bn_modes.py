r"""FD etc. of a run's checkpoints under each choice of the EMA generator's BN statistics.

  python benchmarks/ema_bn_modes.py WORKDIR NUM_SAMPLES [STEP ...] [--modes=ema+standing,raw]

Without STEP, the latest checkpoint. The modes: ema+standing (the default sampler), ema+ema_stats,
ema+live (the EMA weights with the live G's running statistics) and raw (G's own weights and
running statistics). One JSON line per (step, mode).
"""
import json
import sys
import time

from gan_jax.evaluation import evaluator
from gan_jax.training import checkpointing, experiment

MODES = {"ema+standing": dict(ema_bn_stats="standing"),
         "ema+ema_stats": dict(ema_bn_stats="ema"),
         "ema+live": dict(ema_bn_stats="live"),
         "raw": dict(ema_decay=0.0)}

args = [a for a in sys.argv[1:] if not a.startswith("--modes=")]
modes = [a.split("=", 1)[1].split(",") for a in sys.argv[1:] if a.startswith("--modes=")]
modes = modes[0] if modes else list(MODES)
workdir, num, steps = args[0], int(args[1]), [int(s) for s in args[2:]]
exp, state, latest = experiment.load_run(workdir)
decay, bn_stats = exp.config.ema_decay, exp.config.ema_bn_stats
ckpt = checkpointing.Checkpointer(workdir, max_to_keep=exp.config.train.keep_checkpoints)
for step in steps or [latest]:
  step_state = state if step == latest else ckpt.restore(step, exp.init_state())
  for name in modes:
    exp.config.unlock()
    exp.config.ema_bn_stats, exp.config.ema_decay = bn_stats, decay
    for k, v in MODES[name].items():
      exp.config[k] = v
    t = time.time()
    r = evaluator.evaluate(exp, step_state, num=num)
    row = {"run": workdir, "step": step, "generator": name, "num": num,
           **{k: r[k] for k in ("fcd", "fcd_floor", "conditional_accuracy", "precision", "recall",
                                "intra_class_fcd")}, "eval_s": round(time.time() - t, 1)}
    print(json.dumps(row), flush=True)
ckpt.close()
