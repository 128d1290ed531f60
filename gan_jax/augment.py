r"""Rare-class data augmentation with a conditional GAN: does adding generated images of a class
that the training set nearly lacks help a classifier recognise it?

  python -m gan_jax.augment --workdir=runs/augment [--rare_classes=0,5,8] [--seeds=0,1,2]

For each rare class r and seed s:
  1. imbalanced data: class r's training images cut to ``--keep_fraction`` (1 %, at least one)
     of them, drawn with seed s; the other classes untouched;
  2. ``imbalanced``: a classifier trained on it; its test accuracy on class r and overall;
     ``oversampled``: the control, trained on it with class r's kept images repeated (drawn
     with replacement) up to the same count as step 3 adds;
  3. a conditional GAN (``--gan_config``, experiments/cgan.py) trained on the same imbalanced
     data (in WORKDIR/gan/rare{r}_seed{s}, resumable), then ``augmented``: the classifier trained
     on the imbalanced data plus the GAN's samples of class r, as many as bring class r to the
     mean count of the other classes;
  4. ``ceiling``: the classifier trained on the untouched data (seed s; once per seed).
Each (r, s) is written to WORKDIR/records/rare{r}_seed{s}.json when done (a rerun skips it);
WORKDIR/augment.md and augment.json then hold the table: rare-class and overall accuracy of the
three settings, mean ± std over seeds, per rare class.

The classifier (``--classifier``): 'cnn', the in-project feature CNN's recipe
(``classifier.train_classifier``, ~3 epochs), or 'mlp', the pixel MLP of ``evaluation.cas``.
"""

from __future__ import annotations

import json
import os
import runpy

import numpy as np
from absl import app, flags

from gan_jax import cli, files
from gan_jax.errors import ConfigError

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Output directory (records, GAN runs, table).")
flags.DEFINE_list("rare_classes", ["0", "5", "8"], "The classes made rare, one at a time.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds of the cut, the GAN and the classifiers.")
flags.DEFINE_float("keep_fraction", 0.01, "Fraction of the rare class's training images kept.")
flags.DEFINE_string("gan_config", "experiments/cgan.py", "The conditional GAN's config file.")
flags.DEFINE_integer("gan_steps", 0, "GAN train steps (0: the config's train.num_steps).")
flags.DEFINE_enum("classifier", "cnn", ["cnn", "mlp"], "The classifier trained and tested.")
flags.DEFINE_integer("classifier_steps", 0, "Classifier train steps (0: the recipe's default).")
flags.DEFINE_string("data", "mnist", "data.name of the dataset (a labelled image dataset).")

SETTINGS = ("imbalanced", "oversampled", "augmented", "ceiling")


def cut_class(train_x, train_y, rare: int, keep_fraction: float, seed: int):
  """The training set with class ``rare`` cut to max(1, round(keep_fraction·n_rare)) images,
  drawn with ``np.random.default_rng([seed, rare])``; the others kept, in their order."""
  idx = np.flatnonzero(train_y == rare)
  keep = max(1, int(round(keep_fraction * len(idx))))
  kept = np.random.default_rng([seed, rare]).choice(idx, keep, replace=False)
  mask = train_y != rare
  mask[kept] = True
  return train_x[mask], train_y[mask]


def balance_count(train_y, rare: int, num_classes: int) -> int:
  """How many images of class ``rare`` to add so that it has the mean count of the others."""
  counts = np.bincount(train_y, minlength=num_classes)
  others = np.delete(counts, rare)
  return max(0, int(round(others.mean())) - int(counts[rare]))


def oversample(train_x, train_y, rare: int, count: int, seed: int):
  """``count`` of class ``rare``'s images in (train_x, train_y), drawn with replacement with
  ``np.random.default_rng([seed, rare, 1])``: the no-generator control for the GAN's samples."""
  idx = np.flatnonzero(train_y == rare)
  return train_x[np.random.default_rng([seed, rare, 1]).choice(idx, count, replace=True)]


def class_accuracies(pred, test_y, num_classes: int) -> tuple[float, np.ndarray]:
  """(overall accuracy, per-class accuracy (K,)) of predictions."""
  per_class = np.array([np.mean(pred[test_y == k] == k) if np.any(test_y == k) else np.nan
                        for k in range(num_classes)])
  return float(np.mean(pred == test_y)), per_class


