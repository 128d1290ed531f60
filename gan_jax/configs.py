"""Shared config defaults and the one place where a config is checked before a run starts.

Experiment files in ``experiments/`` start from ``base_config()`` and change what they need.
"""

from __future__ import annotations

import ml_collections

from gan_jax.errors import ConfigError

PARALLEL_MODES = ("pmap", "shard_map")
EVAL_FEATURES = ("classifier", "inception")  # gan_jax.evaluation.evaluator.FEATURES


def base_config() -> ml_collections.ConfigDict:
  """Defaults for every field a run reads. Experiments override a few of them."""
  c = ml_collections.ConfigDict()
  c.seed = 0  # Seeds parameters, noise (fold_in(key, step)) and the data order.
  # The game the trainer plays (gan_jax.games): 'gan' (G(z, c) against D(x, c)) | 'pix2pix' |
  # 'cyclegan'.
  c.game = "gan"
  c.objective = "non_saturating"  # A gan_jax.losses name.
  c.conditional = False  # G(z, c) and D(x, c); needs a labelled dataset.
  c.gp_weight = 10.0  # λ of the WGAN-GP gradient penalty (used by objective='wgan_gp').
  c.ema_decay = 0.999  # EMA of G's params used for samples and evaluation; 0 turns it off.
  # Train step from which G's EMA averages (before it, the EMA copies G; BigGAN uses 1000). The
  # decay warms up from there: min(ema_decay, (1 + t)/(10 + t)), t = step - ema_start_step.
  c.ema_start_step = 0
  # BatchNorm statistics of the EMA generator: 'standing' (recomputed for the EMA weights when
  # sampling) | 'ema' (EMA of G's running statistics) | 'live' (G's own; BUILD_NOTES.md).
  c.ema_bn_stats = "standing"
  c.parallel = "pmap"  # How the per-device step is mapped over devices: 'pmap' | 'shard_map'.

  c.data = ml_collections.ConfigDict()
  c.data.name = "mnist"  # mnist | digits | mog_ring | mog_grid | npz | any TFDS image dataset.
  c.data.path = ""  # A Keras-layout .npz (x_train, y_train, x_test, y_test); overrides name.
  c.data.image_size = 28  # Size 'digits' is resized to.
  c.data.tfds_data_dir = ""  # TFDS data_dir for TFDS datasets ('' = TFDS default).
  c.data.tfds_split = "train"  # TFDS split used for training.
  # Flip each training image left-right with probability 1/2, drawn from (seed, step): images only.
  c.data.random_flip = False
  # Input pipeline: 'memory' (all in host memory) | 'grain' (streamed: TFDS or .array_record) |
  # 'auto' (grain above grain_loader.AUTO_GRAIN_BYTES of float32 images; gan_jax.data.grain_loader).
  c.data.loader = "auto"
  c.data.grain_workers = 2  # grain worker processes that read, decode and flip (0: in-process).
  c.data.grain_worker_buffer_size = 2  # Batches each grain worker prepares ahead.
  c.data.grain_reference_examples = 10_000  # Training examples a grain run keeps in memory.

  c.model = ml_collections.ConfigDict()
  c.model.name = "dcgan28"  # mlp | dcgan28 | dcgan32 | dcgan_cifar | resnet32 | biggan32.
  c.model.z_dim = 100  # Latent size.
  c.model.width = 0  # Hidden width of the MLP (0 = model default).
  c.model.depth = 0  # Hidden layers of the MLP (0 = model default).
  c.model.spectral_norm = False  # Spectral normalisation in every layer of D.
  # Spectral normalisation in G's layers (dcgan_cifar, resnet32, biggan32).
  c.model.g_spectral_norm = False
  # D's normalisation (dcgan_cifar, resnet32, biggan32): 'auto' (StudioGAN: BatchNorm unless
  # spectral_norm) | 'batch' | 'layer' (per example: for gradient penalties) | 'none'.
  c.model.d_norm = "auto"
  # D's conditioning: 'projection' | 'concat' | 'ac' (AC-GAN: D classifies, weight reg.ac_weight)
  # | 'none' (D ignores labels).
  c.model.conditioning = "projection"
  c.model.embed_dim = 128  # Size of G's label embedding (biggan32: the shared class embedding).
  # Convolutions: 'fast' (custom-gradient, fast on CPU) | 'stock' | 'auto' (fast on CPU only).
  c.model.conv_impl = "fast"

  c.train = ml_collections.ConfigDict()
  c.train.batch_size = 64  # Global batch, split over all devices.
  c.train.num_steps = 3000  # Train steps; each is n_critic D updates then one G update.
  c.train.n_critic = 1  # D updates per G update.
  # Run the n_critic D updates as one lax.scan: one D update to compile instead of n_critic, the
  # same updates. On XLA:CPU the rolled loop runs ~5x slower (BUILD_NOTES.md, issue 14), so off.
  c.train.scan_critic = False
  c.train.log_every = 100  # Steps between metric fetches (the only host syncs of the loop).
  c.train.sample_every = 1000  # Steps between sample grids (PNG and TensorBoard).
  c.train.checkpoint_every = 1000  # Steps between checkpoints (and one at the end).
  c.train.keep_checkpoints = 3  # Checkpoints kept on disk.
  c.train.eval_every = 0  # Steps between evaluations with gan_jax.evaluate (0 = only at the end).
  c.train.eval_num = 2000  # Samples per evaluation.
  c.train.eval_at_end = True  # Evaluate the final state (evaluation.evaluator) when training ends.
  # Feature space of those evaluations: 'classifier' (fcd) | 'inception' (fid, kid, is; needs
  # the FID Inception weights: train.inception_weights, else evaluation.inception's lookup).
  c.train.eval_features = "classifier"
  c.train.inception_weights = ""
  c.train.skip_nonfinite = False  # Skip (and count) non-finite updates instead of stopping.
  # With skip_nonfinite: stop (one line, exit 1) once this many train steps in a row have each
  # skipped a non-finite update.
  c.train.max_consecutive_skips = 100
  # The G update reuses the last D update's z (as the PyTorch DCGAN loop reuses its fakes), so
  # G's forward pass is computed once per step; False draws fresh z for G.
  c.train.g_reuses_d_latents = False
  c.train.allow_config_change = False  # Allow resuming a workdir whose run had another config.

  c.optim = ml_collections.ConfigDict()
  c.optim.g_lr = 2e-4  # Adam learning rate of G.
  c.optim.d_lr = 2e-4  # Adam learning rate of D.
  c.optim.b1 = 0.5  # Adam β1 (both).
  c.optim.b2 = 0.999  # Adam β2 (both).
  # Learning rates: 'constant' | 'linear' (decay to 0 at train.num_steps; a run resumed with
  # another num_steps continues on the new schedule).
  c.optim.schedule = "constant"

  c.reg = ml_collections.ConfigDict()
  c.reg.instance_noise_std = 0.0  # Std of Gaussian noise added to D's real and fake inputs.
  c.reg.instance_noise_anneal_steps = 0  # Steps over which that std falls linearly to 0.
  c.reg.weight_clip = 0.0  # Clip D's params to ±c after each D update (original WGAN); 0 = off.
  c.reg.r1_weight = 0.0  # γ of the R1 penalty γ/2·E‖∇D(x)‖² on real data; 0 = off.
  c.reg.label_smoothing = 0.0  # One-sided label smoothing ε: real target 1-ε.
  # DiffAugment policy applied to every image D sees (gan_jax.ops.augment), e.g.
  # 'color,translation,cutout'; '' = off.
  c.reg.diffaug = ""
  # AC-GAN's class cross-entropy weight (model.conditioning='ac'): D adds w·(CE on real + CE on
  # fake labels), G adds w·CE on the labels it was asked for.
  c.reg.ac_weight = 1.0

  # The image-to-image games (game='pix2pix' | 'cyclegan'; gan_jax.games.translation), on the
  # data of gan_jax.data.translation (data.name 'mnist_sr' | 'mnist_edges' | 'digits2mnist').
  c.translation = ml_collections.ConfigDict()
  c.translation.lambda_l1 = 100.0  # Pix2Pix: G's loss is the cGAN term + λ·E|G(x) - y|.
  c.translation.lambda_cycle = 10.0  # CycleGAN: λ of each direction's cycle term E|F(G(x)) - x|.
  # CycleGAN: the identity term E|G(y) - y| weighs lambda_identity·lambda_cycle (0 = off).
  c.translation.lambda_identity = 0.5
  c.translation.pool_size = 50  # CycleGAN: the history buffer of fakes D sees (0 = none).
  # Generator: 'unet' | 'resnet' | '' (the game's: pix2pix unet, cyclegan resnet).
  c.translation.generator = ""
  c.translation.norm = ""  # 'batch' | 'instance' | '' (the game's: pix2pix batch, cyclegan IN).
  c.translation.ngf = 32  # Width of G's first layer (U-Net: ngf·(1, 2, 4, 4, ...) per level).
  c.translation.ndf = 32  # Width of the PatchGAN's first layer.
  c.translation.d_layers = 1  # PatchGAN's n_layers: 1 -> 16x16 patches (models.translation).
  c.translation.unet_depth = 4  # U-Net levels (28x28 inputs are padded to 32x32).
  c.translation.dropout_blocks = 1  # U-Net decoder blocks with Dropout(0.5), nearest the middle.
  c.translation.resnet_blocks = 3  # Residual blocks of the ResNet generator (CycleGAN: 6).
  return c


