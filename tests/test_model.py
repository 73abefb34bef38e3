"""The rule against the literal NumPy reference, bit for bit, on both semantics and both
backends; jit = no-jit; vmap over seeds = a loop; integer safety."""

import dataclasses

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np
import pytest

import reference_impl as ref
from bnnjax import bits
from bnnjax import model
from bnnjax import rng
from bnnjax.config import Config, HParams, MAX_WEIGHT

SEMANTICS = ['reference', 'binary']
BACKENDS = ['packed', 'dense']

# Tiny network: D = 45 (two words, with padding), widths 12 and 6, γ 3 and 2, C = 3.
BASE = Config(layers=(12, 6), group_size=(3, 2), num_inputs=45, num_classes=3,
              batch_size=9, num_epochs=2, num_test=10)


# model.step jitted once per config (hyper-parameters traced): the tests below that are
# about what a step does, not about jit, share it instead of compiling ~250 primitives
# op by op. jit = no jit is test_packed_equals_dense_and_jit_equals_nojit.
STEP = jax.jit(model.step, static_argnums=3)


def _data(seed, n, d, c):
  r = np.random.default_rng(seed)
  x = r.choice([-1, 1], size=(n, d)).astype(np.int8)
  y = r.integers(0, c, size=n).astype(np.int32)
  return x, y


def _to_np(state):
  return dict(hidden=[np.asarray(h).astype(np.int64) for h in state.hidden],
              classifiers=[np.asarray(p).astype(np.int64) for p in state.classifiers],
              key=state.key, prev_acc=np.float32(state.prev_acc))


def _assert_state_equal(state, ref_state):
  for h, rh in zip(state.hidden, ref_state['hidden']):
    assert h.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(h), rh)
  for p, rp in zip(state.classifiers, ref_state['classifiers']):
    np.testing.assert_array_equal(np.asarray(p), rp)
  np.testing.assert_array_equal(np.asarray(state.key), np.asarray(ref_state['key']))


@pytest.mark.parametrize('semantics', SEMANTICS)
def test_init_matches_reference(semantics):
  config = dataclasses.replace(BASE, semantics=semantics)
  key = jax.random.PRNGKey(3)
  state = model.init(key, config)
  r = ref.init(key, config.layers, config.num_inputs, config.num_classes, semantics)
  _assert_state_equal(state, r)
  h = np.concatenate([np.asarray(v).ravel() for v in state.hidden])
  p = np.concatenate([np.asarray(v).ravel() for v in state.classifiers])
  if semantics == 'binary':
    assert np.all(h % 2 == 1) and np.all(np.abs(p) == 1)  # odd weights, ±1 classifiers
  else:
    assert set(np.unique(p)) <= {-1, 0, 1}
  assert 30 < np.std(h) < 100  # Normal(0, 64^2) scale


@pytest.mark.parametrize('semantics,backend,weight_clip', [
    ('reference', 'packed', 0), ('reference', 'dense', 40), ('binary', 'packed', 40),
    ('binary', 'dense', 0)])
def test_steps_match_reference_bit_for_bit(semantics, backend, weight_clip):
  config = dataclasses.replace(BASE, semantics=semantics, backend=backend)
  params = HParams(robustness=0.5, p_reinforce=0.9, weight_clip=weight_clip)
  x, y = _data(0, 9 * 4, config.num_inputs, config.num_classes)
  key = jax.random.PRNGKey(11)
  state = model.init(key, config, params)
  # Make zeros and an earlier accuracy appear, so the ternary paths are exercised.
  state = state._replace(prev_acc=jnp.float32(0.3))
  if semantics == 'reference':
    hidden = list(state.hidden)
    hidden[1] = hidden[1].at[::3].set(0)
    state = state._replace(hidden=tuple(hidden))
  r = _to_np(state)
  step = jax.jit(lambda s, b: model.step(s, b, params, config))
  xp = bits.pack_numpy(x)
  num_changed = 0
  for i in range(4):
    sl = slice(9 * i, 9 * (i + 1))
    valid = np.ones(9, bool)
    if i == 3:
      valid[6:] = False  # a padded partial batch
    before = [np.asarray(h) for h in state.hidden]
    state, metrics = step(state, model.Batch(jnp.asarray(xp[sl]), jnp.asarray(y[sl]),
                                             jnp.asarray(valid)))
    r, correct = ref.step(r, x[sl][valid].astype(np.int64), y[sl][valid], valid[valid],
                          params, semantics, config.group_size)
    _assert_state_equal(state, r)
    assert int(metrics.correct) == correct
    num_changed += sum(int(np.any(b != np.asarray(h))) for b, h in zip(before,
                                                                        state.hidden))
  assert num_changed > 0  # the test exercised real updates


