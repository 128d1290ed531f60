"""The training loop: ``train_and_evaluate(config, workdir)``.

Everything that can reject the input (config, data, workdir, checkpoints) is checked before the
first byte is written to the workdir. The loop then dispatches jitted steps without waiting for
them: metrics are fetched to the host only every ``train.log_every`` steps (and before samples and
checkpoints), and the input pipeline assembles batches in a background thread.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time

import jax
import numpy as np
from absl import logging

from gan_jax import configs, files, rng
from gan_jax.data import grain_loader, prefetch
from gan_jax.errors import ConfigError, NonFiniteError
from gan_jax.training import checkpointing, experiment, parallel, preemption
from gan_jax.training import workdir as workdir_lib
from gan_jax.training.writers import RunWriter


def check_workdir_config(config, workdir: str) -> None:
  """Refuses a workdir that holds a run of a different config (unless allowed)."""
  path = os.path.join(workdir, experiment.CONFIG_FILE)
  if not os.path.isfile(path) or config.train.allow_config_change:
    return
  with open(path) as f:
    saved = json.load(f)
  diff = configs.differences(saved, experiment.config_to_dict(config))
  if diff:
    shown = ", ".join(f"{k}: {configs.flatten(saved).get(k)!r} -> "
                      f"{configs.flatten(experiment.config_to_dict(config)).get(k)!r}"
                      for k in diff[:4])
    raise ConfigError(
        f"--workdir={workdir!r} holds a run with a different config ({shown}); use another "
        "workdir or pass --config.train.allow_config_change=True")


def first_nonfinite(history: list[dict], game) -> tuple[int, str] | None:
  """(step, quantity) of the first non-finite metric in a window of per-step metrics."""
  names = game.checked_metrics
  for m in history:
    flagged = [k for k in game.nonfinite_metrics if m.get(k, 0)]
    if flagged or not all(math.isfinite(float(m[k])) for k in names if k in m):
      bad = [k for k in names if k in m and not math.isfinite(float(m[k]))]
      if not bad:
        bad = [f"{flagged[0].split('_nonfinite')[0]} gradients"]
      return int(m["step"]), bad[0]
  return None


# Implicit host<->device transfers allowed around each train step; "disallow" (the tests) turns
# any per-step transfer into an error. Metrics are fetched explicitly at logging steps only.
STEP_TRANSFER_GUARD = "allow"


# Per-step metrics that a logged window reports by their last value (running counters) or by
# their sum (per-step event counts: the game's nonfinite_metrics); every other metric is
# averaged over the window.
LAST_IN_WINDOW = ("skipped_updates",)


def _window_means(history: list[dict], summed: tuple[str, ...]) -> dict:
  """One record for a window of per-step metrics: means, except counters and event counts."""
  out = {}
  for k in (k for k in history[-1] if k != "step"):
    values = [float(m[k]) for m in history]
    if k in LAST_IN_WINDOW:
      out[k] = values[-1]
    elif k in summed:
      out[k] = float(np.sum(values))
    else:
      out[k] = float(np.mean(values))
  return out


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains (or resumes) the run described by ``config`` in ``workdir``; returns a summary."""
  par = parallel.DataParallel(config.parallel)
  exp = experiment.build(config, num_devices=par.num_devices)
  check_workdir_config(config, workdir)
  tc = config.train
  if tc.get("eval_features") == "inception" and (tc.eval_every or tc.eval_at_end):
    from gan_jax.evaluation import inception

    inception.resolve_weights(tc.get("inception_weights") or None)  # fail before training
  lock_stale_after_s = tc.get("lock_stale_after_s", workdir_lib.STALE_AFTER_S)
  workdir_lib.check_usable(workdir, stale_after_s=lock_stale_after_s)  # a live run's: refused
  is_chief = jax.process_index() == 0

  ckpt_dir = checkpointing.checkpoint_dir(workdir)
  start_step, state = 0, None
  if checkpointing.has_checkpoints(workdir):
    reader = checkpointing.Checkpointer(workdir, max_to_keep=config.train.keep_checkpoints)
    restored = reader.restore_latest(exp.state_template())
    reader.close()
    if restored is not None:
      state, start_step = restored
      logging.info("resuming from %s at step %d", ckpt_dir, start_step)
      print(f"resuming from step {start_step}", flush=True)
  if state is None:
    state = exp.init_state()

  # ---- From here on the workdir is written (by one run: the lock creates it). ------------
  with contextlib.ExitStack() as stack:
    stack.enter_context(workdir_lib.WorkdirLock(workdir,
                                                stale_after_s=lock_stale_after_s)).acquire()
    if is_chief:
      files.write_text_atomic(os.path.join(workdir, experiment.CONFIG_FILE),
                                    config.to_json(indent=2))
    # grain: its iterator state is checkpointed (translation data has no stream)
    streamed = getattr(exp.dataset, "stream", None) is not None
    ckpt = checkpointing.Checkpointer(workdir, max_to_keep=config.train.keep_checkpoints,
                                      cleanup_tmp=True, with_data_iterator=streamed)
    ckpt.set_aside_steps_after(start_step)  # steps newer than the restored one are unreadable
    writer = RunWriter(workdir, is_chief)
    stack.callback(writer.close)
    history = writer.resume(start_step)
    return _train_loop(exp, par, state, start_step, ckpt, writer, history, stack)


