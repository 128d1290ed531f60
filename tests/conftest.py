"""Shared test set-up: CPU only, and cheap XLA compiles (helpers.TEST_XLA_FLAGS)."""

import os

from tests.helpers import TEST_XLA_FLAGS

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["XLA_FLAGS"] = " ".join(filter(None, [os.environ.get("XLA_FLAGS"), TEST_XLA_FLAGS]))
