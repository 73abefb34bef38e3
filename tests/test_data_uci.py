"""UCI encoder on a local fixture (mode imputation, ±1 one-hot, 32-level thermometer),
the cache, and the ucimlrepo fetch path with a fake client (no network)."""

import os
import shutil

import numpy as np
import pytest

from bnnjax import bits
from bnnjax import data
from bnnjax.data import uci

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'uci')
CSV = os.path.join(FIXTURES, 'tiny.csv')
VARS = os.path.join(FIXTURES, 'tiny.variables.json')


def expected_tiny():
  """Hand-encoded tiny.csv (5 rows): id dropped; age (Integer, '?' -> mode 30):
  thresholds sorted[5k // 33] of [30, 30, 30, 40, 50] are 30 (k = 1..19), 40 (k = 20..26),
  50 (k = 27..32); color one-hot over (blue, green, red); size ('' -> mode M) one-hot over
  (L, M, S); class (no, yes) -> (0, 1)."""
  m, p = -1, 1
  age = {30: [m] * 32, 40: [p] * 19 + [m] * 13, 50: [p] * 26 + [m] * 6}
  color = {'blue': [p, m, m], 'green': [m, p, m], 'red': [m, m, p]}
  size = {'L': [p, m, m], 'M': [m, p, m], 'S': [m, m, p]}
  rows = [(30, 'red', 'S'), (30, 'blue', 'M'), (50, 'red', 'M'), (40, 'green', 'L'),
          (30, 'red', 'M')]
  x = np.array([age[a] + color[c] + size[s] for a, c, s in rows], np.int8)
  y = np.array([1, 0, 1, 0, 1], np.int32)
  return x, y


def install_fixture(data_dir, name):
  csv_path, vars_path = uci.cache_paths(name, str(data_dir))
  os.makedirs(os.path.dirname(csv_path), exist_ok=True)
  shutil.copy(CSV, csv_path)
  shutil.copy(VARS, vars_path)


def test_encode_fixture_by_hand():
  columns, variables = uci.read_table(CSV, VARS)
  x, y, classes, layout = uci.encode_table(columns, variables)
  want_x, want_y = expected_tiny()
  np.testing.assert_array_equal(x, want_x)
  np.testing.assert_array_equal(y, want_y)
  assert classes == ['no', 'yes']
  assert layout == [('age', 'thermometer', 32), ('color', 'one_hot', 3),
                    ('size', 'one_hot', 3)]


def test_impute_mode_ties_take_the_smallest():
  assert uci.impute_mode(['b', '?', 'a', 'b', 'a', ''], numeric=False) == [
      'b', 'a', 'a', 'b', 'a', 'a']
  assert uci.impute_mode(['2', 'nan', '1.0', '2.0', '1'], numeric=True)[1] == '1.0'


def test_column_kinds():
  enc, kind = uci.encode_column(['1', 'x', '2'], 'Integer')  # text in a numeric column
  assert kind == 'one_hot' and enc.shape == (3, 3)
  enc, kind = uci.encode_column(['1', '0', '1'], 'Binary')
  assert kind == 'one_hot' and enc.shape == (3, 2)
  enc, kind = uci.encode_column(['1.5', '0', '2'], None)  # no type in the metadata
  assert kind == 'thermometer' and enc.shape == (3, 32)


def test_numeric_labels_sort_numerically():
  y, classes = uci.encode_labels(['10', '9', '2', '10'])
  assert classes == ['2', '9', '10']
  np.testing.assert_array_equal(y, [2, 1, 0, 2])


def test_registry_reads_the_cache(tmp_path):
  install_fixture(tmp_path, 'blood')
  ds = data.load('uci/blood', data_dir=str(tmp_path))
  want_x, want_y = expected_tiny()
  np.testing.assert_array_equal(ds.x, bits.pack_numpy(want_x))
  np.testing.assert_array_equal(ds.y, want_y)
  assert ds.num_features == 38 and ds.num_classes == 2
  assert ds.num_test == 1  # ceil(0.2 * 5)
  assert ds.batch_size == 32 and ds.shuffle_split
  assert ds.size_bits == 5 * 38


def test_rows_with_missing_target_are_dropped_and_empty_sets_rejected():
  columns, variables = uci.read_table(CSV, VARS)
  columns = dict(columns, **{'class': ['yes', '?', 'no', '', 'yes']})
  x, y, _, _ = uci.encode_table(columns, variables)
  assert x.shape[0] == 3 and list(y) == [1, 0, 1]
  columns['class'] = ['?'] * 5
  with pytest.raises(ValueError, match='empty data set'):
    uci.encode_table(columns, variables)


def test_missing_cache_error(tmp_path):
  with pytest.raises(FileNotFoundError) as err:
    data.load('uci/tic-tac-toe', data_dir=str(tmp_path))
  msg = str(err.value)
  assert 'uci/tic-tac-toe' in msg and str(tmp_path) in msg
  assert 'python -m bnnjax.data.prepare --dataset=uci/tic-tac-toe' in msg


def test_fetch_with_a_fake_ucimlrepo_writes_a_cache_that_encodes_the_same(tmp_path,
                                                                          monkeypatch):
  ucimlrepo = pytest.importorskip('ucimlrepo')
  pd = pytest.importorskip('pandas')
  import json
  table = pd.read_csv(CSV, na_values=['?'])
  with open(VARS) as f:
    variables = json.load(f)
  asked = []

  class Repo:  # the attributes bnnjax uses of ucimlrepo's result
    def __init__(self):
      self.data = type('D', (), {'original': table})()
      self.variables = pd.DataFrame.from_records(
          [dict(v, description='', units=None) for v in variables])

  def fake_fetch(id=None, name=None):
    asked.append(id)
    return Repo()

  monkeypatch.setattr(ucimlrepo, 'fetch_ucirepo', fake_fetch)
  ds = data.load('uci/mushroom', data_dir=str(tmp_path), download=True)
  assert asked == [73]
  want_x, want_y = expected_tiny()
  np.testing.assert_array_equal(ds.x, bits.pack_numpy(want_x))
  np.testing.assert_array_equal(ds.y, want_y)
  # A second load reads the cache and does not fetch again.
  data.load('uci/mushroom', data_dir=str(tmp_path), download=True)
  assert asked == [73]


def test_smoke_slice_keeps_the_code_path(tmp_path):
  csv_path, vars_path = uci.cache_paths('skin', str(tmp_path))
  os.makedirs(os.path.dirname(csv_path))
  shutil.copy(VARS, vars_path)
  rng = np.random.default_rng(0)
  with open(csv_path, 'w') as f:
    f.write('id,age,color,size,class\n')
    for i in range(1000):
      f.write(f'{i},{rng.integers(20, 80)},{rng.choice(["red", "blue"])},'
              f'{rng.choice(["S", "M"])},{rng.choice(["yes", "no"])}\n')
  full = data.load('uci/skin', data_dir=str(tmp_path))
  small = data.load('uci/skin', data_dir=str(tmp_path), smoke=True)
  assert full.num_samples == 1000 and full.num_test == 200
  assert small.num_samples == uci.SMOKE_ROWS and small.num_test == 40
  assert small.num_features == full.num_features == 32 + 2 + 2
