"""The paper's 30 UCI tables: fetched once with ucimlrepo, cached as CSV, encoded to ±1.

Encoding (algorithm.md, "Data protocol"), on the whole table before the split, as the
paper's code (its src/dataset/uci.py) does:

1. Columns with role 'Feature' are used; the target is the first column with role
   'Target' (see `TARGETS` for overrides); ID/Other columns are dropped. Rows whose target
   is missing are dropped.
2. Missing values ('', '?', 'nan', 'NaN') are replaced by the column's mode (the most
   frequent present value; ties -> the smallest). A column with no present value is
   dropped.
3. Numeric columns (every present value a number, and a UCI type other than
   'Categorical' or 'Binary': 'Continuous', 'Integer', or missing metadata) -> a 32-level
   quantile thermometer in ±1 (`binarize.thermometer`: thresholds sorted[int(k/33·(n−1))],
   k = 1..32, bit +1 where x ≥ t_k). Every other column (Categorical, Binary, text) -> ±1
   one-hot over its sorted categories.
4. Feature order, as the paper's code: every one-hot block first, then every thermometer
   block, each group in the order of the UCI metadata.
5. Class labels are the target's distinct values, sorted (numerically if all numbers),
   numbered 0..C-1 (the paper's `np.unique(labels, return_inverse=True)`).

Split: the paper's 20% test set, num_test = int(0.2·n) = ⌊n/5⌋ (the paper's
`x[-int(0.2 * len(x)):]`; at least 1), drawn from each run's shuffle; mini-batches of 32
(`DataSet.batch_size`).

Cache: ``<data_dir>/bnnjax/uci/<name>.csv`` (the original table, header = variable names)
and ``<name>.variables.json`` (name, role, type of each variable), written by
`fetch` (needs the optional extra ``bnnjax[uci]`` and internet). Loading reads only the
cache, with the csv module (no pandas).
"""

import csv
import json
import math
import os
import socket
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from bnnjax.data import UCI_IDS  # the paper's ids, kept in the registry module
from bnnjax.data import binarize

TEST_FRACTION = 0.2
BATCH_SIZE = 32
LEVELS = binarize.THERMOMETER_LEVELS
MISSING = frozenset({'', '?', 'nan', 'NaN'})
CATEGORICAL_TYPES = frozenset({'categorical', 'binary'})
# Target column overrides for tables with several targets (name -> column); empty: the
# first target column of the UCI metadata is used everywhere.
TARGETS: Dict[str, str] = {}
SMOKE_ROWS = 200
FETCH_TIMEOUT_S = 60


def cache_paths(name: str, data_dir: Optional[str] = None) -> Tuple[str, str]:
  from bnnjax.data import cache_dir
  folder = os.path.join(cache_dir(data_dir), 'uci')
  return os.path.join(folder, f'{name}.csv'), os.path.join(folder, f'{name}.variables.json')


def _check_name(name: str) -> None:
  if name not in UCI_IDS:
    raise ValueError(f'unknown UCI data set {name!r}; valid: {sorted(UCI_IDS)}')


# ----------------------------------------------------------------------------------
# Fetch (network) and cache
# ----------------------------------------------------------------------------------


def fetch(name: str, data_dir: Optional[str] = None) -> str:
  """Downloads a table with ucimlrepo and writes the cache; returns the CSV path."""
  _check_name(name)
  try:
    from ucimlrepo import fetch_ucirepo
  except ImportError as e:
    raise ImportError(f"uci/{name}: downloading UCI tables needs ucimlrepo: pip install "
                      f"'bnnjax[uci]'  ({e})") from e
  old = socket.getdefaulttimeout()
  socket.setdefaulttimeout(FETCH_TIMEOUT_S)  # ucimlrepo's urlopen has no timeout
  try:
    repo = fetch_ucirepo(id=UCI_IDS[name])
  except Exception as e:
    raise ConnectionError(f'uci/{name}: could not fetch UCI id {UCI_IDS[name]} ({e})') from e
  finally:
    socket.setdefaulttimeout(old)
  variables = [{'name': str(v['name']), 'role': str(v['role']), 'type': str(v['type'])}
               for v in repo.variables.to_dict('records')]
  return write_cache(name, repo.data.original, variables, data_dir)


