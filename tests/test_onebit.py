"""The 1-bit learners (bnnjax/baselines/onebit.py): each design's step against a literal
NumPy reference, the flag checks, and the cost rows. The experiment's smoke run is in
tests/test_experiments.py."""

import jax
import numpy as np
import pytest

from bnnjax import bits
from bnnjax import config as config_lib
from bnnjax import cost
from bnnjax import methods
from bnnjax import model
from bnnjax.baselines import onebit

import reference_impl as ref

MASK32 = 0xFFFFFFFF


def _hash(key, shape):
  """NumPy twin of `rng.hash_bits` (uint64 holding uint32 values)."""
  seed = np.asarray(jax.random.bits(key, (2,), jax.numpy.uint32)).astype(np.uint64)
  idx = np.arange(int(np.prod(shape)), dtype=np.uint64).reshape(shape)
  return ref.lowbias32((ref.lowbias32(idx ^ seed[0]) + seed[1]) & MASK32)


def _numpy_onebit_step(state, x, y, valid, p, design, semantics, group_sizes, head):
  """Literal: the drive Δ of the reference step (p_r = 0, no clip: H + 2Δ), then the
  design's flips, column by column."""
  key, step_key = jax.random.split(state['key'])
  layer_keys = jax.random.split(step_key, len(state['hidden']))
  new, _ = ref.step(state, x, y, valid, (p.robustness, 0.0, 0), semantics, group_sizes,
                    head)
  hidden, flips = [], []
  for l, (w, h_new) in enumerate(zip(state['hidden'], new['hidden'])):
    delta = (h_new - w) // 2
    opp = np.where(w == 0, np.abs(delta), -w * delta)
    f = state['flips'][l].copy()
    if design in ('anneal', 'errscale'):
      q = np.float32(p.flip_prob)
      if design == 'anneal':
        q = q / (np.float32(1) + np.float32(p.anneal) * np.float32(state['epoch']))
      else:
        q = q * (np.float32(new['stats'][l][0]) / np.float32(valid.sum()))
      prob = np.minimum(q * np.abs(delta).astype(np.float32), np.float32(1))
      thr = np.where(prob >= 1, MASK32, np.minimum(prob * np.float32(4294967296.0),
                                                   np.float32(4294967040.0)).astype(
                                                       np.uint64))
      move = (opp > 0) & ((_hash(layer_keys[l], w.shape) < thr) | (prob >= 1))
    elif design == 'threshold':
      move = opp >= p.k
    else:
      low = _hash(layer_keys[l], w.shape) >> 16
      score = np.where(opp > 0, (np.minimum(opp, 65535).astype(np.uint64) << 16) | low, 0)
      move = np.zeros(w.shape, bool)
      gate = _hash(jax.random.fold_in(layer_keys[l], 1), (w.shape[1],))
      for j in range(w.shape[1]):
        col = sorted(score[:, j], reverse=True)
        kth = col[min(p.k, len(col)) - 1]
        move[:, j] = (score[:, j] >= kth) & (score[:, j] > 0)
        if design == 'consolidate':
          e = min(31, f[j] // p.anneal)
          move[:, j] &= gate[j] <= (MASK32 >> e)
      if design == 'consolidate':
        f = f + move.sum(axis=0)
    hidden.append(np.where(move, np.sign(delta), w))
    flips.append(f)
  return hidden, flips


@pytest.mark.parametrize('design,semantics,head', [
    ('topk', 'reference', 'argmax'), ('threshold', 'binary', 'argmax'),
    ('anneal', 'reference', 'sign'), ('errscale', 'binary', 'argmax'),
    ('consolidate', 'reference', 'argmax')])
def test_onebit_step_matches_numpy(design, semantics, head):
  c = 2 if head == 'sign' else 3
  config = config_lib.Config(layers=(8, 6), group_size=(4, 3), num_inputs=37,
                             num_classes=c, batch_size=24, num_test=5,
                             semantics=semantics, head=head)
  p = onebit.OneBitParams(robustness=0.5, flip_prob=0.3, k=2,
                          anneal=2 if design == 'consolidate' else 0.5)
  state = onebit.init(jax.random.PRNGKey(3), config)
  # A state part-way through training: a later epoch, and flip counters that gate.
  state = state._replace(epoch=np.int32(3), flips=(np.arange(8, dtype=np.int32) * 3,
                                                   np.arange(6, dtype=np.int32)))
  rng = np.random.default_rng(1)
  x = rng.choice([-1, 1], size=(24, 37)).astype(np.int8)
  y = rng.integers(0, c, 24).astype(np.int32)
  valid = np.ones(24, bool)
  valid[-3:] = False
  step = jax.jit(onebit.step, static_argnums=(3, 4))
  new, _ = step(state, model.Batch(bits.pack_numpy(x), y, valid), p, config, design)
  ref_state = {'hidden': [np.asarray(w).astype(np.int64) for w in state.hidden],
               'classifiers': [np.asarray(q).astype(np.int64) for q in state.classifiers],
               'key': state.key, 'prev_acc': 0.0, 'epoch': 3,
               'flips': [np.asarray(f).astype(np.int64) for f in state.flips]}
  want, want_flips = _numpy_onebit_step(ref_state, x, y, valid, p, design, semantics,
                                        (4, 3), head)
  flipped = 0
  for w_new, w_want, w_old, f_new, f_want in zip(new.hidden, want, ref_state['hidden'],
                                                 new.flips, want_flips):
    assert w_new.dtype == np.int8
    np.testing.assert_array_equal(np.asarray(w_new).astype(np.int64), w_want)
    np.testing.assert_array_equal(np.asarray(f_new), f_want)
    flipped += int(np.sum(w_want != w_old))
    assert np.abs(w_want).max() <= 1  # one bit (and 'reference''s initial zeros)
  assert flipped > 0  # the step moved weights: the comparison can fail


def test_topk_moves_k_per_column_and_gate_halves():
  opp = np.array([[5, 0, 1], [3, -2, 1], [5, 0, 1], [1, 0, 1]], np.int32)
  move = np.asarray(onebit.topk_moves(opp, jax.random.PRNGKey(0), 2))
  np.testing.assert_array_equal(move.sum(0), [2, 0, 2])  # no opposed evidence: none
  assert move[0, 0] and move[2, 0]  # the two largest
  gate = np.asarray(onebit.neuron_gate(np.array([0, 10, 20] * 2000, np.int32),
                                       jax.random.PRNGKey(1), 10)).reshape(-1, 3)
  np.testing.assert_allclose(gate.mean(0), [1, 0.5, 0.25], atol=0.03)


@pytest.mark.parametrize('kw,match', [
    (dict(method='flip_topk', flip_k=0), r'flip_k.*\[1, 65535\]'),
    (dict(method='flip_topk', flip_k=2.5), r'flip_k'),
    (dict(method='flip_anneal', flip_anneal=-1.0), r'flip_anneal.*>= 0'),
    (dict(method='flip_consolidate', flip_anneal=0.5), r'flips per halving'),
    (dict(method='flip_errscale', flip_prob=1.5), r'flip_prob.*\[0, 1\]'),
    (dict(method='flip_topk', flip_prob=0.1), r'does not apply to --method=flip_topk'),
    (dict(method='flip_anneal', flip_k=2), r'does not apply to --method=flip_anneal'),
    (dict(method='flip_threshold', weight_clip=3), r'weight_clip'),
    (dict(method='flip_topk', batch_size=70000), r'batch_size.*65535'),
    (dict(method='ours', flip_k=2), r'flip_k \(--flip_k\) applies to'),
    (dict(method='flip_nope'), r'unknown method'),
])
def test_onebit_bad_flags(kw, match):
  with pytest.raises(ValueError, match=match):
    methods.validate(methods.RunSpec(**kw))


def test_onebit_cost_rows():
  """A row per design; one bit per weight (flip's row at c = 1), the consolidation
  counters with the classifiers, and the top-k designs' selection gates on top of
  flip's."""
  assert cost.formulas.ONEBIT_METHODS == tuple(f'flip_{d}' for d in onebit.DESIGNS)
  assert set(cost.formulas.ONEBIT_METHODS) <= set(methods.METHODS)
  args = ((135, 135), 784, 10, 100, 4000)
  flip_mem = cost.memory_bits_breakdown('flip', *args)
  assert cost.memory_bits_breakdown('flip_topk', *args) == flip_mem
  cons = cost.memory_bits_breakdown('flip_consolidate', *args)
  assert cons['classifiers'] - flip_mem['classifiers'] == 32 * 270
  g = lambda m: cost.gates_per_step(m, (135, 135), 784, 10, 100)
  assert g('flip_threshold') == g('flip_anneal') == g('flip')
  assert g('flip_topk') == g('flip_consolidate') > g('flip')
  # The sort: 784·10²/2 compare-and-swaps per column of layer 1 (⌈log2 784⌉ = 10),
  # 135·8²/2 of layer 2, 135 columns each, 10 gates each.
  assert g('flip_topk') - g('flip') == 10 * 135 * (784 * 100 // 2 + 135 * 64 // 2)