def train_and_predict(train_x, train_y, dataset, *, kind: str, steps: int, seed: int):
  """Test-set predictions of a classifier of ``kind`` trained on (train_x, train_y)."""
  from gan_jax.data.dataset import Dataset
  from gan_jax.evaluation import cas
  from gan_jax.evaluation import classifier as classifier_lib

  if kind == "mlp":
    return cas.fit_predict(train_x, train_y, dataset.test_x, num_classes=dataset.num_classes,
                           train_steps=steps or cas.CAS_TRAIN_STEPS, seed=seed)
  data = Dataset("augment", train_x, train_y, dataset.test_x, dataset.test_y,
                 num_classes=dataset.num_classes)
  params = classifier_lib.train_classifier(
      data, train_steps=steps or classifier_lib.default_train_steps(len(train_x)), seed=seed,
      log=lambda _: None)
  clf = classifier_lib.FeatureClassifier(params, dataset.num_classes, dataset.example_shape)
  return clf.predict(dataset.test_x)


def _to_uint8(x):
  return np.clip(np.round((np.asarray(x) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def train_gan_and_sample(train_x, train_y, dataset, *, rare: int, count: int, seed: int,
                         workdir: str, config_path: str, steps: int):
  """Trains the conditional GAN of ``config_path`` on (train_x, train_y) in ``workdir``
  (resuming a run there) and returns ``count`` of its samples of class ``rare``."""
  from gan_jax.evaluation import sampling
  from gan_jax.training import experiment, loop

  os.makedirs(workdir, exist_ok=True)
  data_path = os.path.join(workdir, "imbalanced.npz")
  if not os.path.isfile(data_path):
    files.write_atomic(data_path, lambda tmp: files.savez(
        tmp, x_train=_to_uint8(train_x), y_train=train_y.astype(np.int64),
        x_test=_to_uint8(dataset.test_x), y_test=dataset.test_y.astype(np.int64)))
  config = runpy.run_path(config_path)["get_config"]()
  config.conditional = True
  config.seed = seed
  config.data.path = data_path
  config.train.eval_at_end = False  # an evaluation would train a feature classifier for it
  if steps:
    config.train.num_steps = steps
    config.train.checkpoint_every = min(config.train.checkpoint_every, steps)
    config.train.sample_every = min(config.train.sample_every, steps)
    config.train.log_every = min(config.train.log_every, steps)
  loop.train_and_evaluate(config, os.path.join(workdir, "run"))
  exp, state, _ = experiment.load_run(os.path.join(workdir, "run"))
  z, _ = sampling.fixed_latents(seed, max(count, 1), config.model.z_dim, 0)
  labels = np.full((max(count, 1),), rare, np.int32)
  x = sampling.generate(sampling.make_generate_fn(exp.generator),
                        sampling.sampling_variables(exp, state), z, labels)
  return x[:count]


def run_one(dataset, *, rare: int, seed: int, workdir: str, keep_fraction: float,
            gan_config: str, gan_steps: int, classifier: str, classifier_steps: int) -> dict:
  """The record of one (rare class, seed): each setting's rare-class and overall accuracy."""
  k = dataset.num_classes
  x_cut, y_cut = cut_class(dataset.train_x, dataset.train_y, rare, keep_fraction, seed)
  count = balance_count(y_cut, rare, k)
  fake = train_gan_and_sample(x_cut, y_cut, dataset, rare=rare, count=count, seed=seed,
                              workdir=os.path.join(workdir, "gan", f"rare{rare}_seed{seed}"),
                              config_path=gan_config, steps=gan_steps)
  repeats = oversample(x_cut, y_cut, rare, count, seed)
  train_sets = {
      "imbalanced": (x_cut, y_cut),
      "oversampled": (np.concatenate([x_cut, repeats]),
                      np.concatenate([y_cut, np.full(count, rare, y_cut.dtype)])),
      "augmented": (np.concatenate([x_cut, fake]),
                    np.concatenate([y_cut, np.full(len(fake), rare, y_cut.dtype)])),
  }
  record = {"rare": rare, "seed": seed, "rare_train_images": int(np.sum(y_cut == rare)),
            "generated_images": int(len(fake))}
  fit = dict(kind=classifier, steps=classifier_steps, seed=seed)
  accuracies = {name: class_accuracies(np.asarray(train_and_predict(x, y, dataset, **fit)),
                                       dataset.test_y, k)
                for name, (x, y) in train_sets.items()}
  accuracies["ceiling"] = _ceiling(dataset, workdir, **fit)
  for name, (overall, per_class) in accuracies.items():
    record[f"{name}_rare_acc"] = float(per_class[rare])
    record[f"{name}_overall_acc"] = float(overall)
  return record


def _ceiling(dataset, workdir: str, *, kind: str, steps: int, seed: int):
  """(overall, per-class accuracy) of the classifier on the untouched data, computed once per
  seed (every rare class shares it) and kept in WORKDIR/records/ceiling_seed{seed}.json."""
  path = os.path.join(workdir, "records", f"ceiling_seed{seed}.json")
  if os.path.isfile(path):
    with open(path) as f:
      saved = json.load(f)
    return saved["overall"], np.array(saved["per_class"])
  pred = train_and_predict(dataset.train_x, dataset.train_y, dataset, kind=kind, steps=steps,
                           seed=seed)
  overall, per_class = class_accuracies(np.asarray(pred), dataset.test_y, dataset.num_classes)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path + ".tmp", "w") as f:
    json.dump({"overall": overall, "per_class": per_class.tolist()}, f)
  os.replace(path + ".tmp", path)
  return overall, per_class


def table(records: list[dict]) -> str:
  """Markdown: per rare class, mean ± std over seeds of each setting's accuracies."""
  lines = ["| rare class | seeds | " + " | ".join(
      f"{s} rare acc. | {s} overall acc." for s in SETTINGS) + " |",
      "|---|---|" + "---|---|" * len(SETTINGS)]
  for rare in sorted({r["rare"] for r in records}):
    rows = [r for r in records if r["rare"] == rare]
    cells = []
    for s in SETTINGS:
      for kind in ("rare", "overall"):
        v = np.array([r[f"{s}_{kind}_acc"] for r in rows])
        cells.append(f"{v.mean():.4f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.4f}")
    lines.append(f"| {rare} | {len(rows)} | " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def run(workdir: str, *, data: str, rare_classes, seeds, **kwargs) -> list[dict]:
  """Every (rare class, seed) record, computing the missing ones; writes the table."""
  import ml_collections

  from gan_jax.data import sources

  dataset = sources.load_dataset(ml_collections.ConfigDict({"name": data, "path": ""}))
  bad = [r for r in rare_classes if not 0 <= r < dataset.num_classes]
  if bad:
    raise ConfigError(f"--rare_classes={bad} are not classes of {data!r}; valid: 0 to "
                      f"{dataset.num_classes - 1}")
  records = []
  os.makedirs(os.path.join(workdir, "records"), exist_ok=True)
  for seed in seeds:
    for rare in rare_classes:
      path = os.path.join(workdir, "records", f"rare{rare}_seed{seed}.json")
      if os.path.isfile(path):
        with open(path) as f:
          records.append(json.load(f))
        continue
      record = run_one(dataset, rare=rare, seed=seed, workdir=workdir, **kwargs)
      with open(path + ".tmp", "w") as f:
        json.dump(record, f, indent=2)
      os.replace(path + ".tmp", path)
      print(json.dumps(record), flush=True)
      records.append(record)
  with open(os.path.join(workdir, "augment.json"), "w") as f:
    json.dump(records, f, indent=2)
  with open(os.path.join(workdir, "augment.md"), "w") as f:
    f.write(table(records))
  return records


def main(argv):
  if len(argv) > 1:
    cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
  if not FLAGS.workdir:
    cli.fail("--workdir is required, e.g. --workdir=runs/augment")
  try:
    rare_classes = [int(v) for v in FLAGS.rare_classes]
    seeds = [int(v) for v in FLAGS.seeds]
  except ValueError:
    cli.fail("--rare_classes and --seeds take comma-separated integers, e.g. --seeds=0,1,2")
  if not 0 < FLAGS.keep_fraction <= 1:
    cli.fail(f"--keep_fraction={FLAGS.keep_fraction} must lie in (0, 1]")
  try:
    records = run(FLAGS.workdir, data=FLAGS.data, rare_classes=rare_classes, seeds=seeds,
                  keep_fraction=FLAGS.keep_fraction, gan_config=FLAGS.gan_config,
                  gan_steps=FLAGS.gan_steps, classifier=FLAGS.classifier,
                  classifier_steps=FLAGS.classifier_steps)
  except ConfigError as e:
    cli.fail(str(e))
  print(table(records))


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