def _assert_variant_state_equal(state, r):
  _assert_state_equal(state, r)
  assert len(state.classifier_hidden) == len(r['classifier_hidden'])
  for q, rq in zip(state.classifier_hidden, r['classifier_hidden']):
    assert q.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(q), rq)


# The variants of issue 8: trained local classifiers (argmax and one-output heads) and
# the two-class one-output ('sign') head with fixed classifiers, every semantics x backend.
VARIANTS = [(sem, be, train, head) for sem in SEMANTICS for be in BACKENDS
            for train, head in ((True, 'argmax'), (True, 'sign'), (False, 'sign'))]


@pytest.mark.parametrize('semantics,backend,train_classifiers,head', VARIANTS)
def test_variant_steps_match_reference_bit_for_bit(semantics, backend, train_classifiers,
                                                   head):
  num_classes = 2 if head == 'sign' else 3
  config = dataclasses.replace(BASE, semantics=semantics, backend=backend,
                               num_classes=num_classes, head=head,
                               train_classifiers=train_classifiers)
  assert config.num_outputs == (1 if head == 'sign' else 3)
  weight_clip = 40 if backend == 'dense' else 0
  params = HParams(robustness=0.5, p_reinforce=0.9, weight_clip=weight_clip)
  x, y = _data(7, 9 * 5, config.num_inputs, num_classes)
  key = jax.random.PRNGKey(12)
  state = model.init(key, config, params)
  r = ref.init(key, config.layers, config.num_inputs, num_classes, semantics,
               weight_clip, train_classifiers, config.num_outputs)
  _assert_variant_state_equal(state, r)
  state = state._replace(prev_acc=jnp.float32(0.3))
  if semantics == 'reference':  # zeros in H, and in Q / P, exercise the ternary paths
    hidden = list(state.hidden)
    hidden[1] = hidden[1].at[::3].set(0)
    state = state._replace(hidden=tuple(hidden))
    if train_classifiers:
      qs = list(state.classifier_hidden)
      qs[0] = qs[0].at[1].set(0)
      state = state._replace(classifier_hidden=tuple(qs),
                             classifiers=tuple(model.weight_signs(q) for q in qs))
  r = _to_np(state)
  r['classifier_hidden'] = [np.asarray(q).astype(np.int64)
                            for q in state.classifier_hidden]
  step = jax.jit(lambda s, b: model.step(s, b, params, config))
  xp = bits.pack_numpy(x)
  q_changed = h_changed = 0
  for i in range(5):
    sl = slice(9 * i, 9 * (i + 1))
    valid = np.ones(9, bool)
    if i == 4:
      valid[5:] = False  # a padded partial batch
    before_q = [np.asarray(q) for q in state.classifier_hidden]
    before_h = [np.asarray(h) for h in state.hidden]
    state, metrics = step(state, model.Batch(jnp.asarray(xp[sl]), jnp.asarray(y[sl]),
                                             jnp.asarray(valid)))
    r, correct = ref.step(r, x[sl][valid].astype(np.int64), y[sl][valid], valid[valid],
                          params, semantics, config.group_size, head, train_classifiers)
    _assert_variant_state_equal(state, r)
    assert int(metrics.correct) == correct
    q_changed += sum(int(np.any(b != np.asarray(q)))
                     for b, q in zip(before_q, state.classifier_hidden))
    h_changed += sum(int(np.any(b != np.asarray(h))) for b, h in zip(before_h,
                                                                      state.hidden))
  assert h_changed > 0
  assert (q_changed > 0) == train_classifiers  # the classifier update really ran
  # Evaluation and prediction through the head agree with the reference.
  xe, ye = _data(8, 13, config.num_inputs, num_classes)
  xpe = jnp.asarray(bits.pack_numpy(xe))
  assert int(model.evaluate(state, xpe, jnp.asarray(ye), config)) == ref.evaluate(
      r, xe.astype(np.int64), ye, semantics, head)
  _, _, scores = ref.forward(r, xe.astype(np.int64), semantics)
  np.testing.assert_array_equal(
      np.asarray(model.predict(state, xpe, config)),
      [ref.predict_one(z, semantics, head) for z in scores[-1]])


