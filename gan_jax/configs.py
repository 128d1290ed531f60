"""Shared config defaults and the one place where a config is checked before a run starts.

Experiment files in ``experiments/`` start from ``base_config()`` and change what they need.
"""

from __future__ import annotations

import ml_collections

from gan_jax.errors import ConfigError, check_choice

PARALLEL_MODES = ("pmap", "shard_map")


def base_config() -> ml_collections.ConfigDict:
  """Defaults for every field a run reads. Experiments override a few of them."""
  c = ml_collections.ConfigDict()
  c.seed = 0  # Seeds parameters, noise (fold_in(key, step)) and the data order.
  # The game the trainer plays (gan_jax.games): 'gan' (G(z, c) against D(x, c)) | 'pix2pix' |
  # 'cyclegan' | 'vae' (encoder and decoder on the ELBO) | 'vaegan' (Larsen et al. 2016) |
  # 'stylegan2' (c.stylegan2: StyleGAN2's losses, regularisers and schedules).
  c.game = "gan"
  c.objective = "non_saturating"  # A gan_jax.losses name.
  c.conditional = False  # G(z, c) and D(x, c); needs a labelled dataset.
  c.gp_weight = 10.0  # λ of the WGAN-GP gradient penalty (used by objective='wgan_gp').
  c.ema_decay = 0.999  # EMA of G's params used for samples and evaluation; 0 turns it off.
  # Train step from which G's EMA averages (before it, the EMA copies G; BigGAN uses 1000).
  c.ema_start_step = 0
  # The decay from ema_start_step on (games.updates.ema_decay_at): 'tf' (TensorFlow's
  # ExponentialMovingAverage warm-up min(ema_decay, (1 + t)/(10 + t)), t = step - ema_start_step;
  # not Karras et al.'s ema_rampup, which ramps the half-life with the images seen) | 'none'
  # (ema_decay at once: StudioGAN's and BigGAN-PyTorch's schedule, used by the CIFAR recipes).
  c.ema_warmup = "tf"
  # BatchNorm statistics of the EMA generator: 'standing' (recomputed for the EMA weights when
  # sampling) | 'ema' (EMA of G's running statistics) | 'live' (G's own); docs/results.md,
  # "MNIST conditional GAN", compares them.
  c.ema_bn_stats = "standing"
  c.parallel = "pmap"  # How the per-device step is mapped over devices: 'pmap' | 'shard_map'.

  c.data = ml_collections.ConfigDict()
  # mnist | digits | mog_ring | mog_grid | npz | any TFDS image dataset; translation games:
  # mnist_sr | mnist_edges | digits2mnist.
  c.data.name = "mnist"
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
  # Translation data (game='pix2pix' | 'cyclegan'; gan_jax.data.translation): user data whose A
  # and B have equal lengths are paired row by row unless paired=False; without a test split,
  # test_fraction of the examples are held out by np.random.default_rng(split_seed).
  c.data.paired = True
  c.data.test_fraction = 0.1
  c.data.split_seed = 0

  c.model = ml_collections.ConfigDict()
  # mlp | dcgan28 | dcgan32 | infogan28 (Lucic et al.) | dcgan_cifar | resnet32 | biggan32.
  c.model.name = "dcgan28"
  c.model.z_dim = 100  # Latent size.
  c.model.width = 0  # Hidden width of the MLP (0 = model default).
  c.model.depth = 0  # Hidden layers of the MLP (0 = model default).
  c.model.spectral_norm = False  # Spectral normalisation in every layer of D.
  # Spectral normalisation in G's layers (dcgan_cifar, resnet32, biggan32).
  c.model.g_spectral_norm = False
  # D's normalisation (infogan28, dcgan_cifar, resnet32, biggan32): 'auto' (BatchNorm unless
  # spectral_norm) | 'batch' | 'layer' (per example: for gradient penalties) | 'none'.
  c.model.d_norm = "auto"
  # D's conditioning: 'projection' | 'concat' | 'ac' (AC-GAN: D classifies, weight reg.ac_weight)
  # | 'none' (D ignores labels).
  c.model.conditioning = "projection"
  c.model.embed_dim = 128  # Size of G's label embedding (biggan32: the shared class embedding).
  # Convolutions: 'fast' (custom-gradient, fast on CPU) | 'stock' | 'auto' (fast on CPU only).
  c.model.conv_impl = "fast"
  # model.name='stylegan2' (models/stylegan2.py, stylegan2-ada-pytorch's networks): channels at
  # resolution r are min(channel_base / r, channel_max); the images are synthesised at the
  # smallest power of 2 >= the data's size (MNIST: 32, centre-cropped to 28 for G(z)).
  c.model.channel_base = 32768
  c.model.channel_max = 512
  c.model.w_dim = 512  # Size of w (and z for stylegan2-ada-pytorch's configs: set model.z_dim).
  c.model.mapping_layers = 8  # G's mapping MLP depth (the paper's 8; --cfg=cifar: 2).
  c.model.mapping_lr_multiplier = 0.01  # Equalised-lr multiplier of G's mapping layers.
  c.model.d_architecture = "resnet"  # StyleGAN2 D: 'resnet' | 'orig'.
  c.model.mbstd_group_size = 4  # Minibatch-stddev group size (per device; divides its batch).
  c.model.conv_clamp = 0.0  # Clamp conv outputs to ±conv_clamp (0 = off; the reference's 256).

  c.train = ml_collections.ConfigDict()
  c.train.batch_size = 64  # Global batch, split over all devices.
  c.train.num_steps = 3000  # Train steps; each is n_critic D updates then one G update.
  c.train.n_critic = 1  # D updates per G update.
  # Run the n_critic D updates as one lax.scan: one D update to compile instead of n_critic, the
  # same updates. On XLA:CPU the rolled loop runs ~5x slower, so off (docs/design.md, "Options
  # kept that do not pay").
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
  # Their input protocol (pytorch_fid | tf_legacy | clean), 8-bit quantisation (default: the
  # protocol's own | on | off) and reference split (train | test): evaluation.inception_net.
  c.train.inception_protocol = "pytorch_fid"
  c.train.inception_quantize = "default"
  c.train.inception_reference_split = "train"
  c.train.skip_nonfinite = False  # Skip (and count) non-finite updates instead of stopping.
  # With skip_nonfinite: stop (one line, exit 1) once this many train steps in a row have each
  # skipped a non-finite update.
  c.train.max_consecutive_skips = 100
  # The G update reuses the last D update's z (as the PyTorch DCGAN loop reuses its fakes), so
  # G's forward pass is computed once per step; False draws fresh z for G.
  c.train.g_reuses_d_latents = False
  c.train.allow_config_change = False  # Allow resuming a workdir whose run had another config.
  # Exit status of a run stopped by SIGTERM/SIGINT at a checkpoint. 0 (README): a wrapper script
  # or a scheduler that reruns on its own. A Kubernetes Job records 0 as success and never
  # restarts the pod: use a non-zero code its podFailurePolicy / backoffLimit retries (e.g.
  # 143 = 128 + SIGTERM). SLURM with --requeue requeues a preempted job whatever the code (0 is
  # fine); 75 (EX_TEMPFAIL) is what systemd's RestartForceExitStatus= / HTCondor's
  # on_exit_hold-style retries usually key on.
  c.train.preempted_exit_code = 0
  # Seconds after which a workdir lock from another host whose heartbeat stopped (the holder
  # refreshes its mtime every 30 s) counts as stale and is taken over; 0 = never (a person
  # passes --takeover_lock). Same-host locks are stale as soon as their process is gone.
  c.train.lock_stale_after_s = 600.0

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
  # ADA (Karras et al. 2020b; gan_jax.ops.ada): the augmentation pipeline applied to every image D
  # sees with probability p per transform ('' = off; 'bgc' = blit, geometric, colour); p starts at
  # ada_p and, with ada_target > 0, moves every ada_interval steps by
  # sign(E[sign(D(real))] - ada_target)·batch·ada_interval/(ada_kimg·1000), clamped at 0.
  c.reg.ada_pipe = ""
  c.reg.ada_p = 0.0
  c.reg.ada_target = 0.0
  c.reg.ada_interval = 4
  c.reg.ada_kimg = 500

  # game='stylegan2' (gan_jax.games.stylegan2, stylegan2-ada-pytorch's training loop and loss):
  # per step a G update (non-saturating loss), every pl_interval steps a path-length update, a D
  # update, every r1_interval steps a lazy R1 update; lazy regularisation scales the Adam lr by
  # c = interval/(interval + 1) and its betas to beta^c (optim.g_lr, optim.d_lr, b1, b2).
  c.stylegan2 = ml_collections.ConfigDict()
  c.stylegan2.r1_gamma = 10.0  # γ of R1 = γ/2·‖∇D(x)‖² (0 = off).
  c.stylegan2.r1_interval = 16  # Lazy R1: every this many D steps, weighted by the interval.
  c.stylegan2.pl_weight = 2.0  # Path-length regularisation weight (0 = off).
  c.stylegan2.pl_interval = 4  # Lazy path length: every this many G steps.
  c.stylegan2.pl_batch_shrink = 2  # The path-length batch is batch_size / pl_batch_shrink.
  c.stylegan2.pl_decay = 0.01  # Running mean of path lengths: a ← a + decay·(mean - a).
  c.stylegan2.style_mixing_prob = 0.9  # Probability that a batch mixes two w's at a cutoff.
  c.stylegan2.ema_kimg = 10.0  # Half-life of G's EMA in thousands of images (0 = no EMA).
  c.stylegan2.ema_rampup = 0.0  # EMA ramp-up: half-life ≤ rampup·images seen (0 = none).
  c.stylegan2.w_avg_beta = 0.995  # Decay of the tracked average of w (for truncation).
  # AC-GAN's class cross-entropy weight (model.conditioning='ac'): D adds w·(CE on real + CE on
  # fake labels), G adds w·CE on the labels it was asked for.
  c.reg.ac_weight = 1.0

  # The VAE games (game='vae' | 'vaegan'; gan_jax.vae_losses): encoder and decoder share Adam's
  # optim.g_lr, b1, b2; VAE-GAN's D uses optim.d_lr and the GAN terms of ``objective``.
  c.vae = ml_collections.ConfigDict()
  c.vae.likelihood = "bernoulli"  # p(x|z): 'bernoulli' (P(pixel on) = σ(2a)) | 'gaussian'.
  c.vae.gaussian_std = 0.1  # s of the 'gaussian' likelihood N(x; tanh(a), s²), x in [-1, 1].
  c.vae.beta = 1.0  # Weight β of the KL term: of the VAE's -ELBO (β-VAE for β > 1), of VAE-GAN's
  # encoder loss β·L_prior + L_llike.
  c.vae.gamma = 1.0  # VAE-GAN's γ: weight of the feature reconstruction in the decoder's loss.
  c.vae.feature_layer = 1  # VAE-GAN: the layer of D's trunk (0, 1, ...) reconstructions use.
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
  # G first resamples its input by a learnt affine map (models.translation, spatial transformer).
  c.translation.spatial_transformer = False
  # CycleGAN with the spatial transformer: the identity term E|G(y) - y| skips G's warp, so it
  # keeps G's strokes but leaves the reframing free.
  c.translation.identity_skips_warp = False
  # CycleGAN: each G first reframes its input as its target domain frames its ink (the ink's
  # long side and centre of mass moved to the means over the target's training images;
  # MNIST's own normalisation, models.translation.reframe_theta). Nothing is learnt.
  c.translation.reframe = False
  return c