def _host_batches(exp, ckpt, start_step: int, stack):
  """``(batch, data_state)`` of the steps from ``start_step`` on: from grain (data_state: the
  iterator's state after the batch, restored from the checkpoint at ``start_step``) or from the
  in-memory dataset (data_state None)."""
  c = exp.config
  tc = c.train
  if getattr(exp.dataset, "stream", None) is not None:
    iterator = grain_loader.make_iterator(exp.dataset, c, process_index=jax.process_index(),
                                          process_count=jax.process_count())
    stack.callback(iterator.close)
    if start_step:
      ckpt.restore_data_iterator(start_step, iterator)
    return grain_loader.batches_with_state(iterator, tc.num_steps - start_step)
  batch_fn = exp.game.batch_fn(process_index=jax.process_index(),
                               process_count=jax.process_count())
  return ((batch_fn(s), None) for s in range(start_step, tc.num_steps))


def _train_loop(exp, par, state, start_step, ckpt, writer, history: list[dict], stack) -> dict:
  """Trains from ``start_step`` on; ``history``: the logged records of the steps before it;
  ``stack`` (an ExitStack) ends the input thread and the signal handlers however the loop ends.
  Raises preemption.Preempted after a requested stop."""
  c = exp.config
  tc = c.train
  streams = rng.streams(c.seed)  # init was used by exp.init_state; the rest are used here
  game = exp.game
  train_step = par.map_step(game.train_step)
  batches = stack.enter_context(contextlib.closing(prefetch.prefetch(
      (par.put_batch(b), data_state) for b, data_state in _host_batches(exp, ckpt, start_step,
                                                                        stack))))
  stop_requests = stack.enter_context(preemption.StopRequests(ckpt.manager))
  device_state = par.put_state(state)
  history, window, last_good_ckpt = list(history), [], ckpt.latest_step()
  skipped_in_a_row = 0  # train steps in a row that skipped a non-finite update
  t_window, steps_in_window = time.perf_counter(), 0
  step = start_step
  for step in range(start_step, tc.num_steps):
    batch, data_state = next(batches)  # on the devices: the prefetch thread put it there
    with jax.transfer_guard(STEP_TRANSFER_GUARD):
      device_state, metrics = train_step(device_state, batch, streams.train)
    if step == start_step:  # one sync to time the compile, kept out of steps_per_s
      jax.block_until_ready(metrics)
      compile_s = time.perf_counter() - t_window
      print(f"compiled the train step in {compile_s:.1f} s", flush=True)
      t_window = time.perf_counter()
      steps_in_window = -1
    window.append(metrics)
    steps_in_window += 1
    done = step + 1
    stop = done < tc.num_steps and stop_requests.reached(done)  # SIGTERM/SIGINT: save, stop
    due_sample = done % tc.sample_every == 0 or done == tc.num_steps
    due_ckpt = done % tc.checkpoint_every == 0 or done == tc.num_steps or stop
    if not (done % tc.log_every == 0 or due_sample or due_ckpt):
      continue
    # ---- host sync: fetch the window's metrics, stop on non-finite values -----------------
    host = par.fetch(window)
    for i, m in enumerate(host):
      m["step"] = done - len(host) + i + 1
    elapsed = time.perf_counter() - t_window
    bad = first_nonfinite(host, game) if not tc.skip_nonfinite else None
    if bad is not None:
      ckpt.wait()
      raise NonFiniteError(
          f"step {bad[0]}: {bad[1]} is not finite; stopping (last good checkpoint: "
          f"{'none' if last_good_ckpt is None else f'step {last_good_ckpt}'}); lower the "
          "learning rates or set train.skip_nonfinite=True", step=bad[0], quantity=bad[1])
    if tc.skip_nonfinite:
      for m in host:
        skipped = any(m[k] for k in game.nonfinite_metrics)
        skipped_in_a_row = skipped_in_a_row + 1 if skipped else 0
        if skipped_in_a_row >= tc.max_consecutive_skips:
          ckpt.wait()
          raise NonFiniteError(
              f"step {m['step']}: {skipped_in_a_row} train steps in a row skipped a non-finite "
              "update; stopping (last good checkpoint: "
              f"{'none' if last_good_ckpt is None else f'step {last_good_ckpt}'}); lower the "
              "learning rates or raise train.max_consecutive_skips", step=m["step"],
              quantity="skipped updates")
    record = _window_means(host, game.nonfinite_metrics)
    record["steps_per_s"] = steps_in_window / max(elapsed, 1e-9)
    record.update(game.window_diagnostics(host, history + [record]))
    window, steps_in_window = [], 0
    due_eval = bool(tc.eval_every) and done % tc.eval_every == 0 and done != tc.num_steps
    canonical = par.get_state(device_state) if (due_sample or due_ckpt or due_eval) else None
    if due_sample:  # one metrics line per logged step: the picture's scalars join the record
      picture, picture_scalars = game.picture(canonical, streams.sample)
      record.update(picture_scalars)
      writer.picture(done, picture)
    writer.scalars(done, record)
    history.append({"step": done, **record})
    print(f"step {done}/{tc.num_steps} {game.progress(record)} "
          f"{record['steps_per_s']:.1f} steps/s", flush=True)
    if due_eval:
      _evaluate(exp, canonical, done, writer)
    if due_ckpt:
      ckpt.save(done, canonical, data_state)
      last_good_ckpt = done
    t_window = time.perf_counter()
    if stop:
      ckpt.wait()
      ckpt.close()
      raise preemption.Preempted(done, stop_requests.received, ckpt.directory)
  ckpt.wait()
  ckpt.close()
  final_state = par.get_state(device_state) if start_step < tc.num_steps else state
  summary = {"final_step": max(step + 1, start_step)}
  if start_step < tc.num_steps:  # a resumed, already finished run has nothing new to summarise
    summary["diagnostics"] = game.summarize(history)
    if tc.eval_at_end:
      summary["eval"] = _evaluate(exp, final_state, summary["final_step"], writer)
      summary["diagnostics"]["mode_collapse"] = summary["eval"].get("mode_collapse")
    writer.summary(summary)
  return {**summary, "history": history, "state": final_state}


def _evaluate(exp, state, step: int, writer) -> dict:
  tc = exp.config.train
  result = exp.game.evaluate(state, num=tc.eval_num,
                             features=tc.get("eval_features", "classifier"),
                             inception_weights=tc.get("inception_weights") or None)
  writer.scalars(step, {"eval": True, **result}, prefix="eval/")
  print(f"eval step {step}: " + " ".join(
      f"{k}={v:.4g}" for k, v in result.items() if isinstance(v, float)), flush=True)
  return result
