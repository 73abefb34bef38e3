"""Whole runs: make_train against the literal reference loop, devices, grids, resume."""

import dataclasses
import os

import jax
import numpy as np
import pytest

import reference_impl as ref
from bnnjax import bits
from bnnjax import checkpoint
from bnnjax import driver
from bnnjax import run
from bnnjax.config import Config, HParams, Speed

# 37 samples, 10 test -> 27 train in batches of 5: the last batch is partial.
CONFIG = Config(layers=(12, 6), group_size=(3, 2), num_inputs=45, num_classes=3,
                batch_size=5, num_epochs=3, num_test=10, seed_chunk=2)
PARAMS = HParams(robustness=0.5, p_reinforce=0.9, weight_clip=0)


def _pool(seed=0, n=37):
  r = np.random.default_rng(seed)
  x = r.choice([-1, 1], size=(n, CONFIG.num_inputs)).astype(np.int8)
  y = r.integers(0, CONFIG.num_classes, size=n).astype(np.int32)
  return x, y


@pytest.mark.slow
@pytest.mark.parametrize('semantics,shuffle_split', [('reference', True),
                                                     ('binary', False)])
def test_make_train_grid_matches_reference_loop(semantics, shuffle_split):
  """A 2-point grid x 2 seeds, each run equal to the literal reference loop."""
  config = dataclasses.replace(CONFIG, semantics=semantics, shuffle_split=shuffle_split)
  x, y = _pool()
  keys = run.seed_keys(42, 2)
  grid = HParams(robustness=np.array([0.0, 0.5]), p_reinforce=0.9, weight_clip=0)
  res = run.make_train(config)(keys, grid, run.Data(bits.pack_numpy(x), y))
  assert res.test_acc.shape == (2, 2, 3) and res.train_acc.shape == (2, 2, 3)
  for g, r in enumerate([0.0, 0.5]):
    for s in range(2):
      state, tr, te = ref.train(keys[s], x, y, config.layers, config.group_size,
                                config.num_classes, config.batch_size, config.num_epochs,
                                config.num_test, (r, 0.9, 0), semantics, shuffle_split)
      for h, rh in zip(res.states.hidden, state['hidden']):
        np.testing.assert_array_equal(h[g, s], rh)
      np.testing.assert_array_equal(res.train_acc[g, s], tr)
      np.testing.assert_array_equal(res.test_acc[g, s], te)
      _assert_diagnostics_match(res.metrics, g, s, state['diagnostics'], config)
  assert not np.array_equal(res.states.hidden[0][0, 0], res.states.hidden[0][0, 1])
  assert not np.array_equal(res.states.hidden[0][0, 0], res.states.hidden[0][1, 0])


