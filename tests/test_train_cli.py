"""The main job's command line: a smoke run writes tidy results, a finished run is not
trained again, grids, the compilation cache. (Bad flags: the table of
tests/test_bad_inputs.py, which runs every case in one process per entry point.)"""

import csv
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # fresh processes (docs/testing.md)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, tmp_path):
  env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
  return subprocess.run([sys.executable, '-m', 'bnnjax.train'] + args, cwd=tmp_path,
                        env=env, capture_output=True, text=True, timeout=600)


def test_smoke_run_writes_results(tmp_path):
  workdir = tmp_path / 'wd'
  proc = _run(['--smoke', '--layers=35,35', f'--workdir={workdir}'], tmp_path)
  assert proc.returncode == 0, proc.stderr
  assert 'epoch   2/2' in proc.stdout and 'final test accuracy' in proc.stdout
  with open(workdir / 'results.csv') as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 2 * 2  # seeds x epochs
  assert {'layers', 'group_size', 'robustness', 'semantics', 'run', 'epoch', 'test_acc',
          'train_acc'} <= set(rows[0])
  assert rows[0]['layers'] == '35,35' and rows[0]['group_size'] == '35,35'
  summary = json.loads((workdir / 'summary.json').read_text())
  finals = [float(r['test_acc']) for r in rows if r['epoch'] == '2']
  assert abs(summary['test_acc_mean'] - sum(finals) / 2) < 1e-3
  for k in ('test_acc_std', 'train_acc_mean', 'num_seeds', 'wall_seconds', 'versions',
            'config'):
    assert k in summary
  assert summary['num_seeds'] == 2 and not summary['already_complete']
  assert 'seed chunk: 1 (auto)' in proc.stdout  # CPU: one run at a time
  assert summary['seed_chunk_resolved'] == 1 and summary['spec']['seed_chunk'] is None
  assert not [p for p in os.listdir(workdir) if p.startswith('.tmp')]
  # The same command again: nothing trains, and the original wall time is kept.
  again = _run(['--smoke', '--layers=35,35', f'--workdir={workdir}'], tmp_path)
  assert again.returncode == 0, again.stderr
  assert 'already complete' in again.stdout and 'epoch   1/2' not in again.stdout
  summary2 = json.loads((workdir / 'summary.json').read_text())
  assert summary2['already_complete'] and summary2['test_acc_mean'] == summary[
      'test_acc_mean']
  assert 0 < summary2['wall_seconds'] <= summary['wall_seconds']


def test_smoke_grid_with_trained_classifiers_writes_one_row_per_point(tmp_path):
  workdir = tmp_path / 'wd'
  proc = _run(['--smoke', '--layers=35,35', '--train_classifiers',
               '--robustness=0,0.25', f'--workdir={workdir}'], tmp_path)
  assert proc.returncode == 0, proc.stderr
  with open(workdir / 'results.csv') as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 2 * 2 * 2  # points x seeds x epochs
  assert {(r['grid_point'], r['robustness']) for r in rows} == {('0', '0.0'),
                                                                ('1', '0.25')}
  assert all(r['train_classifiers'] == 'True' for r in rows)
  summary = json.loads((workdir / 'summary.json').read_text())
  assert len(summary['points']) == 2 and summary['cost']['model_method'] == 'ours_train_out'
  assert proc.stdout.count('final test accuracy') == 2


def test_compilation_cache_is_filled_then_reused_with_the_same_results(tmp_path):
  """--compilation_cache: the first run stores its compiled programs, a second run
  reads them back (no new entries) and writes the same results."""
  cache = tmp_path / 'cache'
  csvs = []
  for run in ('a', 'b'):
    out = _run(['--smoke', f'--workdir={tmp_path / run}', f'--compilation_cache={cache}'],
               tmp_path)
    assert out.returncode == 0, out.stderr
    entries = {f: os.stat(cache / f).st_mtime_ns for f in os.listdir(cache)}
    if run == 'a':
      first = entries
      assert first, 'nothing was stored in the compilation cache'
    else:
      assert entries == first  # read back: no new entry, none rewritten
    csvs.append(open(tmp_path / run / 'results.csv').read())
  assert len(csvs[0].splitlines()) > 1 and csvs[0] == csvs[1]


def test_compilation_cache_that_cannot_be_made_is_left_off(tmp_path, capsys):
  from bnnjax import platform
  blocker = tmp_path / 'file'
  blocker.write_text('not a folder')
  assert platform.enable_compilation_cache(str(blocker / 'cache')) is None
  assert 'compilation cache' in capsys.readouterr().err
  assert platform.enable_compilation_cache('none') is None
