"""Task sequences (experiments/sequences.py: tasks, accuracy matrices, metrics) and the
1-bit `flip` method (bnnjax/baselines/flip.py): exactness against `ours` and a NumPy
step. The continual experiment's smoke run is in tests/test_experiments.py."""

import jax
import numpy as np
import pytest

from bnnjax import bits
from bnnjax import config as config_lib
from bnnjax import data as data_lib
from bnnjax import methods
from bnnjax import model
from bnnjax import run as run_lib
from bnnjax.baselines import flip
from bnnjax.config import Protocol
from experiments import sequences

import reference_impl as ref


def _tiny_pool(n=120, d=40, c=3, seed=0):
  rng = np.random.default_rng(seed)
  protos = rng.choice([-1, 1], size=(c, d))
  y = rng.integers(0, c, n)
  x = protos[y] * np.where(rng.random((n, d)) < 0.2, -1, 1)
  return data_lib.from_signs('tiny', x, y, c, num_test=30)


def _spec(method, **kw):
  kw = dict(dict(layers=(6, 6), group_size=(3,), num_epochs=2, num_seeds=2,
                 batch_size=16, diagnostics=False), **kw)
  return methods.RunSpec(method=method, **kw)


# ----------------------------------------------------------------------------------
# flip
# ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize('semantics', ['reference', 'binary'])
def test_flip_with_q1_trains_like_ours_with_clip_1(semantics):
  """q = 1 flips every opposed weight: exactly H <- clip(H + 2Δ, ±1) (+ reinforcement
  undone by the clip), bit for bit, accuracies and weights."""
  ds = _tiny_pool()
  ours = methods.run(_spec('ours', weight_clip=1, semantics=semantics), ds)
  fl = methods.run(_spec('flip', flip_prob=1.0, semantics=semantics), ds)
  np.testing.assert_array_equal(ours.test_acc, fl.test_acc)
  np.testing.assert_array_equal(ours.train_acc, fl.train_acc)
  for h, w in zip(ours.states.hidden, fl.states.hidden):
    assert w.dtype == np.int8
    np.testing.assert_array_equal(np.asarray(h), np.asarray(w).astype(np.int32))
  # ... and it is not a trivial equality: other clips train differently.
  other = methods.run(_spec('ours', weight_clip=7, semantics=semantics), ds)
  assert any(not np.array_equal(a, b) for a, b in zip(other.states.hidden,
                                                      ours.states.hidden))


def _numpy_flip_step(state, x_pm1, y, valid, r, q, semantics, group_sizes, head,
                     counter_clip=1):
  """NumPy: the drive Δ from the literal reference step (p_r = 0, no clip: H + 2Δ),
  then a move of H by 2·sign(Δ) with probability min(1, q|Δ|) from the same hash, and
  the counter's clip (c_f = 1: a flip where Δ opposes W)."""
  c = ref.clip_value(counter_clip, semantics)
  key, step_key = jax.random.split(state['key'])
  layer_keys = jax.random.split(step_key, len(state['hidden']))
  new, _ = ref.step(state, x_pm1, y, valid, (r, 0.0, 0), semantics, group_sizes, head)
  out = []
  for l, (w, h_new) in enumerate(zip(state['hidden'], new['hidden'])):
    delta = (h_new - w) // 2
    p = np.minimum(np.float32(q) * np.abs(delta).astype(np.float32), np.float32(1))
    seed = np.asarray(jax.random.bits(layer_keys[l], (2,), jax.numpy.uint32)).astype(
        np.uint64)
    idx = np.arange(w.size, dtype=np.uint64).reshape(w.shape)
    hsh = ref.lowbias32((ref.lowbias32(idx ^ seed[0]) + seed[1]) & 0xFFFFFFFF)
    thr = np.where(p >= 1, 0xFFFFFFFF,
                   np.minimum(p * np.float32(4294967296.0),
                              np.float32(4294967040.0)).astype(np.uint64))
    moved = (delta != 0) & ((hsh < thr) | (p >= 1))
    out.append(np.clip(w + 2 * np.sign(delta) * moved, -c, c))
  return out, key


