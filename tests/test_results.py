"""bnnjax.results: tidy rows and summaries with and without a hyper-parameter grid, and
atomic writes that leave the previous files intact when a write fails."""

import csv
import json

import numpy as np
import pytest

from bnnjax import methods
from bnnjax import results


def _result(shape, grid=None):
  rng = np.random.default_rng(0)
  test = np.round(rng.uniform(0, 100, shape), 2)
  train = np.round(rng.uniform(0, 100, shape), 2)
  return methods.MethodResult(train_acc=train, test_acc=test, wall_seconds=1.5,
                              config={'layers': (4,)}, grid=grid or {})


def test_rows_and_summary_without_grid():
  spec = methods.RunSpec(layers=(35, 35), num_seeds=3, num_epochs=2)
  res = _result((3, 2))
  rows = results.tidy_rows(spec, 'prototypes', res)
  assert len(rows) == 3 * 2
  assert [(r['run'], r['epoch']) for r in rows[:3]] == [(0, 1), (0, 2), (1, 1)]
  assert rows[0]['layers'] == '35,35' and rows[0]['group_size'] == '35,35'
  assert 'grid_point' not in rows[0]
  (point,) = results.summarize(res)
  np.testing.assert_allclose(point['test_acc_mean'], res.test_acc[:, -1].mean())
  np.testing.assert_allclose(point['train_acc_std'], res.train_acc[:, -1].std())


def test_grid_rows_carry_each_points_values():
  spec = methods.RunSpec(layers=(35, 35), robustness=(0.0, 0.5), p_reinforce=(0.0, 0.5),
                         num_seeds=2, num_epochs=3)
  grid = methods.grid_points(spec)
  assert grid == {'robustness': [0.0, 0.0, 0.5, 0.5], 'p_reinforce': [0.0, 0.5, 0.0, 0.5],
                  'weight_clip': [0, 0, 0, 0]}
  res = _result((4, 2, 3), grid)
  rows = results.tidy_rows(spec, 'prototypes', res)
  assert len(rows) == 4 * 2 * 3
  for r in rows:
    p = r['grid_point']
    assert (r['robustness'], r['p_reinforce']) == (grid['robustness'][p],
                                                   grid['p_reinforce'][p])
    assert r['test_acc'] == round(float(res.test_acc[p, r['run'], r['epoch'] - 1]), 4)
  points = results.summarize(res)
  assert [pt['p_reinforce'] for pt in points] == grid['p_reinforce']
  np.testing.assert_allclose([pt['test_acc_mean'] for pt in points],
                             res.test_acc[:, :, -1].mean(axis=1))


def test_grid_shape_mismatch_is_an_error():
  with pytest.raises(ValueError, match='grid'):
    results.tidy_rows(methods.RunSpec(), 'x', _result((3, 2, 2), {'robustness': [0, 1]}))
  with pytest.raises(ValueError, match='grid'):
    results.tidy_rows(methods.RunSpec(), 'x', _result((2, 2), {'robustness': [0, 1]}))


def test_write_results_is_atomic_and_keeps_old_files_on_failure(tmp_path, monkeypatch):
  spec = methods.RunSpec(layers=(35, 35), robustness=(0.0, 0.25), num_seeds=2,
                         num_epochs=2)
  res = _result((2, 2, 2), methods.grid_points(spec))
  summary = results.write_results(str(tmp_path), spec, 'prototypes', res, 'cmd')
  assert 'test_acc_mean' not in summary and len(summary['points']) == 2
  with open(tmp_path / 'results.csv') as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 8 and {r['robustness'] for r in rows} == {'0.0', '0.25'}
  on_disk = json.loads((tmp_path / 'summary.json').read_text())
  assert on_disk['grid']['robustness'] == [0.0, 0.25] and on_disk['command'] == 'cmd'
  before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

  def failing(rows):
    raise OSError(28, 'No space left on device')

  monkeypatch.setattr(results, 'csv_text', failing)
  with pytest.raises(OSError):
    results.write_results(str(tmp_path), spec, 'prototypes', _result((2, 2, 2),
                          methods.grid_points(spec)), 'cmd2')
  after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
  assert after == before  # old files intact, no temporary file left behind
