"""UCI encoder on a local fixture (mode imputation, ±1 one-hot, 32-level thermometer),
the cache, and the ucimlrepo fetch path with a fake client (no network)."""

import json
import os
import shutil

import numpy as np
import pytest

from bnnjax import bits
from bnnjax import data
from bnnjax.data import binarize
from bnnjax.data import uci

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'uci')
CSV = os.path.join(FIXTURES, 'tiny.csv')
VARS = os.path.join(FIXTURES, 'tiny.variables.json')


def unpack_rows_reference(words: np.ndarray, n: int) -> np.ndarray:
  """Literal bits.py layout: element e is bit e // W of word e % W; bit 1 = +1."""
  w = words.shape[1]
  return np.stack([np.where((words[:, e % w] >> np.uint32(e // w)) & np.uint32(1), 1, -1)
                   for e in range(n)], axis=1)


def expected_tiny():
  """Hand-encoded tiny.csv (5 rows): id dropped; one-hot blocks first (the paper's
  order): color over (blue, green, red), size ('' -> mode M) over (L, M, S); then age
  (Integer, '?' -> mode 30): sorted [30, 30, 30, 40, 50], indices int(k/33 · 4) = 0 (k =
  1..8), 1 (9..16), 2 (17..24), 3 (25..32), so thresholds 30 (k = 1..24) and 40 (k =
  25..32), bit +1 where age >= t; class (no, yes) -> (0, 1)."""
  m, p = -1, 1
  age = {30: [p] * 24 + [m] * 8, 40: [p] * 32, 50: [p] * 32}
  color = {'blue': [p, m, m], 'green': [m, p, m], 'red': [m, m, p]}
  size = {'L': [p, m, m], 'M': [m, p, m], 'S': [m, m, p]}
  rows = [(30, 'red', 'S'), (30, 'blue', 'M'), (50, 'red', 'M'), (40, 'green', 'L'),
          (30, 'red', 'M')]
  x = np.array([color[c] + size[s] + age[a] for a, c, s in rows], np.int8)
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
  assert layout == [('color', 'one_hot', 3), ('size', 'one_hot', 3),
                    ('age', 'thermometer', 32)]


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
  assert ds.num_test == 1  # int(0.2 * 5)
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


# ----------------------------------------------------------------------------------
# The whole encoder against a literal transcription of the rule (algorithm.md, "Data
# protocol"; the paper's src/dataset/uci.py, binarization.py and utils.py)
# ----------------------------------------------------------------------------------

MISSING = ('', '?', 'nan', 'NaN')


def encode_reference(columns, variables, levels=32, exact_floor=False):
  """Loop by loop: drop rows without a target; per feature column, fill missing values
  with the mode (ties: the smallest); numeric columns -> thermometer with thresholds
  sorted[int(k / 33 * (n - 1))] (float64, as the paper's code; exact_floor: the exact
  k·(n − 1) // 33 instead, to show the test tells them apart), bit +1 where x >= t;
  other columns -> ±1 one-hot over the sorted categories; one-hot blocks first, then
  thermometer blocks; labels = index among the sorted distinct targets."""
  target = [v['name'] for v in variables if v['role'] == 'Target'][0]
  keep = [i for i, v in enumerate(columns[target]) if v not in MISSING]
  n = len(keep)
  one_hot_blocks, thermometer_blocks = [], []
  for var in variables:
    if var['role'] != 'Feature':
      continue
    values = [columns[var['name']][i] for i in keep]
    present = [v for v in values if v not in MISSING]
    numeric = var['type'] not in ('Categorical', 'Binary')
    for v in present:
      try:
        float(v)
      except ValueError:
        numeric = False
    keys = [float(v) for v in present] if numeric else present
    counts = {}
    for key in keys:
      counts[key] = counts.get(key, 0) + 1
    mode = min(counts, key=lambda key: (-counts[key], key))
    filled = [mode if v in MISSING else (float(v) if numeric else v) for v in values]
    if numeric:
      srt = sorted(filled)
      block = []
      for x in filled:
        row = []
        for k in range(1, levels + 1):
          if exact_floor:
            t = srt[k * (n - 1) // (levels + 1)]
          else:
            t = srt[int(k / (levels + 1) * (n - 1))]
          row.append(1 if x >= t else -1)
        block.append(row)
      thermometer_blocks.append(block)
    else:
      cats = sorted(set(filled))
      one_hot_blocks.append([[1 if x == c else -1 for c in cats] for x in filled])
  x = []
  for i in range(n):
    row = []
    for block in one_hot_blocks + thermometer_blocks:
      row += block[i]
    x.append(row)
  targets = [columns[target][i] for i in keep]
  classes = sorted(set(targets))
  y = [classes.index(t) for t in targets]
  return np.array(x, np.int8), np.array(y, np.int32)


def tied_table():
  """56 rows with a target (n = 56: the float64 index int(9/33 · 55) = 14, one less
  than the exact 15) plus 2 without: ties, repeats, missing values, a constant column."""
  rng = np.random.default_rng(7)
  n = 58
  half_steps = [repr(float(v)) for v in rng.integers(0, 8, n) / 2]  # many ties
  for i in (3, 10, 11):
    half_steps[i] = '?'
  distinct = [str(v) for v in rng.permutation(n)]  # sorted[14] != sorted[15]
  repeats = [str(v) for v in np.repeat(np.arange(n // 2), 2)]  # every value twice
  distinct[20] = ''
  columns = {
      'id': [str(i) for i in range(n)],
      'a': half_steps,
      'color': [str(c) for c in rng.choice(['red', 'blue', 'green'], n)],
      'b': distinct,
      'c': repeats,
      'flag': [str(v) for v in rng.integers(0, 2, n)],
      'const': ['3.5'] * n,
      'cls': [str(c) for c in rng.choice(['x', 'y', 'z'], n)],
  }
  columns['cls'][5] = '?'
  columns['cls'][40] = ''
  variables = [
      {'name': 'id', 'role': 'ID', 'type': 'Integer'},
      {'name': 'a', 'role': 'Feature', 'type': 'Continuous'},
      {'name': 'color', 'role': 'Feature', 'type': 'Categorical'},
      {'name': 'b', 'role': 'Feature', 'type': 'Integer'},
      {'name': 'c', 'role': 'Feature', 'type': 'Integer'},
      {'name': 'flag', 'role': 'Feature', 'type': 'Binary'},
      {'name': 'const', 'role': 'Feature', 'type': 'Continuous'},
      {'name': 'cls', 'role': 'Target', 'type': 'Categorical'},
  ]
  return columns, variables


def test_encoder_matches_a_literal_transcription_of_the_rule():
  columns, variables = tied_table()
  x, y, classes, layout = uci.encode_table(columns, variables)
  want_x, want_y = encode_reference(columns, variables)
  assert x.shape == (56, 3 + 2 + 4 * 32) and x.dtype == np.int8
  np.testing.assert_array_equal(x, want_x)
  np.testing.assert_array_equal(y, want_y)
  assert classes == ['x', 'y', 'z']
  assert [kind for _, kind, _ in layout] == ['one_hot'] * 2 + ['thermometer'] * 4
  # The float64 index (14 at n = 56, k = 9) and the exact floor (15) give different
  # bits on this table, so the comparison above pins the paper's float64 index.
  assert (encode_reference(columns, variables, exact_floor=True)[0] != x).any()
  # The constant column is 32 bits of +1.
  np.testing.assert_array_equal(x[:, -32:], np.ones((56, 32)))


def test_test_split_is_int_of_a_fifth():
  n = np.arange(5, 200_000)
  np.testing.assert_array_equal((uci.TEST_FRACTION * n).astype(int), n // 5)
  assert [uci.num_test_for(k) for k in (2, 4, 5, 9, 10, 569, 1000)] == [
      1, 1, 1, 1, 2, 113, 200]


# ----------------------------------------------------------------------------------
# breast_cancer: scikit-learn's bundled UCI Breast Cancer Wisconsin (Diagnostic)
# ----------------------------------------------------------------------------------


def sklearn_breast_cancer():
  datasets = pytest.importorskip('sklearn.datasets')
  d = datasets.load_breast_cancer()
  return np.asarray(d.data), np.asarray(d.target), list(d.target_names)


def test_breast_cancer_shapes_labels_and_split():
  raw, target, target_names = sklearn_breast_cancer()
  assert target_names == ['malignant', 'benign']  # scikit-learn: 0 = malignant
  ds = data.load('breast_cancer')
  assert (ds.num_samples, ds.num_features, ds.num_classes) == (569, 960, 2)
  assert ds.num_test == 113 and ds.batch_size == 32 and ds.shuffle_split
  # UCI's Diagnosis sorted: 'B' (benign) = 0, 'M' (malignant) = 1.
  np.testing.assert_array_equal(ds.y, (target == 0).astype(np.int32))
  np.testing.assert_array_equal(np.bincount(ds.y), [357, 212])
  assert "'B' (benign) = 0" in ds.notes and "'M' (malignant) = 1" in ds.notes
  # Column j is the thermometer of the raw column j (literal rule).
  x = unpack_rows_reference(ds.x, 960)
  table_vars = [{'name': 'v', 'role': 'Feature', 'type': 'Continuous'},
                {'name': 't', 'role': 'Target', 'type': 'Binary'}]
  for j in (0, 3, 17, 29):
    table = {'v': [repr(float(v)) for v in raw[:, j]], 't': ['0'] * 569}
    np.testing.assert_array_equal(x[:, 32 * j:32 * (j + 1)],
                                  encode_reference(table, table_vars)[0])


def test_breast_cancer_equals_the_uci_path(tmp_path):
  """The table written as a UCI cache (CSV + variables) and encoded by the UCI reader
  gives the same pool, bit for bit."""
  raw, target, _ = sklearn_breast_cancer()
  names = [f'f{j}' for j in range(30)]
  csv_path, vars_path = tmp_path / 'bc.csv', tmp_path / 'bc.variables.json'
  with open(csv_path, 'w') as f:
    f.write(','.join(['ID', 'Diagnosis'] + names) + '\n')
    for i in range(569):
      f.write(','.join([str(i), 'M' if target[i] == 0 else 'B'] +
                       [repr(float(v)) for v in raw[i]]) + '\n')
  variables = ([{'name': 'ID', 'role': 'ID', 'type': 'Categorical'},
                {'name': 'Diagnosis', 'role': 'Target', 'type': 'Categorical'}] +
               [{'name': n, 'role': 'Feature', 'type': 'Continuous'} for n in names])
  with open(vars_path, 'w') as f:
    json.dump(variables, f)
  columns, variables = uci.read_table(str(csv_path), str(vars_path))
  x, y, classes, _ = uci.encode_table(columns, variables)
  ds = data.load('breast_cancer')
  assert classes == ['B', 'M']
  np.testing.assert_array_equal(ds.x, bits.pack_numpy(x))
  np.testing.assert_array_equal(ds.y, y)


def test_breast_cancer_float_features():
  """x_float: the raw 30 columns (float32, not normalised), in the order of x; the
  thermometer of each x_float column gives back x exactly."""
  raw, _, _ = sklearn_breast_cancer()
  ds = data.load('breast_cancer')
  assert ds.x_float.shape == (569, 30) and ds.x_float.dtype == np.float32
  np.testing.assert_array_equal(ds.x_float, raw.astype(np.float32))
  x = unpack_rows_reference(ds.x, 960)
  again = np.concatenate([binarize.thermometer(ds.x_float[:, j]) for j in range(30)], 1)
  np.testing.assert_array_equal(again, x)


def test_breast_cancer_smoke_slice_and_errors(monkeypatch):
  raw, target, _ = sklearn_breast_cancer()
  small = data.load('breast_cancer', smoke=True)
  rows = uci.smoke_rows(569)
  assert small.num_samples == len(rows) == 285 and small.num_test == 57
  assert small.num_features == 960 and small.num_classes == 2
  np.testing.assert_array_equal(small.x_float, raw[rows].astype(np.float32))
  np.testing.assert_array_equal(small.y, (target[rows] == 0).astype(np.int32))
  columns, variables = uci.breast_cancer_table(*uci.read_breast_cancer())
  columns = {k: [v[i] for i in rows] for k, v in columns.items()}
  np.testing.assert_array_equal(small.x,
                                bits.pack_numpy(uci.encode_table(columns, variables)[0]))
  with pytest.raises(ValueError, match='breast_cancer has no official test split'):
    data.load('breast_cancer', official_split=True)
  import sys
  monkeypatch.setitem(sys.modules, 'sklearn', None)
  with pytest.raises(ImportError, match='breast_cancer.*scikit-learn'):
    data.load('breast_cancer')