@pytest.mark.parametrize('semantics,head,counter', [
    ('reference', 'argmax', 1), ('binary', 'argmax', 1), ('binary', 'sign', 1),
    ('binary', 'argmax', 4), ('reference', 'argmax', 3)])
def test_flip_step_matches_numpy(semantics, head, counter):
  c = 2 if head == 'sign' else 3
  config = config_lib.Config(layers=(8, 6), group_size=(4, 3), num_inputs=37,
                             num_classes=c, batch_size=24, num_test=5,
                             semantics=semantics, head=head)
  key = jax.random.PRNGKey(3)
  params = flip.FlipParams(robustness=0.5, flip_prob=0.3, counter_clip=counter)
  state = flip.init(key, config, params)
  rng = np.random.default_rng(1)
  x = rng.choice([-1, 1], size=(24, 37)).astype(np.int8)
  y = rng.integers(0, c, 24).astype(np.int32)
  valid = np.ones(24, bool)
  valid[-3:] = False
  step = jax.jit(flip.step, static_argnums=3)
  new, _ = step(state, model.Batch(bits.pack_numpy(x), y, valid), params, config)
  ref_state = {'hidden': [np.asarray(w).astype(np.int64) for w in state.hidden],
               'classifiers': [np.asarray(p).astype(np.int64) for p in state.classifiers],
               'key': state.key, 'prev_acc': 0.0}
  want, _ = _numpy_flip_step(ref_state, x, y, valid, 0.5, 0.3, semantics, (4, 3), head,
                             counter)
  changed = flipped = 0
  for w_new, w_want, w_old in zip(new.hidden, want, ref_state['hidden']):
    np.testing.assert_array_equal(np.asarray(w_new).astype(np.int64), w_want)
    changed += int(np.sum(w_want != w_old))
    flipped += int(np.sum(np.sign(w_want) != np.sign(w_old)))
    c = ref.clip_value(counter, semantics)
    assert np.abs(w_want).max() <= c and (c == 1 or np.abs(w_want).max() > 1)
  assert changed > 0 and flipped > 0  # the step moved weights: the comparison can fail


def test_flip_probability_and_candidates():
  w = np.array([[1, 1, -1, -1, 0, 1]], np.int8)
  d = np.array([[-1, 3, 2, -200, -1, 0]], np.int32)
  p = np.asarray(flip.flip_probability(d, 0.25))
  np.testing.assert_array_equal(p, np.float32([[0.25, 0.75, 0.5, 1.0, 0.25, 0.0]]))
  new, moved = flip.flip_update(w, d, jax.random.PRNGKey(0), 1.0)
  np.testing.assert_array_equal(np.asarray(new), [[-1, 1, 1, -1, -1, 1]])  # flips
  np.testing.assert_array_equal(np.asarray(moved), [[1, 1, 1, 1, 1, 0]])
  new0, moved0 = flip.flip_update(w, d, jax.random.PRNGKey(0), 0.0)
  np.testing.assert_array_equal(np.asarray(new0), w)
  assert not np.asarray(moved0).any()
  # A counter (clip 3) moves one step of 2 per update, whatever |Δ|, and saturates.
  h = np.array([[3, 1, -1, -3, 0, 3]], np.int8)
  new3, _ = flip.flip_update(h, d, jax.random.PRNGKey(0), 1.0, 3)
  np.testing.assert_array_equal(np.asarray(new3), [[1, 3, 1, -3, -2, 3]])
  # About q of the candidates with |Δ| = 1 flip.
  big_w = np.ones((200, 200), np.int8)
  _, f = flip.flip_update(big_w, -np.ones((200, 200), np.int32), jax.random.PRNGKey(1),
                          0.1)
  assert abs(float(np.mean(f)) - 0.1) < 0.01