def write_cache(name: str, table, variables: List[Dict], data_dir: Optional[str] = None
                ) -> str:
  """Writes a pandas DataFrame and its variable list atomically to the cache."""
  csv_path, vars_path = cache_paths(name, data_dir)
  os.makedirs(os.path.dirname(csv_path), exist_ok=True)
  table.to_csv(csv_path + '.tmp', index=False)
  with open(vars_path + '.tmp', 'w') as f:
    json.dump(variables, f, indent=1)
  os.replace(vars_path + '.tmp', vars_path)
  os.replace(csv_path + '.tmp', csv_path)
  return csv_path


def read_cache(name: str, data_dir: Optional[str] = None
               ) -> Tuple[Dict[str, List[str]], List[Dict]]:
  """({column name: [str values]}, variables) from the cache; MissingDataError if absent."""
  from bnnjax.data import default_data_dir
  from bnnjax.data.tfds_data import MissingDataError
  csv_path, vars_path = cache_paths(name, data_dir)
  if not (os.path.exists(csv_path) and os.path.exists(vars_path)):
    raise MissingDataError(
        f'uci/{name}: no cached table in {os.path.dirname(csv_path)} (data directory '
        f'{default_data_dir(data_dir)}). Fetch it (needs internet) with: pip install '
        f"'bnnjax[uci]' && python -m bnnjax.data.prepare --dataset=uci/{name} "
        f'--data_dir={default_data_dir(data_dir)}')
  return read_table(csv_path, vars_path)


def read_table(csv_path: str, vars_path: str):
  with open(vars_path) as f:
    variables = json.load(f)
  with open(csv_path, newline='') as f:
    rows = list(csv.reader(f))
  if not rows:
    raise ValueError(f'{csv_path}: empty table')
  header, body = rows[0], rows[1:]
  columns = {h: [] for h in header}
  for r, row in enumerate(body):
    if len(row) != len(header):
      raise ValueError(f'{csv_path}: row {r + 2} has {len(row)} fields, header has '
                       f'{len(header)}')
    for h, v in zip(header, row):
      columns[h].append(v.strip())
  return columns, variables


# ----------------------------------------------------------------------------------
# Encoding
# ----------------------------------------------------------------------------------


def _is_number(v: str) -> bool:
  try:
    return math.isfinite(float(v))
  except ValueError:
    return False


def impute_mode(values: Sequence[str], numeric: bool) -> List[str]:
  """Replaces missing entries by the mode of the present ones (ties: the smallest)."""
  present = [v for v in values if v not in MISSING]
  if not present:
    raise ValueError('column has no present value')
  if numeric:
    nums = np.asarray([float(v) for v in present])
    uniq, counts = np.unique(nums, return_counts=True)
    mode = repr(float(uniq[np.argmax(counts)]))
  else:
    uniq, counts = np.unique(np.asarray(present), return_counts=True)
    mode = str(uniq[np.argmax(counts)])
  return [mode if v in MISSING else v for v in values]


def encode_column(values: Sequence[str], uci_type: str) -> Tuple[np.ndarray, str]:
  """[n] strings -> (int8[n, k] ±1, 'thermometer' | 'one_hot')."""
  present = [v for v in values if v not in MISSING]
  numeric = (str(uci_type).lower() not in CATEGORICAL_TYPES and bool(present) and
             all(_is_number(v) for v in present))
  filled = impute_mode(values, numeric)
  if numeric:
    return binarize.thermometer(np.asarray([float(v) for v in filled]), LEVELS), \
        'thermometer'
  return binarize.one_hot_pm1(np.asarray(filled))[0], 'one_hot'


