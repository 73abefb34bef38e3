"""Property-based tests (hypothesis) of the rule over shapes, γ, batch sizes, clips,
semantics, heads and seeds: packed = dense = the literal NumPy reference, bit for bit;
under 'binary' hidden weights stay odd, inside the clip and never 0; evaluation does not
depend on the chunk size. Few examples each (every new shape compiles), no deadline;
all three are marked slow (docs/testing.md)."""

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import reference_impl as ref
from bnnjax import bits
from bnnjax import model
from bnnjax.config import Config, HParams

# Every example compiles new programs (~1-2 s each): CI draws 5 per property;
# BNNJAX_PROPERTY_EXAMPLES=50 draws 50.
EXAMPLES = settings(max_examples=int(os.environ.get('BNNJAX_PROPERTY_EXAMPLES', '5')),
                    deadline=None, derandomize=True)


@st.composite
def nets(draw):
  """A tiny network, its hyper-parameters and a few batches of data."""
  num_layers = draw(st.integers(1, 2))
  layers, gammas = [], []
  for _ in range(num_layers):
    g = draw(st.sampled_from([1, 2, 3, 4]))
    layers.append(g * draw(st.integers(1, 4)))
    gammas.append(g)
  num_classes = draw(st.sampled_from([2, 3, 4]))
  head = 'sign' if num_classes == 2 and draw(st.booleans()) else 'argmax'
  config = Config(layers=tuple(layers), group_size=tuple(gammas),
                  num_inputs=draw(st.integers(1, 70)), num_classes=num_classes,
                  batch_size=draw(st.integers(1, 9)),
                  semantics=draw(st.sampled_from(['reference', 'binary'])), head=head,
                  train_classifiers=draw(st.booleans()))
  params = HParams(robustness=draw(st.sampled_from([0.0, 0.25, 1.0])),
                   p_reinforce=draw(st.sampled_from([0.0, 0.5, 1.0])),
                   weight_clip=draw(st.sampled_from([0, 1, 2, 7, 64])))
  seed = draw(st.integers(0, 2**16))
  return config, params, seed


def _batches(config, seed, num_batches=3):
  r = np.random.default_rng(seed)
  b = config.batch_size
  x = r.choice([-1, 1], size=(num_batches * b, config.num_inputs)).astype(np.int8)
  y = r.integers(0, config.num_classes, size=num_batches * b).astype(np.int32)
  return x, y


@pytest.mark.slow
@EXAMPLES
@given(nets())
def test_packed_dense_and_reference_agree(net):
  config, params, seed = net
  x, y = _batches(config, seed)
  key = jax.random.PRNGKey(seed)
  states = {}
  for backend in ('packed', 'dense'):
    cfg = dataclasses.replace(config, backend=backend)
    state = model.init(key, cfg, params)
    step = jax.jit(lambda s, b, cfg=cfg: model.step(s, b, params, cfg))
    for i in range(3):
      sl = slice(i * config.batch_size, (i + 1) * config.batch_size)
      state, _ = step(state, model.Batch(jnp.asarray(bits.pack_numpy(x[sl])),
                                         jnp.asarray(y[sl]),
                                         jnp.ones(config.batch_size, bool)))
    states[backend] = state
  for a, b in zip(jax.tree_util.tree_leaves(states['packed']),
                  jax.tree_util.tree_leaves(states['dense'])):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  r = ref.init(key, config.layers, config.num_inputs, config.num_classes,
               config.semantics, params.weight_clip, config.train_classifiers,
               config.num_outputs)
  for i in range(3):
    sl = slice(i * config.batch_size, (i + 1) * config.batch_size)
    r, _ = ref.step(r, x[sl].astype(np.int64), y[sl], np.ones(config.batch_size, bool),
                    tuple(params), config.semantics, config.group_size, config.head,
                    config.train_classifiers)
  for h, rh in zip(states['packed'].hidden, r['hidden']):
    np.testing.assert_array_equal(np.asarray(h), rh)
  for q, rq in zip(states['packed'].classifier_hidden, r['classifier_hidden']):
    np.testing.assert_array_equal(np.asarray(q), rq)


@pytest.mark.slow
@EXAMPLES
@given(nets())
def test_binary_weights_stay_odd_and_inside_the_clip(net):
  config, params, seed = net
  config = dataclasses.replace(config, semantics='binary')
  x, y = _batches(config, seed)
  state = model.init(jax.random.PRNGKey(seed), config, params)
  step = jax.jit(lambda s, b: model.step(s, b, params, config))
  c = ref.clip_value(params.weight_clip, 'binary')
  for i in range(3):
    sl = slice(i * config.batch_size, (i + 1) * config.batch_size)
    state, _ = step(state, model.Batch(jnp.asarray(bits.pack_numpy(x[sl])),
                                       jnp.asarray(y[sl]),
                                       jnp.ones(config.batch_size, bool)))
    for h in state.hidden + state.classifier_hidden:
      h = np.asarray(h)
      assert np.all(h % 2 == 1) and np.abs(h).max() <= c and not np.any(h == 0)


@pytest.mark.slow
@EXAMPLES
@given(nets(), st.integers(1, 7))
def test_evaluation_does_not_depend_on_the_chunk_size(net, chunk):
  config, params, seed = net
  x, y = _batches(config, seed, num_batches=2)
  xp, yj = jnp.asarray(bits.pack_numpy(x)), jnp.asarray(y)
  state = model.init(jax.random.PRNGKey(seed), config, params)
  want = model.evaluate(state, xp, yj, dataclasses.replace(config,
                                                           eval_batch_size=len(y)))
  got = model.evaluate(state, xp, yj, dataclasses.replace(config, eval_batch_size=chunk))
  assert int(got) == int(want) == ref.evaluate(
      dict(hidden=[np.asarray(h, np.int64) for h in state.hidden],
           classifiers=[np.asarray(p, np.int64) for p in state.classifiers]),
      x.astype(np.int64), y, config.semantics, config.head)
