"""Tests of bnnjax.baselines (cp_r, sgd, adam, ste) and their method entries."""

import dataclasses
import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import reference_impl as ref
from bnnjax import bits
from bnnjax import methods
from bnnjax import model
from bnnjax import run as run_lib
from bnnjax.baselines import cp_r
from bnnjax.baselines import mlp
from bnnjax.config import HParams, Protocol
from bnnjax.data import from_signs

# ----------------------------------------------------------------------------------
# A literal NumPy CP+R step (algorithm.md, "Baselines of the paper")
# ----------------------------------------------------------------------------------


def ref_cp_r_step(state, x, y, valid, params, semantics, blocks, head='argmax'):
  """One CP+R step with explicit loops; state holds int64 hidden (N_in, K1) and
  classifiers (K2, C_out). head 'sign': one output, y± = 2y - 1, prediction sign(z),
  error sign(z) != y± or |z| < τ, committee target y±·P[k, 0].
  Returns (new_hidden list, num_correct)."""
  r, p_r, weight_clip = params
  key, step_key = jax.random.split(state['key'])
  block_keys = jax.random.split(step_key, len(blocks))
  b = x.shape[0]
  # Step 1, per block: a = s W, s = sign(a), c = committee sums, u = sign(c), z = u P.
  s_in, inputs, pre, post, votes, scores = x.astype(np.int64), [], [], [], [], []
  for (k1, k2), h, p in zip(blocks, state['hidden'], state['classifiers']):
    g = k1 // k2
    a = s_in @ np.sign(h)
    s = ref.sign(a, semantics)
    c = np.zeros((b, k2), np.int64)
    for k in range(k2):
      for j in range(k * g, (k + 1) * g):
        c[:, k] += s[:, j]
    z = ref.sign(c, semantics) @ p
    inputs.append(s_in)
    pre.append(a)
    post.append(s)
    votes.append(c)
    scores.append(z)
    s_in = s
  correct = sum(1 for mu in range(b)
                if valid[mu] and ref.predict_one(scores[-1][mu], semantics, head) == y[mu])
  c_max = ref.clip_value(weight_clip, semantics)
  new_hidden = []
  for l, ((k1, k2), h, p) in enumerate(zip(blocks, state['hidden'],
                                            state['classifiers'])):
    g = k1 // k2
    tau = int(np.floor(np.float32(r) * np.float32(k2)))
    err = np.zeros(b, bool)
    for mu in range(b):
      if valid[mu] and head == 'argmax':
        order = np.sort(scores[l][mu])[::-1]
        err[mu] = (np.argmax(scores[l][mu]) != y[mu]) or (order[0] - order[1] < tau)
      elif valid[mu]:
        z0 = scores[l][mu, 0]
        err[mu] = ref.sign(np.array([z0]), semantics)[0] != 2 * y[mu] - 1 or abs(z0) < tau
    delta = np.zeros_like(h)
    for mu in range(b):
      if not err[mu]:
        continue
      for k in range(k2):
        t = p[k, y[mu]] if head == 'argmax' else (2 * y[mu] - 1) * p[k, 0]
        if votes[l][mu, k] * t >= 0:  # the committee is right (or tied, or t = 0)
          continue
        best = None
        for j in range(k * g, (k + 1) * g):
          if pre[l][mu, j] * t < 0 and (best is None or
                                        abs(pre[l][mu, j]) < abs(pre[l][mu, best])):
            best = j
        if best is not None:  # ('binary': a wrong vote may come from a = 0 members)
          delta[:, best] += 2 * inputs[l][mu] * t
    h_new = h + delta
    one_minus = np.float32(max(np.float32(1.0) - np.float32(state['prev_acc']), 0.0))
    const = np.float32(np.sqrt(2.0 / (np.pi * h.shape[0])))
    prob = np.float32(np.float32(p_r) * np.sqrt(one_minus)) * const
    grow = ref.bernoulli_mask(block_keys[l], prob, h.shape)
    h_new = np.clip(h_new + 2 * np.sign(h_new) * grow, -c_max, c_max)
    new_hidden.append(h_new if err.any() else h)
  return new_hidden, correct


