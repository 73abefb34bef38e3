"""Backend 'auto': which exact product path each platform gets, tested on CPU."""

import dataclasses

import jax
import numpy as np
import pytest

from bnnjax import config as config_lib
from bnnjax import model
from bnnjax.config import Config, HParams, resolved_backend


def test_auto_is_the_default_and_resolves_per_platform():
  config = Config()
  assert config.backend == 'auto'
  assert resolved_backend(config, 'cpu') == 'packed'
  assert resolved_backend(config, 'gpu') == 'dense'
  assert resolved_backend(config, 'cuda') == 'dense'
  assert resolved_backend(config, 'rocm') == 'dense'
  assert resolved_backend(config, 'tpu') == 'dense'
  # On this machine's default platform.
  expect = 'packed' if jax.default_backend() == 'cpu' else 'dense'
  assert resolved_backend(config) == expect


@pytest.mark.parametrize('backend', ['packed', 'dense'])
def test_explicit_backend_is_kept_on_every_platform(backend):
  config = Config(backend=backend)
  for platform in ('cpu', 'gpu', 'tpu'):
    assert resolved_backend(config, platform) == backend


def test_unknown_backend_is_refused():
  with pytest.raises(ValueError, match='backend'):
    Config(backend='gpu')


def test_auto_traces_the_resolved_backend(monkeypatch):
  """The step built under 'auto' is the program of the backend it resolves to: the
  dense one when the platform is a GPU (int8/float dots, no popcount), the packed one
  on CPU (popcount, no dot)."""
  config = Config(layers=(12, 6), group_size=(3, 2), num_inputs=45, num_classes=3,
                  batch_size=9, num_epochs=1, num_test=5)
  state = model.init(jax.random.PRNGKey(0), config)
  batch = model.Batch(jax.numpy.zeros((9, 2), jax.numpy.uint32),
                      jax.numpy.zeros((9,), jax.numpy.int32),
                      jax.numpy.ones((9,), bool))

  def ops():
    jaxpr = jax.make_jaxpr(lambda s, b: model.step(s, b, HParams(), config))(state, batch)
    return str(jaxpr)

  cpu_program = ops()
  assert 'population_count' in cpu_program and 'dot_general' not in cpu_program
  monkeypatch.setattr(jax, 'default_backend', lambda: 'gpu')
  gpu_program = ops()
  assert 'dot_general' in gpu_program and 'population_count' not in gpu_program


def test_auto_gives_the_same_bits_as_both_backends():
  config = Config(layers=(12, 6), group_size=(3, 2), num_inputs=45, num_classes=3,
                  batch_size=9, num_epochs=1, num_test=5, semantics='reference')
  r = np.random.default_rng(0)
  from bnnjax import bits
  x = bits.pack_numpy(r.choice([-1, 1], size=(9, 45)).astype(np.int8))
  batch = model.Batch(jax.numpy.asarray(x), jax.numpy.asarray(r.integers(0, 3, 9),
                                                               jax.numpy.int32),
                      jax.numpy.ones((9,), bool))
  out = {}
  for backend in config_lib.BACKENDS:
    cfg = dataclasses.replace(config, backend=backend)
    state = model.init(jax.random.PRNGKey(1), cfg)
    for _ in range(3):
      state, _ = jax.jit(lambda s, b: model.step(s, b, HParams(), cfg))(state, batch)
    out[backend] = [np.asarray(h) for h in state.hidden]
  for backend in ('packed', 'dense'):
    for h, h_auto in zip(out[backend], out['auto']):
      np.testing.assert_array_equal(h, h_auto)


def _wide_types(fn, args, platform):
  """The 64-bit tensor types in the StableHLO of jit(fn)(*args) lowered for
  `platform` (lowering needs no such device)."""
  import re
  exported = jax.export.export(jax.jit(fn), platforms=(platform,))(*args)
  return set(re.findall(r'tensor<[^>]*?(?:ui64|i64|f64)>', exported.mlir_module()))


@pytest.mark.slow
def test_programs_lowered_for_tpu_hold_no_64_bit_types():
  """TPUs have no native 64-bit arithmetic: the rule's init and epoch programs (dense,
  as 'auto' picks there; with diagnostics) lowered for TPU hold no 64-bit type. JAX's
  own threefry is taken in its 32-bit form here: its default (partitionable) form
  counts in a uint64 iota in every JAX program that draws random bits, on TPU too.
  Lowered for CPU, the same programs do hold bnnjax's 64-bit types (the uint64 sort
  key of `rng.stable_sort_by`, the float64 quotient of `diagnostics.fraction`), so the
  check can fail."""
  import jax.numpy as jnp
  from bnnjax import run
  config = Config(layers=(12, 10), group_size=(4, 5), num_inputs=70, num_classes=4,
                  batch_size=8, num_epochs=1, num_test=5, backend='dense')
  engine = run.make_train(config).engine
  keys = jax.ShapeDtypeStruct((2, 2), jnp.uint32)
  params = HParams(*(jax.ShapeDtypeStruct((2,), d)
                     for d in (jnp.float32, jnp.float32, jnp.int32)))
  y = jax.ShapeDtypeStruct((40,), jnp.int32)
  data = run.Data(jax.ShapeDtypeStruct((40, 3), jnp.uint32), y)
  states, train_idx, test_idx = jax.eval_shape(engine.init_runs, keys, params, y)
  epoch_args = (states, params, train_idx, test_idx, data)
  with jax.threefry_partitionable(False):
    assert _wide_types(engine.init_runs, (keys, params, y), 'tpu') == set()
    assert _wide_types(engine.epoch_runs, epoch_args, 'tpu') == set()
    on_cpu = _wide_types(engine.epoch_runs, epoch_args, 'cpu')
  assert 'tensor<35xui64>' in on_cpu and 'tensor<2xf64>' in on_cpu, on_cpu