# Fields that may differ between the run in a workdir and the config that resumes it.
SCHEDULE_FIELDS = (
    "train.num_steps", "train.log_every", "train.sample_every", "train.checkpoint_every",
    "train.keep_checkpoints", "train.eval_every", "train.eval_num", "train.allow_config_change",
    "train.skip_nonfinite", "train.max_consecutive_skips", "train.eval_at_end",
    "train.eval_features", "train.inception_weights", "train.inception_protocol",
    "train.inception_quantize", "train.inception_reference_split", "train.preempted_exit_code",
    "train.lock_stale_after_s")


def validate(config, *, num_devices: int) -> None:
  """Raises ConfigError (one line naming the field and the valid choices) for a bad config."""
  from gan_jax import games, losses, models
  from gan_jax.data import grain_loader
  from gan_jax.evaluation import evaluator
  from gan_jax.games import updates
  from gan_jax.ops import ada, augment

  games.get(config.get("game", "gan"))
  check_choice("objective", config.objective, losses.NAMES)
  models.validate_config(config.model)
  updates.validate_config(config)
  evaluator.validate_config(config)
  grain_loader.validate_config(config.data)
  augment.parse_policy(config.reg.get("diffaug", ""))
  ada.check_pipe(config.reg.get("ada_pipe", ""))
  if config.reg.get("ada_pipe", "") and config.get("game", "gan") != "stylegan2":
    raise ConfigError(f"reg.ada_pipe={config.reg.ada_pipe!r} is wired into game='stylegan2' "
                      f"only, not game={config.get('game', 'gan')!r}; set reg.ada_pipe=''")
  check_choice("parallel", config.parallel, PARALLEL_MODES)
  for field in ("train.batch_size", "train.num_steps", "train.n_critic", "train.log_every",
                "train.sample_every", "train.checkpoint_every", "train.keep_checkpoints",
                "train.max_consecutive_skips", "model.z_dim"):
    value = _get(config, field)
    if not isinstance(value, int) or value <= 0:
      raise ConfigError(f"{field}={value!r} must be a positive integer")
  code = config.train.get("preempted_exit_code", 0)
  if not isinstance(code, int) or not 0 <= code <= 255:
    raise ConfigError(f"train.preempted_exit_code={code!r} must be an integer in [0, 255]")
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
                "reg.weight_clip", "reg.r1_weight", "reg.ac_weight", "train.eval_every",
                "train.lock_stale_after_s"):
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
  # Tuned on this ring (docs/results.md, "The 2-D ring"): 1e-3 decayed linearly to 0 reached all
  # 8 modes where a constant 1e-4 left most of them empty at 5000 steps; an EMA of G only blurred
  # the modes.
  c.optim.update(g_lr=1e-3, d_lr=1e-3, schedule="linear", b1=0.5, b2=0.9)
  c.ema_decay = 0.0
  return c