D, C, B = 70, 4, 24  # 70 inputs: 3 words with padding bits


def _batch(seed, num_inputs=D, num_valid=B - 3, num_classes=C):
  rs = np.random.RandomState(seed)
  x = np.where(rs.rand(B, num_inputs) < 0.5, 1, -1).astype(np.int8)
  y = rs.randint(0, num_classes, B).astype(np.int32)
  valid = np.arange(B) < num_valid  # a partial batch
  return x, y, valid


@pytest.mark.parametrize('semantics,backend,blocks,weight_clip,num_classes', [
    ('reference', 'packed', ((15, 3),), 0, C),
    ('binary', 'packed', ((15, 3),), 0, C),
    ('binary', 'dense', ((12, 4), (10, 2)), 3, C),  # stacked: block 2 reads 12 signs
    ('reference', 'packed', ((12, 4), (10, 2)), 7, C),
    ('reference', 'packed', ((15, 3),), 0, 2),  # two classes: one ±1 output ('sign')
    ('binary', 'dense', ((15, 3),), 5, 2),
])
def test_cp_r_step_equals_numpy_reference(semantics, backend, blocks, weight_clip,
                                          num_classes):
  config = cp_r.CPConfig(blocks=blocks, num_inputs=D, num_classes=num_classes,
                         batch_size=B, semantics=semantics, backend=backend)
  head = config.head
  assert head == ('sign' if num_classes == 2 else 'argmax')
  params = HParams(robustness=0.5, p_reinforce=0.5, weight_clip=weight_clip)
  state = cp_r.init(jax.random.PRNGKey(3), config, params)
  state = state._replace(prev_acc=jnp.float32(0.3))
  x, y, valid = _batch(0, num_classes=num_classes)
  step = jax.jit(lambda s, b: cp_r.step(s, b, params, config))
  changed = 0
  for t in range(2):  # two steps: the second starts from an updated state
    batch = model.Batch(jnp.asarray(bits.pack_numpy(x)), jnp.asarray(y), jnp.asarray(valid))
    np_state = dict(hidden=[np.asarray(h, np.int64) for h in state.hidden],
                    classifiers=[np.asarray(p, np.int64) for p in state.classifiers],
                    key=state.key, prev_acc=np.float32(state.prev_acc))
    want_hidden, want_correct = ref_cp_r_step(np_state, x, y, valid, params, semantics,
                                              blocks, head)
    new_state, metrics = step(state, batch)
    assert int(metrics.correct) == want_correct
    for got, want, old in zip(new_state.hidden, want_hidden, np_state['hidden']):
      assert got.dtype == jnp.int32
      np.testing.assert_array_equal(np.asarray(got, np.int64), want)
      changed += int(np.sum(want != old))
    for got, old in zip(new_state.classifiers, state.classifiers):  # never trained
      np.testing.assert_array_equal(np.asarray(got), np.asarray(old))
    state = new_state
    x, y, valid = _batch(t + 1, num_classes=num_classes)
  assert changed > 0  # the steps really updated weights


def test_cp_r_even_committee_warns_and_ties_follow_semantics():
  with pytest.warns(UserWarning, match='even committee size'):
    config = cp_r.CPConfig(blocks=((4, 2),), num_inputs=D, num_classes=C,
                           semantics='binary', backend='dense')
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    cp_r.CPConfig(blocks=((6, 2),), num_inputs=D, num_classes=C)  # odd: no warning
  # A tied vote: members (+, -) in committee 0.
  state = cp_r.init(jax.random.PRNGKey(0), config)
  h = np.zeros((D, 4), np.int32)
  h[:, 0], h[:, 1:] = 1, -1
  x = np.ones((1, D), np.int8)
  for semantics, want in (('binary', 1), ('reference', 0)):
    cfg = dataclasses.replace(config, semantics=semantics)
    fwd = cp_r.forward(state._replace(hidden=(jnp.asarray(h),)),
                       jnp.asarray(bits.pack_numpy(x)), cfg)
    assert int(fwd.votes[0][0, 0]) == 0
    assert int(model.sign(fwd.votes[0], semantics)[0, 0]) == want