@pytest.mark.slow
def test_flip_q0_never_changes_weights_and_is_1_bit():
  ds = _tiny_pool()
  res = methods.run(_spec('flip', flip_prob=(0.0, 0.5), semantics='binary'), ds)
  assert res.grid == {'weight_clip': [0, 0], 'flip_prob': [0.0, 0.5]}
  assert res.extra['counter_clip'] == [1, 1]
  assert res.test_acc.shape == (2, 2, 2)
  config = methods.get('flip').config_fn(_spec('flip', semantics='binary'), ds)
  init = jax.vmap(lambda k: flip.init(jax.random.split(k)[1], config))(
      run_lib.seed_keys(42, 2))
  for w, w0 in zip(res.states.hidden, init.hidden):
    np.testing.assert_array_equal(np.asarray(w)[0], np.asarray(w0))  # q = 0
    assert not np.array_equal(np.asarray(w)[1], np.asarray(w0))  # q = 0.5 learns
    assert set(np.unique(np.asarray(w)).tolist()) <= {-1, 1}


@pytest.mark.slow
def test_flip_counter_grid_keeps_odd_values_in_the_clip():
  ds = _tiny_pool()
  res = methods.run(_spec('flip', flip_prob=(0.5, 0.1), weight_clip=(0, 4),
                          semantics='binary'), ds)
  assert res.grid == {'weight_clip': [0, 0, 4, 4], 'flip_prob': [0.5, 0.1, 0.5, 0.1]}
  assert res.extra['counter_clip'] == [1, 1, 4, 4]
  for w in res.states.hidden:
    w = np.asarray(w)
    assert set(np.unique(w[:2]).tolist()) <= {-1, 1}
    assert set(np.unique(w[2:]).tolist()) == {-3, -1, 1, 3}  # c' = 3 under 'binary'


@pytest.mark.parametrize('kwargs,match', [
    (dict(weight_clip=200), 'counter clip'),
    (dict(weight_clip=-1), 'weight_clip'),
    (dict(p_reinforce=0.2), 'p_reinforce'),
    (dict(flip_prob=1.5), 'flip probability'),
    (dict(flip_prob=()), 'lists no value'),
    (dict(learning_rate=0.1), '--flip_prob'),
    (dict(robustness=(0.1, 0.2)), 'sweeps only'),
    (dict(weight_clip=()), 'lists no value'),
    (dict(train_classifiers=True), 'train_classifiers'),
    (dict(input_mode='fp'), 'input_mode'),
    (dict(layers=(6, 6), group_size=(4,)), 'group_size'),
])
def test_flip_bad_input_is_a_value_error(kwargs, match):
  with pytest.raises(ValueError, match=match):
    methods.validate(_spec('flip', **kwargs))


# ----------------------------------------------------------------------------------
# Tasks and metrics
# ----------------------------------------------------------------------------------


def test_permuted_tasks_permute_the_input_bits():
  ds = _tiny_pool()
  tasks = sequences.permuted_tasks(ds, 3, seed=5)
  x0 = np.asarray(bits.unpack_rows(ds.x, ds.num_features))
  np.testing.assert_array_equal(tasks[0].x, ds.x)
  for t in (1, 2):
    xt = np.asarray(bits.unpack_rows(tasks[t].x, ds.num_features))
    perm = np.random.default_rng(5 + t).permutation(ds.num_features)
    np.testing.assert_array_equal(xt, x0[:, perm])
    assert not np.array_equal(xt, x0)
    np.testing.assert_array_equal(tasks[t].y, ds.y)
    assert tasks[t].num_test == ds.num_test and tasks[t].x_float is None
  with pytest.raises(ValueError, match='num_tasks'):
    sequences.permuted_tasks(ds, 0)


