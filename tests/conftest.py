"""Test setup: two CPU devices, so runs are sharded over a 2-device mesh in bnnjax.run."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))  # reference_impl

from bnnjax import run  # noqa: E402

run.use_cpu_cores(2)
