"""The export command line: train --export, then predict reproduces each run's test
accuracy, raw inputs and the C program agree. (Bad flags and files of both entry points:
the table of tests/test_bad_inputs.py.)"""

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest

from bnnjax import data as data_lib
from bnnjax import export

pytestmark = pytest.mark.slow  # fresh processes (docs/testing.md)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(module, args, cwd):
  env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
  return subprocess.run([sys.executable, '-m', module] + args, cwd=cwd, env=env,
                        capture_output=True, text=True, timeout=600)


def _predictions(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def test_train_export_then_predict_reproduces_training(tmp_path):
  wd, model_path = tmp_path / 'wd', tmp_path / 'net.bnn'
  proc = _run('bnnjax.train', ['--smoke', '--dataset=digits', '--layers=16,16',
                               '--group_size=4', '--robustness=0,0.5',
                               f'--workdir={wd}', f'--export={model_path}',
                               '--export_seed=1'], tmp_path)
  assert proc.returncode == 0, proc.stderr
  assert 'exported 2 network(s)' in proc.stdout  # seed 1 of both grid points
  summary = json.loads((wd / 'summary.json').read_text())
  header = tmp_path / 'c' / 'bnn_model.h'
  proc = _run('bnnjax.predict', [f'--model={model_path}', '--dataset=digits',
                                 f'--predictions={tmp_path / "pred.csv"}'], tmp_path)
  assert proc.returncode == 0, proc.stderr
  lines = [l for l in proc.stdout.splitlines() if l.startswith('network ')]
  assert len(lines) == 2
  for point, line in zip(summary['points'], lines):
    acc = point['test_acc_per_seed'][1]  # the accuracy training reported for run 1
    assert f'(run 1, seed 43, grid point {summary["points"].index(point)})' in line
    assert f'test accuracy {acc:.2f}%' in line and f'reported {acc:.2f}%' in line
  rows = _predictions(tmp_path / 'pred.csv')
  num_test = len(rows) // 2
  assert num_test == data_lib.load('digits', smoke=True).num_test
  for point, net in zip(summary['points'], ('0', '1')):
    mine = [r for r in rows if r['network'] == net]
    correct = sum(r['label'] == r['prediction'] for r in mine)
    assert round(100 * correct / num_test, 6) == round(point['test_acc_per_seed'][1], 6)

  # Raw features through the file's thresholds, and the C program, predict the same.
  proc = _run('bnnjax.predict', [f'--model={model_path}', '--network=1', '--inputs=raw',
                                 f'--predictions={tmp_path / "raw.csv"}',
                                 f'--c_header={header}',
                                 f'--c_inputs={tmp_path / "c" / "in.bin"}'], tmp_path)
  assert proc.returncode == 0, proc.stderr
  packed = [r for r in rows if r['network'] == '1']
  assert _predictions(tmp_path / 'raw.csv') == packed
  cc = shutil.which(os.environ.get('CC') or 'cc') or shutil.which('gcc')
  if cc is None:
    pytest.skip('no C compiler on PATH: the C program is not checked')
  binary = str(tmp_path / 'bnn_infer')
  subprocess.run([cc, '-std=c99', '-O2', f'-I{header.parent}',
                  os.path.join(export.c_source_dir(), 'bnn_infer.c'), '-o', binary],
                 check=True)
  out = subprocess.run([binary, str(tmp_path / 'c' / 'in.bin')], capture_output=True,
                       text=True, check=True).stdout.split()
  assert out == [r['prediction'] for r in packed]
