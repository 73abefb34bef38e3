"""Fault injection: kill -9 at random moments, damaged checkpoints, exports and results
files, and a disk that fills up mid-write.

Promises checked here (docs/reliability.md lists them with their figures):

* kill -9 of `python -m experiments.run` at a random moment, then the same command
  again -> the same outputs as an uninterrupted run, and no setting that was finished
  on disk computed again (kill -9 of `python -m bnnjax.train`: test_determinism.py);
* a truncated or corrupted checkpoint -> a ValueError naming the file and saying to
  remove it (or, where the damage hit bytes the reader never uses, the same results);
  the same error on every retry (no crash loop), never a silent restart;
* a truncated or corrupted export file, or results CSV -> a ValueError naming the file;
* ENOSPC from the disk (os.fsync fails) while writing results, an export, a checkpoint
  or predictions -> OSError naming the file, and every previous file byte for byte
  intact, no temporary file left.

CI runs reduced counts; scripts/reliability_report.py sets BNNJAX_RELIABILITY_FULL=1.
"""

import errno
import os
import random
import subprocess
import sys
import time

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reliability_util as ru  # noqa: E402

pytestmark = pytest.mark.slow  # processes killed, files damaged, disks filled (docs/testing.md)

THIS = 'tests/test_faults.py'

# ----------------------------------------------------------------------------------
# kill -9
# ----------------------------------------------------------------------------------

SWEEP_ARGS = ['--experiment=group_size', '--smoke', '--dataset=mnist5k', '--workdir=wd']


@pytest.fixture(scope='module')
def sweep_reference(tmp_path_factory):
  cwd = tmp_path_factory.mktemp('sweep_ref')
  t0 = time.time()
  proc = ru.run_cli('experiments.run', SWEEP_ARGS, cwd)
  assert proc.returncode == 0, proc.stderr
  return ru.sweep_digest(str(cwd / 'wd'), 'group_size'), time.time() - t0


def _sweep_kill_case(cwd, digest, span, rng, mode):
  cwd.mkdir()
  at = ru.kill_at('experiments.run', SWEEP_ARGS, cwd, rng, span, mode)
  settings_dir = cwd / 'wd' / 'settings'
  done = sorted(os.listdir(settings_dir)) if settings_dir.exists() else []
  at['settings_on_disk'] = len(done)
  again = ru.run_cli('experiments.run', SWEEP_ARGS, cwd)
  problems = []
  if again.returncode != 0:
    problems.append(f'the rerun failed: {again.stderr.strip()[-300:]}')
  else:
    got = ru.sweep_digest(str(cwd / 'wd'), 'group_size')
    problems += [f'{k} differs' for k in digest if got.get(k) != digest[k]]
    if again.stdout.count('already done, skipped') < len(done):
      problems.append('recomputed a setting that was on disk')
  at['temp_files_left'] = len(ru.temp_litter(str(cwd / 'wd')))
  return problems, at


def test_kill_9_experiment_sweep_then_rerun_gives_the_same_results(tmp_path,
                                                                   sweep_reference):
  digest, span = sweep_reference
  rng = random.Random(ru.SEED + 2)
  failures = []
  for i in range(ru.count(1, 6)):
    mode = 'line' if i % 2 else 'time'
    (problems, at), tries = ru.stable_code(
        lambda: _sweep_kill_case(tmp_path / f'kill{i}-{time.time_ns()}', digest, span,
                                 rng, mode))
    at['tries'] = tries
    ru.record('fault', f'kill -9 experiments.run ({mode})',
              f'{THIS}::test_kill_9_experiment_sweep_then_rerun_gives_the_same_results',
              not problems, problems=problems, **at)
    if problems:
      failures.append((problems, at))
  assert not failures, failures


# ----------------------------------------------------------------------------------
# Damaged checkpoints (in-process: one compile, many resumes)
# ----------------------------------------------------------------------------------


class _Stop(Exception):
  pass


