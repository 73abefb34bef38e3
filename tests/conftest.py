"""Test setup: two CPU devices, so runs are sharded over a 2-device mesh by the engine."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))  # reference_impl

from bnnjax import platform  # noqa: E402

# Entry points called by the tests (in this process or as subprocesses) keep JAX's
# persistent compilation cache off unless a test turns it on: cache hits would change
# what tests that count compilations see. test_train_cli covers the cache itself.
os.environ[platform.COMPILATION_CACHE_ENV] = 'none'

platform.use_cpu_cores(2)
