"""Scale-out: the run engine's pure functions, device sharding, run chunks, checkpoint
intervals, and a two-process run equal to a one-process run bit for bit."""

import dataclasses
import os
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from bnnjax import bits
from bnnjax import checkpoint
from bnnjax import model
from bnnjax import platform
from bnnjax import run
from bnnjax.config import Config, HParams

CONFIG = Config(layers=(12, 6), group_size=(3, 2), num_inputs=45, num_classes=3,
                batch_size=5, num_epochs=3, num_test=10, seed_chunk=2)
PARAMS = HParams(robustness=0.5, p_reinforce=0.9, weight_clip=0)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _data(seed=0, n=37):
  r = np.random.default_rng(seed)
  x = r.choice([-1, 1], size=(n, CONFIG.num_inputs)).astype(np.int8)
  y = r.integers(0, CONFIG.num_classes, size=n).astype(np.int32)
  return run.Data(bits.pack_numpy(x), y)


def _assert_same(a, b):
  np.testing.assert_array_equal(a.train_acc, b.train_acc)
  np.testing.assert_array_equal(a.test_acc, b.test_acc)
  for u, v in zip(jax.tree_util.tree_leaves(a.states), jax.tree_util.tree_leaves(b.states)):
    np.testing.assert_array_equal(u, v)
  assert set(a.metrics) == set(b.metrics)
  for k in a.metrics:
    np.testing.assert_array_equal(a.metrics[k], b.metrics[k])


@pytest.mark.slow
def test_pure_functions_under_plain_jit_equal_the_driver():
  """init_runs / epoch_runs are pure functions of flat run arrays: jitted by hand (no
  mesh) and looped over epochs, they give the driver's results."""
  data = _data()
  keys = run.seed_keys(3, 3)
  runner = run.make_train(CONFIG)
  res = runner(keys, PARAMS, data)
  flat = HParams(*[np.full((3,), v, np.float32 if isinstance(v, float) else np.int32)
                   for v in PARAMS])
  states, tr, te = jax.jit(runner.engine.init_runs)(keys, flat, data.y)
  epoch = jax.jit(runner.engine.epoch_runs)
  tests = []
  for _ in range(CONFIG.num_epochs):
    states, _, test_correct, _ = epoch(states, flat, tr, te, data)
    tests.append(100.0 * np.asarray(test_correct) / CONFIG.num_test)
  np.testing.assert_array_equal(np.stack(tests, axis=1), res.test_acc)
  for u, v in zip(jax.tree_util.tree_leaves(states), jax.tree_util.tree_leaves(res.states)):
    np.testing.assert_array_equal(u, v)


@pytest.mark.slow
def test_run_chunks_give_the_same_bits_without_recompiling():
  """5 runs in calls of 2 (3 calls, the last padded) equal one call of 5; the epoch
  program is traced once for all chunks."""
  traces = []

  def step_fn(state, batch, params):
    traces.append(1)  # runs only while tracing
    return model.step(state, batch, params, CONFIG)

  from bnnjax import diagnostics
  net = run.Model(init_fn=lambda k, p: model.init(k, CONFIG, p), step_fn=step_fn,
                  evaluate_fn=lambda s, x, y: model.evaluate(s, x, y, CONFIG),
                  epoch_metrics_fn=diagnostics.rule_epoch_metrics)
  data = _data(1)
  keys = run.seed_keys(0, 5)
  whole = run.make_trainer(net, CONFIG.protocol, seed_chunk=2)(keys, PARAMS, data)
  traces.clear()
  chunked = run.make_trainer(net, CONFIG.protocol, seed_chunk=2, options=run.EngineOptions(
      devices=1, runs_per_call=2))(keys, PARAMS, data)
  assert len(traces) == 1
  _assert_same(chunked, whole)


@pytest.mark.slow
def test_checkpoint_every_k_epochs_resumes_from_the_last_written(tmp_path):
  data = _data(2)
  keys = run.seed_keys(0, 2)
  train = run.make_train(CONFIG)
  full = train(keys, PARAMS, data)
  path = str(tmp_path / 'ckpt.npz')

  def stop_at(k):
    def fn(epoch, *_):
      if epoch == k:
        raise KeyboardInterrupt
    return fn

  with pytest.raises(KeyboardInterrupt):  # after epoch 1 of 3: nothing written yet
    train(keys, PARAMS, data, progress_fn=stop_at(0), checkpoint_path=path,
          checkpoint_every=2)
  assert not os.path.exists(path)
  with pytest.raises(KeyboardInterrupt):  # after epoch 2: written
    train(keys, PARAMS, data, progress_fn=stop_at(1), checkpoint_path=path,
          checkpoint_every=2)
  with np.load(path) as z:
    assert z['history'].shape[2] == 2
  seen = []
  resumed = train(keys, PARAMS, data, progress_fn=lambda e, *_: seen.append(e),
                  checkpoint_path=path, checkpoint_every=2)
  assert seen == [2]
  _assert_same(resumed, full)
  with pytest.raises(ValueError, match='checkpoint_every'):
    train(keys, PARAMS, data, checkpoint_path=path, checkpoint_every=-1)