# Fields that may differ between the run in a workdir and the config that resumes it.
SCHEDULE_FIELDS = (
    "train.num_steps", "train.log_every", "train.sample_every", "train.checkpoint_every",
    "train.keep_checkpoints", "train.eval_every", "train.eval_num", "train.allow_config_change",
    "train.skip_nonfinite", "train.max_consecutive_skips", "train.eval_at_end",
    "train.eval_features", "train.inception_weights")


def validate(config, *, num_devices: int) -> None:
  """Raises ConfigError (one line naming the field and the valid choices) for a bad config."""
  from gan_jax import games, losses, models
  from gan_jax.data import grain_loader
  from gan_jax.evaluation import sampling
  from gan_jax.ops import augment, conv
  from gan_jax.training import state

  games.get(config.get("game", "gan"))
  if config.objective not in losses.NAMES:
    raise ConfigError(
        f"objective={config.objective!r} is unknown; valid: {', '.join(losses.NAMES)}")
  if config.model.name not in models.NAMES:
    raise ConfigError(
        f"model.name={config.model.name!r} is unknown; valid: {', '.join(models.NAMES)}")
  if config.model.conditioning not in models.CONDITIONINGS:
    raise ConfigError(f"model.conditioning={config.model.conditioning!r} is unknown; "
                      f"valid: {', '.join(models.CONDITIONINGS)}")
  if config.model.get("d_norm", "auto") not in models.D_NORMS:
    raise ConfigError(f"model.d_norm={config.model.d_norm!r} is unknown; "
                      f"valid: {', '.join(models.D_NORMS)}")
  augment.parse_policy(config.reg.get("diffaug", ""))
  grain_loader.validate_config(config.data)
  if config.model.get("conv_impl", "fast") not in conv.CONV_IMPLS:
    raise ConfigError(f"model.conv_impl={config.model.conv_impl!r} is unknown; "
                      f"valid: {', '.join(conv.CONV_IMPLS)}")
  if config.ema_bn_stats not in sampling.EMA_BN_STATS:
    raise ConfigError(f"ema_bn_stats={config.ema_bn_stats!r} is unknown; "
                      f"valid: {', '.join(sampling.EMA_BN_STATS)}")
  if config.optim.schedule not in state.LR_SCHEDULES:
    raise ConfigError(f"optim.schedule={config.optim.schedule!r} is unknown; "
                      f"valid: {', '.join(state.LR_SCHEDULES)}")
  eval_features = config.train.get("eval_features", "classifier")
  if eval_features not in EVAL_FEATURES:
    raise ConfigError(f"train.eval_features={eval_features!r} is unknown; "
                      f"valid: {', '.join(EVAL_FEATURES)}")
  if config.parallel not in PARALLEL_MODES:
    raise ConfigError(
        f"parallel={config.parallel!r} is unknown; valid: {', '.join(PARALLEL_MODES)}")
  for field in ("train.batch_size", "train.num_steps", "train.n_critic", "train.log_every",
                "train.sample_every", "train.checkpoint_every", "train.keep_checkpoints",
                "train.max_consecutive_skips", "model.z_dim"):
    value = _get(config, field)
    if not isinstance(value, int) or value <= 0:
      raise ConfigError(f"{field}={value!r} must be a positive integer")
  for field in ("ema_start_step",):
    value = _get(config, field)
    if not isinstance(value, int) or value < 0:
      raise ConfigError(f"{field}={value!r} must be a non-negative integer")
  for field in ("optim.g_lr", "optim.d_lr"):
    value = _get(config, field)
    if not value > 0:
      raise ConfigError(f"{field}={value!r} must be a positive number")
  for field in ("optim.b1", "optim.b2", "ema_decay", "reg.label_smoothing"):
    value = _get(config, field)
    if not 0.0 <= value < 1.0:
      raise ConfigError(f"{field}={value!r} must lie in [0, 1)")
  for field in ("gp_weight", "reg.instance_noise_std", "reg.instance_noise_anneal_steps",
                "reg.weight_clip", "reg.r1_weight", "reg.ac_weight", "train.eval_every"):
    if _get(config, field) < 0:
      raise ConfigError(f"{field}={_get(config, field)!r} must be non-negative")
  if config.reg.label_smoothing and config.objective not in ("minimax", "non_saturating",
                                                              "lsgan"):
    raise ConfigError(
        f"reg.label_smoothing={config.reg.label_smoothing} is undefined for objective="
        f"{config.objective!r}; valid objectives: minimax, non_saturating, lsgan")
  if (config.objective == "wgan" and not config.reg.weight_clip > 0
      and not config.model.spectral_norm):
    raise ConfigError(
        "objective='wgan' needs a Lipschitz constraint on the critic, else it is unbounded: set "
        "reg.weight_clip > 0 (e.g. 0.01) or model.spectral_norm=True, or use objective='wgan_gp'")
  if config.train.batch_size % num_devices:
    raise ConfigError(
        f"train.batch_size={config.train.batch_size} is not divisible by the {num_devices} "
        f"devices; choose a multiple of {num_devices}")


