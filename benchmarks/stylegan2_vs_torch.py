"""The StyleGAN2 G+D train step, gan_jax against stylegan2-ada-pytorch's networks and loss
(reference ops: no custom CUDA), at experiments/stylegan2_mnist.py's network size on the CPU.

  python benchmarks/stylegan2_vs_torch.py --impl=jax --steps=20
  /work/torchvenv/bin/python benchmarks/stylegan2_vs_torch.py --impl=torch --repo=/tmp/sg2ref

Both run one iteration = Gmain (softplus(-D(G(z)))), then Dmain (softplus(D(G(z))) +
softplus(-D(x))), each with its Adam step, then G's EMA: the MNIST config with the lazy
regularisers, style mixing and ADA off (pl_weight = r1_gamma = mixing = 0, ada_pipe = ''), batch
32 of 32x32x1, z = w = 64, mapping 2, channel_base 1024, channel_max 64, resnet D, mbstd 4.
Prints steps/s after ``--warmup`` steps (compilation for JAX). benchmarks/vs_torch.sh-style
alternation: run the two impls in turn, several rounds (docs/results.md).
"""

import argparse
import sys
import time
import types

BATCH, RES, Z = 32, 32, 64


def run_jax(steps: int, warmup: int) -> float:
  import importlib.util  # noqa: PLC0415

  import jax  # noqa: PLC0415

  from gan_jax.training import experiment, parallel  # noqa: PLC0415

  spec = importlib.util.spec_from_file_location("cfg", "experiments/stylegan2_mnist.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config()
  c.stylegan2.update(pl_weight=0.0, r1_gamma=0.0, style_mixing_prob=0.0)
  c.reg.update(ada_pipe="", ada_target=0.0)
  par = parallel.DataParallel(c.parallel)
  exp = experiment.build(c, num_devices=par.num_devices)
  step = par.map_step(exp.game.train_step)
  state = par.put_state(exp.init_state())
  batch = par.put_batch(exp.game.batch_fn()(0))
  key = jax.random.key(0)
  for _ in range(warmup):
    state, _ = step(state, batch, key)
  jax.block_until_ready(state)
  t = time.perf_counter()
  for _ in range(steps):
    state, _ = step(state, batch, key)
  jax.block_until_ready(state)
  return steps / (time.perf_counter() - t)


def run_torch(steps: int, warmup: int, repo: str) -> float:
  import copy  # noqa: PLC0415

  import torch  # noqa: PLC0415

  sys.modules.setdefault("requests", types.ModuleType("requests"))
  sys.path.insert(0, repo)
  from training import loss as loss_lib  # noqa: PLC0415
  from training import networks  # noqa: PLC0415

  torch.manual_seed(0)
  G = networks.Generator(z_dim=Z, c_dim=0, w_dim=Z, img_resolution=RES, img_channels=1,
                         mapping_kwargs=dict(num_layers=2),
                         synthesis_kwargs=dict(channel_base=1024, channel_max=64)).train()
  D = networks.Discriminator(c_dim=0, img_resolution=RES, img_channels=1, architecture="resnet",
                             channel_base=1024, channel_max=64).train()
  G_ema = copy.deepcopy(G).eval()
  loss = loss_lib.StyleGAN2Loss(torch.device("cpu"), G.mapping, G.synthesis, D,
                                style_mixing_prob=0, r1_gamma=0, pl_weight=0)
  opt_g = torch.optim.Adam(G.parameters(), lr=0.0025 * 4 / 5, betas=(0.0, 0.99 ** (4 / 5)))
  opt_d = torch.optim.Adam(D.parameters(), lr=0.0025 * 16 / 17, betas=(0.0, 0.99 ** (16 / 17)))
  real = torch.rand(BATCH, 1, RES, RES) * 2 - 1
  c = torch.zeros(BATCH, 0)

  def iteration():
    for phase, module, opt in (("Gmain", G, opt_g), ("Dmain", D, opt_d)):
      opt.zero_grad(set_to_none=True)
      module.requires_grad_(True)
      loss.accumulate_gradients(phase=phase, real_img=real, real_c=c,
                                gen_z=torch.randn(BATCH, Z), gen_c=c, sync=True, gain=1)
      module.requires_grad_(False)
      opt.step()
    with torch.no_grad():
      for p_ema, p in zip(G_ema.parameters(), G.parameters(), strict=True):
        p_ema.copy_(p.lerp(p_ema, 0.99))

  for _ in range(warmup):
    iteration()
  t = time.perf_counter()
  for _ in range(steps):
    iteration()
  return steps / (time.perf_counter() - t)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--impl", choices=("jax", "torch"), required=True)
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--warmup", type=int, default=2)
  parser.add_argument("--repo", default="/tmp/sg2ref")
  args = parser.parse_args()
  if args.impl == "jax":
    sps = run_jax(args.steps, args.warmup)
  else:
    sps = run_torch(args.steps, args.warmup, args.repo)
  print(f"{args.impl} steps/s {sps:.3f}")


if __name__ == "__main__":
  main()
