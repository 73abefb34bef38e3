"""Results I/O: tidy rows and summaries of a method's run, written atomically.

One writer for the command line (`bnnjax.train`), the experiments and the notebooks, so
every result on disk has the same columns. It imports no absl flags and no plotting.

* `tidy_rows`: one dict per (grid point,) seed and epoch, with every RunSpec field as a
  column; for a hyper-parameter grid ([P, S, E] results) the swept fields hold the
  point's values and `grid_point` its index.
* `summarize`: final-epoch mean and standard deviation over seeds, per grid point.
* `write_results`: `<workdir>/results.csv`, `<workdir>/summary.json` and (when the run
  has diagnostics) `<workdir>/diagnostics.npz`, each written to a temporary file and
  renamed over the old one, so an interrupted write never leaves a half-written result;
  a failing write leaves the previous files intact (all of them: `write_files`).
* `read_rows`: a results CSV read back and checked complete (a truncated or corrupted
  file raises ValueError naming it and saying to remove it).
"""

import csv
import dataclasses
import io
import json
import os
import platform
import tempfile
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np


RESULTS_CSV = 'results.csv'
SUMMARY_JSON = 'summary.json'
DIAGNOSTICS_NPZ = 'diagnostics.npz'


def _column(v):
  if isinstance(v, (tuple, list)):
    return ','.join(map(str, v))
  return v


def _as_grid(result):
  """(train [P, S, E], test [P, S, E], grid {field: [P]}) from a MethodResult."""
  test = np.asarray(result.test_acc, np.float64)
  train = np.asarray(result.train_acc, np.float64)
  grid = dict(getattr(result, 'grid', None) or {})
  if test.ndim == 2:
    if grid:
      raise ValueError('result has a grid but [S, E] accuracies')
    return train[None], test[None], grid
  if test.ndim != 3:
    raise ValueError(f'accuracies must be [S, E] or [P, S, E], got shape {test.shape}')
  num_points = test.shape[0]
  for k, v in grid.items():
    if len(v) != num_points:
      raise ValueError(f'grid field {k} has {len(v)} values for {num_points} points')
  return train, test, grid


def base_columns(spec, dataset: str, result) -> Dict:
  """The columns every row of one run shares: data set and every RunSpec field."""
  base = {'dataset': dataset}
  base.update({k: _column(v) for k, v in dataclasses.asdict(spec).items()})
  if spec.method == 'ours':
    base['group_size'] = _column(spec.resolved_group_size())
  elif 'committee_size' in result.extra:  # cp_r: K1 / K2 acts as γ
    base['group_size'] = _column(result.extra['committee_size'])
  for k in ('head', 'num_outputs'):
    if k in result.extra:
      base[k] = result.extra[k]
  return base


def layer_metrics(result) -> Dict[str, np.ndarray]:
  """The per-layer scalar diagnostics of a result as [P, S, E, L] arrays (P = 1 without
  a grid); multi-valued ones (histograms) are left to `write_results`' npz."""
  test = np.asarray(result.test_acc)
  out = {}
  for name, v in (getattr(result, 'metrics', None) or {}).items():
    v = np.asarray(v)
    if v.ndim == test.ndim + 1:
      out[name] = v if test.ndim == 3 else v[None]
  return out


def tidy_rows(spec, dataset: str, result) -> List[Dict]:
  """One dict per (grid point,) seed and epoch, every config field a column, and one
  column per diagnostic and hidden layer (`<name>_l<layer>`, `bnnjax.diagnostics`).

  result: a `methods.MethodResult` with [S, E] or [P, S, E] accuracies."""
  train, test, grid = _as_grid(result)
  base = base_columns(spec, dataset, result)
  diag = layer_metrics(result)
  rows = []
  num_points, num_seeds, num_epochs = test.shape
  for p in range(num_points):
    point = dict(base)
    if grid:
      point['grid_point'] = p
      point.update({k: v[p] for k, v in grid.items()})
    for s in range(num_seeds):
      for e in range(num_epochs):
        row = dict(point)
        row.update(run=s, run_seed=spec.seed + s, epoch=e + 1,
                   train_acc=round(float(train[p, s, e]), 4),
                   test_acc=round(float(test[p, s, e]), 4))
        for name, v in diag.items():
          for l in range(v.shape[-1]):
            x = v[p, s, e, l]
            row[f'{name}_l{l + 1}'] = (int(x) if np.issubdtype(v.dtype, np.integer)
                                       else round(float(x), 6))
        rows.append(row)
  return rows