@pytest.fixture(scope='module')
def interrupted_run(tmp_path_factory):
  """A 3-epoch run of 2 seeds stopped after epoch 1 (its checkpoint bytes), the
  uninterrupted run's results, and a function resuming from a given checkpoint."""
  import bnnjax
  from bnnjax import data as data_lib
  ds = data_lib.load('digits', smoke=True)
  config = bnnjax.Config(layers=(8,), group_size=4, num_inputs=ds.num_features,
                         num_classes=ds.num_classes, num_test=ds.num_test,
                         num_epochs=3)
  train = bnnjax.make_train(config)
  keys, params = bnnjax.seed_keys(7, 2), bnnjax.HParams()
  data = bnnjax.Data(ds.x, ds.y)
  with ru.CompileWatch() as watch:
    full = train(keys, params, data)
  # The positive control of CompileWatch (test_bad_inputs: "nothing compiled"): it
  # sees the training program compile.
  assert watch.programs, 'CompileWatch saw no program compile: update its names'
  path = str(tmp_path_factory.mktemp('ckpt') / 'checkpoint.npz')

  def stop(epoch, *_):
    if epoch == 0:
      raise _Stop()

  with pytest.raises(_Stop):
    train(keys, params, data, progress_fn=stop, checkpoint_path=path,
          checkpoint_every=1)
  blob = open(path, 'rb').read()

  def resume(ckpt_path):
    return train(keys, params, data, checkpoint_path=ckpt_path, checkpoint_every=1)

  return blob, full, resume


def _same(a, b) -> bool:
  import jax
  return (np.array_equal(a.test_acc, b.test_acc) and
          np.array_equal(a.train_acc, b.train_acc) and
          all(np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(a.states),
                                                   jax.tree_util.tree_leaves(b.states))))