@pytest.mark.parametrize('text,want', [
    ('330-30', ((330, 30),)), ('880-80,880-80', ((880, 80), (880, 80))),
    ('330,30', ((330, 30),))])
def test_cp_r_parse_layers(text, want):
  assert cp_r.parse_layers(text) == want


# ----------------------------------------------------------------------------------
# Float and STE MLPs
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize('kind', mlp.KINDS)
def test_mlp_step_keeps_shapes_and_dtypes(kind):
  config = mlp.MLPConfig(kind=kind, layers=(6, 5), num_inputs=D, num_classes=C,
                         batch_size=B)
  params = mlp.MLPParams(mlp.PAPER_LEARNING_RATE[kind])
  state0 = mlp.init(jax.random.PRNGKey(0), config)
  step = jax.jit(lambda s, b: mlp.step(s, b, params, config))
  state = state0
  for t in range(3):
    x, y, valid = _batch(t)
    state, correct = step(state, model.Batch(jnp.asarray(bits.pack_numpy(x)),
                                             jnp.asarray(y), jnp.asarray(valid)))
    chex.assert_trees_all_equal_shapes_and_dtypes(state, state0)
    assert correct.dtype == jnp.int32 and 0 <= int(correct) <= int(valid.sum())
  assert [w.shape for w in state.weights] == [(D, 6), (6, 5), (5, C)]
  assert all(w.dtype == jnp.float32 for w in state.weights)
  assert not np.allclose(np.asarray(state.weights[0]), np.asarray(state0.weights[0]))
  if kind == 'ste':
    assert all(float(jnp.max(jnp.abs(w))) <= 1.0 for w in state.weights)


def _np_mlp_grads(weights, x, y, valid, kind):
  """Loss gradients of a bias-free MLP (one hidden layer), literally in float64:
  sgd/adam: relu hidden layer; ste: sign(·) of weights and activations in the forward
  pass (sign(0) = +1), each layer's pre-activation scaled by 1/sqrt(fan_in), and the
  clipped identity 1{|v| <= 1} as the derivative of sign. Loss: the mean cross-entropy
  over the valid rows. Returns (grads, logits)."""
  w1, w2 = (np.asarray(w, np.float64) for w in weights)
  x = np.asarray(x, np.float64)
  sgn = lambda v: np.where(v >= 0, 1.0, -1.0)
  if kind == 'ste':
    s1, s2 = 1 / np.sqrt(w1.shape[0]), 1 / np.sqrt(w2.shape[0])
    a1 = (x @ sgn(w1)) * s1
    h1 = sgn(a1)
    logits = (h1 @ sgn(w2)) * s2
  else:
    a1 = x @ w1
    h1 = np.maximum(a1, 0)
    logits = h1 @ w2
  p = np.exp(logits - logits.max(1, keepdims=True))
  p /= p.sum(1, keepdims=True)
  d = (p - np.eye(w2.shape[1])[y]) * valid[:, None] / valid.sum()  # dL/dlogits
  if kind == 'ste':
    g2 = (h1.T @ d) * s2 * (np.abs(w2) <= 1)
    da1 = (d @ sgn(w2).T) * s2 * (np.abs(a1) <= 1)
    g1 = (x.T @ da1) * s1 * (np.abs(w1) <= 1)
  else:
    g2 = h1.T @ d
    g1 = x.T @ ((d @ w2.T) * (a1 > 0))
  return [g1, g2], logits