def summarize(result) -> List[Dict]:
  """Per grid point (one entry without a grid): final test/train accuracy mean and std
  over seeds (percent), the per-seed final test accuracies, and the point's values."""
  train, test, grid = _as_grid(result)
  out = []
  for p in range(test.shape[0]):
    final_test, final_train = test[p, :, -1], train[p, :, -1]
    entry = {k: v[p] for k, v in grid.items()}
    entry.update(test_acc_mean=float(np.mean(final_test)),
                 test_acc_std=float(np.std(final_test)),
                 train_acc_mean=float(np.mean(final_train)),
                 train_acc_std=float(np.std(final_train)),
                 test_acc_per_seed=[float(v) for v in final_test])
    out.append(entry)
  return out


def csv_text(rows: Sequence[Dict]) -> str:
  if not rows:
    raise ValueError('no result rows to write')
  buf = io.StringIO()
  fields = list(rows[0])
  for r in rows[1:]:
    fields += [k for k in r if k not in fields]
  writer = csv.DictWriter(buf, fieldnames=fields)
  writer.writeheader()
  writer.writerows(rows)
  return buf.getvalue()


def check_output_dir(path: str, flag: str = 'workdir') -> None:
  """ValueError unless `path` is a folder, or can be created (its nearest existing parent
  is a writable folder). Entry points call it before loading data or compiling."""
  if os.path.exists(path) and not os.path.isdir(path):
    raise ValueError(f'{flag} (--{flag}) {path!r} exists and is not a folder')
  folder = os.path.abspath(path)
  while not os.path.exists(folder):  # the nearest existing parent must be a folder
    folder = os.path.dirname(folder)
  if not os.path.isdir(folder):
    raise ValueError(f'{flag} (--{flag}) {path!r} cannot be created: {folder!r} is a file')
  if not os.access(folder, os.W_OK):
    raise ValueError(f'{flag} (--{flag}) {path!r} is not writable ({folder!r})')


def environment() -> Dict:
  """Versions and machine of the writing process."""
  import jax
  import bnnjax
  return {'versions': {'bnnjax': bnnjax.__version__, 'jax': jax.__version__,
                       'numpy': np.__version__, 'python': platform.python_version()},
          'machine': {'platform': platform.platform(),
                      'devices': [str(d) for d in jax.devices()],
                      'cpu_count': os.cpu_count()}}


def _resolved_seed_chunk(spec) -> Optional[int]:
  import jax
  from bnnjax import config as config_lib
  if not hasattr(spec, 'seed_chunk'):
    return None
  return config_lib.resolved_seed_chunk(spec.seed_chunk, jax.default_backend())


def _resolved_backend(spec) -> Optional[str]:
  from bnnjax import config as config_lib
  backend = getattr(spec, 'backend', None)
  return None if backend is None else config_lib.resolved_backend(spec)


def write_results(workdir: str, spec, dataset: str, result, command: str = '',
                  cost_columns: Optional[Dict] = None, data_notes: str = '') -> Dict:
  """Writes <workdir>/results.csv and <workdir>/summary.json atomically; returns the
  summary dict. Without a grid the summary's top-level test/train mean and std are the
  run's; with a grid they are absent and `points` lists one summary per grid point."""
  rows = tidy_rows(spec, dataset, result)
  points = summarize(result)
  summary = {
      'dataset': dataset,
      'data_notes': data_notes,
      'method': spec.method,
      # the products' backend actually used: --backend, or what 'auto' picked here
      'backend_resolved': _resolved_backend(spec),
      # runs vmapped together per device: --seed_chunk, or what None picked here
      'seed_chunk_resolved': _resolved_seed_chunk(spec),
      'num_seeds': int(np.asarray(result.test_acc).shape[-2]),
      'num_epochs': int(np.asarray(result.test_acc).shape[-1]),
      'wall_seconds': float(result.wall_seconds),
      'already_complete': bool(getattr(result, 'already_complete', False)),
      'spec': dataclasses.asdict(spec),
      'config': result.config,
      'extra': result.extra,
      'grid': dict(getattr(result, 'grid', None) or {}),
      'points': points,
      'cost': cost_columns or {},
      'command': command,
  }
  if len(points) == 1 and not summary['grid']:
    summary.update({k: v for k, v in points[0].items()})
  diag = layer_metrics(result)
  if diag:  # final-epoch diagnostics per grid point and layer, mean over seeds
    summary['diagnostics_final'] = {
        k: np.asarray(v[:, :, -1].mean(axis=1), np.float64).tolist()
        for k, v in diag.items()}
  summary.update(environment())
  text = json.dumps(summary, indent=2, sort_keys=True, default=str)
  files = {RESULTS_CSV: lambda f: f.write(csv_text(rows).encode()),
           SUMMARY_JSON: lambda f: f.write(text.encode())}
  metrics = getattr(result, 'metrics', None) or {}
  if metrics:  # every diagnostic, histograms included, with their leading axes
    arrays = {k: np.asarray(v) for k, v in metrics.items()}
    from bnnjax import diagnostics
    arrays['hist_edges'] = diagnostics.HIST_EDGES
    files[DIAGNOSTICS_NPZ] = lambda f: np.savez(f, **arrays)
  write_files({os.path.join(workdir, k): v for k, v in files.items()})
  return summary