def _damages(blob: bytes, rng, n):
  """n damaged copies: truncations, flipped bytes, zeroed blocks, appended garbage."""
  out = [('empty', b''), ('truncated to half', blob[:len(blob) // 2]),
         ('last byte cut', blob[:-1])]
  while len(out) < n:
    kind = rng.choice(['truncate', 'flip', 'zero', 'append'])
    if kind == 'truncate':
      cut = rng.randrange(1, len(blob))
      out.append((f'truncated at {cut}', blob[:cut]))
    elif kind == 'flip':
      i = rng.randrange(len(blob))
      b = bytearray(blob)
      b[i] ^= 1 << rng.randrange(8)
      out.append((f'bit flipped at {i}', bytes(b)))
    elif kind == 'zero':
      i = rng.randrange(len(blob))
      k = rng.randint(1, 64)
      out.append((f'bytes zeroed at {i} ({k} bytes)', (blob[:i] + b'\0' * k +
                                                 blob[i + k:])[:len(blob)]))
    else:
      out.append(('garbage appended', blob + bytes(rng.randrange(256) for _ in range(9))))
    if out[-1][1] == blob:  # e.g. zeros written over zeros: no damage, draw again
      out.pop()
  return out[:n]


def test_damaged_checkpoint_is_refused_naming_it_or_resumes_the_same(interrupted_run,
                                                                     tmp_path):
  blob, full, resume = interrupted_run
  good = str(tmp_path / 'good.npz')
  open(good, 'wb').write(blob)
  assert _same(resume(good), full)  # the clean checkpoint resumes to the same bits
  rng = random.Random(ru.SEED + 3)
  failures = []
  for i, (what, damaged) in enumerate(_damages(blob, rng, ru.count(12, 200))):
    path = str(tmp_path / f'ckpt{i}.npz')
    open(path, 'wb').write(damaged)
    outcome, problems = '', []
    try:
      res = resume(path)
    except ValueError as e:
      msg = str(e)
      outcome = 'refused'
      if path not in msg or 'remove' not in msg or 'checkpoint' not in msg:
        problems.append(f'the error does not name the file and what to do: {msg}')
      if open(path, 'rb').read() != damaged:
        problems.append('the damaged file was changed')
      try:  # the same again: no crash loop, no silent restart
        resume(path)
        problems.append('a retry did not refuse it')
      except ValueError as e2:
        if str(e2) != msg:
          problems.append('a retry gave another error')
    except Exception as e:  # noqa: BLE001 -- the wrong kind of error is the finding
      outcome = 'crashed'
      problems.append(f'{type(e).__name__}: {e}')
    else:
      outcome = 'resumed'
      if not _same(res, full):  # damage the reader never reads must change nothing
        problems.append('resumed to other results')
    ru.record('fault', f'checkpoint {what.split(" at ")[0]}',
              f'{THIS}::test_damaged_checkpoint_is_refused_naming_it_or_resumes_the_same',
              not problems, outcome=outcome, problems=problems)
    if problems:
      failures.append((what, problems))
    os.remove(path)
  assert not failures, failures


# ----------------------------------------------------------------------------------
# Damaged exports and results files (cheap: many)
# ----------------------------------------------------------------------------------


@pytest.fixture(scope='module')
def export_blob(tmp_path_factory):
  import jax
  from bnnjax import data as data_lib
  from bnnjax import export
  from bnnjax import model
  from bnnjax.config import Config
  ds = data_lib.load('digits', smoke=True)
  config = Config(layers=(8, 8), group_size=4, num_inputs=64, num_classes=10,
                  num_test=ds.num_test)
  states = [model.init(jax.random.PRNGKey(k), config) for k in range(2)]
  stacked = jax.tree_util.tree_map(lambda *a: np.stack(a), *states)
  path = str(tmp_path_factory.mktemp('export') / 'net.bnn')
  export.save(path, config, stacked, [1, 2], dataset=ds, smoke=True, include_hidden=True)
  return open(path, 'rb').read()


def test_damaged_export_is_refused_naming_the_file(export_blob, tmp_path):
  from bnnjax import export
  rng = random.Random(ru.SEED + 4)
  failures = []
  for i, (what, damaged) in enumerate(_damages(export_blob, rng, ru.count(60, 3000))):
    path = str(tmp_path / f'net{i}.bnn')
    open(path, 'wb').write(damaged)
    problems = []
    try:
      export.load(path)
      problems.append('loaded')
    except export.ExportError as e:
      if not str(e).startswith(path + ': ') or '\n' in str(e):
        problems.append(f'unclear error: {e}')
    except Exception as e:  # noqa: BLE001
      problems.append(f'{type(e).__name__}: {e}')
    ru.record('fault', f'export {what.split(" at ")[0]}',
              f'{THIS}::test_damaged_export_is_refused_naming_the_file', not problems,
              problems=problems)
    if problems:
      failures.append((what, problems))
    os.remove(path)
  assert not failures, failures


@pytest.fixture(scope='module')
def results_blob(tmp_path_factory):
  from bnnjax import methods
  from bnnjax import results
  spec = methods.RunSpec(layers=(8,), group_size=(4,), num_seeds=2, num_epochs=3)
  rng = np.random.default_rng(0)
  res = methods.MethodResult(train_acc=rng.uniform(0, 100, (2, 3)),
                             test_acc=rng.uniform(0, 100, (2, 3)), wall_seconds=1.0,
                             config={})
  folder = str(tmp_path_factory.mktemp('results'))
  results.write_results(folder, spec, 'digits', res)
  return open(os.path.join(folder, 'results.csv'), 'rb').read()


def test_damaged_results_file_is_refused_naming_the_file(results_blob, tmp_path):
  """Truncated, emptied, zeroed, extended or row-dropped results CSVs are refused with
  an error naming the file. A single flipped bit inside a value ('12.5' -> '13.5') is
  another valid CSV: CSV has no checksum, so those are counted (and must never crash),
  not promised."""
  from bnnjax import results
  path = str(tmp_path / 'results.csv')
  open(path, 'wb').write(results_blob)
  want = results.read_rows(path)
  assert len(want) == 6
  rng = random.Random(ru.SEED + 5)
  failures = []
  damages = _damages(results_blob, rng, ru.count(60, 3000))
  # Whole rows lost (a cut at a line end still parses as CSV).
  lines = results_blob.split(b'\n')
  damages += [('rows lost from the end', b'\n'.join(lines[:3]) + b'\n'),
              ('a row lost in the middle', b'\n'.join(lines[:2] + lines[3:]))]
  for i, (what, damaged) in enumerate(damages):
    path = str(tmp_path / f'results{i}.csv')
    open(path, 'wb').write(damaged)
    flip = what.startswith('bit flipped')
    problems, outcome = [], 'refused'
    try:
      rows = results.read_rows(path)
    except ValueError as e:
      if path not in str(e) or 'remove it' not in str(e) or '\n' in str(e):
        problems.append(f'unclear error: {e}')
    except Exception as e:  # noqa: BLE001
      problems.append(f'{type(e).__name__}: {e}')
    else:
      outcome = 'read, same values' if rows == want else 'read, other values'
      if rows != want and not flip:
        problems.append('read other rows without an error')
    ru.record('fault', f'results.csv {what.split(" at ")[0]}',
              f'{THIS}::test_damaged_results_file_is_refused_naming_the_file',
              not problems, outcome=outcome, problems=problems,
              undetectable=flip and outcome == 'read, other values')
    if problems:
      failures.append((what, problems))
    os.remove(path)
  assert not failures, failures


# ----------------------------------------------------------------------------------
# A full disk (ENOSPC) while writing
# ----------------------------------------------------------------------------------


def _fsync_fails_at(monkeypatch, nth):
  """os.fsync raises OSError(ENOSPC) on its nth call (1-based) from now on."""
  calls = {'n': 0}
  real = os.fsync

  def fsync(fd):
    calls['n'] += 1
    if calls['n'] >= nth:
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real(fd)

  monkeypatch.setattr(os, 'fsync', fsync)
  return calls


def _folder_bytes(folder):
  return {n: open(os.path.join(folder, n), 'rb').read() for n in sorted(os.listdir(folder))}


def _enospc_case(name, folder, write, monkeypatch, nth, test, need_name=True):
  before = _folder_bytes(folder)
  _fsync_fails_at(monkeypatch, nth)
  problems = []
  try:
    write()
    problems.append('no error')
  except OSError as e:
    if e.errno != errno.ENOSPC:
      problems.append(f'errno {e.errno}')
    if need_name and not (e.filename or '') and folder not in str(e):
      problems.append(f'the error names no file: {e}')
  finally:
    monkeypatch.undo()
  after = _folder_bytes(folder)
  if after != before:
    problems.append(f'files changed: {sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))}')
  ru.record('fault', f'ENOSPC {name} (fsync {nth})', f'{THIS}::{test}', not problems,
            problems=problems)
  return problems


def test_enospc_while_writing_results_keeps_every_previous_file(tmp_path, monkeypatch):
  from bnnjax import methods
  from bnnjax import results
  spec = methods.RunSpec(layers=(8,), group_size=(4,), num_seeds=2, num_epochs=2)

  def result(v):
    return methods.MethodResult(train_acc=np.full((2, 2), v), test_acc=np.full((2, 2), v),
                                wall_seconds=1.0, config={},
                                metrics={'flip_rate': np.full((2, 2, 1), v / 100)})

  folder = str(tmp_path)
  results.write_results(folder, spec, 'digits', result(10.0))
  failures = []
  for nth in (1, 2, 3):  # results.csv, summary.json, diagnostics.npz
    problems = _enospc_case('results', folder,
                            lambda: results.write_results(folder, spec, 'digits',
                                                          result(20.0)),
                            monkeypatch, nth,
                            'test_enospc_while_writing_results_keeps_every_previous_file')
    failures += [(nth, p) for p in problems]
  assert not failures, failures
  results.write_results(folder, spec, 'digits', result(20.0))  # the disk has room again
  assert '20.0' in open(os.path.join(folder, 'results.csv')).read()


def test_enospc_while_writing_an_export_keeps_the_previous_file(tmp_path, monkeypatch,
                                                                 export_blob):
  from bnnjax import export
  folder = str(tmp_path)
  path = os.path.join(folder, 'net.bnn')
  open(path, 'wb').write(export_blob)
  exp = export.load(path)
  state = exp.state(0)
  problems = _enospc_case('export', folder,
                          lambda: export.save(path, exp.config, state, [5]),
                          monkeypatch, 1,
                          'test_enospc_while_writing_an_export_keeps_the_previous_file')
  assert not problems, problems
  assert export.load(path).networks[0].seed == 1


def test_enospc_while_checkpointing_keeps_the_previous_checkpoint(interrupted_run,
                                                                  tmp_path, monkeypatch):
  blob, full, resume = interrupted_run
  folder = str(tmp_path)
  path = os.path.join(folder, 'checkpoint.npz')
  open(path, 'wb').write(blob)
  problems = _enospc_case('checkpoint', folder, lambda: resume(path), monkeypatch, 1,
                          'test_enospc_while_checkpointing_keeps_the_previous_checkpoint')
  assert not problems, problems
  assert _same(resume(path), full)  # and, with room again, it resumes to the same bits


def _run_with_full_disk(module, args, cwd, timeout):
  """`python -m module args` in a fresh process whose os.fsync fails with ENOSPC:
  (the finished process, its stderr lines that start with 'error:')."""
  code = ('import os, errno, sys, runpy\n'
          'def fsync(fd): raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))\n'
          'os.fsync = fsync\n'
          f'sys.argv = ["{module}"] + sys.argv[1:]\n'
          f'runpy.run_module("{module}", run_name="__main__", alter_sys=True)\n')
  proc = subprocess.run([sys.executable, '-c', code] + args, cwd=str(cwd), env=ru.env(),
                        capture_output=True, text=True, timeout=timeout)
  return proc, [l for l in proc.stderr.splitlines() if l.startswith('error:')]


def test_enospc_while_writing_predictions_gives_one_error_and_keeps_the_file(
    tmp_path, export_blob):
  """bnnjax.predict end to end (a fresh process with os.fsync failing)."""
  model_path = tmp_path / 'net.bnn'
  model_path.write_bytes(export_blob)
  pred = tmp_path / 'pred.csv'
  pred.write_text('previous predictions\n')
  proc, lines = _run_with_full_disk(
      'bnnjax.predict', [f'--model={model_path}', '--network=0', f'--predictions={pred}'],
      tmp_path, 300)
  problems = []
  if proc.returncode == 0 or 'Traceback' in proc.stderr or len(lines) != 1:
    problems.append(f'not one clear error: {proc.returncode} {proc.stderr[-500:]}')
  elif 'pred.csv' not in lines[0] or 'predictions' not in lines[0]:
    problems.append(f'the error does not name the file: {lines[0]}')
  if pred.read_text() != 'previous predictions\n' or ru.temp_litter(str(tmp_path)):
    problems.append('the previous file changed or a temporary file was left')
  ru.record('fault', 'ENOSPC predictions (bnnjax.predict)',
            f'{THIS}::test_enospc_while_writing_predictions_gives_one_error_and_keeps_the_file',
            not problems, problems=problems)
  assert not problems, problems


def test_train_cli_enospc_gives_one_error_line(tmp_path):
  """bnnjax.train with a full disk: one 'error:' line naming the file, no traceback,
  nothing left behind."""
  proc, lines = _run_with_full_disk(
      'bnnjax.train', ['--smoke', '--dataset=digits', '--layers=15', '--workdir=wd'],
      tmp_path, 600)
  problems = []
  if proc.returncode == 0 or 'Traceback' in proc.stderr or len(lines) != 1:
    problems.append(f'not one clear error line (exit {proc.returncode}): '
                    f'{proc.stderr.strip().splitlines()[-1:]}')
  elif 'wd' not in lines[0]:
    problems.append(f'the error names no file: {lines[0]}')
  if ru.temp_litter(str(tmp_path)):
    problems.append('temporary files left')
  ru.record('fault', 'ENOSPC bnnjax.train (command line)',
            f'{THIS}::test_train_cli_enospc_gives_one_error_line',
            not problems, problems=problems)
  assert not problems, problems


def test_experiment_with_a_damaged_setting_file_is_refused(tmp_path):
  """experiments/framework.py: a truncated settings/<id>.csv (a row lost) must give a
  clear error naming it."""
  import experiments
  from bnnjax import methods
  from bnnjax import results
  from experiments import framework
  exp = experiments.get('group_size')
  settings = [s for s in exp.settings_fn(True) if s.dataset == 'mnist5k']
  os.makedirs(tmp_path / 'settings')
  paths = []
  for s in settings:
    shape = (s.spec.num_seeds, s.spec.num_epochs)
    res = methods.MethodResult(train_acc=np.full(shape, 50.0),
                               test_acc=np.full(shape, 40.0), wall_seconds=1.0, config={})
    rows = results.tidy_rows(s.spec, s.dataset, res)
    for r in rows:
      r.update(experiment=exp.name, setting=s.label, series=s.series,
               setting_id=s.setting_id(True), smoke=True)
    path = str(tmp_path / 'settings' / (s.setting_id(True) + '.csv'))
    open(path, 'w').write(results.csv_text(rows))
    paths.append(path)
  lines = open(paths[0]).read().splitlines(keepends=True)
  open(paths[0], 'w').write(''.join(lines[:-1]))  # the last row lost
  problems = []
  try:
    framework.write_outputs(exp, str(tmp_path), settings, True, {}, log=lambda m: None)
    problems.append('no error: the damaged setting was read')
  except ValueError as e:
    if paths[0] not in str(e):
      problems.append(f'the error does not name the file: {e}')
  ru.record('fault', 'results: a truncated experiment setting file',
            f'{THIS}::test_experiment_with_a_damaged_setting_file_is_refused',
            not problems, problems=problems)
  assert not problems, problems
