"""Mutation check: every deliberate breakage of gan_jax below must fail at least one test.

  python benchmarks/mutation_check.py [--only NAME ...] [--out FILE.md]

Each mutation is a text patch (``old`` must occur exactly once in ``path``) applied to a fresh
copy of gan_jax/, tests/, experiments/ and pyproject.toml in a temporary directory; pytest then
runs the tests written against that behaviour in the copy (whose gan_jax comes first on
sys.path; the subprocess tests start from the copy too), and the failed tests are what caught
it. The unpatched copy runs every listed test first: a failure there voids the table.
Not part of the pytest run: it takes ~1-2 min per mutation on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COPIED = ("gan_jax", "tests", "experiments", "pyproject.toml")


@dataclasses.dataclass(frozen=True)
class Mutation:
  name: str
  path: str
  old: str
  new: str
  tests: tuple[str, ...]
  what: str


def _behaviour(name: str) -> str:
  return f"tests/games/test_training_behaviour.py::{name}"


DIRECTION = _behaviour("test_one_update_lowers_the_players_loss")
RING = _behaviour("test_a_short_ring_run_with_the_shipped_recipe_moves_samples_to_the_modes")
STEPS = "tests/games/test_steps.py"
EMA = f"{STEPS}::test_g_step_updates_the_ema_with_the_warmed_up_decay"
EMA_SKIP = f"{STEPS}::test_a_skipped_nonfinite_g_update_leaves_g_and_its_ema_untouched"
SN_U = f"{STEPS}::test_spectral_norm_u_advances_by_one_power_iteration_per_d_step"
SN_PROJ = _behaviour("test_spectral_norm_normalises_the_projection_embedding")
LABELS = _behaviour("test_g_and_d_outputs_depend_on_the_label")
SAMPLES = _behaviour("test_samples_have_label_i_mod_k_and_come_from_the_ema_generator")
LOGIT_GRAD = _behaviour("test_g_logit_grad_is_sigma_for_minimax_and_one_minus_sigma_for_ns")
G_GRAD = "tests/games/test_steps.py::test_g_step_gradient_is_the_gradient_of_the_composition"
REG = "tests/games/test_regularisers.py"
R1 = f"{REG}::test_r1_is_the_squared_gradient_norm_at_the_real_points"
GP = f"{REG}::test_gradient_penalty_is_taken_at_the_interpolates"
GP_LABELS = f"{REG}::test_gradient_penalty_and_r1_use_the_real_labels"
SMOOTHING = f"{REG}::test_label_smoothing_sets_real_target_to_one_minus_eps"
ORACLE = ("tests/evaluation/test_evaluation.py::"
          "test_image_metrics_of_an_oracle_conditional_generator")
SAMPLE_CLI = "tests/test_train.py::test_sample_cli"
RESUME = "tests/test_train.py::test_resume_with_batchnorm_and_spectral_norm_state_is_bitwise"

MUTATIONS = (
    Mutation("g_gradient_negated", "gan_jax/games/gan_steps.py",
             "(grads,) = generated.pullback(fake_grads)",
             "(grads,) = generated.pullback(-fake_grads)",
             (G_GRAD, DIRECTION, RING), "G's gradient negated"),
    Mutation("d_halves_swapped", "gan_jax/games/gan_steps.py",
             "real_out, fake_out = out[:local], out[local:]",
             "fake_out, real_out = out[:local], out[local:]",
             (SMOOTHING, R1, DIRECTION), "real and fake halves swapped in d_step"),
    Mutation("ema_decay_swapped", "gan_jax/games/updates.py",
             "decay * e + (1.0 - decay) * p", "(1.0 - decay) * e + decay * p",
             (EMA,), "EMA decay swapped with 1 - decay"),
    Mutation("label_smoothing_on_fakes", "gan_jax/losses.py",
             "return jnp.mean(self.real_term(real, label_smoothing)) + "
             "jnp.mean(self.fake_term(fake))",
             "return jnp.mean(self.real_term(real, 0.0)) + jnp.mean("
             "(1.0 - label_smoothing) * self.fake_term(fake) "
             "+ label_smoothing * self.fake_term(-fake))",
             (SMOOTHING, "tests/test_losses.py"),
             "label smoothing applied to the fakes (target ε)"),
    Mutation("gp_on_reals", "gan_jax/games/gan_steps.py",
             "gp = losses.gradient_penalty(critic, real_in, fake_in, alpha=alpha)",
             "gp = losses.gradient_penalty(critic, real_in, real_in, alpha=alpha)",
             (GP, GP_LABELS), "GP on the real points instead of interpolates"),
    Mutation("sample_labels_not_i_mod_k", "gan_jax/evaluation/sampling.py",
             "labels = jnp.arange(num) % num_classes if num_classes else None",
             "labels = (jnp.arange(num) + 1) % num_classes if num_classes else None",
             (SAMPLES, ORACLE), "sample labels (i + 1) % K, not i % K"),
    Mutation("batch_labels_shuffled", "gan_jax/data/sampler.py",
             'out["y"] = dataset.train_y[idx]', 'out["y"] = dataset.train_y[np.roll(idx, 1, 0)]',
             ("tests/data/test_data.py",),
             "batch labels shifted by one example against the images"),
    Mutation("knn_self_not_excluded", "gan_jax/evaluation/metrics.py",
             "radii[rows] = np.partition(d, k, axis=1)[:, k]",
             "radii[rows] = np.partition(d, k - 1, axis=1)[:, k - 1]",
             ("tests/evaluation/test_metrics.py",), "k-NN radius counts the point itself"),
    # Beyond the list: one breakage per further behaviour test.
    Mutation("knn_chunks_misread", "gan_jax/evaluation/metrics.py",
             "a_rows = a[rows]", "a_rows = a[:rows.stop - rows.start]",
             ("tests/evaluation/test_metrics.py",),
             "every distance block reads the first rows of a"),
    Mutation("r1_on_fakes", "gan_jax/games/gan_steps.py",
             "critic(_diff_augment(key, cfg, x)[0]), real_in)",
             "critic(_diff_augment(key, cfg, x)[0]), fake_in)",
             (R1, GP_LABELS), "R1 on the fakes"),
    Mutation("gp_with_fake_labels", "gan_jax/games/gan_steps.py",
             "state.d_batch_stats, x, y_real,", "state.d_batch_stats, x, y_fake,",
             (GP_LABELS,), "GP and R1 critic sees the fakes' labels"),
    Mutation("ema_not_skipped", "gan_jax/games/updates.py",
             "new = keep_if(is_finite, new, old).replace(",
             "new = keep_if(is_finite, new, old).replace(ema_g_params=new.ema_g_params, ",
             (EMA_SKIP,), "a skipped non-finite update still moves the EMA"),
    Mutation("sn_u_advanced_twice", "gan_jax/games/gan_steps.py",
             "out, d_batch_stats = _discriminate(\n"
             "          discriminator, d_params, state.d_batch_stats, both_x, both_y, "
             "update_stats=True)",
             "_, twice = _discriminate(\n"
             "          discriminator, d_params, state.d_batch_stats, both_x, both_y, "
             "update_stats=True)\n"
             "      out, d_batch_stats = _discriminate(\n"
             "          discriminator, d_params, twice, both_x, both_y, update_stats=True)",
             (SN_U,), "spectral-norm u advances twice per D step"),
    Mutation("projection_embedding_not_sn", "gan_jax/models/common.py",
             "  if spectral_norm:\n    # Normalise the embedding table",
             "  if False:\n    # Normalise the embedding table",
             (SN_PROJ, SN_U), "projection embedding not spectrally normalised"),
    Mutation("g_ignores_label", "gan_jax/models/common.py",
             'emb = nn.Embed(num_classes, embed_dim, name="label_embed")(labels)',
             'emb = nn.Embed(num_classes, embed_dim, name="label_embed")(0 * labels)',
             (LABELS,), "G's label embedding ignores the label"),
    Mutation("logit_grad_always_sigma", "gan_jax/games/gan_steps.py",
             "logit_grad = jax.grad(lambda a: obj.g_loss(a) * a.shape[0])(fake_out)",
             "logit_grad = jax.nn.sigmoid(fake_out)",
             (LOGIT_GRAD,), "g_logit_grad logged as σ(a) for every objective"),
    Mutation("eval_labels_misaligned", "gan_jax/evaluation/evaluator.py",
             'out["conditional_accuracy"] = metrics.conditional_accuracy(pred, labels)',
             'out["conditional_accuracy"] = metrics.conditional_accuracy(pred, np.roll(labels, 1))',
             (ORACLE,), "conditional accuracy scored against the neighbour's label"),
    Mutation("samples_from_raw_g", "gan_jax/evaluation/sampling.py",
             "  use_ema = c.ema_decay > 0\n", "  use_ema = False\n",
             (SAMPLES, SAMPLE_CLI), "samples from the raw G although the run keeps an EMA"),
    Mutation("d_spectral_state_reset_on_resume", "gan_jax/training/loop.py",
             "      state, start_step = restored\n",
             "      state, start_step = restored\n"
             "      state = state.replace(d_batch_stats=init_state.d_batch_stats)\n",
             (RESUME,), "resume drops D's spectral-norm vectors"),
)

# ---- Issue 28: the five silent bugs a mutation run let through, and breakages of its fixes ----
PR = ("tests/evaluation/test_evaluation.py::"
      "test_precision_and_recall_of_a_generator_collapsed_onto_one_real_image")
EMA_BN = ("tests/games/test_steps.py::"
          "test_the_ema_of_gs_batchnorm_statistics_moves_with_the_g_update")
D_SCHEDULE = "tests/games/test_steps.py::test_ds_linear_learning_rate_schedule_counts_d_updates"
IS_GEN = ("tests/evaluation/test_inception.py::"
          "test_inception_score_is_that_of_the_generated_sets_logits")
CBN = ("tests/models/test_cifar_models.py::"
       "test_the_conditional_generators_batchnorm_follows_each_examples_label")
PRE = "tests/training/test_preemption.py"
TAKERS = f"{PRE}::test_exactly_one_of_concurrent_takers_of_a_stale_lock_wins"
OTHER_HOST = f"{PRE}::test_a_fresh_lock_of_another_host_holds_and_a_stopped_heartbeat_does_not"
HEARTBEAT = f"{PRE}::test_the_holder_refreshes_the_lock_mtime_while_it_runs"
TAKEOVER_FLAG = f"{PRE}::test_takeover_lock_flag_takes_a_lock_that_looks_alive"
EXIT_CODE = f"{PRE}::test_sigterm_exits_with_train_preempted_exit_code"
BN_PENALTY = f"{REG}::test_gradient_penalty_and_r1_of_a_batchnorm_d_use_batch_statistics"
R1_DIFFAUG = f"{REG}::test_r1_with_diffaugment_is_taken_through_the_augmentation"
EMA_WARMUP = ("tests/games/test_steps.py::"
              "test_ema_warmup_none_is_studiogans_constant_decay_from_the_start_step")
EMA_G_STEP = "tests/games/test_steps.py::test_g_step_updates_the_ema_with_the_warmed_up_decay"
CIFAR_EMA = "tests/games/test_steps.py::test_the_cifar_recipes_use_studiogans_ema_schedule"
AC_HEAD = ("tests/games/test_ac.py::"
           "test_the_ac_head_is_bias_free_with_orthogonal_init_as_studiogans")
DIAG = "tests/evaluation/test_diagnostics.py"
OSC_FIRES = f"{DIAG}::test_oscillation_flag_fires_on_the_dirac_gan"
OSC_QUIET = f"{DIAG}::test_oscillation_flag_stays_quiet_on_noise_and_on_a_converging_game"
CYCLE = f"{DIAG}::test_cycle_share_of_a_cycle_noise_and_drift"

MUTATIONS += (
    Mutation("precision_recall_swapped", "gan_jax/evaluation/evaluator.py",
             "out.update(metrics.precision_recall(f_real, f_fake))",
             "out.update(metrics.precision_recall(f_fake, f_real))",
             (PR,), "evaluate reports precision as recall and recall as precision"),
    Mutation("ema_bn_stats_frozen", "gan_jax/games/gan_steps.py",
             "ema_g_batch_stats=updates.ema(state.ema_g_batch_stats, generated.g_batch_stats, "
             "decay))",
             "ema_g_batch_stats=state.ema_g_batch_stats)",
             (EMA_BN,), "the EMA of G's BatchNorm statistics never moves"),
    Mutation("d_schedule_counts_train_steps", "gan_jax/games/gan_state.py",
             "num_updates=num_steps * n_critic))", "num_updates=num_steps))",
             (D_SCHEDULE,), "D's linear lr schedule counts train steps, not D updates"),
    Mutation("is_of_reference_logits", "gan_jax/evaluation/inception_metrics.py",
             "probs = special.softmax(np.asarray(gen.logits, np.float64), axis=1)",
             "probs = special.softmax(np.asarray(ref.logits, np.float64), axis=1)",
             (IS_GEN,), "IS from the reference set's logits"),
    Mutation("resnet_cbn_class_0", "gan_jax/models/resnet32.py",
             "one_hot = jax.nn.one_hot(labels, self.num_classes)",
             "one_hot = jax.nn.one_hot(0 * labels, self.num_classes)",
             (CBN,), "the conditional ResNet G's BatchNorm sees class 0 whatever the label"),
    Mutation("biggan_cbn_class_0", "gan_jax/models/resnet32.py",
             'name="shared")(labels)', 'name="shared")(0 * labels)',
             (CBN,), "BigGAN's G conditions its BatchNorm on class 0 whatever the label"),
    Mutation("lock_takeover_unchecked", "gan_jax/training/workdir.py",
             "if holder is None or (judged is not None and holder != judged):",
             "if holder is None:",
             (TAKERS,), "a taker sets aside whatever lock is there (not the holder it judged)"),
    Mutation("lock_takeover_unguarded", "gan_jax/training/workdir.py",
             "    fcntl.flock(fd, fcntl.LOCK_EX)\n", "",
             (TAKERS,), "takers re-read and set aside without the flock guard"),
    Mutation("lock_heartbeat_age_ignored", "gan_jax/training/workdir.py",
             "return not (stale_after_s > 0 and age_s is not None and age_s > stale_after_s)",
             "return True",
             (TAKERS, OTHER_HOST), "another host's lock is never stale, however old"),
    Mutation("lock_heartbeat_never_beats", "gan_jax/training/workdir.py",
             "        os.utime(self.path)", "        pass",
             (HEARTBEAT,), "the holder never refreshes the lock's mtime"),
    Mutation("takeover_lock_flag_ignored", "gan_jax/main.py",
             "      workdir.take_over(FLAGS.workdir)", "      pass",
             (TAKEOVER_FLAG,), "--takeover_lock does nothing"),
    Mutation("preempted_exit_code_ignored", "gan_jax/main.py",
             "      raise SystemExit(code) from None", "      pass",
             (EXIT_CODE,), "a SIGTERM stop exits 0 whatever train.preempted_exit_code"),
    Mutation("penalty_critic_eval_mode", "gan_jax/games/gan_steps.py",
             "update_stats=_has_batch_norm(state.d_batch_stats))[0])[0]",
             "update_stats=False)[0])[0]",
             (BN_PENALTY,), "GP/R1 of a BatchNorm D taken with its running averages"),
    Mutation("r1_not_through_diffaug", "gan_jax/games/gan_steps.py",
             "r1 = losses.r1_penalty(lambda x: critic(_diff_augment(key, cfg, x)[0]), real_in)",
             "r1 = losses.r1_penalty(critic, real_in)",
             (R1_DIFFAUG, R1), "R1 on the un-augmented reals"),
    Mutation("ema_warmup_ignored", "gan_jax/games/updates.py",
             'after = decay if warmup == "none" else jnp.minimum',
             "after = jnp.minimum",
             (EMA_WARMUP, EMA_G_STEP), "ema_warmup='none' still warms up as TF's"),
    Mutation("cifar_recipes_tf_warmup", "gan_jax/configs.py",
             'c.ema_warmup = "none"  # StudioGAN', 'c.ema_warmup = "tf"  # StudioGAN',
             (CIFAR_EMA,), "the CIFAR recipes use TF's EMA warm-up"),
    Mutation("ac_head_lecun_with_bias", "gan_jax/models/common.py",
             'nn.Dense(num_classes, use_bias=False, kernel_init=ORTHOGONAL, name="class_head")',
             'nn.Dense(num_classes, name="class_head")',
             (AC_HEAD,), "AC head with a bias and LeCun init"),
    Mutation("oscillation_flag_threshold_doubled", "gan_jax/evaluation/diagnostics.py",
             "np.median(_trailing(shares, window)) >= share_min",
             "np.median(_trailing(shares, window)) >= 2 * share_min",
             (OSC_FIRES,), "the oscillation flag needs twice the cycle share (never fires)"),
    Mutation("cycle_share_counts_drift", "gan_jax/evaluation/diagnostics.py",
             "return float(np.sum(power[max(k - 1, 2):k + 2]) / total)",
             "return float(np.sum(power[0:k + 2]) / total)",
             (CYCLE, OSC_QUIET), "the cycle share counts slow drift (k = 1, 2) as the cycle"),
)

FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.M)


def _copy(tmp: str) -> str:
  root = os.path.join(tmp, "repo")
  os.makedirs(root)
  for name in COPIED:
    src = os.path.join(REPO, name)
    if os.path.isdir(src):
      shutil.copytree(src, os.path.join(root, name),
                      ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
      shutil.copy(src, root)
  return root


def _patch(root: str, m: Mutation) -> None:
  path = os.path.join(root, m.path)
  with open(path) as f:
    text = f.read()
  if text.count(m.old) != 1:
    raise SystemExit(f"{m.name}: expected one occurrence of the old text in {m.path}, "
                     f"found {text.count(m.old)}")
  with open(path, "w") as f:
    f.write(text.replace(m.old, m.new))


def _pytest(root: str, targets) -> tuple[int, list[str], float]:
  env = dict(os.environ, PYTHONPATH=root, JAX_PLATFORMS="cpu")
  t0 = time.perf_counter()
  proc = subprocess.run(
      [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE", *targets],
      cwd=root, env=env, capture_output=True, text=True)
  return proc.returncode, sorted(set(FAILED.findall(proc.stdout))), time.perf_counter() - t0


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--only", nargs="*", help="mutation names to run (default: all)")
  parser.add_argument("--out", help="also write the table to this markdown file")
  args = parser.parse_args()
  chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
  rows = []
  with tempfile.TemporaryDirectory(prefix="gan_jax_mutants_") as tmp:
    clean = _copy(os.path.join(tmp, "clean"))
    probe = subprocess.run([sys.executable, "-c", "import gan_jax; print(gan_jax.__file__)"],
                           cwd=clean, env=dict(os.environ, PYTHONPATH=clean),
                           capture_output=True, text=True, check=True)
    assert probe.stdout.startswith(clean), probe.stdout  # the copy is what the tests import
    targets = sorted({t for m in chosen for t in m.tests})
    rc, failed, wall = _pytest(clean, targets)
    print(f"unmutated: rc={rc} failed={failed} ({wall:.0f} s)", flush=True)
    if rc != 0:
      raise SystemExit("the unmutated copy fails its tests; fix that first")
    for i, m in enumerate(chosen):
      root = _copy(os.path.join(tmp, f"m{i}"))
      _patch(root, m)
      rc, failed, wall = _pytest(root, m.tests)
      caught = ", ".join(f.split("/")[-1] for f in failed) or "NOT CAUGHT"
      print(f"{m.name}: rc={rc} ({wall:.0f} s): {caught}", flush=True)
      rows.append(f"| {m.what} (`{m.name}`) | {caught} |")
      shutil.rmtree(root)
  table = "\n".join(["| breakage | tests that failed |", "|---|---|", *rows])
  print(table)
  if args.out:
    with open(args.out, "w") as f:
      f.write(table + "\n")


if __name__ == "__main__":
  main()
