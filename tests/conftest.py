"""Test setup: two CPU devices, so runs are sharded over a 2-device mesh by the engine;
one persistent XLA compilation cache for the whole session.

The suite's time is mostly XLA compiling small programs, many of them the same program in
another test or another process (the command-line tests start fresh processes). A fresh
cache folder per session, shared by the test processes (pytest-xdist workers) and the
entry points they start ($BNNJAX_COMPILATION_CACHE), lets a program compiled once be
read back everywhere else. Tests that promise that nothing is compiled count programs
lowered (`reliability_util.CompileWatch`), so a program read from the cache counts as
compiled there too. tests/test_train_cli.py tests the cache itself in folders of its own.
"""

import atexit
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))  # reference_impl

from bnnjax import platform  # noqa: E402

_SESSION_CACHE = 'BNNJAX_TEST_SESSION_CACHE'
if _SESSION_CACHE not in os.environ:  # the first process of the session makes it
  os.environ[_SESSION_CACHE] = tempfile.mkdtemp(prefix='bnnjax-test-xla-')
  atexit.register(shutil.rmtree, os.environ[_SESSION_CACHE], True)
os.environ[platform.COMPILATION_CACHE_ENV] = os.environ[_SESSION_CACHE]
platform.enable_compilation_cache()

platform.use_cpu_cores(2)