def write_files(files: Dict[str, Callable]) -> None:
  """Writes several files as one step: {path: write_fn(file)}.

  Every file is first written to a temporary file beside its path and synced; only when
  all of them are complete are they renamed over the old ones. A failing write (a full
  disk, a folder that cannot be created) removes the temporary files and raises OSError
  naming the file, and leaves every previous file as it was (so results.csv and
  summary.json never disagree)."""
  written = []  # (tmp, path)
  try:
    for path, write_fn in files.items():
      folder = os.path.dirname(os.path.abspath(path))
      try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp-',
                                   suffix=os.path.basename(path))
        written.append((tmp, path))
        with os.fdopen(fd, 'wb') as f:
          write_fn(f)
          f.flush()
          os.fsync(f.fileno())
      except OSError as e:
        raise OSError(e.errno, f'cannot write {path}: {e.strerror or e}; the previous '
                               f'results in {folder} are unchanged', path) from e
    for tmp, path in written:
      os.replace(tmp, path)
    written = []
  finally:
    for tmp, _ in written:
      if os.path.exists(tmp):
        os.remove(tmp)


def read_rows(path: str) -> List[Dict[str, str]]:
  """The rows of a results CSV written by `csv_text` (a run's results.csv, or an
  experiment's settings/<id>.csv), checked complete: every row has every column, and
  the (grid point,) run x epoch rows cover num_seeds x num_epochs exactly once, with
  accuracies in [0, 100]. Raises ValueError naming the file and what to do for an
  empty, truncated, corrupted or foreign file."""

  def bad(what):
    return ValueError(f'results file {path} is {what}: it was damaged after it was '
                      f'written (bnnjax writes it atomically) or is not a bnnjax results '
                      f'file; remove it to compute it again')

  try:
    with open(path, 'rb') as f:
      blob = f.read()
  except OSError as e:
    raise ValueError(f'results file {path} cannot be read: {e.strerror or e}') from None
  try:
    text = blob.decode('utf-8')
  except UnicodeDecodeError:
    raise bad('not UTF-8 text (corrupted)') from None
  if not text.strip():
    raise bad('empty')
  if '\0' in text:
    raise bad('corrupted (it holds NUL bytes, which no results file has)')
  if not text.endswith('\n'):
    raise bad('truncated (its last line is incomplete)')
  try:
    reader = csv.reader(io.StringIO(text, newline=''))
    header = next(reader)
    rows = [r for r in reader]
  except csv.Error as e:
    raise bad(f'not valid CSV ({e})') from None
  need = ('run', 'epoch', 'num_seeds', 'num_epochs', 'train_acc', 'test_acc')
  missing = [c for c in need if c not in header]
  if missing or len(set(header)) != len(header):
    raise bad(f'without the columns {missing}' if missing else 'with repeated columns')
  if not rows:
    raise bad('without rows (truncated)')
  out, seen, groups = [], set(), {}
  for i, r in enumerate(rows):
    if len(r) != len(header):
      raise bad(f'inconsistent: line {i + 2} has {len(r)} fields, the header {len(header)}')
    row = dict(zip(header, r))
    try:
      group = (row.get('setting_id', ''), row.get('grid_point', ''))
      key = group + (int(row['run']), int(row['epoch']))
      seeds, epochs = int(row['num_seeds']), int(row['num_epochs'])
      accs = (float(row['train_acc']), float(row['test_acc']))
    except ValueError:
      raise bad(f'inconsistent: line {i + 2} has a non-numeric run, epoch, seed count or '
                f'accuracy') from None
    if (not 0 <= key[2] < seeds or not 1 <= key[3] <= epochs or key in seen or
        groups.setdefault(group, (seeds, epochs)) != (seeds, epochs) or
        not all(0.0 <= a <= 100.0 for a in accs)):
      raise bad(f'inconsistent: line {i + 2} (run {key[2]}, epoch {key[3]}) is out of '
                f'range or repeated')
    seen.add(key)
    out.append(row)
  want = sum(seeds * epochs for seeds, epochs in groups.values())
  if len(seen) != want:
    raise bad(f'incomplete: {len(seen)} of {want} (run, epoch) rows')
  return out