@pytest.mark.parametrize('kind', mlp.KINDS)
def test_mlp_steps_equal_a_numpy_reference(kind):
  """Three optimiser steps of SGD (lr 0.01: W -= lr g), Adam (optax's defaults:
  b1 0.9, b2 0.999, eps 1e-8, bias-corrected moments) and STE (Adam on the latent
  weights, then the clip to [-1, 1]) equal the same steps in NumPy, from hand-written
  gradients; and the count of correct pre-update predictions."""
  d_in, n, c, b = 5, 4, 3, 6
  config = mlp.MLPConfig(kind=kind, layers=(n,), num_inputs=d_in, num_classes=c,
                         batch_size=b, input_mode='fp')
  lr = {'sgd': 0.5, 'adam': 0.05, 'ste': 0.2}[kind]  # big steps: visible changes
  params = mlp.MLPParams(lr)
  state = mlp.init(jax.random.PRNGKey(2), config)
  weights = [np.asarray(w, np.float64) for w in state.weights]
  if kind == 'ste':  # some latent weights near the clip, some activations beyond 1
    weights = [w * 3 for w in weights]
    state = state._replace(weights=tuple(jnp.asarray(w, jnp.float32) for w in weights))
  m = [np.zeros_like(w) for w in weights]
  v = [np.zeros_like(w) for w in weights]
  rs = np.random.RandomState(0)
  step = jax.jit(lambda st, bt: mlp.step(st, bt, params, config))
  for t in range(1, 4):
    x = rs.normal(size=(b, d_in)).astype(np.float32) * 2
    y = rs.randint(0, c, b).astype(np.int32)
    valid = np.arange(b) < b - 2  # a partial batch
    state, correct = step(state, model.Batch(jnp.asarray(x), jnp.asarray(y),
                                             jnp.asarray(valid)))
    grads, logits = _np_mlp_grads(weights, x, y, valid, kind)
    assert int(correct) == int(np.sum((np.argmax(logits, 1) == y) & valid))
    for i, g in enumerate(grads):
      if kind == 'sgd':
        weights[i] = weights[i] - lr * g
        continue
      m[i] = 0.9 * m[i] + 0.1 * g
      v[i] = 0.999 * v[i] + 0.001 * g * g
      update = (m[i] / (1 - 0.9**t)) / (np.sqrt(v[i] / (1 - 0.999**t)) + 1e-8)
      weights[i] = weights[i] - lr * update
      if kind == 'ste':
        weights[i] = np.clip(weights[i], -1.0, 1.0)
    for got, want in zip(state.weights, weights):
      # float32 against float64: Adam's g / sqrt(g^2) amplifies the rounding of tiny
      # gradients to ~1e-5 of lr; any wrong term moves weights by ~lr.
      np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=1e-5,
                                 atol=1e-5)
  moved = sum(np.abs(w - np.asarray(w0)).max() for w, w0 in zip(
      weights, mlp.init(jax.random.PRNGKey(2), config).weights))
  assert moved > 0.05  # the steps changed the weights: the comparison can fail


def test_packed_and_float_inputs_give_the_same_logits():
  config = mlp.MLPConfig(kind='adam', layers=(6,), num_inputs=D, num_classes=C)
  state = mlp.init(jax.random.PRNGKey(1), config)
  x, _, _ = _batch(0)
  a = mlp.logits(state.weights, mlp.features(jnp.asarray(bits.pack_numpy(x)), config),
                 config)
  b = mlp.logits(state.weights, mlp.features(jnp.asarray(x, jnp.float32), config), config)
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_ste_sign_forward_and_clipped_identity_gradient():
  v = jnp.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5])
  np.testing.assert_array_equal(mlp.ste_sign(v), [-1, -1, -1, 1, 1, 1, 1])
  grad = jax.grad(lambda u: jnp.sum(mlp.ste_sign(u) * jnp.arange(7.0)))(v)
  np.testing.assert_array_equal(grad, np.arange(7.0) * (np.abs(v) <= 1))


# ----------------------------------------------------------------------------------
# Whole runs: vmap over seeds (chunked, over 2 devices) equals a loop over seeds
# ----------------------------------------------------------------------------------


