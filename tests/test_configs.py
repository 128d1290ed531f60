"""configs.validate's refusals of the fields added for the flagship cGAN (one line each)."""

from __future__ import annotations

import os

import pytest

from gan_jax import configs
from gan_jax.errors import ConfigError
from tests.test_cli_errors import _refused


def _config(**fields):
  c = configs.base_config()
  for dotted, value in fields.items():
    node = c
    *parents, leaf = dotted.split("__")
    for p in parents:
      node = node[p]
    node[leaf] = value
  return c


@pytest.mark.parametrize("fields", [
    dict(objective="wgan"),
    dict(objective="wgan", reg__weight_clip=0.0, model__spectral_norm=False),
])
def test_wgan_without_a_lipschitz_constraint_is_refused(fields):
  with pytest.raises(ConfigError, match=r"objective='wgan' needs a Lipschitz constraint.*"
                                        r"reg\.weight_clip.*model\.spectral_norm") as e:
    configs.validate(_config(**fields), num_devices=1)
  assert "\n" not in str(e.value)


@pytest.mark.parametrize("fields", [
    dict(objective="wgan", reg__weight_clip=0.01),
    dict(objective="wgan", model__spectral_norm=True),
    dict(objective="wgan_gp"),
])
def test_wgan_with_a_lipschitz_constraint_is_accepted(fields):
  configs.validate(_config(**fields), num_devices=1)


@pytest.mark.parametrize("fields, match", [
    (dict(ema_start_step=-1), "ema_start_step=-1 must be a non-negative integer"),
    (dict(ema_warmup="karras"), "ema_warmup='karras' is unknown; valid: tf, none"),
    (dict(ema_bn_stats="batch"), "ema_bn_stats='batch' is unknown; valid: standing, ema, live"),
])
def test_ema_fields_are_checked(fields, match):
  with pytest.raises(ConfigError, match=match):
    configs.validate(_config(**fields), num_devices=1)


@pytest.mark.parametrize("fields, match", [
    (dict(train__preempted_exit_code=256),
     "train.preempted_exit_code=256 must be an integer in \\[0, 255\\]"),
    (dict(train__lock_stale_after_s=-1.0), "train.lock_stale_after_s=-1.0 must be non-negative"),
])
def test_reliability_fields_are_checked(fields, match):
  with pytest.raises(ConfigError, match=match):
    configs.validate(_config(**fields), num_devices=1)


def test_main_refuses_unconstrained_wgan_with_exit_2(tmp_path):
  line = _refused(str(tmp_path / "run"), "--config.objective=wgan")
  assert "objective='wgan' needs a Lipschitz constraint" in line


def test_every_cited_fid_names_its_reference_split():
  """A recipe that cites a FID says beside it which split the number was measured against, and
  that this project's eval compares with training images."""
  import glob
  import re

  from tests.helpers import REPO

  cited = 0
  for path in sorted(glob.glob(os.path.join(REPO, "experiments", "*.py"))):
    with open(path) as f:
      text = f.read()
    for line in text.splitlines():
      if re.search(r"\bFID \d", line):
        cited += 1
        assert re.search(r"\((test|train) split\)", line), (path, line)
    if re.search(r"\bFID \d", text):
      assert "compares with training images" in " ".join(text.split()), path
  assert cited >= 4