def encode_labels(values: Sequence[str]) -> Tuple[np.ndarray, List[str]]:
  """[n] strings -> (int32[n] in [0, C), sorted class values)."""
  uniq = sorted(set(values))
  if all(_is_number(v) for v in uniq):
    uniq = sorted(uniq, key=float)
  index = {v: i for i, v in enumerate(uniq)}
  return np.asarray([index[v] for v in values], np.int32), uniq


def encode_table(columns: Dict[str, List[str]], variables: List[Dict],
                 target: Optional[str] = None, name: str = 'table'):
  """Encodes a table. Returns (x int8[n, D] ±1, y int32[n], classes, layout) where
  layout lists (column, encoding, number of bits) in feature order (one-hot columns,
  then thermometer columns), then the dropped columns with 0 bits."""
  roles = {v['name']: v for v in variables}
  missing_cols = [v['name'] for v in variables
                  if v['role'] in ('Feature', 'Target') and v['name'] not in columns]
  if missing_cols:
    raise ValueError(f'{name}: columns {missing_cols} of the metadata are not in the table')
  targets = [v['name'] for v in variables if v['role'] == 'Target']
  target = target or (targets[0] if targets else None)
  if target is None or target not in columns:
    raise ValueError(f'{name}: no target column (roles: '
                     f'{sorted({v["role"] for v in variables})})')
  keep = [i for i, v in enumerate(columns[target]) if v not in MISSING]
  if not keep:
    raise ValueError(f'{name}: empty data set (no row with a target)')
  y, classes = encode_labels([columns[target][i] for i in keep])
  encoded, dropped = [], []
  for v in variables:
    if v['role'] != 'Feature' or v['name'] == target:
      continue
    col = [columns[v['name']][i] for i in keep]
    if all(c in MISSING for c in col):
      dropped.append((v['name'], 'dropped (all missing)', 0))
      continue
    enc, kind = encode_column(col, roles[v['name']].get('type', ''))
    encoded.append((v['name'], kind, enc))
  if not encoded:
    raise ValueError(f'{name}: no feature column')
  # The paper's order: one-hot blocks, then thermometer blocks (a stable sort).
  encoded.sort(key=lambda e: e[1] != 'one_hot')
  layout = [(col, kind, enc.shape[1]) for col, kind, enc in encoded] + dropped
  return np.concatenate([e[2] for e in encoded], axis=1), y, classes, layout


def num_test_for(n: int) -> int:
  """int(0.2·n) as the paper's code (equal to n // 5 for every n: the double 0.2 is just
  above 1/5), at least 1 and at most n - 1."""
  return min(max(1, int(TEST_FRACTION * n)), n - 1)