def _pool(n=90, seed=5):
  rs = np.random.RandomState(seed)
  protos = np.where(rs.rand(C, D) < 0.5, 1, -1)
  y = np.arange(n) % C
  flips = rs.rand(n, D) < 0.3
  x = np.where(flips, -protos[y], protos[y]).astype(np.int8)
  return x, y.astype(np.int32)


def _cp_r_tiny(**kw):
  return cp_r.CPConfig(blocks=((9, 3), (6, 2)), num_inputs=D, num_classes=C,
                       batch_size=16, **kw)


def _mlp_tiny(kind, **kw):
  return mlp.MLPConfig(kind=kind, layers=(6,), num_inputs=D, num_classes=C,
                       batch_size=16, **kw)


@pytest.mark.slow
@pytest.mark.parametrize('name', ('cp_r',) + mlp.KINDS)
def test_vmap_step_over_seeds_equals_loop(name):
  if name == 'cp_r':
    config = _cp_r_tiny(backend='dense')
    params = HParams(robustness=0.5)
    init = lambda k: cp_r.init(k, config, params)._replace(prev_acc=jnp.float32(0.2))
    step = lambda s, b: cp_r.step(s, b, params, config)[0]
  else:
    config = _mlp_tiny(name)
    params = mlp.MLPParams(mlp.PAPER_LEARNING_RATE[name])
    init = lambda k: mlp.init(k, config)
    step = lambda s, b: mlp.step(s, b, params, config)[0]
  keys = run_lib.seed_keys(7, 3)
  batches = []
  for k in range(3):
    x, y, valid = _batch(10 + k)
    batches.append(model.Batch(jnp.asarray(bits.pack_numpy(x)), jnp.asarray(y),
                               jnp.asarray(valid)))
  states = [init(k) for k in keys]  # eager: only the step is compiled, twice
  stack = lambda *a: jnp.stack(a)
  together = jax.jit(jax.vmap(step))(jax.tree_util.tree_map(stack, *states),
                                     jax.tree_util.tree_map(stack, *batches))
  one = jax.jit(step)
  for k in range(3):
    alone = one(states[k], batches[k])
    mine = jax.tree_util.tree_map(lambda a: a[k], together)
    if name == 'cp_r':  # integers: exact
      chex.assert_trees_all_equal(alone, mine)
    else:  # floats: batched and unbatched matmuls may round differently
      chex.assert_trees_all_close(alone, mine, rtol=1e-5, atol=1e-6)
  leaves = jax.tree_util.tree_leaves(together)
  assert not np.array_equal(np.asarray(leaves[0][0]), np.asarray(leaves[0][1]))


@pytest.mark.slow
def test_whole_cp_r_runs_over_seeds(tmp_path):
  """Through the method entry (the CLI's path): 3 seeds in lax.map chunks of 2, vmapped,
  pmapped over the test devices; exact (integer) results; a finished run's checkpoint
  is resumed as is."""
  x, y = _pool()
  ds = from_signs('pool', x, y, C, 20)
  # dense: the packed product is checked against it (and the reference) above.
  spec = methods.RunSpec(method='cp_r', layers_text='9-3', batch_size=16, num_epochs=2,
                         num_seeds=3, seed=7, seed_chunk=2, backend='dense')
  methods.validate(spec)
  methods.validate(spec, ds)
  ckpt = str(tmp_path / 'checkpoint.npz')
  seen = []
  together = methods.run(spec, ds, lambda *a: seen.append([v.shape for v in a[1:]]),
                         ckpt)
  assert together.test_acc.shape == together.train_acc.shape == (3, 2)
  assert seen == [[(3,), (3,)]] * 2
  assert together.config['blocks'] == ((9, 3),)
  resumed = methods.run(spec, ds, lambda *a: pytest.fail('ran an epoch'), ckpt)
  np.testing.assert_array_equal(resumed.test_acc, together.test_acc)
  # No cross-talk between vmapped runs: the same seeds in reverse order (other chunk
  # partners, other devices; the same compiled program) give the same runs. The literal
  # vmap-equals-loop check is `test_vmap_step_over_seeds_equals_loop`.
  job = methods.prepare(spec, ds)
  keys = run_lib.seed_keys(7, 3)
  again = job.train(keys, job.params, job.data_fn(ds))
  backwards = job.train(keys[::-1], job.params, job.data_fn(ds))
  np.testing.assert_array_equal(again.test_acc, together.test_acc)
  np.testing.assert_array_equal(backwards.test_acc, together.test_acc[::-1])
  np.testing.assert_array_equal(backwards.train_acc, together.train_acc[::-1])
  chex.assert_trees_all_equal(
      backwards.states, jax.tree_util.tree_map(lambda a: a[::-1], again.states))
  assert not np.array_equal(together.train_acc[0], together.train_acc[1])