def test_automatic_checkpoint_interval():
  policy = checkpoint.Policy(0)
  assert policy.due(1, False, 20.0)  # the first write is measured
  policy.saved(10.0)  # 10 s to write a 20 s epoch: every ceil(10 / (0.05 * 20)) = 10
  assert [policy.due(e, False, 20.0) for e in range(2, 12)] == [False] * 9 + [True]
  policy.saved(10.0)
  assert policy.due(12, True, 20.0)  # the last epoch always
  cheap = checkpoint.Policy(0)
  cheap.due(1, False, 0.01)
  cheap.saved(checkpoint.CHEAP_SECONDS)
  assert cheap.due(2, False, 0.01)  # cheap writes: every epoch


@pytest.mark.slow
def test_checkpoint_integers_are_stored_narrow_and_restored_exactly(tmp_path):
  data = _data(3)
  keys = run.seed_keys(0, 2)
  path = str(tmp_path / 'ckpt.npz')
  res = run.make_train(dataclasses.replace(CONFIG, num_epochs=1))(
      keys, HParams(0.5, 0.9, 100), data, checkpoint_path=path)
  num_hidden = len(res.states.hidden)  # State leaves start with the hidden weights
  with np.load(path) as z:
    stored = [z[f'leaf_{i}'].dtype for i in range(num_hidden)]
  assert res.states.hidden[0].dtype == np.int32
  assert stored == [np.dtype(np.int8)] * num_hidden  # |H| <= 100: int8 on disk
  assert checkpoint.narrow(np.array([-200, 5], np.int32)).dtype == np.int16
  assert checkpoint.narrow(np.array([2**20], np.int32)).dtype == np.int32
  again = run.make_train(dataclasses.replace(CONFIG, num_epochs=1))(
      keys, HParams(0.5, 0.9, 100), data, checkpoint_path=path)
  assert again.already_complete
  for u, v in zip(jax.tree_util.tree_leaves(res.states),
                  jax.tree_util.tree_leaves(again.states)):
    assert u.dtype == v.dtype
    np.testing.assert_array_equal(u, v)


@pytest.mark.slow
@pytest.mark.parametrize('damage', ['truncate', 'garbage', 'empty'])
def test_damaged_checkpoint_is_named_not_restarted(tmp_path, damage):
  data = _data(4)
  keys = run.seed_keys(0, 2)
  path = str(tmp_path / 'ckpt.npz')
  train = run.make_train(dataclasses.replace(CONFIG, num_epochs=1))
  train(keys, PARAMS, data, checkpoint_path=path)
  blob = open(path, 'rb').read()
  with open(path, 'wb') as f:
    f.write({'truncate': blob[:len(blob) // 2], 'garbage': b'\0' * 64 + blob[64:],
             'empty': b''}[damage])
  before = open(path, 'rb').read()
  with pytest.raises(ValueError, match='unreadable or incomplete') as e:
    train(keys, PARAMS, data, checkpoint_path=path)
  assert path in str(e.value) and 'remove it' in str(e.value)
  assert open(path, 'rb').read() == before  # left as it was, not overwritten


def test_engine_options_are_validated():
  for bad in ('x', 0, -2, 1.5, True):
    with pytest.raises(ValueError, match='devices'):
      platform.EngineOptions(devices=bad)
  with pytest.raises(ValueError, match='runs_per_call'):
    platform.EngineOptions(runs_per_call=0)
  with pytest.raises(ValueError, match='checkpoint_every'):
    platform.EngineOptions(checkpoint_every=-1)
  with pytest.raises(ValueError, match='devices'):
    platform.select_devices(len(jax.devices()) + 1)
  assert len(platform.select_devices('all', num_runs=1)) == 1
  with pytest.raises(ValueError, match='process_id'):
    platform.init_distributed('localhost:1', 2, 2)
  with pytest.raises(ValueError, match='all of'):
    platform.init_distributed('localhost:1', None, 0)


def _run(cmd, env=None, **kw):
  """A fresh process that compiles with every XLA optimization, as users' runs do
  (tests/conftest.py)."""
  env = dict(os.environ, JAX_DISABLE_MOST_OPTIMIZATIONS='0', **(env or {}))
  env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
  return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, **kw)