def smoke_rows(n: int) -> np.ndarray:
  """Every k-th row, about SMOKE_ROWS of them."""
  return np.arange(0, n, max(1, n // SMOKE_ROWS))


def load(name: str, smoke: bool = False, data_dir: Optional[str] = None,
         download: bool = False):
  """DataSet of one of the paper's UCI tables (cached; fetched first if download)."""
  from bnnjax.data import from_signs
  _check_name(name)
  if download and not os.path.exists(cache_paths(name, data_dir)[0]):
    fetch(name, data_dir)
  columns, variables = read_cache(name, data_dir)
  if smoke:
    n = len(next(iter(columns.values())))
    rows = smoke_rows(n)
    columns = {k: [v[i] for i in rows] for k, v in columns.items()}
  x, y, classes, layout = encode_table(columns, variables, TARGETS.get(name),
                                       f'uci/{name}')
  num_classes = max(2, len(classes))
  kinds = {}
  for _, kind, _ in layout:
    kinds[kind] = kinds.get(kind, 0) + 1
  notes = (f'UCI id {UCI_IDS[name]}; target {TARGETS.get(name) or "first target"}; '
           f'classes {classes[:10]}{"..." if len(classes) > 10 else ""}; columns '
           f'{kinds}')
  return from_signs(f'uci/{name}', x, y, num_classes, num_test_for(x.shape[0]),
                    batch_size=BATCH_SIZE, notes=notes, float_input='table')


# ----------------------------------------------------------------------------------
# breast_cancer: a real two-class table that ships with scikit-learn (works offline)
# ----------------------------------------------------------------------------------

BREAST_CANCER_UCI_ID = 17  # Breast Cancer Wisconsin (Diagnostic); not one of the 30


def read_breast_cancer() -> Tuple[np.ndarray, np.ndarray, List[str]]:
  """scikit-learn's bundled copy of UCI id 17 (569 rows, the UCI row and column order).

  Returns (x float64[569, 30], diagnosis str[569] in {'B', 'M'} as UCI's Diagnosis
  column, the 30 column names). scikit-learn numbers its target the other way round
  (0 = malignant, 1 = benign); here it is turned back into UCI's letters."""
  try:
    from sklearn import datasets  # the data file ships inside scikit-learn
  except ImportError as e:
    raise ImportError(f"breast_cancer: the table ships with scikit-learn: pip install "
                      f"'bnnjax[data]' (or pip install scikit-learn)  ({e})") from e
  d = datasets.load_breast_cancer()
  x = np.asarray(d.data, np.float64)
  malignant = list(d.target_names).index('malignant')
  diagnosis = np.where(np.asarray(d.target) == malignant, 'M', 'B')
  return x, diagnosis, [str(f) for f in d.feature_names]


def breast_cancer_table(x: np.ndarray, diagnosis: Sequence[str], names: Sequence[str]):
  """The table as the UCI cache holds one: ({column: [str values]}, variables), with 30
  'Continuous' features and the target 'Diagnosis'. repr() round-trips every float."""
  columns = {n: [repr(float(v)) for v in x[:, j]] for j, n in enumerate(names)}
  columns['Diagnosis'] = [str(v) for v in diagnosis]
  variables = ([{'name': n, 'role': 'Feature', 'type': 'Continuous'} for n in names] +
               [{'name': 'Diagnosis', 'role': 'Target', 'type': 'Categorical'}])
  return columns, variables


def load_breast_cancer(smoke: bool = False):
  """DataSet of the bundled breast-cancer table, encoded exactly as the UCI tables.

  x: 30 columns x 32-level thermometer = 960 ±1 features. y: 'B' = 0, 'M' = 1.
  num_test = int(0.2·n) (113 of 569), batch 32. x_float: the 30 raw columns (float32,
  not normalised: the paper's code has no float baseline for UCI tables)."""
  from bnnjax.data import from_signs
  x_raw, diagnosis, names = read_breast_cancer()
  if smoke:  # every 2nd row: same code path
    rows = smoke_rows(x_raw.shape[0])
    x_raw, diagnosis = x_raw[rows], diagnosis[rows]
  columns, variables = breast_cancer_table(x_raw, diagnosis, names)
  x, y, classes, layout = encode_table(columns, variables, 'Diagnosis', 'breast_cancer')
  if classes != ['B', 'M']:
    raise ValueError(f'breast_cancer: expected the classes B and M, got {classes}')
  notes = (f"scikit-learn's bundled UCI Breast Cancer Wisconsin (Diagnostic) (UCI id "
           f'{BREAST_CANCER_UCI_ID}; not one of the paper\'s 30 UCI sets), encoded as the '
           f'UCI tables: {len(layout)} numeric columns x {LEVELS}-level thermometer; '
           f"classes: Diagnosis sorted, 'B' (benign) = 0, 'M' (malignant) = 1; x_float: "
           f'the raw columns, not normalised')
  return from_signs('breast_cancer', x, y, len(classes), num_test_for(x.shape[0]),
                    batch_size=BATCH_SIZE, notes=notes,
                    x_float=x_raw.astype(np.float32), float_input='table',
                    binarisation=binarize.Rule('thermometer',
                                               levels=binarize.THERMOMETER_LEVELS))
