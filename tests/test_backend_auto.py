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
