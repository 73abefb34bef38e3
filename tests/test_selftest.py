"""bnnjax.selftest: every check passes on this CPU; a planted wrong result makes it fail
(a FAIL line; status 1, or 3 when only informational raw dots fail); bad arguments give
one error line and run nothing; and its NumPy references (bnnjax/selftest_ref.py) agree
with the tests' own on the self-test's cases, so the two cannot drift apart."""

import configparser
import os
import sys

import jax
import numpy as np
import pytest

import reference_impl
import test_baselines
import test_continual
from bnnjax import selftest
from bnnjax import selftest_ref as ref

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _lines(out):
  return {line.split()[0]: line for line in out.splitlines() if line.strip()}


# ----------------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_every_check_passes_and_every_planted_result_fails(capsys):
  """The whole self-test (~17 s of compiling on 2 cores), then each check again with
  one entry of its device result changed by +1 (the programs are compiled already)."""
  assert selftest.main([]) == 0
  lines = _lines(capsys.readouterr().out)
  for name in selftest.CHECKS:
    assert lines[name].split()[1] == 'PASS', lines[name]
  assert lines['platform:'].startswith(f'platform: {jax.default_backend()}')
  assert f'jax {jax.__version__}' in lines['versions:']
  n = len(selftest.CHECKS)
  assert lines[str(n)].startswith(f'{n} of {n} checks passed')
  planted = selftest.run_checks(plant=selftest.CHECKS)
  assert [c.name for c in planted] == list(selftest.CHECKS)
  for c in planted:
    assert not c.ok and ('differ' in c.detail or 'beyond' in c.detail), c


def test_a_planted_wrong_product_fails(capsys, monkeypatch):
  assert selftest.main(['--only', 'int8_dot,dense_dot', '--plant', 'dense_dot']) == 1
  out = capsys.readouterr().out
  lines = _lines(out)
  assert lines['int8_dot'].split()[1] == 'PASS'
  assert lines['dense_dot'].split()[1] == 'FAIL'
  assert '1 of 15 entries differ' in lines['dense_dot']
  assert 'FAILED: dense_dot' in out
  # A raw dot (informational: not a path of bnnjax's arithmetic) alone gives status 3.
  monkeypatch.setenv(selftest.PLANT_ENV, 'int8_dot')  # the hidden variable
  assert selftest.main(['--only', 'int8_dot,dense_dot']) == 3
  lines = _lines(capsys.readouterr().out)
  assert lines['int8_dot'].split()[1] == 'FAIL'
  assert '(informational)' in lines['int8_dot']
  assert lines['dense_dot'].split()[1] == 'PASS'


def test_exit_status_tells_the_library_from_the_raw_dots():
  check = selftest.Check
  assert selftest.exit_status([check('dense_dot', True, ''),
                               check('int8_dot', True, '')]) == 0
  assert selftest.exit_status([check('dense_dot', True, ''),
                               check('int8_dot', False, '')]) == 3
  assert selftest.exit_status([check('dense_dot', False, ''),
                               check('int8_dot', True, '')]) == 1
  assert selftest.exit_status([check('step_flip', False, ''),
                               check('f16_dot_f32_acc', False, '')]) == 1
  assert set(selftest.INFORMATIONAL) < set(selftest.CHECKS)


@pytest.mark.parametrize('argv,match', [
    (['--only', 'nope'], "unknown check(s) ['nope']"),
    (['--plant', 'packed'], "--plant ($BNNJAX_SELFTEST_PLANT): unknown check(s)"),
    (['--nope'], 'unrecognized arguments: --nope'),
    (['extra'], 'unrecognized arguments: extra'),
])
def test_bad_arguments_give_one_error_and_run_nothing(argv, match, capsys, monkeypatch):
  monkeypatch.setattr(selftest, 'run_checks', lambda *a, **k: pytest.fail('ran'))
  assert selftest.main(argv) == 2
  captured = capsys.readouterr()
  errors = captured.err.splitlines()
  assert len(errors) == 1 and errors[0].startswith('error: ') and match in errors[0]
  assert captured.out == ''


def test_console_script_is_declared():
  cfg = configparser.ConfigParser()
  cfg.read(os.path.join(ROOT, 'setup.cfg'))
  scripts = cfg['options.entry_points']['console_scripts']
  assert 'bnnjax-selftest = bnnjax.selftest:run' in scripts


def test_console_script_exits_with_the_verdict(monkeypatch, capsys):
  """`run` (the console script and `python -m`) exits with main's status."""
  monkeypatch.setattr(sys, 'argv', ['bnnjax-selftest', '--only', 'dense_dot'])
  monkeypatch.setenv(selftest.PLANT_ENV, 'dense_dot')
  with pytest.raises(SystemExit) as exit_info:
    selftest.run()
  assert exit_info.value.code == 1
  assert 'FAILED: dense_dot; exit status 1' in capsys.readouterr().out


# ----------------------------------------------------------------------------------
# The package's references equal the tests' references on the self-test's cases
# ----------------------------------------------------------------------------------


