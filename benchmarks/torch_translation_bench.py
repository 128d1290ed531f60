"""Reference: the Pix2Pix and CycleGAN train steps of gan_jax's shipped configs in PyTorch, for
side-by-side timing with ``gan_jax.bench`` (benchmarks/vs_torch_translation.sh alternates them).

The networks are gan_jax.models.translation's as the configs size them, written as
junyanz/pytorch-CycleGAN-and-pix2pix writes them (networks.py):
- pix2pix (experiments/pix2pix_mnist_sr.py, batch 32): 7x7 input up-sampled (nearest) to 28x28,
  reflect-padded to 32x32; U-Net of 4 levels (32, 64, 128, 128 channels, BatchNorm, Dropout(0.5)
  in the block above the innermost); PatchGAN ndf 32, n_layers 1 (16x16 patches), BatchNorm on
  the (input, output) pair; D on real and fake pairs in separate calls, then G's
  BCE + 100·L1 through the updated D.
- cyclegan (experiments/cyclegan_digits2mnist.py, batch 16): two ResNet generators (ngf 16,
  3 blocks, InstanceNorm, reflection padding), two PatchGANs (ndf 32, n_layers 1,
  InstanceNorm); G step: LSGAN + 10·cycle + 5·identity; D step on the fakes (a 50-image pool).
Adam(2e-4, betas=(0.5, 0.999)) for every player. As in gan_jax, a convolution followed by a norm
has no bias (junyanz keeps one before InstanceNorm; the norm removes it). One fixed random
batch, eager mode.

  /work/torchvenv/bin/python benchmarks/torch_translation_bench.py --game pix2pix [--json F]
"""
import argparse
import json
import random
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class UNet(nn.Module):
    def __init__(self, channels=(32, 64, 128, 128), out_nc=1, in_nc=1):
        super().__init__()
        self.depth = len(channels)
        self.down = nn.ModuleList()
        self.down_norm = nn.ModuleDict()
        prev = in_nc
        for i, c in enumerate(channels):
            self.down.append(nn.Conv2d(prev, c, 4, 2, 1, bias=False))
            if 0 < i < self.depth - 1:
                self.down_norm[str(i)] = nn.BatchNorm2d(c)
            prev = c
        self.up = nn.ModuleDict()
        self.up_norm = nn.ModuleDict()
        for i in reversed(range(1, self.depth)):
            inner = channels[i] if i == self.depth - 1 else 2 * channels[i]
            self.up[str(i)] = nn.ConvTranspose2d(inner, channels[i - 1], 4, 2, 1, bias=False)
            self.up_norm[str(i)] = nn.BatchNorm2d(channels[i - 1])
        self.up0 = nn.ConvTranspose2d(2 * channels[0], out_nc, 4, 2, 1)

    def forward(self, x):
        h = F.interpolate(x, size=28, mode="nearest")
        h = F.pad(h, (2, 2, 2, 2), mode="reflect")
        skips = []
        for i, conv in enumerate(self.down):
            h = conv(h if i == 0 else F.leaky_relu(h, 0.2))
            if str(i) in self.down_norm:
                h = self.down_norm[str(i)](h)
            skips.append(h)
        for i in reversed(range(1, self.depth)):
            h = self.up_norm[str(i)](self.up[str(i)](F.relu(h)))
            if i == self.depth - 2:
                h = F.dropout(h, 0.5, self.training)
            h = torch.cat([skips[i - 1], h], 1)
        return torch.tanh(self.up0(F.relu(h)))[:, :, 2:30, 2:30]


def patchgan(in_nc, ndf=32, norm=nn.BatchNorm2d):
    return nn.Sequential(
        nn.Conv2d(in_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(ndf, 2 * ndf, 4, 1, 1, bias=False), norm(2 * ndf), nn.LeakyReLU(0.2),
        nn.Conv2d(2 * ndf, 1, 4, 1, 1))


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3, bias=False), nn.InstanceNorm2d(c),
            nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3, bias=False), nn.InstanceNorm2d(c))

    def forward(self, x):
        return x + self.body(x)


