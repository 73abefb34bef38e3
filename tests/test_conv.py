"""Binary conv nets trained by the local rule (bnnjax.conv, docs/conv.md)."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import reference_impl as ref
from bnnjax import bits
from bnnjax import config as config_lib
from bnnjax import conv
from bnnjax import methods
from bnnjax import model
from bnnjax import run

# A 6x6x2 image; a padded 3x3 block with 2x2 pooling, a stride-2 2x2 block, a dense layer.
BLOCKS = ((4, 3, 2, 1, 1), (6, 2, 1, 2, 0))
LAYERS = (6,)
IMAGE = (6, 6, 2)
GROUPS = (2, 3, 3)


def _config(semantics, backend, select='filter', margin=0, freeze=False, **kw):
  return conv.ConvConfig(image_shape=IMAGE, conv=tuple(config_lib.ConvBlock(*b)
                                                       for b in BLOCKS),
                         layers=LAYERS, group_size=GROUPS, num_classes=3,
                         semantics=semantics, backend=backend, select=select,
                         margin=margin, freeze_conv=freeze, batch_size=5, **kw)


def _batch(seed, b=5):
  r = np.random.default_rng(seed)
  img = r.choice([-1, 1], size=(b,) + IMAGE).astype(np.int8)
  y = r.integers(0, 3, size=b).astype(np.int32)
  valid = np.ones(b, bool)
  valid[-1] = False  # a padding row
  return img, y, valid


def _ref_state(state):
  return dict(hidden=[np.asarray(h, np.int64) for h in state.hidden],
              classifiers=[np.asarray(p, np.int64) for p in state.classifiers],
              key=state.key, prev_acc=int(state.prev_acc))


@pytest.mark.parametrize('semantics,backend,select,margin,freeze,clip', [
    ('reference', 'packed', 'filter', 0, False, 0),
    ('reference', 'dense', 'unit', 3, False, 0),
    ('binary', 'packed', 'filter', 2, False, 9),
    ('binary', 'dense', 'all', 0, True, 0)])
def test_conv_step_equals_numpy_reference(semantics, backend, select, margin, freeze,
                                          clip):
  """Two steps of every layer, bit for bit: hidden weights, error-set sizes, filters
  moved, correct counts; under 'binary' hidden weights stay odd and inside the clip."""
  config = _config(semantics, backend, select, margin, freeze)
  params = conv.ConvParams(robustness_q=16384, p_reinforce_q=60000, weight_clip=clip)
  shapes = ref.conv_layer_shapes(IMAGE, BLOCKS, LAYERS)
  state = conv.init(jax.random.PRNGKey(3), config, params)
  state = state._replace(prev_acc=jnp.int32(int(0.3 * 2**30)))
  step = jax.jit(lambda s, b: conv.step(s, b, params, config))
  want = _ref_state(state)
  for k in range(2):
    img, y, valid = _batch(k)
    x = bits.pack_numpy(img.reshape(img.shape[0], -1))
    state, metrics = step(state, model.Batch(jnp.asarray(x), jnp.asarray(y),
                                             jnp.asarray(valid)))
    want, correct = ref.conv_step(want, img, y, valid, (16384, 60000, clip), semantics,
                                  shapes, GROUPS, select, margin,
                                  freeze=len(BLOCKS) if freeze else 0)
    assert int(metrics.correct) == correct
    assert [tuple(s) for s in zip(np.asarray(metrics.errors).tolist(),
                                  np.asarray(metrics.updated).tolist())] == want['stats']
    for got, exp in zip(state.hidden, want['hidden']):
      np.testing.assert_array_equal(np.asarray(got), exp)
    np.testing.assert_array_equal(np.asarray(state.key), np.asarray(want['key']))
  assert sum(s[1] for s in want['stats']) > 0  # some filter did move
  if semantics == 'binary':
    for h in state.hidden:
      h = np.asarray(h)
      assert np.all(h % 2 == 1) and (clip == 0 or np.abs(h).max() <= clip)


def test_forward_and_prediction_equal_numpy():
  config = _config('reference', 'packed')
  state = conv.init(jax.random.PRNGKey(1), config)
  img, y, _ = _batch(7, b=9)
  x = jnp.asarray(bits.pack_numpy(img.reshape(9, -1)))
  fwd = conv.forward(state, x, config)
  want = ref.conv_forward(_ref_state(state), img, ref.conv_layer_shapes(
      IMAGE, BLOCKS, LAYERS), 'reference')
  for l, (patches, a, pooled, z) in enumerate(want):
    np.testing.assert_array_equal(np.asarray(fwd.pre[l]), a)
    np.testing.assert_array_equal(np.asarray(fwd.pooled[l]), pooled)
    np.testing.assert_array_equal(np.asarray(fwd.scores[l]), z)
  pred = [ref.predict_one(z, 'reference', 'argmax') for z in want[-1][3]]
  np.testing.assert_array_equal(np.asarray(conv.predict(state, x, config)), pred)


def float_values(jaxpr) -> list:
  """Every variable or literal of a floating-point dtype in a jaxpr and its sub-jaxprs."""
  found = []

  def walk(jx):
    for v in list(jx.invars) + list(jx.outvars) + list(jx.constvars):
      if hasattr(v, 'aval') and jnp.issubdtype(v.aval.dtype, jnp.floating):
        found.append(v)
    for eqn in jx.eqns:
      for v in list(eqn.invars) + list(eqn.outvars):
        if hasattr(v, 'aval') and jnp.issubdtype(v.aval.dtype, jnp.floating):
          found.append((eqn.primitive.name, v.aval))
      for p in eqn.params.values():
        for sub in (p if isinstance(p, (tuple, list)) else (p,)):
          if hasattr(sub, 'eqns'):  # a Jaxpr
            walk(sub)
          elif hasattr(getattr(sub, 'jaxpr', None), 'eqns'):  # a ClosedJaxpr
            walk(sub.jaxpr)

  walk(jaxpr.jaxpr)
  return found


def test_the_training_step_has_no_floating_point_value():
  """The jaxpr of the packed conv step (every layer, steps 1-8) holds integers only;
  a planted float is found."""
  config = _config('reference', 'packed', margin=2)
  params = conv.ConvParams()
  state = conv.init(jax.random.PRNGKey(0), config, params)
  img, y, valid = _batch(0)
  batch = model.Batch(jnp.asarray(bits.pack_numpy(img.reshape(5, -1))), jnp.asarray(y),
                      jnp.asarray(valid))
  jaxpr = jax.make_jaxpr(lambda s, b: conv.step(s, b, params, config))(state, batch)
  assert float_values(jaxpr) == []

  def planted(s, b):
    new, m = conv.step(s, b, params, config)
    h = new.hidden[0]
    return new._replace(hidden=(h + (h.astype(jnp.float32) * 0.5).astype(jnp.int32),)
                        + new.hidden[1:]), m

  assert float_values(jax.make_jaxpr(planted)(state, batch))


def test_integer_helpers_are_exact():
  for num, den in [(0, 7), (7, 7), (3, 7), (3999, 4000), (1, 2**30 - 1)]:
    assert int(bits.fixed_fraction(jnp.int32(num), den, 30)) == (num << 30) // den
  xs = np.array([0, 1, 3, 4, 15, 16, 2**30, 2**32 - 1, 123456789], np.uint64)
  got = np.asarray(bits.isqrt(jnp.asarray(xs.astype(np.uint32))))
  assert [int(g) for g in got] == [math.isqrt(int(v)) for v in xs]
  for r, d in [(16384, 2704), (65535, 65535), (2**20 + 7, 100000), (12345, 3 * 2**16 + 5)]:
    assert int(bits.mul_frac16(jnp.int32(r), d)) == (r * d) >> 16
  # The reinforcement threshold against its float formula (quantisation < 1e-3).
  for acc, fan_in, p_r in [(0.0, 9, 1.0), (0.7, 144, 0.5), (0.99, 800, 0.25)]:
    t = int(conv.reinforce_threshold(conv.ConvParams(p_reinforce_q=round(p_r * 2**16)),
                                     jnp.int32(int(acc * 2**30)), fan_in))
    exact = p_r * math.sqrt(1 - acc) * math.sqrt(2 / (math.pi * fan_in)) * 2**32
    assert abs(t - exact) <= 1e-3 * exact + 2**16


def test_conv_runs_through_the_registry_with_a_grid_and_resumes(tmp_path):
  """--method=conv on digits: a robustness grid and 2 seeds in one call; the running
  accuracy is the integer floor(acc * 2^30); an interrupted run resumes to the same
  bits."""
  from bnnjax import data
  ds = data.load('digits', smoke=True)
  spec = methods.RunSpec(method='conv', conv='4:3:2', layers=(10,), group_size=(2, 5),
                         robustness=(0.0, 0.25), num_seeds=2, num_epochs=2, batch_size=20)
  full = methods.run(spec, ds)
  assert full.test_acc.shape == (2, 2, 2) and full.train_acc.max() > 15
  n_train = ds.num_samples - ds.num_test
  correct = np.rint(full.train_acc[..., -1] * n_train / 100).astype(np.int64)
  np.testing.assert_array_equal(np.asarray(full.states.prev_acc),
                                (correct << 30) // n_train)
  path = str(tmp_path / 'ckpt.npz')

  def stop(epoch, *_):
    if epoch == 0:
      raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    methods.run(spec, ds, progress_fn=stop, checkpoint_path=path)
  resumed = methods.run(spec, ds, checkpoint_path=path)
  np.testing.assert_array_equal(resumed.test_acc, full.test_acc)
  for a, b in zip(jax.tree_util.tree_leaves(resumed.states),
                  jax.tree_util.tree_leaves(full.states)):
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize('kwargs,match', [
    (dict(conv=((4, 7, 1, 1, 0),)), 'does not fit'),
    (dict(group_size=(3, 3, 3)), 'does not divide 4'),
    (dict(select='best'), 'conv_select'),
    (dict(margin=-1), 'conv_margin'),
    (dict(conv=((4, 3, 1, 1, 3),)), 'padding'),
])
def test_bad_config_is_a_value_error(kwargs, match):
  base = dict(image_shape=IMAGE, conv=BLOCKS, layers=LAYERS, group_size=GROUPS,
              num_classes=3)
  base.update(kwargs)
  if 'conv' in kwargs:
    base['group_size'] = (2, 3)
  with pytest.raises(ValueError, match=match):
    conv.ConvConfig(**base)


def test_bad_specs_are_value_errors_before_any_compile():
  from bnnjax import data
  digits = data.load('digits', smoke=True)
  protos = data.load('prototypes', smoke=True)
  cases = [
      (methods.RunSpec(method='conv', layers=(10,)), digits, 'lists no block'),
      (methods.RunSpec(method='conv', conv='4:3', layers=(10,)), protos, 'no image shape'),
      (methods.RunSpec(method='conv', conv='4:x', layers=(10,)), digits, 'integers'),
      (methods.RunSpec(method='conv', conv='4:3', layers=(10,), group_size=(2, 5),
                       robustness=2000.0), digits, 'robustness'),
      (methods.RunSpec(method='ours', conv='4:3'), digits, 'applies to --method=conv'),
      (methods.RunSpec(method='ours', freeze_conv=True), digits, 'applies to'),
  ]
  for spec, ds, match in cases:
    with pytest.raises(ValueError, match=match):
      methods.validate(spec, ds)


def test_export_round_trip_and_predictor(tmp_path):
  """A conv net exported as bits ('reference': its zeros too) loads back (its config,
  its full state) and its Predictor equals conv.predict of the state bit for bit; the C
  header refuses it."""
  from bnnjax import export
  config = _config('reference', 'packed')
  params = conv.ConvParams(weight_clip=0)
  states = jax.vmap(lambda k: conv.init(k, config, params))(
      jnp.stack([jax.random.PRNGKey(5), jax.random.PRNGKey(6)]))
  path = str(tmp_path / 'net.bnn')
  export.save(path, config, states, [5, 6], include_hidden=True)
  e = export.load(path)
  assert e.config == config
  img, y, _ = _batch(11, b=9)
  x = bits.pack_numpy(img.reshape(9, -1))
  for i in range(2):
    state = jax.tree_util.tree_map(lambda a: a[i], states)
    want = np.asarray(conv.predict(state, jnp.asarray(x), config))
    np.testing.assert_array_equal(e.predictor(i).predict_packed(x), want)
    for a, b in zip(jax.tree_util.tree_leaves(e.state(i)),
                    jax.tree_util.tree_leaves(state)):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  with pytest.raises(ValueError, match='dense-only'):
    export.c_header(e, 0)