def validate_against_data(config, dataset) -> None:
  """Checks the parts of a config that depend on the loaded dataset."""
  if config.conditional and not dataset.has_labels:
    raise ConfigError(
        f"conditional=True but data.name={dataset.name!r} has no labels; set conditional=False "
        "or use a labelled dataset (mnist, digits, an npz with y_train)")
  if config.data.get("random_flip", False) and not dataset.is_image:
    raise ConfigError(f"data.random_flip=True needs an image dataset, not {dataset.name!r}; "
                      "set data.random_flip=False")
  if config.reg.get("diffaug", "") and not dataset.is_image:
    raise ConfigError(f"reg.diffaug={config.reg.diffaug!r} needs an image dataset, not "
                      f"{dataset.name!r}; set reg.diffaug=''")
  if config.train.batch_size > dataset.num_train_examples:
    raise ConfigError(f"train.batch_size={config.train.batch_size} exceeds the "
                      f"{dataset.num_train_examples} training examples of {dataset.name!r}")


def _get(config, dotted: str):
  node = config
  for part in dotted.split("."):
    node = node[part]
  return node


def flatten(config, prefix: str = "") -> dict:
  """{'a.b': value} for every leaf of a (nested) dict or ConfigDict."""
  items = config.items() if hasattr(config, "items") else []
  out = {}
  for key, value in items:
    name = f"{prefix}{key}"
    if hasattr(value, "items"):
      out.update(flatten(value, name + "."))
    else:
      out[name] = value
  return out


