"""Shared test set-up: CPU only, and cheap XLA compiles."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