def _assert_diagnostics_match(metrics, g, s, diag, config):
  """bnnjax.diagnostics of run (g, s) against the reference loop's counts: exact for
  counts and for fractions of counts (the same float32 divisions), close for the |H|
  mean and std (float sums in another order)."""
  from bnnjax import diagnostics
  n_train = 37 - config.num_test
  num_steps = -(-n_train // config.batch_size)
  for e in range(config.num_epochs):
    for l, width in enumerate(config.layers):
      h = diag['hidden'][e][l]
      assert metrics['error_count'][g, s, e, l] == diag['errors'][e][l]
      assert metrics['updated_count'][g, s, e, l] == diag['updated'][e][l]
      assert metrics['flip_count'][g, s, e, l] == diag['flips'][e][l]
      np.testing.assert_allclose(metrics['error_fraction'][g, s, e, l],
                                 diag['errors'][e][l] / n_train, rtol=1e-6)
      np.testing.assert_allclose(metrics['update_fraction'][g, s, e, l],
                                 diag['updated'][e][l] / (num_steps * width), rtol=1e-6)
      np.testing.assert_allclose(metrics['flip_rate'][g, s, e, l],
                                 diag['flips'][e][l] / h.size, rtol=1e-6)
      assert metrics['int8_overflow'][g, s, e, l] == np.sum((h < -128) | (h > 127))
      idx = np.searchsorted(diagnostics.HIST_EDGES[1:-1], h.ravel(), side='right')
      np.testing.assert_array_equal(metrics['hidden_hist'][g, s, e, l],
                                    np.bincount(idx, minlength=len(
                                        diagnostics.HIST_EDGES) - 1))
      np.testing.assert_allclose(metrics['abs_h_mean'][g, s, e, l], np.abs(h).mean(),
                                 rtol=1e-5)
      np.testing.assert_allclose(metrics['abs_h_std'][g, s, e, l], np.abs(h).std(),
                                 rtol=1e-4)
  assert np.sum(metrics["flip_rate"][g, s]) > 0  # weights did flip


@pytest.mark.slow
def test_diagnostics_off_changes_no_result():
  x, y = _pool(2)
  data = run.Data(bits.pack_numpy(x), y)
  keys = run.seed_keys(5, 2)
  on = run.make_train(CONFIG)(keys, PARAMS, data)
  off = run.make_train(CONFIG, diagnostics=False)(keys, PARAMS, data)
  from bnnjax import diagnostics
  assert off.metrics == {} and set(on.metrics) == set(diagnostics.NAMES)
  assert on.metrics['hidden_hist'].shape == (2, 3, 2, 28)
  np.testing.assert_array_equal(on.test_acc, off.test_acc)
  for a, b in zip(jax.tree_util.tree_leaves(on.states), jax.tree_util.tree_leaves(
      off.states)):
    np.testing.assert_array_equal(a, b)
  # hist counts cover every weight
  assert np.all(on.metrics['hidden_hist'][..., 0, :].sum(-1) == 45 * 12)


@pytest.mark.slow
@pytest.mark.parametrize('semantics,num_classes', [('binary', 3), ('reference', 2)])
def test_test_split_through_the_step_equals_evaluate(semantics, num_classes):
  # The epoch counts the test split's correct predictions with the training step
  # (train=False batches after the training ones, `Model.step_eval_fn`); without that
  # function it calls evaluate_fn. Both must give the same bits everywhere; 7 test
  # samples make a partial test batch, 2 classes the 'sign' head (reference semantics),
  # 3 the argmax head (binary semantics; reference with argmax: the fused test counts
  # equal the literal reference loop in test_make_train_grid_matches_reference_loop).
  config = dataclasses.replace(CONFIG, semantics=semantics, num_test=7,
                               num_classes=num_classes)
  x, y = _pool(4)
  data = run.Data(bits.pack_numpy(x), y % num_classes)
  keys = run.seed_keys(9, 3)
  fused = run.make_train(config)
  assert fused.engine.model.step_eval_fn is not None
  # Another model: no name, so that it gets programs of its own (not fused's).
  separate = driver.Trainer(dataclasses.replace(
      fused.engine, model=fused.engine.model._replace(step_eval_fn=None), name=None))
  a, b = fused(keys, PARAMS, data), separate(keys, PARAMS, data)
  np.testing.assert_array_equal(a.train_acc, b.train_acc)
  np.testing.assert_array_equal(a.test_acc, b.test_acc)
  assert 0 < a.test_acc.max()  # some correct test predictions are counted
  for u, v in zip(jax.tree_util.tree_leaves((a.states, a.metrics)),
                  jax.tree_util.tree_leaves((b.states, b.metrics))):
    np.testing.assert_array_equal(u, v)


def test_step_without_training_changes_nothing_and_counts_correct():
  from bnnjax import model
  x, y = _pool(6, n=5)
  batch = model.Batch(jax.numpy.asarray(bits.pack_numpy(x)), jax.numpy.asarray(y),
                      jax.numpy.asarray([True, True, True, True, False]))
  state = model.init(jax.random.PRNGKey(3), CONFIG, PARAMS)
  step = jax.jit(lambda st, train: model.step(st, batch, PARAMS, CONFIG, train))
  same, m = step(state, False)
  for u, v in zip(jax.tree_util.tree_leaves(same), jax.tree_util.tree_leaves(state)):
    np.testing.assert_array_equal(u, v)
  trained, m_train = step(state, True)
  want = np.sum(np.asarray(model.predict(state, batch.x, CONFIG))[:4] == y[:4])
  assert int(m.correct) == int(m_train.correct) == want
  assert not np.asarray(m.errors).any() and not np.asarray(m.updated).any()
  assert np.asarray(m_train.errors).any()  # the training step did see errors
  assert not np.array_equal(np.asarray(trained.key), np.asarray(state.key))


def test_seed_keys_are_the_prng_keys_of_the_seeds():
  """seed_keys builds the keys on the host; they are jax.random.PRNGKey(seed + k)."""
  for seed, n in [(0, 3), (42, 2), (2**31 - 2, 4), (2**32 - 3, 3)]:
    want = np.stack([np.asarray(jax.random.PRNGKey(seed + k)) for k in range(n)])
    got = run.seed_keys(seed, n)
    assert got.dtype == np.uint32 and got.shape == (n, 2)
    np.testing.assert_array_equal(np.asarray(got), want)


@pytest.mark.slow
@pytest.mark.parametrize('method,semantics,extra', [
    ('ours', 'reference', {}), ('ours', 'binary', {}),
    ('ours', 'reference', {'train_classifiers': True}), ('flip', 'binary', {}),
    ('sgd', 'binary', {}), ('cp_r', 'reference', {})])
def test_initial_states_program_options_keep_the_bits(method, semantics, extra,
                                                     xla_optimizations):
  """The initial states' program is compiled with its own XLA options on CPU
  (run.CPU_INIT_COMPILER_OPTIONS); its states, float Normal draws included, equal
  those of XLA's default options."""
  from bnnjax import platform
  opts = platform.compiler_options('cpu', 'init')
  if jax.default_backend() != 'cpu' or opts is None:
    pytest.skip('CPU options of this jaxlib')
  from bnnjax import data as data_lib
  from bnnjax import methods
  ds = data_lib.load('digits', smoke=True)
  spec = methods.RunSpec(method=method, layers=(255, 255), semantics=semantics,
                         num_seeds=2, num_epochs=1,
                         layers_text='990-90,990-90' if method == 'cp_r' else '',
                         **extra)
  job = methods.prepare(spec, ds)
  flat, _ = driver.broadcast_params(job.params, 2)
  keys, y = run.seed_keys(3, 2), np.asarray(ds.y, np.int32)
  init = lambda **kw: jax.jit(job.train.engine.init_runs, **kw)(keys, flat, y)
  want, got = init(), init(compiler_options=opts)
  for a, b in zip(jax.tree_util.tree_leaves(want), jax.tree_util.tree_leaves(got)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.slow
def test_devices_and_chunks_do_not_change_results():
  x, y = _pool(1)
  data = run.Data(bits.pack_numpy(x), y)
  keys = run.seed_keys(0, 3)
  outs = [run.make_train(dataclasses.replace(CONFIG, seed_chunk=c), num_devices=d)(
      keys, PARAMS, data) for c, d in [(1, 1), (2, 2), (None, 2)]]
  assert len(jax.local_devices()) >= 2
  for out in outs[1:]:
    np.testing.assert_array_equal(out.test_acc, outs[0].test_acc)
    for a, b in zip(jax.tree_util.tree_leaves(out.states),
                    jax.tree_util.tree_leaves(outs[0].states)):
      np.testing.assert_array_equal(a, b)
    for name in outs[0].metrics:  # float diagnostics too, bit for bit
      np.testing.assert_array_equal(out.metrics[name], outs[0].metrics[name])


@pytest.mark.slow
def test_automatic_seed_chunk_is_one_run_on_cpu_and_five_elsewhere():
  from bnnjax.config import resolved_seed_chunk
  assert Config().seed_chunk is None and Speed().seed_chunk is None
  assert resolved_seed_chunk(None, 'cpu') == 1
  assert resolved_seed_chunk(None, 'gpu') == resolved_seed_chunk(None, 'tpu') == 5
  assert resolved_seed_chunk(3, 'cpu') == resolved_seed_chunk(3, 'gpu') == 3
  assert jax.default_backend() == 'cpu'
  auto = run.make_train(dataclasses.replace(CONFIG, seed_chunk=None)).engine
  assert [auto.chunk(n) for n in (1, 7)] == [1, 1]
  assert dataclasses.replace(auto, platform='gpu').chunk(7) == 5
  fixed = run.make_train(dataclasses.replace(CONFIG, seed_chunk=4)).engine
  assert [fixed.chunk(n) for n in (1, 3, 9)] == [1, 3, 4]


def test_call_plan_one_chunk_per_device_per_call_on_cpu():
  # (size, groups, on_host) of `driver.call_plan` for R runs on D devices: on CPU one
  # seed chunk per device per call, states kept on the device; elsewhere one call, or
  # calls of at most runs_per_call runs (balanced) whose states wait on the host.
  plan = driver.call_plan
  assert plan(10, 2, 1, 'cpu') == (2, 5, False)
  assert plan(3, 2, 1, 'cpu') == (2, 2, False)
  assert plan(1, 1, 1, 'cpu') == (1, 1, False)
  assert plan(10, 2, 3, 'cpu') == (6, 2, False)
  assert plan(32, 2, 1, 'cpu', runs_per_call=10) == (8, 4, False)  # no padding runs
  assert plan(10, 2, 5, 'gpu') == (10, 1, False)
  assert plan(32, 2, 5, 'gpu', runs_per_call=10) == (8, 4, True)
  assert plan(7, 2, 5, 'gpu', runs_per_call=10) == (8, 1, False)


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_bits(tmp_path):
  x, y = _pool(3)
  data = run.Data(bits.pack_numpy(x), y)
  keys = run.seed_keys(0, 2)
  train = run.make_train(CONFIG)
  full = train(keys, PARAMS, data)
  path = str(tmp_path / 'ckpt.npz')

  def stop_after_two(epoch, *_):
    if epoch == 1:
      raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    train(keys, PARAMS, data, progress_fn=stop_after_two, checkpoint_path=path)
  assert os.path.exists(path)
  assert [p for p in os.listdir(tmp_path) if p.startswith('.tmp')] == []
  seen = []
  resumed = train(keys, PARAMS, data, progress_fn=lambda e, *_: seen.append(e),
                  checkpoint_path=path)
  assert seen == [2]  # only the last epoch ran again
  np.testing.assert_array_equal(resumed.test_acc, full.test_acc)
  np.testing.assert_array_equal(resumed.train_acc, full.train_acc)
  for a, b in zip(jax.tree_util.tree_leaves(resumed.states),
                  jax.tree_util.tree_leaves(full.states)):
    np.testing.assert_array_equal(a, b)
  assert set(resumed.metrics) == set(full.metrics)
  for k in full.metrics:  # the diagnostics of the epochs before the stop come back too
    np.testing.assert_array_equal(resumed.metrics[k], full.metrics[k])
  with pytest.raises(ValueError, match='diagnostics'):
    run.make_train(CONFIG, diagnostics=False)(keys, PARAMS, data, checkpoint_path=path)
  # A checkpoint of another run is refused, not silently mixed in.
  with pytest.raises(ValueError, match='different run'):
    train(run.seed_keys(1, 2), PARAMS, data, checkpoint_path=path)


@pytest.mark.slow
def test_resume_accepts_speed_only_changes_and_refuses_other_code(tmp_path):
  x, y = _pool(4)
  data = run.Data(bits.pack_numpy(x), y)
  keys = run.seed_keys(0, 2)
  full = run.make_train(CONFIG)(keys, PARAMS, data)
  path = str(tmp_path / 'ckpt.npz')

  def stop_after_one(epoch, *_):
    if epoch == 0:
      raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    run.make_train(CONFIG)(keys, PARAMS, data, progress_fn=stop_after_one,
                           checkpoint_path=path)
  # Another seed chunk, evaluation batch, word chunk and backend: the same bits, so the
  # checkpoint resumes (it was refused before), and reaches the uninterrupted result.
  faster = dataclasses.replace(CONFIG, seed_chunk=1, eval_batch_size=3, word_chunk=1,
                               backend='dense')
  resumed = run.make_train(faster)(keys, PARAMS, data, checkpoint_path=path)
  np.testing.assert_array_equal(resumed.test_acc, full.test_acc)
  for a, b in zip(jax.tree_util.tree_leaves(resumed.states),
                  jax.tree_util.tree_leaves(full.states)):
    np.testing.assert_array_equal(a, b)
  # A change of the rule's code is refused, not silently resumed.
  other = run.make_train(CONFIG)
  other.code, other.legacy_code = 'other code', ()
  with pytest.raises(ValueError, match='code of the rule'):
    other(keys, PARAMS, data, checkpoint_path=path)


@pytest.mark.slow
def test_rerunning_a_finished_run_keeps_its_wall_time(tmp_path):
  x, y = _pool(5)
  data = run.Data(bits.pack_numpy(x), y)
  keys = run.seed_keys(0, 2)
  path = str(tmp_path / 'ckpt.npz')
  train = run.make_train(CONFIG)
  first = train(keys, PARAMS, data, checkpoint_path=path)
  assert not first.already_complete
  seen = []
  again = train(keys, PARAMS, data, progress_fn=lambda e, *_: seen.append(e),
                checkpoint_path=path)
  assert again.already_complete and seen == []  # nothing trained
  np.testing.assert_array_equal(again.test_acc, first.test_acc)
  # The recorded time is the original run's (saved after its last epoch), not the
  # reload's.
  assert 0 < again.wall_seconds <= first.wall_seconds
  with np.load(path) as z:
    assert float(z['wall_seconds']) == again.wall_seconds


@pytest.mark.parametrize('kwargs,match', [
    (dict(group_size=(5, 2)), 'group_size'),
    (dict(layers=(0, 6)), 'layers'),
    (dict(batch_size=0), 'batch_size'),
    (dict(num_epochs=0), 'epochs'),
    (dict(semantics='ternary'), 'semantics'),
    (dict(backend='gpu'), 'backend'),
])
def test_bad_config_raises(kwargs, match):
  with pytest.raises(ValueError, match=match):
    dataclasses.replace(CONFIG, **kwargs)


@pytest.mark.parametrize('params,match', [
    (HParams(robustness=-0.1), 'robustness'),
    (HParams(robustness=float('nan')), 'robustness'),
    (HParams(p_reinforce=1.5), 'p_reinforce'),
    (HParams(weight_clip=-3), 'weight_clip'),
])
def test_bad_hparams_raise_before_compile(params, match):
  x, y = _pool()
  with pytest.raises(ValueError, match=match):
    run.make_train(CONFIG)(run.seed_keys(0, 1), params, run.Data(bits.pack_numpy(x), y))


def test_bad_data_raises():
  x, y = _pool()
  train = run.make_train(CONFIG)
  keys = run.seed_keys(0, 1)
  with pytest.raises(ValueError, match='labels'):
    train(keys, PARAMS, run.Data(bits.pack_numpy(x), y + 3))
  with pytest.raises(ValueError, match='expects'):
    train(keys, PARAMS, run.Data(bits.pack_numpy(x[:, :30]), y))
  bad = bits.pack_numpy(x)
  bad[0, -1] |= np.uint32(1 << 31)
  with pytest.raises(ValueError, match='padding'):
    train(keys, PARAMS, run.Data(bad, y))


@pytest.mark.slow
def test_new_hyper_parameters_do_not_recompile():
  """r, p_r and the clip are traced: a second call with other values reuses the program."""
  from bnnjax import model
  traces = []

  def step_fn(state, batch, params):
    traces.append(1)  # runs only while tracing
    state, metrics = model.step(state, batch, params, CONFIG)
    return state, metrics.correct

  net = run.Model(init_fn=lambda k, p: model.init(k, CONFIG, p), step_fn=step_fn,
                  evaluate_fn=lambda s, x, y: model.evaluate(s, x, y, CONFIG))
  protocol = dataclasses.replace(CONFIG.protocol, num_epochs=2)
  train = run.make_trainer(net, protocol, seed_chunk=2)
  x, y = _pool(4)
  data = run.Data(bits.pack_numpy(x), y)
  first = train(run.seed_keys(0, 2), PARAMS, data)
  num_traces = len(traces)
  assert num_traces >= 1
  second = train(run.seed_keys(0, 2), HParams(robustness=0.1, p_reinforce=0.2,
                                              weight_clip=9), data)
  assert len(traces) == num_traces
  assert not np.array_equal(first.states.hidden[0], second.states.hidden[0])


@pytest.mark.slow
def test_initial_states_continue_a_run_bit_for_bit():
  """E epochs = E1 epochs, then E - E1 epochs from the returned states (the path of
  continual learning: a new task's call starts from the last task's states)."""
  x, y = _pool()
  data = run.Data(bits.pack_numpy(x), y)
  keys = run.seed_keys(7, 3)
  full = run.make_train(CONFIG)(keys, PARAMS, data)
  first = run.make_train(dataclasses.replace(CONFIG, num_epochs=1))(keys, PARAMS, data)
  rest = run.make_train(dataclasses.replace(CONFIG, num_epochs=2))(
      keys, PARAMS, data, initial_states=first.states)
  for a, b in zip(jax.tree_util.tree_leaves(full.states),
                  jax.tree_util.tree_leaves(rest.states)):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(full.test_acc[:, 1:], rest.test_acc)
  with pytest.raises(ValueError, match='initial_states'):
    run.make_train(CONFIG)(keys[:2], PARAMS, data, initial_states=first.states)


def test_histogram_bins_match_searchsorted_over_int32():
  """diagnostics.bin_index (leading-zero counts) equals the float searchsorted on the
  bin edges for every bin boundary, both neighbours, and the int32 extremes."""
  from bnnjax import diagnostics
  edges = diagnostics.HIST_EDGES[1:-1].astype(np.int64)
  v = np.concatenate([edges - 1, edges, edges + 1, np.arange(-300, 301),
                      [2**31 - 1, -2**31 + 1, -2**31, 2**20, -2**20, 5000, -5000]])
  v = v.astype(np.int32)
  want = np.searchsorted(diagnostics.HIST_EDGES[1:-1], v.astype(np.float64), side='right')
  np.testing.assert_array_equal(np.asarray(diagnostics.bin_index(jax.numpy.asarray(v))), want)
  before = np.roll(v, 1)  # signs of neighbours: some equal, some flipped
  counts, flips = diagnostics.histogram_and_flips(jax.numpy.asarray(before),
                                                  jax.numpy.asarray(v))
  np.testing.assert_array_equal(np.asarray(counts),
                                np.bincount(want, minlength=len(edges) + 1))
  assert int(flips) == np.sum(np.sign(before) != np.sign(v)) > 0


@pytest.mark.slow
def test_a_second_trainer_of_the_same_config_compiles_nothing():
  """Compiled programs are shared by trainers whose engines have the same name (the
  method, its config, the diagnostics switch), the protocol and seed chunk, devices and
  XLA options; a different config compiles its own."""
  import reliability_util as ru
  x, y = _pool(8)
  data = run.Data(bits.pack_numpy(x), y)
  keys = run.seed_keys(11, 2)
  config = dataclasses.replace(CONFIG, num_epochs=2)
  first = run.make_train(config)(keys, PARAMS, data)
  with ru.CompileWatch() as watch:
    again = run.make_train(config)(keys, PARAMS, data)
  assert watch.programs == []
  np.testing.assert_array_equal(again.test_acc, first.test_acc)
  with ru.CompileWatch() as watch:
    run.make_train(dataclasses.replace(config, semantics='binary'))(keys, PARAMS, data)
  assert any('epoch_runs' in p for p in watch.programs)  # the watch sees compiles


def test_fingerprint_ignores_comments_and_docstrings(tmp_path):
  code = 'def f(x):\n  """Doc."""\n  return x + 1  # why\n'
  same = '# a comment\ndef f(x):\n  """Another doc."""\n\n  return (x +\n          1)\n'
  other = 'def f(x):\n  return x + 2\n'
  texts = {}
  for name, text in (('a', code), ('b', same), ('c', other)):
    (tmp_path / f'{name}.py').write_text(text)
    texts[name] = checkpoint.normalized_source(str(tmp_path / f'{name}.py'))
  assert texts['a'] == texts['b'] != texts['c']
  assert run.make_train(CONFIG).code == checkpoint.code_fingerprint(run.RULE_MODULES)


@pytest.mark.slow
@pytest.mark.parametrize('semantics', ['reference', 'binary'])
def test_checkpoints_of_the_code_before_the_engine_split_still_resume(semantics,
                                                                       tmp_path):
  """tests/data/legacy_ours_<semantics>.npz: checkpoints written by bnnjax 4aae6c3 after
  2 of 3 epochs (tests/data/legacy_checkpoints.json says how); resumed by today's code
  they reach the final bits that code recorded for the uninterrupted runs."""
  import hashlib
  import json
  import shutil
  here = os.path.join(os.path.dirname(__file__), 'data')
  want = json.load(open(os.path.join(here, 'legacy_checkpoints.json')))[semantics]
  config = Config(layers=(12, 6), group_size=(3, 2), num_inputs=45, num_classes=3,
                  batch_size=5, num_epochs=3, num_test=10, semantics=semantics)
  r = np.random.default_rng(2024)
  x = r.choice([-1, 1], size=(37, 45)).astype(np.int8)
  y = r.integers(0, 3, size=37).astype(np.int32)
  path = str(tmp_path / 'checkpoint.npz')
  shutil.copy(os.path.join(here, f'legacy_ours_{semantics}.npz'), path)
  seen = []
  res = run.make_train(config)(run.seed_keys(42, 2), HParams(0.5, 0.9, 0),
                               run.Data(bits.pack_numpy(x), y), checkpoint_path=path,
                               progress_fn=lambda e, *_: seen.append(e))
  assert seen == [2]  # resumed after epoch 2: only the last epoch trained
  h = hashlib.sha256()
  for a in jax.tree_util.tree_leaves(res.states):
    a = np.ascontiguousarray(np.asarray(a))
    h.update(str(a.dtype).encode())
    h.update(str(a.shape).encode())
    h.update(a.tobytes())
  assert h.hexdigest() == want['states_sha256']
  assert res.test_acc.tolist() == want['test_acc']
  assert res.train_acc.tolist() == want['train_acc']
  assert want['code_fingerprint'] in run.LEGACY_CODE