def resnet_generator(ngf=16, blocks=3, nc=1):
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(nc, ngf, 7, bias=False), nn.InstanceNorm2d(ngf),
              nn.ReLU(True)]
    for i in range(2):
        c = ngf * 2 ** i
        layers += [nn.Conv2d(c, 2 * c, 3, 2, 1, bias=False), nn.InstanceNorm2d(2 * c),
                   nn.ReLU(True)]
    layers += [ResBlock(4 * ngf) for _ in range(blocks)]
    for i in range(2):
        c = ngf * 2 ** (2 - i)
        layers += [nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1, bias=False),
                   nn.InstanceNorm2d(c // 2), nn.ReLU(True)]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, nc, 7), nn.Tanh()]
    return nn.Sequential(*layers)


def init_weights(net):
    for m in net.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return net


class Pool:
    """junyanz's ImagePool."""

    def __init__(self, size=50):
        self.size, self.images = size, []

    def query(self, images):
        out = []
        for image in images.detach():
            image = image[None]
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif random.uniform(0, 1) > 0.5:
                j = random.randint(0, self.size - 1)
                out.append(self.images[j].clone())
                self.images[j] = image
            else:
                out.append(image)
        return torch.cat(out, 0)


def pix2pix_step_fn(batch):
    G, D = init_weights(UNet()), init_weights(patchgan(2))
    opt = dict(lr=2e-4, betas=(0.5, 0.999))
    opt_g, opt_d = torch.optim.Adam(G.parameters(), **opt), torch.optim.Adam(D.parameters(), **opt)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 1, 7, 7, generator=g) * 2 - 1
    y = torch.rand(batch, 1, 28, 28, generator=g) * 2 - 1
    x_up = F.interpolate(x, size=28, mode="nearest")
    bce = nn.BCEWithLogitsLoss()

    def step():
        fake = G(x)
        for p in D.parameters():
            p.requires_grad_(True)
        opt_d.zero_grad(set_to_none=True)
        pred_fake = D(torch.cat([x_up, fake.detach()], 1))
        pred_real = D(torch.cat([x_up, y], 1))
        d_loss = 0.5 * (bce(pred_fake, torch.zeros_like(pred_fake))
                        + bce(pred_real, torch.ones_like(pred_real)))
        d_loss.backward()
        opt_d.step()
        for p in D.parameters():
            p.requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        pred = D(torch.cat([x_up, fake], 1))
        g_loss = bce(pred, torch.ones_like(pred)) + 100.0 * F.l1_loss(fake, y)
        g_loss.backward()
        opt_g.step()
        return d_loss.detach(), g_loss.detach()

    return step


def cyclegan_step_fn(batch):
    g_ab, g_ba = init_weights(resnet_generator()), init_weights(resnet_generator())
    d_a = init_weights(patchgan(1, norm=nn.InstanceNorm2d))
    d_b = init_weights(patchgan(1, norm=nn.InstanceNorm2d))
    opt = dict(lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(list(g_ab.parameters()) + list(g_ba.parameters()), **opt)
    opt_d = torch.optim.Adam(list(d_a.parameters()) + list(d_b.parameters()), **opt)
    g = torch.Generator().manual_seed(0)
    a = torch.rand(batch, 1, 28, 28, generator=g) * 2 - 1
    b = torch.rand(batch, 1, 28, 28, generator=g) * 2 - 1
    pool_a, pool_b = Pool(), Pool()
    mse = nn.MSELoss()

    def gan(pred, real):
        return mse(pred, torch.ones_like(pred) if real else torch.zeros_like(pred))

    def step():
        fake_b, fake_a = g_ab(a), g_ba(b)
        rec_a, rec_b = g_ba(fake_b), g_ab(fake_a)
        for p in list(d_a.parameters()) + list(d_b.parameters()):
            p.requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        g_loss = (gan(d_b(fake_b), True) + gan(d_a(fake_a), True)
                  + 10.0 * (F.l1_loss(rec_a, a) + F.l1_loss(rec_b, b))
                  + 5.0 * (F.l1_loss(g_ab(b), b) + F.l1_loss(g_ba(a), a)))
        g_loss.backward()
        opt_g.step()
        for p in list(d_a.parameters()) + list(d_b.parameters()):
            p.requires_grad_(True)
        opt_d.zero_grad(set_to_none=True)
        seen_b, seen_a = pool_b.query(fake_b), pool_a.query(fake_a)
        d_loss = (0.5 * (gan(d_b(b), True) + gan(d_b(seen_b), False))
                  + 0.5 * (gan(d_a(a), True) + gan(d_a(seen_a), False)))
        d_loss.backward()
        opt_d.step()
        return d_loss.detach(), g_loss.detach()

    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--game", default="pix2pix", choices=["pix2pix", "cyclegan"])
    ap.add_argument("--batch", type=int, default=0, help="0: the shipped config's")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    random.seed(0)
    batch = a.batch or {"pix2pix": 32, "cyclegan": 16}[a.game]
    step = (pix2pix_step_fn if a.game == "pix2pix" else cyclegan_step_fn)(batch)
    t0 = time.perf_counter()
    step()
    first = time.perf_counter() - t0
    for _ in range(a.warmup):
        losses = step()
    rates = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        for _ in range(a.steps):
            losses = step()
        rates.append(a.steps / (time.perf_counter() - t0))
    res = dict(framework="torch", game=a.game, batch=batch, torch=torch.__version__,
               threads=torch.get_num_threads(), first_call_s=round(first, 3),
               steps_per_s_median=round(statistics.median(rates), 3),
               steps_per_s_all=[round(r, 3) for r in rates],
               finite=bool(torch.isfinite(losses[0]) and torch.isfinite(losses[1])))
    print(json.dumps(res))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
