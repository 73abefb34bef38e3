"""Test setup: two CPU devices, so the pmap path of bnnjax.run is exercised."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))  # reference_impl

from bnnjax import run  # noqa: E402

run.use_cpu_cores(2)