def use_cifar10(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """PyTorch-StudioGAN's CIFAR-10 defaults (src/config.py), shared by experiments/cifar10_*.py.

  Data: TFDS 'cifar10' (prepared offline), or ``--config.data.path`` to a Keras-layout npz of
  32x32x3 images; random horizontal flips. Optimisation: batch 64, Adam(2e-4, β = (0.5, 0.999))
  for both players, 5 D updates per step, 100k steps, z ~ N(0, I) of size 128, no EMA.
  StudioGAN's Adam has ε = 1e-6 (optax: 1e-8). Its D sees real and fake in separate calls; so
  does a BatchNorm D here (``games.gan_steps``), while other Ds see both halves in one call, which
  is the same without BatchNorm.
  """
  c.data.update(name="cifar10", random_flip=True)
  c.model.z_dim = 128
  # eval_num: StudioGAN's logged FIDs use 10k samples, against the 10k *test* images; this
  # project's eval compares with training images (another split: not directly comparable).
  c.train.update(batch_size=64, n_critic=5, num_steps=100_000, log_every=100, sample_every=5000,
                 checkpoint_every=5000, eval_every=5000, eval_num=10_000)
  c.optim.update(g_lr=2e-4, d_lr=2e-4, b1=0.5, b2=0.999)
  c.ema_decay = 0.0
  c.ema_warmup = "none"  # StudioGAN's Ema: 0 before g_ema_start, then the constant decay.
  return c


def with_dataset(c: ml_collections.ConfigDict, arg: str | None) -> ml_collections.ConfigDict:
  """Applies the ``--config=FILE:ARG`` suffix: '' or 'mnist' (default) or 'ring'."""
  if arg in (None, "", "mnist"):
    return c
  if arg == "ring":
    return use_ring(c)
  raise ConfigError(f"config argument {arg!r} is unknown; valid: mnist, ring")
