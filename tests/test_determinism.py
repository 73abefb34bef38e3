"""Determinism across processes: the same `python -m bnnjax.train` command in fresh
processes writes the same results, final weights and diagnostics -- run twice, run on
another number of devices, and run after a `kill -9` at a random moment and the same
command again.

What is compared (`reliability_util.run_digest`): every column of results.csv except
wall-time ones, summary.json's per-seed final accuracies, every array of
diagnostics.npz, and the bytes of the --export --export_hidden file (the final binary
weights, the integer hidden weights and the rest of each run's state).
CI runs reduced counts; scripts/reliability_report.py sets BNNJAX_RELIABILITY_FULL=1.
"""

import os
import random
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reliability_util as ru  # noqa: E402

pytestmark = pytest.mark.slow  # fresh processes (docs/testing.md)

THIS = 'tests/test_determinism.py'
# 3 seeds: on 1, 2 or 3 devices the runs are split differently (2 devices pad one).
TRAIN_ARGS = ['--dataset=digits', '--layers=15', '--epochs=4', '--num_seeds=3',
              '--workdir=wd', '--export=wd/net.bnn', '--export_hidden']


def _digest(cwd):
  return ru.run_digest(str(cwd / 'wd'), str(cwd / 'wd' / 'net.bnn'))


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
  """One run of the command in a fresh process: (digest, wall seconds)."""
  cwd = tmp_path_factory.mktemp('reference')
  t0 = time.time()
  proc = ru.run_cli('bnnjax.train', TRAIN_ARGS, cwd, optimized=True)
  assert proc.returncode == 0, proc.stderr
  digest = _digest(cwd)
  assert digest['results.csv'].startswith('12 rows')  # 3 seeds x 4 epochs
  return digest, time.time() - t0


def _compare(name, digest, got, test, **info):
  differ = sorted(k for k in digest if got.get(k) != digest[k])
  ru.record('determinism', name, f'{THIS}::{test}', not differ, differ=differ,
            compared=sorted(digest), **info)
  return differ


def test_same_command_in_two_fresh_processes_writes_identical_results(reference,
                                                                      tmp_path):
  proc = ru.run_cli('bnnjax.train', TRAIN_ARGS, tmp_path, optimized=True)
  assert proc.returncode == 0, proc.stderr
  differ = _compare('the same command in a second fresh process', reference[0],
                    _digest(tmp_path),
                    'test_same_command_in_two_fresh_processes_writes_identical_results')
  assert not differ, differ


@pytest.mark.parametrize('devices', [1] + ([3, 4] if ru.FULL else []))
def test_another_device_count_writes_identical_results(reference, tmp_path, devices):
  proc = ru.run_cli('bnnjax.train', TRAIN_ARGS, tmp_path, devices=devices,
                     optimized=True)
  assert proc.returncode == 0, proc.stderr
  assert f'up to {devices} cpu device' in proc.stdout or 'devices:' not in proc.stdout
  differ = _compare(f'{devices} CPU device(s) instead of {os.cpu_count()}', reference[0],
                    _digest(tmp_path),
                    'test_another_device_count_writes_identical_results',
                    devices=devices)
  assert not differ, differ


def _kill_case(cwd, digest, span, rng, mode):
  cwd.mkdir()
  at = ru.kill_at('bnnjax.train', TRAIN_ARGS, cwd, rng, span, mode, optimized=True)
  wd = cwd / 'wd'
  at['checkpoint_on_disk'] = (wd / 'checkpoint.npz').exists()
  at['results_on_disk'] = (wd / 'results.csv').exists()
  again = ru.run_cli('bnnjax.train', TRAIN_ARGS, cwd, optimized=True)
  problems = []
  if again.returncode != 0:
    problems.append(f'the rerun failed: {again.stderr.strip()[-300:]}')
  else:
    got = _digest(cwd)
    problems += [f'{k} differs' for k in digest if got.get(k) != digest[k]]
    if at['checkpoint_on_disk'] and 'epoch   1/' in again.stdout:
      problems.append('restarted from scratch although a checkpoint was on disk')
  at['temp_files_left'] = len(ru.temp_litter(str(wd)))
  return problems, at


def test_kill_9_training_then_rerun_gives_the_same_results(reference, tmp_path):
  """kill -9 at a random moment (uniform over the reference run's wall time, or just
  after a random epoch line), then the same command: the uninterrupted run's results,
  no crash, and no restart from scratch when a checkpoint was on disk."""
  digest, span = reference
  rng = random.Random(ru.SEED + 1)
  failures = []
  for i in range(ru.count(1, 12)):
    mode = 'line' if i % 2 else 'time'
    (problems, at), tries = ru.stable_code(
        lambda: _kill_case(tmp_path / f'kill{i}-{time.time_ns()}', digest, span, rng,
                           mode))
    at['tries'] = tries
    ru.record('fault', f'kill -9 bnnjax.train ({mode})',
              f'{THIS}::test_kill_9_training_then_rerun_gives_the_same_results',
              not problems, problems=problems, **at)
    if problems:
      failures.append((problems, at))
  assert not failures, failures