@pytest.mark.parametrize('semantics', SEMANTICS)
def test_trained_classifiers_keep_invariants(semantics):
  """Trained classifiers stay inside the clip; under 'binary' Q stays odd and P ±1;
  with a weight clip of 1 Q is ±1 (pure binary classifiers)."""
  for clip in (0, 1, 6):
    config = dataclasses.replace(BASE, semantics=semantics, train_classifiers=True)
    params = HParams(p_reinforce=1.0, weight_clip=clip)
    state = model.init(jax.random.PRNGKey(2), config, params)
    x, y = _data(9, 9, config.num_inputs, config.num_classes)
    batch = model.Batch(jnp.asarray(bits.pack_numpy(x)), jnp.asarray(y), jnp.ones(9, bool))
    for _ in range(3):
      state, _ = STEP(state, batch, params, config)  # one program for the three clips
    c = ref.clip_value(clip, semantics)
    for q, p in zip(state.classifier_hidden, state.classifiers):
      q, p = np.asarray(q), np.asarray(p)
      assert np.abs(q).max() <= c
      np.testing.assert_array_equal(p, np.sign(q))
      if semantics == 'binary':
        assert np.all(q % 2 == 1) and np.all(np.abs(p) == 1)


def test_fixed_classifier_default_has_no_classifier_weights():
  state = model.init(jax.random.PRNGKey(0), BASE)
  assert state.classifier_hidden == ()
  # The reference-semantics trained classifiers start from the same P as fixed ones.
  trained = model.init(jax.random.PRNGKey(0), dataclasses.replace(BASE,
                                                                   train_classifiers=True))
  for p, q in zip(state.classifiers, trained.classifiers):
    np.testing.assert_array_equal(np.asarray(p), np.asarray(q))


def test_sign_head_error_set_prediction_and_targets():
  z = jnp.array([[5], [-3], [0], [1], [-9]], jnp.int32)
  y = jnp.array([1, 1, 0, 1, 0])
  valid = jnp.ones(5, bool)
  # sign(z) != y± or |z| < τ; a zero score is wrong under 'reference', +1 under 'binary'.
  err = model.error_set(z, y, valid, jnp.int32(2), 'sign', 'reference')
  assert np.asarray(err).tolist() == [False, True, True, True, False]
  err_b = model.error_set(z, y, valid, jnp.int32(0), 'sign', 'binary')
  assert np.asarray(err_b).tolist() == [False, True, True, False, False]
  assert np.asarray(model.head_predict(z, 'sign', 'reference')).tolist() == [1, 0, -1, 1, 0]
  assert np.asarray(model.head_predict(z, 'sign', 'binary')).tolist() == [1, 0, 1, 1, 0]
  p = jnp.array([[1], [-1], [0]], jnp.int8)
  t = model.head_targets(p, jnp.array([1, 0]), 'sign')
  assert np.asarray(t).tolist() == [[1, -1, 0], [-1, 1, 0]]


@pytest.mark.parametrize('shape', [(45, 9, 12), (9, 45, 12), (100, 135, 10)])
def test_both_dense_products_are_exact(shape):
  """The dense backend's int8 dot (CPU) and float32 dot (other platforms, where
  XLA:GPU's int8 dot was seen to double small products) equal NumPy's int64 product."""
  n, m, k = shape
  r = np.random.default_rng(n)
  a = r.integers(-1, 2, (n, m)).astype(np.int8)
  b = r.integers(-1, 2, (n, k)).astype(np.int8)
  want = a.astype(np.int64).T @ b.astype(np.int64)
  for fn in (model._int_dot, model._float_dot, lambda x, y: model.dense_dot(x, y, n)):
    got = jax.jit(fn)(jnp.asarray(a), jnp.asarray(b))
    assert got.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(got), want)
  with pytest.raises(ValueError, match='packed'):
    model.dense_dot(jnp.asarray(a), jnp.asarray(b), model.MAX_DENSE_SUM + 1)


def test_argmax_error_set_refuses_one_column():
  with pytest.raises(ValueError, match="head 'sign'"):
    model.error_set(jnp.zeros((3, 1), jnp.int32), jnp.zeros(3, jnp.int32),
                    jnp.ones(3, bool), jnp.int32(0))


def test_head_validation():
  assert Config(num_classes=2).head == 'sign' and Config(num_classes=3).head == 'argmax'
  assert Config(num_classes=2, head='argmax').num_outputs == 2
  with pytest.raises(ValueError, match='head'):
    Config(num_classes=3, head='sign')
  with pytest.raises(ValueError, match='head'):
    Config(num_classes=3, head='softmax')