def _state_dict(state):
  return dict(hidden=[np.asarray(h).astype(np.int64) for h in state.hidden],
              classifiers=[np.asarray(p).astype(np.int64) for p in state.classifiers],
              key=state.key, prev_acc=np.float32(state.prev_acc))


@pytest.mark.parametrize('semantics', ['reference', 'binary'])
def test_rule_reference_equals_reference_impl(semantics):
  config, params, state, (x, y, valid) = selftest.rule_case(semantics, 'packed')
  st = _state_dict(state)
  got, key, correct = ref.rule_step(st['hidden'], st['classifiers'], st['key'],
                                    st['prev_acc'], x, y, valid, params, semantics,
                                    config.group_size)
  want, want_correct = reference_impl.step(st, x, y, valid, tuple(params), semantics,
                                           config.group_size)
  assert correct == want_correct
  np.testing.assert_array_equal(key, np.asarray(want['key']))
  for g, w, h in zip(got, want['hidden'], st['hidden']):
    np.testing.assert_array_equal(g, w)
    assert np.any(g != h)  # the case moves weights: the comparison can fail


def test_cp_r_reference_equals_the_tests():
  config, params, state, (x, y, valid) = selftest.cp_r_case()
  st = _state_dict(state)
  got, _, correct = ref.cp_r_step(st['hidden'], st['classifiers'], st['key'],
                                  st['prev_acc'], x, y, valid, params, config.semantics,
                                  config.blocks)
  want, want_correct = test_baselines.ref_cp_r_step(st, x, y, valid, tuple(params),
                                                    config.semantics, config.blocks)
  assert correct == want_correct
  for g, w, h in zip(got, want, st['hidden']):
    np.testing.assert_array_equal(g, w)
    assert np.any(g != h)


def test_flip_reference_equals_the_tests():
  config, params, state, (x, y, valid) = selftest.flip_case()
  st = _state_dict(state)
  got, key, _ = ref.flip_step(st['hidden'], st['classifiers'], st['key'], x, y, valid,
                              params.robustness, params.flip_prob, config.semantics,
                              config.group_size, params.counter_clip)
  want, want_key = test_continual._numpy_flip_step(
      st, x, y, valid, params.robustness, params.flip_prob, config.semantics,
      config.group_size, 'argmax', params.counter_clip)
  np.testing.assert_array_equal(key, np.asarray(want_key))
  for g, w, h in zip(got, want, st['hidden']):
    np.testing.assert_array_equal(g, w)
    assert np.any(g != h)


@pytest.mark.parametrize('kind', ['sgd', 'adam', 'ste'])
def test_mlp_reference_equals_the_tests(kind):
  """The gradients equal the tests' (float64, the same formulas); the case is well
  conditioned: every gradient entry is 0 or at least MIN_GRADIENT."""
  _, params, weights, batches = selftest.mlp_case(kind)
  for x, y, valid in batches:
    got, got_logits = ref.mlp_grads(weights, x, y, valid, kind)
    want, want_logits = test_baselines._np_mlp_grads(weights, x, y, valid, kind)
    np.testing.assert_array_equal(got_logits, want_logits)
    for g, w in zip(got, want):
      np.testing.assert_array_equal(g, w)
  new, _, smallest = ref.mlp_steps(weights, batches, kind, params.learning_rate)
  assert smallest >= selftest.MIN_GRADIENT
  assert max(np.abs(w - w0).max() for w, w0 in zip(new, weights)) > 0.05


def test_sampler_references_equal_the_tests_and_jax():
  key = np.array([0, 7], np.uint32)
  for p in selftest.MASK_PROBS:
    np.testing.assert_array_equal(ref.bernoulli_mask(key, p, selftest.HASH_SHAPE),
                                  reference_impl.bernoulli_mask(key, p,
                                                                selftest.HASH_SHAPE))
  for n in selftest.PERM_SIZES:
    np.testing.assert_array_equal(ref.permutation(key, np.arange(n)),
                                  np.asarray(jax.random.permutation(key, n)))


def test_conv_reference_equals_the_tests():
  config, params, state, (x, y, valid) = selftest.conv_case()
  st = _state_dict(state)
  images = x.reshape(x.shape[0], 6, 6, 1)
  got, key, correct = ref.conv_step(st['hidden'], st['classifiers'], st['key'],
                                    int(state.prev_acc), images, y, valid, tuple(params),
                                    config.semantics, (3, 1), (2, 1), config.group_size,
                                    config.margin, 1)
  want, want_correct = reference_impl.conv_step(
      dict(st, prev_acc=int(state.prev_acc)), images, y, valid, tuple(params),
      config.semantics, reference_impl.conv_layer_shapes((6, 6, 1), ((4, 3, 2, 1, 0),),
                                                         (6,)),
      config.group_size, 'filter', config.margin)
  assert correct == want_correct
  np.testing.assert_array_equal(key, np.asarray(want['key']))
  for g, w, h in zip(got, want['hidden'], st['hidden']):
    np.testing.assert_array_equal(g, w)
    assert np.any(g != h)
