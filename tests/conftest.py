"""Shared test set-up: CPU only, and one persistent XLA compilation cache for the test run.

Dozens of tests compile the same programs (experiments/tiny.py's train step, above all), in this
process and in the CLI subprocesses they start, which inherit this environment. JAX's persistent
cache, keyed by the program, the JAX/XLA version and the device, lets all but the first load them.
It lives in the checkout (``.xla_test_cache``, git-ignored), shared by the xdist workers; a test
that needs a cache of its own (the ablate CLI's, a module's) sets JAX_COMPILATION_CACHE_DIR itself.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".xla_test_cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