@pytest.mark.slow  # op by op: every primitive of a step compiles on its own
@pytest.mark.parametrize('semantics', SEMANTICS)
def test_packed_equals_dense_and_jit_equals_nojit(semantics):
  params = HParams()
  x, y = _data(1, 9, BASE.num_inputs, BASE.num_classes)
  batch = model.Batch(jnp.asarray(bits.pack_numpy(x)), jnp.asarray(y), jnp.ones(9, bool))
  outs = []
  for backend in BACKENDS:
    config = dataclasses.replace(BASE, semantics=semantics, backend=backend)
    state = model.init(jax.random.PRNGKey(5), config)
    for fn in (model.step, jax.jit(model.step, static_argnums=3)):
      s = state
      for _ in range(3):
        s, _ = fn(s, batch, params, config)
      outs.append(s)
  for other in outs[1:]:
    for a, b in zip(jax.tree_util.tree_leaves(outs[0]), jax.tree_util.tree_leaves(other)):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.slow  # two unrolled two-step runs compiled
def test_vmap_over_seeds_equals_loop_and_seeds_differ():
  config = BASE
  params = HParams()
  x, y = _data(2, 9, config.num_inputs, config.num_classes)
  batch = model.Batch(jnp.asarray(bits.pack_numpy(x)), jnp.asarray(y), jnp.ones(9, bool))
  keys = jnp.stack([jax.random.PRNGKey(s) for s in range(3)])

  def run(key):
    s = model.init(key, config)
    for _ in range(2):
      s, _ = model.step(s, batch, params, config)
    return s

  batched = jax.jit(jax.vmap(run))(keys)
  single_run = jax.jit(run)  # one seed at a time
  for i in range(3):
    single = single_run(keys[i])
    for a, b in zip(jax.tree_util.tree_leaves(batched), jax.tree_util.tree_leaves(single)):
      np.testing.assert_array_equal(np.asarray(a)[i], np.asarray(b))
  assert not np.array_equal(np.asarray(batched.hidden[0][0]),
                            np.asarray(batched.hidden[0][1]))


def test_evaluate_and_predict_match_reference():
  config = dataclasses.replace(BASE, eval_batch_size=4)
  x, y = _data(3, 11, config.num_inputs, config.num_classes)
  state = model.init(jax.random.PRNGKey(1), config)
  xp = jnp.asarray(bits.pack_numpy(x))
  expect = ref.evaluate(_to_np(state), x.astype(np.int64), y, config.semantics)
  assert int(model.evaluate(state, xp, jnp.asarray(y), config)) == expect
  _, _, scores = ref.forward(_to_np(state), x.astype(np.int64), config.semantics)
  np.testing.assert_array_equal(np.asarray(model.predict(state, xp, config)),
                                np.argmax(scores[-1], axis=1))


def test_group_selection_ties_and_groups():
  # One sample, γ = 3: wrong neurons (a * t < 0) at 0, 1, 4, 5 with |a| 2, 2, 7, 1.
  pre = jnp.array([[2, -2, 5, 0, 7, -1]], jnp.int32)
  target = jnp.array([[-1, 1, 1, 1, -1, 1]], jnp.int8)
  mask = model.select(pre, target, jnp.array([True]), 3)
  assert np.asarray(mask).tolist() == [[True, False, False, False, False, True]]
  # A zero pre-activation or target is never wrong; samples outside M get nothing.
  assert not np.any(np.asarray(model.select(pre, target, jnp.array([False]), 3)))
  assert np.asarray(model.select(pre, target, jnp.array([True]), 1)).tolist() == [
      [True, True, False, False, True, True]]


def test_error_set_margin_and_ties():
  z = jnp.array([[5, 5, 0], [9, 1, 0], [9, 7, 0], [1, 2, 3]], jnp.int32)
  y = jnp.array([0, 0, 0, 2])
  err = model.error_set(z, y, jnp.ones(4, bool), jnp.int32(3))
  # tie -> margin 0 < 3; margin 8 ok; margin 2 < 3; correct with margin 1 < 3.
  assert np.asarray(err).tolist() == [True, False, True, True]
  err0 = model.error_set(z, jnp.array([1, 0, 0, 2]), jnp.ones(4, bool), jnp.int32(0))
  assert np.asarray(err0).tolist() == [True, False, False, False]  # tie: lowest index wins