@pytest.mark.slow
def test_ten_seeds_over_four_devices_equal_one_device():
  """With XLA_FLAGS=--xla_force_host_platform_device_count=4 (a fresh process)."""
  script = textwrap.dedent(f'''
      import jax, numpy as np
      from bnnjax import bits, run
      from bnnjax.config import Config, HParams
      assert len(jax.devices()) == 4, jax.devices()
      config = Config(layers=(12, 6), group_size=(3, 2), num_inputs=45, num_classes=3,
                      batch_size=5, num_epochs=2, num_test=10, seed_chunk=2)
      r = np.random.default_rng(0)
      x = r.choice([-1, 1], size=(37, 45)).astype(np.int8)
      y = r.integers(0, 3, size=37).astype(np.int32)
      data = run.Data(bits.pack_numpy(x), y)
      keys = run.seed_keys(42, 10)
      params = HParams(0.5, 0.9, 0)
      one = run.make_train(config, num_devices=1)(keys, params, data)
      four = run.make_train(config, num_devices=4)(keys, params, data)
      np.testing.assert_array_equal(one.test_acc, four.test_acc)
      for a, b in zip(jax.tree_util.tree_leaves(one.states),
                      jax.tree_util.tree_leaves(four.states)):
        np.testing.assert_array_equal(a, b)
      for k in one.metrics:
        np.testing.assert_array_equal(one.metrics[k], four.metrics[k])
      print('same bits')
  ''')
  out = _run([sys.executable, '-c', script],
             env={'XLA_FLAGS': '--xla_force_host_platform_device_count=4'})
  assert out.returncode == 0, out.stderr[-3000:]
  assert 'same bits' in out.stdout


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_equal_one_process_bit_for_bit(tmp_path):
  """`python -m bnnjax.train` as two cooperating processes on CPU (gloo collectives),
  each with its own devices: killed (-9, both) once process 0's checkpoint exists, then
  restarted, it writes the same results, diagnostics and final weights as one
  uninterrupted process; only process 0 prints and writes."""
  import signal
  import time
  epochs = 20  # the kill lands within ~0.1 s of the first checkpoint: mid-run
  flags = ['--dataset=digits', '--layers=15,15', '--group_size=5', f'--epochs={epochs}',
           '--num_seeds=3', '--export_hidden']
  base = [sys.executable, '-m', 'bnnjax.train'] + flags
  one_dir, two_dir = tmp_path / 'one', tmp_path / 'two'
  single = _run(base + [f'--workdir={one_dir}', f'--export={one_dir / "net.bnn"}'])
  assert single.returncode == 0, single.stderr[-3000:]

  def launch():
    port = _free_port()
    cmds = [base + [f'--workdir={two_dir}', f'--export={two_dir / "net.bnn"}',
                    f'--coordinator_address=localhost:{port}', '--num_processes=2',
                    f'--process_id={i}'] for i in range(2)]
    return [subprocess.Popen(c, env=dict(os.environ, PYTHONPATH=REPO,
                                         JAX_DISABLE_MOST_OPTIMIZATIONS='0'),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for c in cmds]

  ckpt = two_dir / 'checkpoint.npz'
  procs = launch()
  deadline = time.time() + 300
  while not ckpt.exists() and time.time() < deadline and procs[0].poll() is None:
    time.sleep(0.02)
  for p in procs:
    p.send_signal(signal.SIGKILL)
    p.communicate()
  with np.load(ckpt) as z:
    done = z['history'].shape[2]
  assert 1 <= done < epochs, done  # killed mid-run
  assert not (two_dir / 'results.csv').exists()
  procs = launch()
  outs = [p.communicate(timeout=600) for p in procs]
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  assert 'over 2 processes' in outs[0][0] and 'epoch' not in outs[1][0]  # one printer
  assert (one_dir / 'results.csv').read_bytes() == (two_dir / 'results.csv').read_bytes()
  with np.load(one_dir / 'diagnostics.npz') as a, np.load(two_dir / 'diagnostics.npz') as b:
    assert a.files == b.files
    for k in a.files:
      np.testing.assert_array_equal(a[k], b[k])
  from bnnjax import export
  nets = [export.load(str(d / 'net.bnn')).networks for d in (one_dir, two_dir)]
  assert len(nets[0]) == len(nets[1]) == 3
  for n1, n2 in zip(*nets):
    for h1, h2 in zip(n1.hidden, n2.hidden):
      np.testing.assert_array_equal(h1, h2)
