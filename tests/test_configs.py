"""configs.validate's refusals of the fields added for the flagship cGAN (one line each)."""

from __future__ import annotations

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
