"""bnnjax.export: the file format, its checks, the Predictor and the reference C program
against the in-memory model, bit for bit, under both semantics and both heads."""

import configparser
import dataclasses
import glob
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bnnjax import bits
from bnnjax import data as data_lib
from bnnjax import export
from bnnjax.data import binarize
from bnnjax import model
from bnnjax import run as run_lib
from bnnjax.config import Config, HParams

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Tiny network: D = 45 (two words, with padding), widths 12 and 6 (even fan-in, so
# pre-activations of 0 occur), γ 3 and 2.
BASE = Config(layers=(12, 6), group_size=(3, 2), num_inputs=45, num_classes=3,
              batch_size=9, num_epochs=2, num_test=10)
CASES = [(sem, head) for sem in ('reference', 'binary') for head in ('argmax', 'sign')]


def _config(semantics, head, train_classifiers=False):
  return dataclasses.replace(BASE, semantics=semantics, head=head,
                             num_classes=2 if head == 'sign' else 3,
                             train_classifiers=train_classifiers)


def _inputs(n, d=45, seed=0):
  return bits.pack_numpy(np.random.default_rng(seed).choice([-1, 1], size=(n, d)))


_JIT = {}


def _jitted(kind, config):
  """One compiled forward / predict per config for the whole module."""
  if (kind, config) not in _JIT:
    fn = model.forward if kind == 'forward' else model.predict
    _JIT[kind, config] = jax.jit(lambda s, x: fn(s, x, config))
  return _JIT[kind, config]


def _state(config, seed=1):
  """A state whose integer weights moved away from their init by random multiples of
  ±2 (as the rule moves them; parity kept); under 'reference' with zeros injected into
  H, the output classifier P_L and (trained classifiers) Q, so every ternary path is
  exercised. States trained by the rule are exported in
  test_make_train_export_reproduces_each_runs_test_accuracy."""
  state = model.init(jax.random.PRNGKey(seed), config)
  r = np.random.default_rng(seed)
  move = lambda a: a + 2 * jnp.asarray(r.integers(-40, 41, a.shape), a.dtype)  # noqa
  state = state._replace(hidden=tuple(move(h) for h in state.hidden))
  if config.train_classifiers:
    qs = tuple(move(q) for q in state.classifier_hidden)
    state = state._replace(classifier_hidden=qs,
                           classifiers=tuple(model.weight_signs(q) for q in qs))
  if config.semantics == 'reference':
    state = state._replace(hidden=(state.hidden[0].at[::3].set(0),
                                   state.hidden[1].at[::2, 1].set(0)))
    ps = list(state.classifiers)
    if config.train_classifiers:
      qs = [q.at[1].set(0) for q in state.classifier_hidden]
      ps = [model.weight_signs(q) for q in qs]
      state = state._replace(classifier_hidden=tuple(qs))
    else:
      ps[-1] = ps[-1].at[2, 0].set(0)
    state = state._replace(classifiers=tuple(ps))
  return state


def _in_memory(state, x, config):
  return np.asarray(_jitted('predict', config)(state, jnp.asarray(x)))


# ----------------------------------------------------------------------------------
# Elias-Fano sets, packed rows
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize('universe,count', [(1, 0), (1, 1), (7, 7), (1000, 1),
                                            (1000, 13), (525000, 2873), (64, 32)])
def test_zero_positions_round_trip_and_size(universe, count):
  p = np.sort(np.random.default_rng(count).choice(universe, count, replace=False))
  code, low = export.encode_positions(p, universe)
  np.testing.assert_array_equal(export.decode_positions(code, count, universe, low), p)
  if count:  # Elias-Fano: at most 2 + log2(universe / count) bits per position
    assert low == int(np.floor(np.log2(universe / count)))
    assert code.size * 8 <= count * (2 + np.log2(universe / count)) + 2 * 7


def test_zero_positions_reject_inconsistent_codes():
  code, low = export.encode_positions(np.array([3, 9, 40]), 64)
  with pytest.raises(ValueError):
    export.decode_positions(code, 4, 64, export.format._low_bits(4, 64))  # wrong count
  bad = code.copy()
  bad[-1] ^= 0x80  # an extra bit in the high bitmap
  with pytest.raises(ValueError):
    export.decode_positions(bad, 3, 64, low)
  with pytest.raises(ValueError):
    export.encode_positions(np.array([5, 3]), 64)


# ----------------------------------------------------------------------------------
# Export -> load -> predict equals the in-memory model
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize('semantics,head', CASES)
def test_export_load_predict_equals_in_memory(semantics, head, tmp_path):
  config = _config(semantics, head)
  state = _state(config)
  path = str(tmp_path / 'net.bnn')
  size = export.save(path, config, state, [42])
  exp = export.load(path)
  assert exp.file_bytes == size == os.path.getsize(path)
  assert exp.config == config and len(exp.networks) == 1
  net = exp.networks[0]
  assert (net.run, net.seed, net.hidden) == (0, 42, None)
  # The planes hold exactly sign(H_l) and P_l; zeros only under 'reference'.
  for l, (h, p) in enumerate(zip(state.hidden, state.classifiers)):
    np.testing.assert_array_equal(net.weights[l].values().T, np.sign(np.asarray(h)))
    np.testing.assert_array_equal(net.classifiers[l].values().T, np.asarray(p))
  has_zeros = [r.nz is not None for r in net.weights + net.classifiers]
  if semantics == 'reference':
    assert has_zeros[0] and has_zeros[1] and has_zeros[-1]
  else:
    assert not any(has_zeros)
  x = _inputs(400)
  expected = _in_memory(state, x, config)
  np.testing.assert_array_equal(exp.predictor().predict_packed(x), expected)
  assert len(np.unique(expected)) > 1
  if (semantics, head) == ('reference', 'argmax'):
    fwd = _jitted('forward', config)(state, jnp.asarray(x))
    assert np.any(np.asarray(fwd.pre[1]) == 0)  # zero activations are exercised
    # Chunks of 64 with a padded last chunk give the same predictions.
    np.testing.assert_array_equal(exp.predictor(batch_size=64).predict_packed(x),
                                  expected)


def test_several_networks_and_deterministic_bytes(tmp_path):
  config = _config('reference', 'argmax')
  states = [_state(config, seed) for seed in (1, 2, 3)]
  stacked = jax.tree_util.tree_map(lambda *a: np.stack(a), *states)
  a, b = str(tmp_path / 'a.bnn'), str(tmp_path / 'b.bnn')
  export.save(a, config, stacked, [5, 6, 7], test_acc=[1.0, 2.0, None])
  export.save(b, config, stacked, [5, 6, 7], test_acc=[1.0, 2.0, None])
  assert open(a, 'rb').read() == open(b, 'rb').read()
  exp = export.load(a)
  assert [n.seed for n in exp.networks] == [5, 6, 7]
  assert [n.test_acc for n in exp.networks] == [1.0, 2.0, None]
  x = _inputs(200)
  for i, s in enumerate(states):
    np.testing.assert_array_equal(exp.predictor(i).predict_packed(x),
                                  _in_memory(s, x, config))
  with pytest.raises(ValueError, match='network 3 does not exist'):
    exp.predictor(3)
  assert not [p for p in os.listdir(tmp_path) if p.startswith('.tmp')]


@pytest.mark.parametrize('train_classifiers', [False, True])
def test_hidden_weights_restore_the_whole_state(train_classifiers, tmp_path):
  config = _config('reference', 'argmax', train_classifiers)
  state = _state(config)._replace(prev_acc=jnp.float32(0.25), epoch=jnp.int32(3))
  path = str(tmp_path / 'h.bnn')
  export.save(path, config, state, [1], include_hidden=True)
  loaded = export.load(path).state(0)
  # Every leaf equal, dtype included: training resumes from the file as from memory
  # (model.step is a function of the state; tests/test_run.py checks resumed runs).
  assert jax.tree_util.tree_structure(state) == jax.tree_util.tree_structure(loaded)
  for a, b in zip(jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(loaded)):
    assert np.asarray(a).dtype == np.asarray(b).dtype
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert len(loaded.classifier_hidden) == (2 if train_classifiers else 0)
  export.save(path, config, state, [1])
  with pytest.raises(ValueError, match='without hidden weights'):
    export.load(path).state(0)


def test_binary_semantics_refuses_zero_weights(tmp_path):
  config = _config('binary', 'argmax')
  state = _state(config)
  state = state._replace(hidden=(state.hidden[0].at[0, 0].set(0), state.hidden[1]))
  with pytest.raises(ValueError, match='binary'):
    export.save(str(tmp_path / 'z.bnn'), config, state, [0])
  assert not os.listdir(tmp_path)


# ----------------------------------------------------------------------------------
# A whole run: the run's test split is recomputed from the file
# ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_make_train_export_reproduces_each_runs_test_accuracy(tmp_path):
  n, c, num_test = 60, 3, 15
  r = np.random.default_rng(4)
  ds = data_lib.from_signs('pool', r.choice([-1, 1], size=(n, 45)),
                           r.integers(0, c, n), c, num_test)
  config = dataclasses.replace(BASE, num_test=num_test)
  train = run_lib.make_train(config)
  grid = {'robustness': [0.0, 0.5], 'p_reinforce': [0.5, 0.5], 'weight_clip': [0, 0]}
  params = HParams(**{k: np.asarray(v) for k, v in grid.items()})
  res = train(run_lib.seed_keys(7, 2), params, run_lib.Data(ds.x, ds.y))
  path = str(tmp_path / 'run.bnn')
  num, _ = export.save_run(path, config, res.states, ds, 7, grid=grid,
                           test_acc=res.test_acc)
  exp = export.load(path)
  assert num == 4 and [(k.grid_point, k.run, k.seed) for k in exp.networks] == [
      (0, 0, 7), (0, 1, 8), (1, 0, 7), (1, 1, 8)]
  assert exp.networks[2].hparams['robustness'] == 0.5 and exp.same_pool(ds)
  splits = set()
  for i, net in enumerate(exp.networks):
    _, test_idx = exp.split_indices(i)
    splits.add(tuple(test_idx))
    p, s = net.grid_point, net.run
    state = jax.tree_util.tree_map(lambda a: a[p, s], res.states)
    pred = exp.predictor(i).predict_packed(ds.x[test_idx])
    np.testing.assert_array_equal(pred, _in_memory(state, ds.x[test_idx], config))
    correct = int(np.sum(pred == ds.y[test_idx]))
    assert correct == round(res.test_acc[p, s, -1] * num_test / 100)
    assert net.test_acc == res.test_acc[p, s, -1]
  assert len(splits) == 2  # each seed has its own split
  other = data_lib.from_signs('pool', bits.unpack_rows(ds.x, 45), (ds.y + 1) % c, c,
                              num_test)
  assert not exp.same_pool(other)  # predict refuses another pool's "test split"
  num, _ = export.save_run(path, config, res.states, ds, 7, grid=grid, export_run=1)
  assert num == 2 and [k.seed for k in export.load(path).networks] == [8, 8]
  with pytest.raises(ValueError, match='export_seed'):
    export.save_run(path, config, res.states, ds, 7, grid=grid, export_run=2)


# ----------------------------------------------------------------------------------
# Raw inputs through the stored thresholds
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize('name,kind', [('digits', 'median_global'),
                                       ('breast_cancer', 'thermometer')])
def test_thresholds_reproduce_the_data_sets_bits(name, kind, tmp_path):
  ds = data_lib.load(name)
  b = export.input_thresholds(ds)
  assert b.kind == kind, b.note
  x_raw = np.asarray(ds.x_float)
  np.testing.assert_array_equal(b.apply(x_raw), ds.x)
  config = Config(layers=(8,), group_size=8, num_inputs=ds.num_features,
                  num_classes=ds.num_classes, num_test=ds.num_test)
  path = str(tmp_path / 'raw.bnn')
  export.save(path, config, model.init(jax.random.PRNGKey(0), config), [0], dataset=ds)
  exp = export.load(path)
  assert exp.same_pool(ds) and exp.data['name'] == name
  assert exp.binarisation.kind == kind and exp.binarisation.num_raw_features == \
      x_raw.shape[1]
  # The file's thresholds give the data set's packed bits, so raw and packed inputs
  # predict the same (the CLI test runs predict --inputs=raw end to end).
  np.testing.assert_array_equal(exp.predictor().binarize(x_raw), ds.x)
  with pytest.raises(ValueError, match='raw inputs must have shape'):
    exp.predictor().predict_raw(x_raw[:, :-1])


def test_channel_median_thresholds_and_refusals():
  c, hw, n = 256, 9, 21  # imagenette_features: 256 channels of 3 x 3
  r = np.random.default_rng(0)
  xf = r.normal(size=(n, c * hw)).astype(np.float32)
  med = np.median(xf.reshape(n, c, hw), axis=(0, 2))
  signs = np.where(xf.reshape(n, c, hw) > med[None, :, None], 1, -1).reshape(n, -1)
  y = np.arange(n) % 10
  # The loader's rule travels with the data set (`DataSet.binarisation`).
  rule = binarize.Rule('median_channel', channels=c)
  ds = data_lib.from_signs('pool', signs, y, 10, 5, x_float=xf, binarisation=rule)
  b = export.input_thresholds(ds)
  assert b.kind == 'median_channel', b.note
  np.testing.assert_array_equal(b.apply(xf), ds.x)
  flipped = signs.copy()
  flipped[3, 7] *= -1  # a pool whose bits the rule does not reproduce
  b = export.input_thresholds(data_lib.from_signs('pool', flipped, y, 10, 5, x_float=xf,
                                                  binarisation=rule))
  assert b.kind == 'none' and 'did not reproduce' in b.note and '1 of 21' in b.note
  none = export.input_thresholds(data_lib.from_signs('pool', signs, y, 10, 5))
  assert none.kind == 'none' and 'no raw features' in none.note
  no_rule = export.input_thresholds(data_lib.from_signs('pool', signs, y, 10, 5,
                                                        x_float=xf))
  assert no_rule.kind == 'none' and 'no known binarisation rule' in no_rule.note
  wrong = export.input_thresholds(data_lib.from_signs(
      'pool', signs, y, 10, 5, x_float=xf,
      binarisation=binarize.Rule('median_channel', channels=7)))  # 7 does not divide
  assert wrong.kind == 'none' and '7 channels' in wrong.note


# ----------------------------------------------------------------------------------
# Bad files and bad inputs: one clear error
# ----------------------------------------------------------------------------------


@pytest.fixture(scope='module')
def good_file(tmp_path_factory):
  config = _config('reference', 'argmax', True)
  path = str(tmp_path_factory.mktemp('good') / 'good.bnn')
  export.save(path, config, _state(config), [3], include_hidden=True)
  return path


def _load_bytes(tmp_path, blob, name='bad.bnn'):
  path = str(tmp_path / name)
  with open(path, 'wb') as f:
    f.write(blob)
  with pytest.raises(export.ExportError) as e:
    export.load(path)
  assert str(e.value).startswith(path + ': ') and '\n' not in str(e.value)
  assert isinstance(e.value, ValueError)
  return e.value.what


def _reseal(blob, version=None, edit_header=None):
  """A copy with another version or header, its lengths and checksum made valid."""
  magic, ver, head_len, _ = struct.unpack_from('<8sIIQ', blob)
  header = blob[24:24 + head_len]
  data_start = 24 + head_len + (-(24 + head_len) % 8)
  body = blob[data_start:-32]
  if edit_header is not None:
    h = json.loads(header)
    edit_header(h)
    header = json.dumps(h, sort_keys=True).encode()
  pad = -(24 + len(header)) % 8
  total = 24 + len(header) + pad + len(body) + 32
  out = struct.pack('<8sIIQ', magic, ver if version is None else version, len(header),
                    total) + header + b'\0' * pad + body
  return out + hashlib.sha256(out).digest()


def test_truncated_files(good_file, tmp_path):
  blob = open(good_file, 'rb').read()
  assert 'empty' in _load_bytes(tmp_path, b'')
  for cut in (5, 20, 24, 100, len(blob) // 2, len(blob) - 32, len(blob) - 1):
    assert _load_bytes(tmp_path, blob[:cut]).startswith('truncated'), cut


def test_flipped_bytes_are_refused(good_file, tmp_path):
  blob = bytearray(open(good_file, 'rb').read())
  path = str(tmp_path / 'flip.bnn')
  for pos in list(range(64)) + list(range(64, len(blob), 9)):
    bad = bytearray(blob)
    bad[pos] ^= 0x10
    with open(path, 'wb') as f:
      f.write(bad)
    with pytest.raises(export.ExportError) as e:
      export.load(path)
    what = e.value.what
    if pos < 8:  # magic
      assert what.startswith('not a bnnjax export file'), pos
    elif pos < 12:  # version
      assert what.startswith('format version') and 'corrupted' in what, pos
    elif pos < 16:  # header length
      assert what.startswith('corrupted'), pos
    elif pos < 24:  # file length
      assert what.startswith(('truncated (or corrupted)',
                              'has trailing bytes (or corrupted)')), pos
    else:
      assert what.startswith('corrupted: SHA-256 checksum mismatch'), pos


def test_wrong_version_foreign_trailing_and_inconsistent_files(good_file, tmp_path):
  blob = open(good_file, 'rb').read()
  assert _load_bytes(tmp_path, _reseal(blob, version=2)).startswith(
      'format version 2 is not supported')
  np.savez(str(tmp_path / 'foreign.npz'), a=np.arange(3))
  foreign = open(str(tmp_path / 'foreign.npz'), 'rb').read()
  assert _load_bytes(tmp_path, foreign).startswith('not a bnnjax export file')
  assert _load_bytes(tmp_path, b'hello world' * 10).startswith('not a bnnjax export')
  assert _load_bytes(tmp_path, blob + b'\0').startswith('has trailing bytes')

  def bad_shape(h):
    h['arrays'][0]['shape'] = [h['arrays'][0]['shape'][0] + 1, 1]
  assert _load_bytes(tmp_path, _reseal(blob, edit_header=bad_shape)).startswith(
      'inconsistent content')

  def bad_layers(h):
    h['config']['layers'] = [13, 6]
  assert _load_bytes(tmp_path, _reseal(blob, edit_header=bad_layers)).startswith(
      'inconsistent content')
  assert export.load(_write(tmp_path, _reseal(blob))).config.layers == (12, 6)
  with pytest.raises(export.ExportError, match='cannot read'):
    export.load(str(tmp_path / 'missing.bnn'))


def _write(tmp_path, blob):
  path = str(tmp_path / 'resealed.bnn')
  with open(path, 'wb') as f:
    f.write(blob)
  return path


def test_wrong_input_width(good_file):
  exp = export.load(good_file)
  pred = exp.predictor()
  x = _inputs(4)
  with pytest.raises(ValueError, match=r'uint32\[B, 2\] for 45 inputs'):
    pred.predict_packed(np.concatenate([x, x[:, :1]], axis=1))
  with pytest.raises(ValueError, match=r'uint32\[B, 2\]'):
    pred.predict_packed(x[:, :1])
  with pytest.raises(ValueError, match='beyond the 45 inputs'):
    pred.predict_packed(_inputs(4, d=60))  # also two words: its padding bits are set
  with pytest.raises(ValueError, match='expects 45'):
    pred.predict_packed(x, num_inputs=44)
  with pytest.raises(ValueError, match='no input thresholds'):
    pred.predict_raw(np.zeros((4, 45), np.float32))
  ds = data_lib.from_signs('pool', np.ones((20, 64)), np.arange(20) % 2, 2, 5)
  with pytest.raises(ValueError, match='expects 45 inputs'):
    exp.check_dataset(ds)


# ----------------------------------------------------------------------------------
# The C header and the reference C program
# ----------------------------------------------------------------------------------


def _compiler():
  for cc in (os.environ.get('CC'), 'cc', 'gcc', 'clang'):
    if cc and shutil.which(cc):
      return shutil.which(cc)
  pytest.skip('no C compiler (cc, gcc or clang) on PATH: the C program is not checked')


def _build(tmp_path, exp, index=0, flags=()):
  cc = _compiler()
  export.write_c_header(str(tmp_path / 'bnn_model.h'), exp, index)
  binary = str(tmp_path / 'bnn_infer')
  src = os.path.join(export.c_source_dir(), 'bnn_infer.c')
  subprocess.run([cc, '-std=c99', '-O2', '-Wall', '-Wextra', '-pedantic', '-Werror',
                  f'-I{tmp_path}', *flags, src, '-o', binary], check=True,
                 capture_output=True)
  return binary


def _run_c(binary, x, num_inputs, tmp_path):
  path = str(tmp_path / 'inputs.bin')
  export.write_inputs(path, x, num_inputs)
  proc = subprocess.run([binary, path], capture_output=True, text=True, timeout=60)
  return proc


@pytest.mark.parametrize('semantics,head', CASES)
def test_c_program_equals_bnnjax(semantics, head, tmp_path):
  config = _config(semantics, head)
  state = _state(config)
  path = str(tmp_path / 'net.bnn')
  export.save(path, config, state, [0])
  exp = export.load(path)
  x = _inputs(2000, seed=9)
  expected = _in_memory(state, x, config)
  flags = ('-DBNN_PORTABLE_POPCOUNT',) if semantics == 'binary' else ()
  proc = _run_c(_build(tmp_path, exp, flags=flags), x, 45, tmp_path)
  assert proc.returncode == 0, proc.stderr
  got = np.asarray([int(v) for v in proc.stdout.split()])
  np.testing.assert_array_equal(got, expected)
  np.testing.assert_array_equal(exp.predictor().predict_packed(x), expected)
  if semantics == 'reference' and head == 'sign':
    assert np.any(expected == -1)  # z = 0: no class, as the authors' code


def test_c_program_uses_no_floating_point_and_refuses_bad_inputs(good_file, tmp_path):
  src = open(os.path.join(export.c_source_dir(), 'bnn_infer.c')).read()
  code = re.sub(r'/\*.*?\*/', '', src, flags=re.S)  # without comments
  assert not re.search(r'\b(float|double|malloc)\b|math\.h', code)
  assert '#include <stdint.h>' in code and 'popcount32(nz & ~(xs[k] ^ ws[k]))' in code
  exp = export.load(good_file)
  try:  # x86-64 gcc / clang: any floating-point code fails to compile
    binary = _build(tmp_path, exp, flags=('-mgeneral-regs-only',))
  except subprocess.CalledProcessError as e:
    if b'general-regs-only' not in e.stderr:
      raise
    binary = _build(tmp_path, exp)
  x = _inputs(50)
  proc = _run_c(binary, x, 45, tmp_path)
  assert proc.returncode == 0
  np.testing.assert_array_equal(np.asarray(proc.stdout.split(), int),
                                exp.predictor().predict_packed(x))
  wrong = _run_c(binary, _inputs(5, d=60), 60, tmp_path)  # same words, wrong width
  assert wrong.returncode == 1 and wrong.stderr.count('error:') == 1
  assert 'wrong input width' in wrong.stderr and wrong.stdout == ''
  path = str(tmp_path / 'inputs.bin')
  export.write_inputs(path, x, 45)
  blob = open(path, 'rb').read()
  for bad, what in ((blob[:-3], 'truncated'), (b'XXXX' + blob[4:], 'not a BNNI')):
    with open(path, 'wb') as f:
      f.write(bad)
    proc = subprocess.run([binary, path], capture_output=True, text=True)
    assert proc.returncode == 1 and what in proc.stderr and proc.stderr.count('\n') == 1
  x_pad = x.copy()
  x_pad[2, 1] |= np.uint32(1 << 31)  # bit 31 of word 1 is element 63: padding
  proc = _run_c(binary, x_pad, 45, tmp_path)
  assert proc.returncode == 1 and 'padding bits set in sample 2' in proc.stderr


def test_c_header_layout(good_file):
  exp = export.load(good_file)
  text = export.c_header(exp)
  assert '#define BNN_NUM_INPUTS 45' in text and '#define BNN_INPUT_WORDS 2' in text
  assert '#define BNN_REFERENCE 1' in text and '#define BNN_HEAD_SIGN 0' in text
  net = exp.networks[0]
  assert text.count('static const uint32_t') == 3 + sum(
      r.nz is not None for r in net.weights + (net.classifiers[-1],))
  # Row j of layer 0 is W_0[:, j] packed: the header's first words are row 0's.
  first = [int(v.rstrip('u,'), 16) for v in
           text.split('bnn_layer0_sign[24] = {\n  ')[1].split()[:2]]
  assert first == [int(v) for v in net.weights[0].sign[0]]


def test_package_ships_the_c_source():
  cfg = configparser.ConfigParser()
  cfg.read(os.path.join(ROOT, 'setup.cfg'))
  patterns = cfg['options.package_data']['bnnjax'].split()
  shipped = {os.path.relpath(p, os.path.join(ROOT, 'bnnjax')) for pat in patterns
             for p in glob.glob(os.path.join(ROOT, 'bnnjax', pat))}
  assert 'csrc/bnn_infer.c' in shipped
  assert export.c_source_dir() == os.path.join(ROOT, 'bnnjax', 'csrc')


# ----------------------------------------------------------------------------------
# Size: 1 bit per weight, plus the zeros' positions
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize('semantics', ['reference', 'binary'])
def test_file_size_is_one_bit_per_weight_plus_zero_positions(semantics, tmp_path):
  config = Config(layers=(96, 64), group_size=(32, 32), num_inputs=300, num_classes=10,
                  semantics=semantics)
  state = model.init(jax.random.PRNGKey(0), config)
  path = str(tmp_path / 's.bnn')
  size = export.save(path, config, state, [0])
  exp = export.load(path)
  table = exp.header['arrays']
  sign_bytes = sum(e['nbytes'] for e in table if e['name'].endswith('.sign'))
  rows = [(96, 300), (64, 96), (10, 96), (10, 64)]
  assert sign_bytes == sum(k * bits.num_words(n) * 4 for k, n in rows)
  zeros = [e for e in table if e['name'].endswith('.zeros')]
  head_len = struct.unpack_from('<8sIIQ', open(path, 'rb').read())[2]
  overhead = 24 + head_len + 32 + 7 * len(table)  # preamble, header, checksum, padding
  assert size <= overhead + sign_bytes + sum(e['nbytes'] for e in zeros)
  if semantics == 'binary':
    assert not zeros
  else:
    num_zero = sum(int(np.sum(np.asarray(h) == 0)) for h in state.hidden)
    assert num_zero > 0 and len(zeros) >= 2
    for e in zeros:  # Elias-Fano: at most 2 + log2(U / m) bits per zero
      bound = e['count'] * (2 + np.log2(e['universe'] / e['count']))
      assert e['nbytes'] * 8 <= bound + 14
