"""gan_jax's StyleGAN2 G and D against stylegan2-ada-pytorch's networks at equal weights: the
mapping's w, the synthesised image (no noise) and D's logits, forward, and the gradients of
sum(D(G(z))) with respect to G's and D's parameters.

Outside CI, in two steps: gan_jax writes its weights, inputs and outputs; torch loads the weights
into the reference networks (training/networks.py of a stylegan2-ada-pytorch checkout) and
compares.

  PYTHONPATH=. python benchmarks/stylegan2_reference_forward.py jax --out=/tmp/sg2par/jax.npz
  /work/torchvenv/bin/python benchmarks/stylegan2_reference_forward.py torch \
      --repo=/tmp/sg2ref --jax=/tmp/sg2par/jax.npz \
      --fixture=tests/fixtures/stylegan2_reference_forward.npz

The fixture (the reference's outputs, in gan_jax's layouts) pins the equality in
tests/models/test_stylegan2.py, whose ``reference_case`` builds the case.

Sizes are experiments/stylegan2_mnist.py's (z = w = 64, mapping 2, 32x32x1, mbstd 4) at
``--channel_base``/``--channel_max``; D's architecture from ``--arch``. Parameter names are
the reference's (tests/models/test_stylegan2.py pins them); layouts are converted: dense
(in, out) → [out, in], conv (k, k, in, out) → [out, in, k, k], the constant (4, 4, C) → [C, 4, 4],
D's epilogue fc over an NHWC flatten → over NCHW, and the synthesis's upsampling kernels mirrored
(``_to_torch_layout``).
"""

import argparse
import sys
import types

import numpy as np

Z, RES = 64, 32


def run_jax(args):
  from tests.models.test_stylegan2 import reference_case  # noqa: PLC0415

  out = reference_case(args.channel_base, args.channel_max, args.arch)
  np.savez(args.out, **out, meta=np.array([args.channel_base, args.channel_max]),
           arch=np.array(args.arch))
  print(f"wrote {args.out}: {len(out)} arrays")


def _to_torch_layout(name: str, x: np.ndarray, d_epilogue_shape=None) -> np.ndarray:
  if name.endswith("const"):
    return x.transpose(2, 0, 1)
  if x.ndim == 4:
    x = x.transpose(3, 2, 0, 1)
    # The reference's upsampling convs run as transposed convolutions with the kernel unflipped
    # (conv2d_resample's flip_weight=False path), i.e. zero-insert then a true convolution;
    # gan_jax zero-inserts then correlates. The same function with the kernel mirrored: a
    # permutation of the parameters, so training (elementwise Adam, i.i.d. init) is unchanged.
    if name.startswith("synthesis.") and name.endswith("conv0.weight"):
      x = x[:, :, ::-1, ::-1]
    return np.ascontiguousarray(x)
  if x.ndim == 2:
    if d_epilogue_shape is not None:  # (H*W*C, out) over NHWC → [out, C*H*W]
      h, w, c = d_epilogue_shape
      return x.reshape(h, w, c, -1).transpose(3, 2, 0, 1).reshape(x.shape[1], -1)
    return x.T
  return x


def _from_torch_layout(name: str, x: np.ndarray, d_epilogue_shape=None) -> np.ndarray:
  """The inverse of ``_to_torch_layout``."""
  if name.endswith("const"):
    return x.transpose(1, 2, 0)
  if x.ndim == 4:
    if name.startswith("synthesis.") and name.endswith("conv0.weight"):
      x = x[:, :, ::-1, ::-1]
    return np.ascontiguousarray(x.transpose(2, 3, 1, 0))
  if x.ndim == 2:
    if d_epilogue_shape is not None:
      h, w, c = d_epilogue_shape
      return x.reshape(-1, c, h, w).transpose(2, 3, 1, 0).reshape(h * w * c, -1)
    return x.T
  return x