def test_runner_split_matches_ours_and_fp_subset_is_per_seed():
  key = jax.random.PRNGKey(3)
  full = Protocol(num_test=20)
  tr, te = run_lib.split_indices(key, 100, full)
  perm = np.asarray(jax.random.permutation(key, 100))  # bnnjax.run's split
  np.testing.assert_array_equal(tr, perm[:80])
  np.testing.assert_array_equal(te, perm[80:])
  sub = dataclasses.replace(full, train_divisor=8)
  subsets = [np.asarray(run_lib.split_indices(k, 100, sub)[0])
             for k in jax.random.split(key, 2)]
  assert all(s.shape == (10,) and len(set(s)) == 10 for s in subsets)
  tr2 = np.asarray(run_lib.split_indices(jax.random.split(key, 2)[0], 100, full)[0])
  assert set(subsets[0]) <= set(tr2)
  assert set(subsets[0]) != set(subsets[1])


# ----------------------------------------------------------------------------------
# Method registry entries
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize('spec,flag', [
    (dict(method='cp_r', layers_text='330-31'), '--layers'),
    (dict(method='cp_r', layers_text='330'), '--layers'),
    (dict(method='cp_r', layers_text='33-3', group_size=(3,)), '--group_size'),
    (dict(method='cp_r', layers_text='33-3', semantics='x'), '--semantics'),
    (dict(method='cp_r', layers_text='33-3', robustness=-1.0), '--robustness'),
    (dict(method='cp_r', layers_text='33-3', input_mode='fp'), '--input_mode'),
    (dict(method='cp_r', layers_text='33-3', learning_rate=0.1), '--learning_rate'),
    (dict(method='sgd', layers=(0,)), '--layers'),
    (dict(method='adam', layers_text='3-3'), '--layers'),
    (dict(method='ste', input_mode='float'), '--input_mode'),
    (dict(method='sgd', learning_rate=0.0), '--learning_rate'),
    (dict(method='adam', batch_size=0), '--batch_size'),
    (dict(method='ste', num_epochs=0), '--epochs'),
])
def test_validate_names_the_flag_before_data(spec, flag):
  spec = methods.RunSpec(**spec)
  with pytest.raises(ValueError, match=flag):
    methods.validate(spec)


def test_fp_input_without_float_features_is_a_clear_error():
  x, y = _pool()
  ds = from_signs('not_prototypes', x, y, C, 20)
  spec = methods.RunSpec(method='sgd', layers=(4,), input_mode='fp')
  methods.validate(spec)
  with pytest.raises(ValueError, match='--input_mode'):
    methods.validate(spec, ds)


@pytest.mark.slow
@pytest.mark.parametrize('name,layers_text,input_mode', [
    ('sgd', '5', 'bin'), ('adam', '5', 'fp')])