def test_weights_saturate_instead_of_wrapping():
  config = dataclasses.replace(BASE, semantics='binary')
  x, y = _data(4, 9, config.num_inputs, config.num_classes)
  batch = model.Batch(jnp.asarray(bits.pack_numpy(x)), jnp.asarray(y), jnp.ones(9, bool))
  state = model.init(jax.random.PRNGKey(0), config)
  big = tuple(jnp.where(h > 0, MAX_WEIGHT, -MAX_WEIGHT).astype(jnp.int32)
              for h in state.hidden)
  state = state._replace(hidden=big)
  for _ in range(3):
    state, _ = STEP(state, batch, HParams(p_reinforce=1.0), config)
  for h, b in zip(state.hidden, big):
    h = np.asarray(h)
    assert np.abs(h).max() <= MAX_WEIGHT and np.all(h % 2 == 1)
    np.testing.assert_array_equal(np.sign(h), np.sign(np.asarray(b)))  # no wrap-around
    assert np.any(np.abs(h) == MAX_WEIGHT)  # saturated


@pytest.mark.parametrize('semantics,clip,expect', [('binary', 4, 3), ('binary', 1, 1),
                                                   ('reference', 4, 4)])
def test_weight_clip(semantics, clip, expect):
  config = dataclasses.replace(BASE, semantics=semantics)
  state = model.init(jax.random.PRNGKey(0), config, HParams(weight_clip=clip))
  x, y = _data(5, 9, config.num_inputs, config.num_classes)
  batch = model.Batch(jnp.asarray(bits.pack_numpy(x)), jnp.asarray(y), jnp.ones(9, bool))
  for _ in range(2):
    state, _ = STEP(state, batch, HParams(weight_clip=clip), config)
  for h in state.hidden:
    assert int(jnp.max(jnp.abs(h))) == expect


def test_bernoulli_mask_rate_and_reference():
  key = jax.random.PRNGKey(9)
  for p in (0.0, 0.013, 0.5, 1.0):
    mask = np.asarray(rng.bernoulli_mask(key, jnp.float32(p), (300, 200)))
    np.testing.assert_array_equal(mask, ref.bernoulli_mask(key, np.float32(p), (300, 200)))
    # 60,000 draws: the rate is within 5 standard errors of p.
    se = np.sqrt(max(p * (1 - p), 1e-12) / mask.size)
    assert abs(mask.mean() - p) <= 5 * se + 1e-9
  other = np.asarray(rng.bernoulli_mask(jax.random.PRNGKey(10), jnp.float32(0.5), (300, 200)))
  assert 0.45 < np.mean(other != mask) < 0.55  # different keys, independent masks


def test_stable_sort_by_equals_key_value_sort_and_numpy_with_many_ties():
  keys = jax.random.bits(jax.random.PRNGKey(3), (3000,), jnp.uint32)
  keys = jnp.concatenate([keys, keys[:500], jnp.full(7, 0xFFFFFFFF, jnp.uint32),
                          jnp.zeros(5, jnp.uint32), keys[:3] % 4])  # ties, extremes
  values = jnp.arange(keys.shape[0], dtype=jnp.int32)[::-1] * 3
  got = np.asarray(jax.jit(rng.stable_sort_by)(keys, values))
  np.testing.assert_array_equal(got, np.asarray(lax.sort_key_val(keys, values)[1]))
  order = np.argsort(np.asarray(keys), kind='stable')
  np.testing.assert_array_equal(got, np.asarray(values)[order])


@pytest.mark.parametrize('n', [1, 2, 97, pytest.param(12000, marks=pytest.mark.slow),
                               pytest.param(70000, marks=pytest.mark.slow)])  # 1-3 rounds
def test_permutation_is_jax_random_permutation_bit_for_bit(n):
  for seed in range(2):
    key = jax.random.PRNGKey(seed)
    x = jnp.arange(n, dtype=jnp.int32) * 5 - 3
    np.testing.assert_array_equal(np.asarray(jax.jit(rng.permutation)(key, x)),
                                  np.asarray(jax.random.permutation(key, x)))
  keys = jax.random.split(jax.random.PRNGKey(7), 3)  # vmapped, as in the run engine
  xs = jnp.tile(jnp.arange(n, dtype=jnp.int32), (3, 1))
  np.testing.assert_array_equal(np.asarray(jax.jit(jax.vmap(rng.permutation))(keys, xs)),
                                np.asarray(jax.vmap(jax.random.permutation)(keys, xs)))