def run_torch(args):
  import torch  # noqa: PLC0415

  sys.modules.setdefault("requests", types.ModuleType("requests"))
  sys.path.insert(0, args.repo)
  from training import networks  # noqa: PLC0415

  f = np.load(args.jax)
  base, cmax = (int(v) for v in f["meta"])
  G = networks.Generator(z_dim=Z, c_dim=0, w_dim=Z, img_resolution=RES, img_channels=1,
                         mapping_kwargs=dict(num_layers=2),
                         synthesis_kwargs=dict(channel_base=base, channel_max=cmax))
  D = networks.Discriminator(c_dim=0, img_resolution=RES, img_channels=1,
                             architecture=str(f["arch"]), channel_base=base, channel_max=cmax)
  ch4 = min(base // 4, cmax)
  for prefix, module in (("G", G), ("D", D)):
    params = dict(module.named_parameters())
    names = {k.split(":", 1)[1] for k in f.files if k.startswith(prefix + ":")}
    assert names == set(params), (prefix, names ^ set(params))
    with torch.no_grad():
      for name, p in params.items():
        epi = (4, 4, ch4) if prefix == "D" and name == "b4.fc.weight" else None
        p.copy_(torch.from_numpy(_to_torch_layout(name, f[f"{prefix}:{name}"], epi)))
  z = torch.from_numpy(f["z"])
  ws = G.mapping(z, None)
  img = G.synthesis(ws, noise_mode="none", force_fp32=True)
  logits = D(img, None)
  nchw = lambda a: np.asarray(a).transpose(0, 3, 1, 2)  # noqa: E731

  def rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))

  print(f"w       max rel diff {rel(f['w'], ws[:, 0].detach().numpy()):.2e}")
  print(f"img     max rel diff {rel(nchw(f['img']), img.detach().numpy()):.2e}")
  print(f"logits  max rel diff {rel(f['logits'], logits[:, 0].detach().numpy()):.2e}")
  G.zero_grad(), D.zero_grad()
  logits.sum().backward()
  worst, fixture = {}, {"img": img.detach().numpy().transpose(0, 2, 3, 1),
                        "logits": logits[:, 0].detach().numpy()}
  for prefix, module in (("G", G), ("D", D)):
    for name, p in module.named_parameters():
      epi = (4, 4, ch4) if prefix == "D" and name == "b4.fc.weight" else None
      ours = _to_torch_layout(name, f[f"grad{prefix}:{name}"], epi)
      if p.grad is None:  # the noise strengths: no noise in this case
        worst[f"{prefix}.{name}"] = float(np.abs(ours).max())
        continue
      grad = p.grad.numpy()
      worst[f"{prefix}.{name}"] = rel(ours, grad)
      if grad.size <= args.fixture_max_size or name == "b4.fc.weight":  # + the NHWC flatten
        fixture[f"grad{prefix}:{name}"] = _from_torch_layout(name, grad, epi)
  for name, value in sorted(worst.items(), key=lambda kv: -kv[1])[:8]:
    print(f"grad {name:40s} max rel diff {value:.2e}")
  if args.fixture:
    np.savez(args.fixture, **fixture)
    print(f"wrote {args.fixture}: {len(fixture)} arrays")


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("impl", choices=("jax", "torch"))
  parser.add_argument("--out", default="/tmp/sg2par/jax.npz")
  parser.add_argument("--jax", default="/tmp/sg2par/jax.npz")
  parser.add_argument("--repo", default="/tmp/sg2ref")
  parser.add_argument("--channel_base", type=int, default=512)
  parser.add_argument("--channel_max", type=int, default=32)
  parser.add_argument("--arch", default="resnet")
  parser.add_argument("--fixture", default="", help="torch: also write the reference's image, "
                      "logits and gradients (of parameters up to --fixture_max_size entries, "
                      "and of D's epilogue fc)")
  parser.add_argument("--fixture_max_size", type=int, default=4096)
  args = parser.parse_args()
  run_jax(args) if args.impl == "jax" else run_torch(args)


if __name__ == "__main__":
  main()
