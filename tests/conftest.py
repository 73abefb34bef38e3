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

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # reference_impl

from bnnjax import platform  # noqa: E402

_SESSION_CACHE = 'BNNJAX_TEST_SESSION_CACHE'
if _SESSION_CACHE not in os.environ:  # the first process of the session makes it
  os.environ[_SESSION_CACHE] = tempfile.mkdtemp(prefix='bnnjax-test-xla-')
  atexit.register(shutil.rmtree, os.environ[_SESSION_CACHE], True)
os.environ[platform.COMPILATION_CACHE_ENV] = os.environ[_SESSION_CACHE]
# Processes that do not call enable_compilation_cache (notebook kernels, experiments.run)
# get the same cache through JAX's own environment variables.
os.environ['JAX_COMPILATION_CACHE_DIR'] = os.environ[_SESSION_CACHE]
os.environ['JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES'] = '0'
platform.enable_compilation_cache()

platform.use_cpu_cores(2)

# The test processes compile with most of XLA's optimizations off: the suite's time is
# mostly compiling small programs once (about 30 % less CPU time measured), and no result
# bit of the integer arithmetic depends on them. The processes the tests start (command
# lines, notebooks, experiments) inherit the same setting through the environment, and
# read back from the shared cache what the test processes compiled. The tests of fresh
# processes against each other and of several processes against one
# (tests/test_determinism.py, tests/test_scale_out.py) start theirs with every
# optimization (JAX_DISABLE_MOST_OPTIMIZATIONS=0), as users' runs compile, so whole runs
# are also checked the way they really run.
import jax  # noqa: E402
jax.config.update('jax_disable_most_optimizations', True)
os.environ['JAX_DISABLE_MOST_OPTIMIZATIONS'] = '1'


# The quick tier (`-m "not slow"`) runs a cross-section of the long parametrisations:
# for these tests only the listed parameter ids; the others are marked slow, so the
# whole suite still runs every one. Step tests on the 'dense' backend are slow too (the
# packed backend is the default product path). docs/testing.md.
QUICK_PARAMS = {
    'test_packed_dot_matches_integer_matmul': {f'{a}-{b}-{n}' for a in ('False', 'True')
                                               for b in ('False', 'True')
                                               for n in ('5-4', '100-4', '1000-4')},
    'test_packed_dot_accumulates_into_init': {f'2-{k}-{n}' for k in (
        'False-False', 'False-True', 'True-True') for n in ('20-16', '1000-3', '150-2')},
    'test_packed_dot_scan_blocks': {'2-16', '33-16', '40-5'},
    'test_variant_steps_match_reference_bit_for_bit': {
        'reference-packed-True-argmax', 'reference-packed-True-sign',
        'reference-packed-False-sign', 'binary-packed-True-argmax'},
    'test_cp_r_step_equals_numpy_reference': {'reference-packed-blocks3-7-4',
                                              'binary-packed-blocks1-0-4'},
    'test_flip_step_matches_numpy': {'reference-argmax-1', 'binary-sign-1'},
    'test_export_load_predict_equals_in_memory': {'reference-argmax', 'binary-sign'},
}


def pytest_collection_modifyitems(items):
  seen = {}
  for item in items:
    spec = getattr(item, 'callspec', None)
    if spec is None:
      continue
    quick = QUICK_PARAMS.get(item.originalname)
    seen.setdefault(item.originalname, set()).add(spec.id)
    if spec.params.get('backend') == 'dense' or (quick is not None
                                                 and spec.id not in quick):
      item.add_marker(pytest.mark.slow)
  for name, ids in QUICK_PARAMS.items():  # a stale id would leave a test out of the tier
    if name in seen and not ids <= seen[name] and len(seen[name]) >= len(ids):
      raise pytest.UsageError(f'tests/conftest.py QUICK_PARAMS[{name!r}]: no such '
                              f'parameter ids {sorted(ids - seen[name])}')


@pytest.fixture
def xla_optimizations():
  """XLA's optimizations on for one test (the session turns most of them off): for the
  tests about the compiled programs' own options."""
  jax.config.update('jax_disable_most_optimizations', False)
  yield
  jax.config.update('jax_disable_most_optimizations', True)