def test_split_tasks_are_class_disjoint_and_equal_sized():
  ds = data_lib.load('digits', smoke=True)
  tasks = sequences.split_tasks(ds)
  assert len(tasks) == 5
  sizes = {t.num_samples for t in tasks}
  assert len(sizes) == 1 and {t.num_test for t in tasks} == {int(0.2 * sizes.pop())}
  x_all, y_all = np.asarray(ds.x), np.asarray(ds.y)
  for t, task in enumerate(tasks):
    assert set(np.unique(task.y).tolist()) == {0, 1} and task.num_classes == 2
    for xi, yi in zip(np.asarray(task.x)[:5], task.y[:5]):  # rows come from the pool
      rows = np.flatnonzero((x_all == xi).all(1))
      assert any(y_all[r] == 2 * t + yi for r in rows)
  with pytest.raises(ValueError, match='classes_per_task'):
    sequences.split_tasks(ds, classes_per_task=3)


def test_sequence_metrics_by_hand():
  acc = np.array([[90., 10., 5.],
                  [60., 80., 20.],
                  [40., 70., 85.]])
  m = sequences.metrics(acc)
  assert m['final_avg'] == pytest.approx((40 + 70 + 85) / 3)
  assert m['learning'] == pytest.approx((90 + 80 + 85) / 3)
  assert m['bwt'] == pytest.approx(((40 - 90) + (70 - 80)) / 2)
  assert m['forgetting'] == pytest.approx(((90 - 40) + (80 - 70)) / 2)
  assert m['first_task_final'] == 40
  one = sequences.metrics(np.array([[[70.]], [[72.]]]))  # [S=2, 1, 1]
  np.testing.assert_array_equal(one['final_avg'], [70., 72.])
  np.testing.assert_array_equal(one['forgetting'], [0., 0.])


# ----------------------------------------------------------------------------------
# Sequences
# ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_sequence_matrix_matches_separate_runs():
  """A[t, t] is the test accuracy of training task t from the states after task t-1
  (methods.run with initial_states); A[t, k] the same states evaluated on task k's
  per-run test split, recomputed here with run.split_indices and model.evaluate."""
  ds = _tiny_pool()
  tasks = sequences.permuted_tasks(ds, 2)
  spec = _spec('ours', p_reinforce=(0.5, 0.0))
  res = sequences.run_sequence(spec, tasks, log=lambda m: None)
  acc = res['acc']
  assert acc.shape == (2, 2, 2, 2) and res['test_curve'].shape == (2, 2, 2, 2)
  assert res['grid']['p_reinforce'] == [0.5, 0.0]
  first = methods.run(spec, tasks[0])
  second = methods.run(spec, tasks[1], initial_states=first.states)
  np.testing.assert_array_equal(acc[:, :, 0, 0], first.test_acc[..., -1])
  np.testing.assert_array_equal(acc[:, :, 1, 1], second.test_acc[..., -1])
  np.testing.assert_array_equal(res['test_curve'][:, :, 1], second.test_acc)
  config = methods.get('ours').config_fn(spec, ds)
  protocol = Protocol(num_test=ds.num_test)
  for p in range(2):
    for s in range(2):
      st = jax.tree_util.tree_map(lambda a: np.asarray(a)[p, s], second.states)
      split_key, _ = jax.random.split(run_lib.seed_keys(spec.seed, 2)[s])
      _, test_idx = run_lib.split_indices(split_key, ds.num_samples, protocol)
      test_idx = np.asarray(test_idx)
      correct = int(model.evaluate(st, tasks[0].x[test_idx], tasks[0].y[test_idx],
                                   config))
      assert acc[p, s, 1, 0] == 100.0 * correct / ds.num_test


@pytest.mark.slow
def test_sequence_of_a_float_baseline_and_bad_sequences():
  ds = _tiny_pool()
  tasks = sequences.permuted_tasks(ds, 2)
  res = sequences.run_sequence(_spec('sgd', learning_rate=0.5, group_size=None), tasks,
                               log=lambda m: None)
  assert res['acc'].shape == (1, 2, 2, 2) and res['grid'] == {}
  assert np.all((res['acc'] >= 0) & (res['acc'] <= 100))
  odd = [tasks[0], data_lib.from_packed('x', ds.x[:100], ds.y[:100], ds.num_features,
                                        ds.num_classes, ds.num_test)]
  with pytest.raises(ValueError, match='same features'):
    sequences.run_sequence(_spec('ours'), odd)