def test_methods_run_end_to_end(name, layers_text, input_mode):
  x, y = _pool(n=120)
  ds = from_signs('pool', x, y, C, 20, float_input='signs')  # ±1: fp = the signs
  spec = methods.RunSpec(method=name, layers_text=layers_text, input_mode=input_mode,
                         batch_size=10, num_epochs=2, num_seeds=2, seed_chunk=1,
                         backend='dense')
  methods.validate(spec)
  methods.validate(spec, ds)
  seen = []
  res = methods.run(spec, ds, lambda e, tr, te: seen.append((e, tr.shape, te.shape)))
  assert res.train_acc.shape == res.test_acc.shape == (2, 2)
  assert seen == [(0, (2,), (2,)), (1, (2,), (2,))]
  assert np.all((res.test_acc >= 0) & (res.test_acc <= 100))
  if input_mode == 'fp':
    assert res.extra['train_samples'] == 100 // mlp.FP_TRAIN_DIVISOR


def _float_dataset(name, n=40, d=6, c=3, float_input='features'):
  rng = np.random.default_rng(1)
  x_float = (rng.normal(size=(n, d)) * np.arange(1, d + 1) * 100).astype(np.float32)
  x = np.where(x_float > np.median(x_float, axis=0), 1, -1).astype(np.int8)
  x = np.repeat(x, 3, axis=1)  # binarised width differs from the float width
  return from_signs(name, x, np.arange(n) % c, c, 10, x_float=x_float,
                    float_input=float_input)


def test_mlp_inputs_from_float_features():
  ds = _float_dataset('images')
  spec = methods.RunSpec(method='sgd', layers=(4,), input_mode='bin')
  got = methods.mlp_inputs(spec, ds)
  want = bits.pack_numpy(np.where(ds.x_float > np.median(ds.x_float, axis=1,
                                                          keepdims=True), 1, -1))
  np.testing.assert_array_equal(got, want)  # per-sample median of the float features
  assert methods.mlp_num_inputs(spec, ds) == 6
  fp = dataclasses.replace(spec, input_mode='fp')
  np.testing.assert_array_equal(methods.mlp_inputs(fp, ds), ds.x_float)  # as loaded
  assert methods.mlp_num_inputs(fp, ds) == 6


@pytest.mark.slow
def test_mlp_inputs_of_tables():
  ds = _float_dataset('table', c=2, float_input='table')
  spec = methods.RunSpec(method='sgd', layers=(4,), input_mode='bin')
  np.testing.assert_array_equal(methods.mlp_inputs(spec, ds), ds.x)  # thermometer bits
  assert methods.mlp_num_inputs(spec, ds) == 18
  fp = dataclasses.replace(spec, input_mode='fp')
  x = methods.mlp_inputs(fp, ds)
  np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-4)  # standardised per column
  np.testing.assert_allclose(x.std(axis=0), 1, atol=1e-4)
  res = methods.run(dataclasses.replace(fp, num_epochs=2, num_seeds=2), ds)
  assert res.test_acc.shape == (2, 2) and np.all(np.isfinite(res.test_acc))


@pytest.mark.slow
def test_cp_r_test_split_through_the_step_equals_evaluate():
  # CP+R's epoch counts the test split with its training step (train=False batches,
  # `Model.step_eval_fn`), as the rule's does; without that function it calls
  # evaluate_fn. Same bits (accuracies, states, diagnostics) either way.
  x, y = _pool()
  data = run_lib.Data(bits.pack_numpy(x), y)
  config = dataclasses.replace(_cp_r_tiny(), num_epochs=2, num_test=21)
  keys = run_lib.seed_keys(4, 2)
  fused = run_lib.make_trainer(cp_r.make_model(config), config.protocol,
                               seed_chunk=config.seed_chunk)
  assert fused.engine.model.step_eval_fn is not None
  separate = run_lib.make_trainer(fused.engine.model._replace(step_eval_fn=None),
                                  config.protocol, seed_chunk=config.seed_chunk)
  a, b = fused(keys, HParams(), data), separate(keys, HParams(), data)
  np.testing.assert_array_equal(a.test_acc, b.test_acc)
  np.testing.assert_array_equal(a.train_acc, b.train_acc)
  assert a.test_acc.max() > 0
  chex.assert_trees_all_equal((a.states, a.metrics), (b.states, b.metrics))
