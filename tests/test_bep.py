"""BEP (`bnnjax.baselines.bep`) and Mono-Forward (`bnnjax.baselines.mono_forward`):
steps against literal NumPy references, BEP's integer-only step (its jaxpr walked for
floating point), the output codebook, and bad inputs before any compile."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import reference_impl as ref
from bnnjax import bits
from bnnjax import methods
from bnnjax import model
from bnnjax.baselines import bep
from bnnjax.baselines import mlp
from bnnjax.baselines import mono_forward

D, C, B = 16, 3, 4
LAYERS, GROUPS = (6, 6, 4), (3, 2, 4)  # three layers: two gated backward products


def _batch(seed, num_valid=B - 1):
  rs = np.random.RandomState(seed)
  x = np.where(rs.rand(B, D) < 0.5, 1, -1).astype(np.int8)
  y = rs.randint(0, C, B).astype(np.int32)
  return x, y, np.arange(B) < num_valid  # a partial batch


def _config(semantics, backend, layers=LAYERS, groups=GROUPS):
  return bep.BEPConfig(layers=layers, group_size=groups, num_inputs=D, num_classes=C,
                       batch_size=B, semantics=semantics, backend=backend,
                       init_scale=3.0)  # small weights: flips, zeros and clips happen


# Both semantics and both backends in two compiled programs (the suite's time budget);
# dense is in the slow tier (tests/conftest.py).
@pytest.mark.parametrize('semantics,backend,weight_clip,layers,groups', [
    ('reference', 'packed', 0, LAYERS, GROUPS),
    ('binary', 'dense', 5, (6, 4), (2, 4)),
])
def test_bep_steps_equal_numpy_reference(semantics, backend, weight_clip, layers,
                                         groups):
  """Four steps over two epochs (the error counts roll over, so E moves from 1), bit
  for bit: hidden weights, key, counts, correct predictions."""
  config = _config(semantics, backend, layers, groups)
  nu, r, p_r = 0.5, 1.0, 1.0
  params = bep.hparams(nu=nu, robustness=r, p_reinforce=p_r, weight_clip=weight_clip)
  cb = bep.codebook(C, layers[-1])
  state = bep.init(jax.random.PRNGKey(4), config, params, cb)
  if semantics == 'reference':  # H = 0 reads as W = +1 and is reinforced to +2;
    # entries at the edge of the 16-bit range saturate at ±32767, never wrap
    state = state._replace(hidden=tuple(
        h.at[::3, ::2].set(0).at[1::3, ::2].set(32765).at[2::3, 1::2].set(-32766)
        for h in state.hidden))
  r_state = dict(hidden=[np.asarray(h, np.int64) for h in state.hidden],
                 codebook=np.asarray(cb, np.int64), key=state.key, epoch=0,
                 counts=[int(v) for v in state.counts])
  step = jax.jit(functools.partial(bep.step, config=config))
  moved = 0
  for t in range(4):
    epoch = t // 2
    state = state._replace(epoch=jnp.int32(epoch))
    r_state['epoch'] = epoch
    x, y, valid = _batch(t)
    batch = model.Batch(jnp.asarray(bits.pack_numpy(x)), jnp.asarray(y),
                        jnp.asarray(valid))
    old = [np.asarray(h) for h in state.hidden]
    state, metrics = step(state, batch, params)
    r_state, r_correct = ref.bep_step(r_state, x.astype(np.int64), y, valid, nu, r, p_r,
                                      weight_clip, semantics, groups)
    assert int(metrics.correct) == r_correct
    for got, want in zip(state.hidden, r_state['hidden']):
      assert got.dtype == jnp.int16
      np.testing.assert_array_equal(np.asarray(got, np.int64), want)
    np.testing.assert_array_equal(np.asarray(state.key), np.asarray(r_state['key']))
    np.testing.assert_array_equal(np.asarray(state.counts), r_state['counts'])
    moved += sum(int(np.sum(np.asarray(h) != o)) for h, o in zip(state.hidden, old))
  assert moved > 0  # the steps changed weights: the comparison can fail
  if semantics == 'reference':
    assert any(int(jnp.max(h)) == 32767 for h in state.hidden)  # saturated
  c_max = 32767 if weight_clip == 0 else weight_clip - (semantics == 'binary'
                                                        and weight_clip % 2 == 0)
  assert all(int(jnp.max(jnp.abs(h))) <= c_max for h in state.hidden)
  if semantics == 'binary':  # odd hidden weights stay odd
    assert all(bool(jnp.all(h % 2 != 0)) for h in state.hidden)


def float_values(closed_jaxpr):
  """Every floating-point value of a jaxpr and its sub-jaxprs (cond branches, scan and
  while bodies, jit, custom rules): ([(where, dtype)], number of jaxprs walked)."""
  found, walked = [], [0]

  def walk(jaxpr, where):
    walked[0] += 1
    for v in list(jaxpr.invars) + list(jaxpr.outvars) + list(jaxpr.constvars):
      dtype = getattr(getattr(v, 'aval', None), 'dtype', None)
      if dtype is not None and jnp.issubdtype(dtype, jnp.floating):
        found.append((where, str(dtype)))
    for eqn in jaxpr.eqns:
      for v in list(eqn.invars) + list(eqn.outvars):
        dtype = getattr(getattr(v, 'aval', None), 'dtype', None)
        if dtype is not None and jnp.issubdtype(dtype, jnp.floating):
          found.append((f'{where}/{eqn.primitive.name}', str(dtype)))
      for value in eqn.params.values():
        for sub in (value if isinstance(value, (tuple, list)) else (value,)):
          if hasattr(sub, 'eqns'):
            walk(sub, f'{where}/{eqn.primitive.name}')
          elif hasattr(sub, 'jaxpr') and hasattr(sub.jaxpr, 'eqns'):
            walk(sub.jaxpr, f'{where}/{eqn.primitive.name}')

  walk(closed_jaxpr.jaxpr, 'step')
  for c in closed_jaxpr.consts:
    if jnp.issubdtype(np.asarray(c).dtype, jnp.floating):
      found.append(('step/const', str(np.asarray(c).dtype)))
  return found, walked[0]


@pytest.mark.parametrize('backend', ['packed', 'dense'])
def test_bep_training_step_has_no_floating_point(backend):
  """The jaxpr of a whole training step (forward, trigger, backward, selection,
  update, reinforcement, clip, counts; the group-size schedule on the packed run) holds
  no floating-point value, nested jaxprs included, on the packed backend. The dense backend's only floats are the exact
  float32 dot that `model.dense_dot` takes off CPU. The engine's float32 `prev_acc` is
  left out of the traced state (the step never reads it). A planted float32 operation
  is found (the walk can fail)."""
  config = _config('reference', backend)
  if backend == 'packed':  # with the group-size schedule (lax.switch over divisors)
    config = bep.BEPConfig(**{**vars(config), 'group_size': (1, 1, 1),
                              'gamma_patience': 2})
  params = bep.hparams(nu=0.25, robustness=0.5, p_reinforce=0.5)
  state = jax.eval_shape(lambda k: bep.init(k, config, params, bep.codebook(C, 4)),
                         jax.random.PRNGKey(0))._replace(prev_acc=None)
  x, y, valid = _batch(0)
  batch = model.Batch(jnp.asarray(bits.pack_numpy(x)), jnp.asarray(y), jnp.asarray(valid))
  int_params = bep.BEPParams(*(jnp.asarray(v, jnp.int32) for v in params))
  traced = jax.make_jaxpr(lambda s, b, p: bep.step(s, b, p, config))(state, batch,
                                                                     int_params)
  found, nested = float_values(traced)
  assert nested >= 2  # the walk went into the jitted forward pass
  if backend == 'packed':
    assert found == []
  else:  # only model.dense_dot's exact float32 dot, the non-CPU branch of its
    # platform-dependent switch (int8 on CPU): converts and the dot, inside the cond
    assert found and all('/cond/' in w and w.rsplit('/', 1)[1] in (
        'convert_element_type', 'dot_general') for w, _ in found), found

  def planted(s, b, p):  # one float32 scaling hidden inside a sub-jaxpr
    new, metrics = bep.step(s, b, p, config)
    h = jax.jit(lambda h: (h.astype(jnp.float32) * 0.5).astype(jnp.int16))(new.hidden[0])
    return new._replace(hidden=(h,) + new.hidden[1:]), metrics

  found, _ = float_values(jax.make_jaxpr(planted)(state, batch, int_params))
  assert found and all('float32' in d for _, d in found)


def test_codebook_is_deterministic_and_more_equiangular_than_random():
  cb = bep.codebook(10, 35, 0)
  assert cb.dtype == np.int8 and cb.shape == (35, 10) and set(np.unique(cb)) == {-1, 1}
  np.testing.assert_array_equal(cb, bep.codebook.__wrapped__(10, 35, 0))
  assert not np.array_equal(cb, bep.codebook(10, 35, 1))
  g = cb.T.astype(np.int64) @ cb
  off = g[~np.eye(10, dtype=bool)]
  rs = np.random.default_rng(0)
  rand = np.where(rs.random((10, 35)) < 0.5, 1, -1)
  g0 = (rand @ rand.T)[~np.eye(10, dtype=bool)]
  j = lambda v: v.sum() / 2 + v.var()
  assert j(off) < j(g0) and np.abs(off).max() <= 11  # near the Welch bound (~ -K/(C-1))
  assert bep.codebook(2, 7).T.tolist()[0] == [-v for v in bep.codebook(2, 7).T.tolist()[1]]


def test_integer_helpers_equal_python_integers():
  num = np.array([0, 1, 2, 7, 19999, 20000, 2**30], np.int32)
  den = np.array([1, 3, 2, 9, 20000, 20000, 2**30 + 5], np.int32)
  xs = np.array([0, 1, 2, 3, 4, 15, 16, 65535 << 16, 2**32 - 1, 123456789], np.uint32)
  frac, root = jax.jit(lambda a, b, x: (bep.fraction_16(a, b), bep.isqrt_u32(x)))(
      num, den, xs)
  assert np.asarray(frac).tolist() == [(int(a) << 16) // int(b) for a, b in zip(num, den)]
  assert np.asarray(root).tolist() == [math.isqrt(int(v)) for v in xs]


@pytest.mark.parametrize('kwargs,match', [
    (dict(nu=1.5), 'nu'), (dict(nu=-0.1), 'nu'), (dict(nu=float('nan')), 'nu'),
    (dict(robustness=2.5), 'robustness'), (dict(p_reinforce=1.2), 'p_reinforce'),
    (dict(weight_clip=40000), 'weight_clip'), (dict(weight_clip=1.5), 'weight_clip'),
    (dict(nu='x'), 'nu'),
])
def test_bep_bad_hyper_parameters_raise_before_compile(kwargs, match):
  with pytest.raises(ValueError, match=match):
    bep.hparams(**kwargs)
  spec_kwargs = {('nu' if k == 'nu' else k): v for k, v in kwargs.items()}
  with pytest.raises(ValueError, match=match):
    methods.validate(methods.RunSpec(method='bep', layers=(6, 6), group_size=(3,),
                                     **spec_kwargs))


@pytest.mark.parametrize('spec,match', [
    (methods.RunSpec(method='ours', nu=0.1), 'nu'),
    (methods.RunSpec(method='bep', layers=(6, 6), group_size=(4,)), 'group_size'),
    (methods.RunSpec(method='bep', layers=(20000,), group_size=(1,)), 'layers'),
    (methods.RunSpec(method='bep', learning_rate=0.1), 'learning_rate'),
    (methods.RunSpec(method='bep', input_mode='fp'), 'input_mode'),
    (methods.RunSpec(method='bep', nu=(0.1, 2.0)), 'nu'),
    (methods.RunSpec(method='mono_forward', layers=(5, 5), robustness=(0.1, 0.2)),
     'grid'),
    (methods.RunSpec(method='mono_forward', layers=(5, 5), learning_rate=-1.0),
     'learning_rate'),
])
def test_bad_specs_name_the_flag(spec, match):
  with pytest.raises(ValueError, match=match):
    methods.validate(spec)


def test_bep_params_out_of_range_are_refused():
  with pytest.raises(ValueError, match='nu'):
    bep.validate_params(bep.BEPParams(nu_q=2**16 + 1))
  with pytest.raises(ValueError, match='p_reinforce'):
    bep.validate_params(bep.BEPParams(p_reinforce_q=np.array([0.5])))


# ----------------------------------------------------------------------------------
# Mono-Forward
# ----------------------------------------------------------------------------------


def test_mono_forward_steps_equal_numpy():
  """Two Adam steps (optax defaults) of the sum of per-layer cross-entropies with
  detached inputs, against hand-written float64 gradients: layer i's gradient reaches
  only W_i, b_i, M_i."""
  d_in, widths, c, b = 5, (4, 3), 3, 6
  config = mlp.MLPConfig(kind='mono_forward', layers=widths, num_inputs=d_in,
                         num_classes=c, batch_size=b, input_mode='fp')
  lr = 0.05
  state = mono_forward.init(jax.random.PRNGKey(2), config)
  weights = [[np.asarray(a, np.float64) for a in layer] for layer in state.weights]
  m = [[np.zeros_like(a) for a in layer] for layer in weights]
  v = [[np.zeros_like(a) for a in layer] for layer in weights]
  rs = np.random.RandomState(0)
  step = jax.jit(lambda st, bt: mono_forward.step(st, bt, mlp.MLPParams(lr), config))
  for t in (1, 2):
    x = rs.normal(size=(b, d_in)).astype(np.float32) * 2
    y = rs.randint(0, c, b).astype(np.int32)
    valid = np.arange(b) < b - 1
    state, correct = step(state, model.Batch(jnp.asarray(x), jnp.asarray(y),
                                             jnp.asarray(valid)))
    h = x.astype(np.float64)
    grads = []
    for w, bias, proj in weights:
      z = h @ w + bias
      a = np.maximum(z, 0)
      g = a @ proj
      p = np.exp(g - g.max(1, keepdims=True))
      p /= p.sum(1, keepdims=True)
      dg = (p - np.eye(c)[y]) * valid[:, None] / valid.sum()
      dz = (dg @ proj.T) * (z > 0)
      grads.append([h.T @ dz, dz.sum(0), a.T @ dg])
      h = a  # the next layer's input (detached: no gradient flows back here)
    assert int(correct) == int(np.sum((np.argmax(g, 1) == y) & valid))
    for i, layer in enumerate(grads):
      for k, gk in enumerate(layer):
        m[i][k] = 0.9 * m[i][k] + 0.1 * gk
        v[i][k] = 0.999 * v[i][k] + 0.001 * gk * gk
        upd = (m[i][k] / (1 - 0.9**t)) / (np.sqrt(v[i][k] / (1 - 0.999**t)) + 1e-8)
        weights[i][k] = weights[i][k] - lr * upd
    for got, want in zip(jax.tree_util.tree_leaves(state.weights),
                         [a for layer in weights for a in layer]):
      np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=1e-5, atol=1e-5)
  assert np.abs(weights[0][0] - np.asarray(mono_forward.init(
      jax.random.PRNGKey(2), config).weights[0][0])).max() > 0.05


def test_prototypes_bep_protocol():
  """BEP's protocol from the prototypes generator: 20,000 train / 3,000 test (the smoke
  slice a tenth), 1,000 features, each bit flipped with probability 0.46, the same
  class prototypes as `prototypes` (the same seed)."""
  from bnnjax import data as data_lib
  from bnnjax.data import prototypes
  assert prototypes.BEP_NUM_SAMPLES - prototypes.BEP_NUM_TEST == 20_000
  assert prototypes.BEP_NUM_TEST == 3_000 and prototypes.BEP_FLIP_PROB == 0.46
  ds = data_lib.load('prototypes_bep', smoke=True)
  assert (ds.num_samples, ds.num_test, ds.num_features) == (2_300, 300, 1_000)
  x, y = prototypes.generate(num_samples=2_300, flip_prob=0.46)
  np.testing.assert_array_equal(np.asarray(ds.x), bits.pack_numpy(x))
  np.testing.assert_array_equal(np.asarray(ds.y), y)
  x0, y0 = prototypes.generate(num_samples=1_000)
  for c in range(10):
    proto = np.where(x[y == c].sum(0) >= 0, 1, -1)  # majority of 230: the prototype
    assert 0.52 < np.mean(x[y == c] == proto) < 0.56  # 1 - 0.46
    assert np.mean(proto == np.where(x0[y0 == c].sum(0) >= 0, 1, -1)) > 0.75


def test_group_size_schedule():
  """The schedule's rule on exact numbers; a step at level k selects like a run whose
  group size is the k-th divisor (bit for bit); the flag is refused elsewhere."""
  step = lambda s, counts, roll: np.asarray(bep.next_schedule(
      jnp.asarray(s, jnp.int32), jnp.asarray(counts, jnp.int32), jnp.asarray(roll), 2, 3))
  e = lambda err, n: (err << 16) // n
  assert step([0, 65537, 0], [1, 30, 100, 0, 0], True).tolist() == [0, e(30, 100), 0]
  assert step([0, e(30, 100), 0], [2, 30, 100, 0, 0], True).tolist() == [0, e(30, 100), 1]
  assert step([0, e(30, 100), 1], [3, 31, 100, 0, 0], True).tolist() == [1, e(30, 100), 0]
  assert step([2, e(30, 100), 1], [3, 31, 100, 0, 0], True).tolist() == [2, e(30, 100), 0]
  assert step([0, 7, 1], [3, 31, 100, 0, 0], False).tolist() == [0, 7, 1]  # mid-epoch
  assert step([0, 65537, 0], [0, 1, 1, 0, 0], True).tolist() == [0, 65537, 0]  # epoch 0
  on = _config('reference', 'packed', (6, 4), (1, 2))
  on = bep.BEPConfig(**{**vars(on), 'gamma_patience': 3})
  assert bep.gamma_levels(on) == ((1, 2, 3, 6), (2, 4))
  params = bep.hparams(nu=0.5, robustness=1.0, p_reinforce=0.0)
  x, y, valid = _batch(1)
  batch = model.Batch(jnp.asarray(bits.pack_numpy(x)), jnp.asarray(y), jnp.asarray(valid))
  s0 = bep.init(jax.random.PRNGKey(2), on, params, bep.codebook(C, 4))
  step = jax.jit(bep.step, static_argnums=3)
  moved = step(s0._replace(schedule=jnp.array([2, 9, 0], jnp.int32)), batch, params,
               on)[0]
  fixed = _config('reference', 'packed', (6, 4), (3, 4))
  want = step(s0, batch, params, fixed)[0]
  for a, b in zip(moved.hidden, want.hidden):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  level0 = step(s0, batch, params, on)[0]
  assert any(not np.array_equal(a, b) for a, b in zip(level0.hidden, want.hidden))
  with pytest.raises(ValueError, match='bep_patience'):
    methods.validate(methods.RunSpec(method='ours', bep_patience=2))
  with pytest.raises(ValueError, match='bep_patience'):
    methods.validate(methods.RunSpec(method='bep', bep_patience=-1))
