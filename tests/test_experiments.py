"""experiments/: every experiment's smoke run (on the data available offline), outputs,
resuming, grids in one call, the paper lookup, and the runner's command line."""

import csv
import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

import experiments
from experiments import framework

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# One offline data set per experiment keeps the suite short; the others are skipped
# with the loader's message when their data are missing.
LOCAL = {'main': 'prototypes', 'group_size': 'mnist5k', 'cp_r': 'prototypes',
         'depth': 'mnist5k', 'robustness': 'prototypes', 'weight_bits': 'mnist5k',
         'train_out': 'prototypes', 'learning_curves': 'prototypes',
         'uci': 'breast_cancer', 'continual': 'mnist5k', 'conv': 'digits',
         'comparators': 'digits', 'onebit': 'mnist5k'}


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
  return str(tmp_path_factory.mktemp('experiments'))


def test_every_experiment_is_covered():
  assert set(LOCAL) == set(experiments.NAMES)


@pytest.mark.slow
@pytest.mark.parametrize('name', list(experiments.NAMES))
def test_smoke_run_writes_outputs_and_rerun_skips(name, workdir):
  exp = experiments.get(name)
  logs = []
  summary = framework.run_experiment(exp, workdir, smoke=True, datasets=[LOCAL[name]],
                                     log=logs.append)
  settings = [s for s in exp.settings_fn(True) if s.dataset == LOCAL[name]]
  assert len(summary['settings']) == len(exp.settings_fn(True))  # the whole experiment
  done = [e for e in summary['settings'] if 'missing' not in e]
  assert {e['label'] for e in done if e['dataset'] == LOCAL[name]} == {
      s.label for s in settings} and len(settings) >= 1
  out = os.path.join(workdir, name)
  with open(os.path.join(out, 'results.csv')) as f:
    rows = list(csv.DictReader(f))
  # One row per setting x seed x epoch, with the setting's columns. Rows of other data
  # sets come from settings another experiment of this module's workdir already ran
  # (settings are shared by content). Task sequences have their rows in matrices.csv.
  single = [s for s in settings if s.tasks is None]
  want = sum(s.spec.num_seeds * s.spec.num_epochs for s in single)
  assert len([r for r in rows if r['dataset'] == LOCAL[name]]) == want
  assert len(rows) == sum(e['num_seeds'] * e['num_epochs'] for e in done
                          if not e['tasks'])
  assert {'experiment', 'setting', 'dataset', 'method', 'layers', 'run', 'epoch',
          'test_acc', 'train_acc', 'setting_id'} <= set(rows[0])
  assert {r['setting'] for r in rows} == {s.label for s in single}
  table = open(os.path.join(out, 'table.md')).read()
  for s in settings:
    assert s.label in table
  with open(os.path.join(out, 'figure.png'), 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  sequences = [s for s in settings if s.tasks is not None]
  if sequences:  # the accuracy matrices: setting x seed x trained task x evaluated task
    with open(os.path.join(out, 'matrices.csv')) as f:
      mats = list(csv.DictReader(f))
    for s in sequences:  # smoke: at most smoke_tasks permuted tasks
      mine = [r for r in mats if r['setting_id'] == s.setting_id(True)]
      t = max(int(r['trained_task']) for r in mine)
      assert t == min(s.tasks.num_tasks, s.tasks.smoke_tasks)
      assert len(mine) == s.spec.num_seeds * t * t
      assert f'## {s.tasks.name}' in table and 'forgetting' in table
      with open(os.path.join(out, f'heatmaps_{s.tasks.name}.png'), 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  # A rerun computes nothing: every setting is already on disk.
  logs.clear()
  framework.run_experiment(exp, workdir, smoke=True, datasets=[LOCAL[name]],
                           log=logs.append)
  assert not [m for m in logs if 'running' in m]
  assert [m for m in logs if 'already done' in m]


def test_grid_settings_run_as_one_call():
  exp = experiments.get('weight_bits')
  settings = [s for s in exp.settings_fn(False) if s.dataset == 'prototypes']
  groups = framework.group_settings(settings)
  assert len(groups) == 1 and len(groups[0]) == 7
  spec = framework.grid_spec(groups[0])
  assert spec.weight_clip == (1, 8, 16, 32, 64, 128, 0)
  # Shape-changing settings are separate calls.
  gs = [s for s in experiments.get('group_size').settings_fn(False)
        if s.dataset == 'prototypes']
  assert all(len(g) == 1 for g in framework.group_settings(gs))


def test_paper_lookup():
  main = {s.label: s for s in experiments.get('main').settings_fn(False)
          if s.dataset == 'prototypes'}
  assert framework.paper_result(main['ours 35-35 γ35']) == (79.105, 1.269)
  assert framework.paper_result(main['cp_r 330-30']) == (84.49, 0.905)
  assert framework.paper_result(main['sgd bin 20-20']) == (91.45, 0.841)
  out = {s.label: s for s in experiments.get('train_out').settings_fn(False)
         if s.dataset == 'prototypes'}
  assert framework.paper_result(out['trained 135-135 γ45']) == (92.175, 0.515)
  assert framework.flag(80.0, 0.4, 78.0, 0.5) and not framework.flag(80.0, 1.2, 78.0, 0.5)


@pytest.mark.slow
def test_bad_dataset_and_num_seeds_are_errors(tmp_path):
  exp = experiments.get('robustness')
  with pytest.raises(ValueError, match='no setting on data set'):
    framework.run_experiment(exp, str(tmp_path / 'w'), smoke=True, datasets=['digits'])
  with pytest.raises(ValueError, match='num_seeds'):
    framework.run_experiment(exp, str(tmp_path / 'w'), smoke=True, num_seeds=0)
  assert not (tmp_path / 'w').exists()


def _cli(args, cwd):
  env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
  return subprocess.run([sys.executable, '-m', 'experiments.run'] + args, cwd=cwd,
                        env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_cli_lists_every_experiment_and_the_data_here(tmp_path):
  """`--list` (bad flags of experiments.run: the table of tests/test_bad_inputs.py)."""
  proc = _cli(['--list'], tmp_path)
  assert proc.returncode == 0, proc.stderr
  for name in experiments.NAMES:
    assert name in proc.stdout
  assert 'data here: prototypes' in proc.stdout


def test_committed_results_are_reached_by_todays_settings():
  """Every finished setting committed in experiments/results/settings is the file of a
  setting of today's experiments, with the seed count it was run with (the ids hash
  what decides a result: a change of RunSpec or of an experiment's settings that
  changed ids would orphan the committed results and recompute them)."""
  import json
  committed = os.path.join(ROOT, 'experiments', 'results', 'settings')
  settings = [s for exp in experiments.all_experiments().values()
              for s in exp.settings_fn(False)]
  files = sorted(os.listdir(committed))
  assert len(files) > 100
  reached = {}  # seed count -> the file names of today's settings run with it
  for name in files:
    path = os.path.join(committed, name)
    if name.endswith('.json'):
      num_seeds = json.load(open(path))['spec']['num_seeds']
    else:
      with open(path) as f:
        num_seeds = int(next(csv.DictReader(f))['num_seeds'])
    if num_seeds not in reached:
      reached[num_seeds] = {os.path.basename(dataclasses.replace(s, spec=dataclasses.replace(
          s.spec, num_seeds=num_seeds)).file(committed, False)) for s in settings}
    assert name in reached[num_seeds], name


def test_paired_table_pairs_final_epochs_by_run():
  rows = []
  for s, vals in (('a', (50, 60, 70)), ('b', (55, 58, 80))):
    for k, v in enumerate(vals):  # epoch 1 at 0 %, the final epoch 2 at v
      rows += [dict(dataset='d', setting=s, run=str(k), epoch='1', test_acc='0'),
               dict(dataset='d', setting=s, run=str(k), epoch='2', test_acc=str(v))]
  text = framework.paired_table(rows, [('a', 'b'), ('a', 'missing')])
  diff = np.array([5.0, -2.0, 10.0])
  assert f'| d | b | a | {diff.mean():+.2f} ± {diff.std():.2f} | 2/3 |' in text
  assert 'missing' not in text