def differences(saved: dict, current: dict) -> list[str]:
  """Fields (outside SCHEDULE_FIELDS) whose values differ between two config dicts.

  A field the saved config lacks counts as its base_config() default: a run saved before the
  field existed resumes under the new code as long as the field keeps that default.
  """
  a, b = flatten(saved), flatten(current)
  defaults = flatten(base_config().to_dict())
  return sorted(k for k in set(a) | set(b)
                if k not in SCHEDULE_FIELDS
                and a.get(k, defaults.get(k, "<missing>")) != b.get(k, "<missing>"))


def use_ring(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Switches a config to the 2-D ring of 8 Gaussians with an MLP (the CPU-friendly toy)."""
  c.data.name = "mog_ring"
  c.model.update(name="mlp", z_dim=16, width=256, depth=3)
  c.train.update(batch_size=256, num_steps=5000, log_every=250, sample_every=2500,
                 checkpoint_every=2500)
  # Tuned on this ring (BUILD_NOTES.md): 1e-3 decayed linearly to 0 reached all 8 modes where
  # a constant 1e-4 left most of them empty at 5000 steps; an EMA of G only blurred the modes.
  c.optim.update(g_lr=1e-3, d_lr=1e-3, schedule="linear", b1=0.5, b2=0.9)
  c.ema_decay = 0.0
  return c


def use_cifar10(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """PyTorch-StudioGAN's CIFAR-10 defaults (src/config.py), shared by experiments/cifar10_*.py.

  Data: TFDS 'cifar10' (prepared offline), or ``--config.data.path`` to a Keras-layout npz of
  32x32x3 images; random horizontal flips. Optimisation: batch 64, Adam(2e-4, β = (0.5, 0.999))
  for both players, 5 D updates per step, 100k steps, z ~ N(0, I) of size 128, no EMA.
  StudioGAN's Adam has ε = 1e-6 (optax: 1e-8) and its D sees real and fake in separate calls
  (here one call on both halves: the same only without BatchNorm in D).
  """
  c.data.update(name="cifar10", random_flip=True)
  c.model.z_dim = 128
  # eval_num: StudioGAN's logged FIDs use 10k samples (vs the 10k test images).
  c.train.update(batch_size=64, n_critic=5, num_steps=100_000, log_every=100, sample_every=5000,
                 checkpoint_every=5000, eval_every=5000, eval_num=10_000)
  c.optim.update(g_lr=2e-4, d_lr=2e-4, b1=0.5, b2=0.999)
  c.ema_decay = 0.0
  return c


def with_dataset(c: ml_collections.ConfigDict, arg: str | None) -> ml_collections.ConfigDict:
  """Applies the ``--config=FILE:ARG`` suffix: '' or 'mnist' (default) or 'ring'."""
  if arg in (None, "", "mnist"):
    return c
  if arg == "ring":
    return use_ring(c)
  raise ConfigError(f"config argument {arg!r} is unknown; valid: mnist, ring")
