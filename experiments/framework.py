"""The machinery every experiment shares: settings, the resumable runner, task sequences,
the paper's numbers, and the outputs (tables and figures in `experiments.render`).

An experiment module lists its settings (`Setting`: a data set and a
`bnnjax.methods.RunSpec`, plus how the paper names the row, and optionally a sequence of
tasks cut from the data set) and says how to plot them. `run_experiment` runs them
through the library (`bnnjax.methods`), never through the `bnnjax.train` command line:

* Settings that differ only in the method's traced hyper-parameters (its registry
  entry's `grid_fields`: r, p_r, weight clip; flip's q and counter clip) and form a
  full grid run as ONE compiled, vmapped call; settings that change shapes (width, γ,
  depth, method) loop over compiled configurations.
* Each setting's tidy rows are written atomically to `<workdir>/settings/<id>.csv` as
  soon as its call finishes (a task sequence's record to `<id>.json`); `<id>` hashes
  everything that determines the result (data set, task sequence, smoke, every RunSpec
  field), so a rerun, or another experiment with the same setting, skips it. A killed
  call resumes from its checkpoint (`<workdir>/checkpoints/<id>.npz`) and reaches the
  same bits.
* Outputs per experiment, in `<workdir>/<experiment>/`: `results.csv` (one row per
  setting x seed x epoch), `summary.json`, `table.md` (paper, ours, difference; cells
  beyond max(1.0, 2σ) flagged) and `figure.png` (needs matplotlib, an optional extra; the
  CSV and Markdown never do); with task sequences also `matrices.csv` (setting x seed x
  trained task x evaluated task), `curves.csv` (per epoch of every task) and per
  sequence `heatmaps_<name>.png` and `forgetting_<name>.png`.
"""

import csv
import dataclasses
import hashlib
import json
import math
import os
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from bnnjax import checkpoint as ckpt_lib
from bnnjax import data as data_lib
from bnnjax import methods
from bnnjax import results as results_lib
from experiments import render as render_lib
from experiments import sequences
from experiments.sequences import Tasks

PAPER_CSV = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'paper_results.csv')
SMOKE_EPOCHS = 2
SMOKE_SEEDS = 2
# RunSpec fields that change no result bit (left out of the setting ids).
RESULT_NEUTRAL = ('diagnostics',)
# Speed settings that do not change results, hashed at a fixed value (the one every
# stored setting was written with: backend 'packed' was the default before 'auto'), so
# choosing them never changes a setting's id.
SPEED_SETTINGS = {'seed_chunk': 5, 'backend': 'packed'}


@dataclasses.dataclass(frozen=True)
class Setting:
  """One row of an experiment's table: `spec` run on `dataset`.

  label: the row's name in tables and figures. paper: how the paper's results file
  names the row ({column: value}, e.g. {'experiment': 'main', 'layers': '35_35'}; the
  data set and method columns are filled in from the setting) or None when the paper has
  no such row. series: the curve the row belongs to in the figure; x: its x value
  (None: the cost model's memory or gates, as the experiment's figure says). tasks: a
  task sequence cut from the data set (`sequences.Tasks`), trained one task after
  another, or None (one task: the data set).
  """
  dataset: str
  spec: methods.RunSpec
  label: str
  paper: Optional[Dict[str, str]] = None
  series: str = ''
  x: Optional[float] = None
  tasks: Optional[Tasks] = None

  def setting_id(self, smoke: bool) -> str:
    """Content hash of everything that determines the result."""
    spec = {k: SPEED_SETTINGS.get(k, v) for k, v in dataclasses.asdict(self.spec).items()
            if k not in RESULT_NEUTRAL and not (
                k in methods.ADDED_FIELDS and v == methods.ADDED_FIELDS[k])}
    content = {'dataset': self.dataset, 'smoke': smoke, 'spec': spec}
    if self.tasks is not None:
      content['tasks'] = dataclasses.asdict(self.tasks)
    text = json.dumps(content, sort_keys=True, default=str)
    layers = self.spec.layers_text or '_'.join(map(str, self.spec.layers))
    where = self.tasks.name if self.tasks is not None else self.dataset
    slug = ''.join(ch if (ch.isascii() and ch.isalnum()) else '_' for ch in
                   f'{self.spec.method}-{where}-{layers}')[:60]
    # Content only (no label), so experiments that share a setting share its file.
    return f'{slug}-{hashlib.sha256(text.encode()).hexdigest()[:12]}'

  def file(self, workdir: str, smoke: bool) -> str:
    """Where the finished setting is kept: settings/<id>.csv, or .json for a sequence."""
    ext = '.json' if self.tasks is not None else '.csv'
    return os.path.join(workdir, 'settings', self.setting_id(smoke) + ext)


@dataclasses.dataclass(frozen=True)
class Experiment:
  """name: registry name. reference: the paper's table or figure (or what it studies
  beyond the paper). settings_fn(smoke) -> [Setting]. plot: 'memory' / 'gates' (x from
  the cost model, log scale), 'x' (the settings' x, xlabel/xlog as given), 'epochs'
  (learning curves), 'scatter'. panel_fn(entry) -> the row of panels an entry is drawn
  in (an 'epochs' figure with several groups of curves), or None: one row.
  pairs: (base label, other label) pairs of settings compared seed by seed on every
  data set where both finished (`paired_table`, appended to table.md)."""
  name: str
  reference: str
  settings_fn: Callable[[bool], List[Setting]]
  plot: Union[str, Tuple[str, ...]] = 'x'
  xlabel: str = ''
  xlog: bool = False
  ylabel: str = 'test accuracy (%)'
  note: str = ''
  panel_fn: Optional[Callable[[Dict], str]] = None
  pairs: Tuple[Tuple[str, str], ...] = ()


def spec_for(method: str = 'ours', layers=(135, 135), smoke: bool = False,
             num_seeds: int = 10, **kwargs) -> methods.RunSpec:
  """A RunSpec with the paper's protocol (50 epochs, seeds 42 + k); `smoke` shrinks
  epochs and seeds (the data shrink comes from the loader)."""
  if isinstance(layers, str):
    kwargs.setdefault('layers_text', layers)
    layers = tuple(int(v) for v in layers.replace('-', ',').split(','))
  spec = methods.RunSpec(method=method, layers=tuple(layers), num_seeds=num_seeds,
                         **kwargs)
  if smoke:
    spec = dataclasses.replace(spec, num_epochs=SMOKE_EPOCHS,
                               num_seeds=min(spec.num_seeds, SMOKE_SEEDS))
  return spec


# ----------------------------------------------------------------------------------
# The paper's numbers
# ----------------------------------------------------------------------------------


def paper_rows() -> List[Dict[str, str]]:
  with open(PAPER_CSV, newline='') as f:
    return list(csv.DictReader(f))


def paper_result(setting: Setting, rows=None) -> Optional[Tuple[float, float]]:
  """(mean, std) of the paper's final test accuracy for the setting, or None."""
  if setting.paper is None:
    return None
  rows = paper_rows() if rows is None else rows
  want = {'dataset': data_lib.paper_name(setting.dataset),
          'method': methods.get(setting.spec.method).paper_name(setting.spec)}
  want.update(setting.paper)
  for r in rows:
    if all(r.get(k) == str(v) for k, v in want.items()):
      return float(r['test_acc_mean']), float(r['test_acc_std'])
  return None


def flag(ours_mean, ours_std, paper_mean, paper_std) -> bool:
  """True when |ours - paper| exceeds max(1.0, 2σ), σ = the larger seed std."""
  return abs(ours_mean - paper_mean) > max(1.0, 2 * max(ours_std, paper_std))


def data_status(name: str, data_dir: Optional[str] = None) -> Tuple[bool, str]:
  """(available, reason) for a registered data set on this machine: tries its smoke
  slice (seconds); a missing file or package gives the loader's message."""
  try:
    data_lib.load(name, smoke=True, data_dir=data_dir)
  except (OSError, ImportError, ValueError) as e:
    return False, ' '.join(str(e).split())
  return True, 'available'


# ----------------------------------------------------------------------------------
# Grids: settings that differ only in traced hyper-parameters run as one call
# ----------------------------------------------------------------------------------


def group_settings(settings: Sequence[Setting]) -> List[List[Setting]]:
  """Groups settings that differ only in their method's grid fields and together form
  a full grid (the Cartesian product `methods.grid_points` builds), keeping order; any
  other setting is a group of its own."""
  groups: Dict = {}
  for s in settings:
    fields = methods.get(s.spec.method).grid_fields
    key = (s.dataset, s.tasks, dataclasses.replace(s.spec, **{f: None for f in fields}))
    groups.setdefault(key, []).append(s)
  out = []
  for members in groups.values():
    fields = methods.get(members[0].spec.method).grid_fields
    while members:  # the longest prefix that is a full grid runs as one call
      size = max(n for n in range(1, len(members) + 1)
                 if n == 1 or _full_grid(members[:n], fields))
      out.append(members[:size])
      members = members[size:]
  return out


def _full_grid(members: Sequence[Setting], fields) -> bool:
  if not fields:
    return False
  values = [tuple(dict.fromkeys(getattr(m.spec, f) for m in members)) for f in fields]
  points = {tuple(getattr(m.spec, f) for f in fields) for m in members}
  return math.prod(len(v) for v in values) == len(members) == len(points)


def grid_spec(group: Sequence[Setting]) -> methods.RunSpec:
  """The RunSpec of a group: tuples for the fields that vary (a grid), else scalars."""
  spec = group[0].spec
  if len(group) == 1:
    return spec
  changes = {}
  for f in methods.get(spec.method).grid_fields:
    vals = tuple(dict.fromkeys(getattr(m.spec, f) for m in group))
    changes[f] = vals if len(vals) > 1 else vals[0]
  return dataclasses.replace(spec, **changes)


def _point(grid: Dict[str, list], setting: Setting) -> Optional[int]:
  """The index of a setting's point in a grid call's points (None: no grid)."""
  if not grid:
    return None
  points = list(zip(*grid.values()))
  return points.index(tuple(getattr(setting.spec, f) for f in grid))


# ----------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------


def _cost_weight(setting: Setting, ds) -> float:
  """Relative compute of a setting, for the time estimate: the cost model's gates per
  run over the gates of one machine operation (a 32-bit XNOR + popcount word for the
  binary methods, about 11 gates per bit-MAC x 32; a float multiply-add, 20,000
  gates), times the seeds and tasks. Methods without a cost model count as nothing."""
  from bnnjax import cost
  try:
    cols = cost.run_columns(setting.spec, ds, measured=False)
  except ValueError:
    cols = {}
  gates = float(cols.get('model_gates_per_run') or 0.0)
  binary = methods.get(setting.spec.method).arithmetic == 'binary'
  tasks = setting.tasks.num_tasks if setting.tasks is not None else 1
  return gates / (11 * 32 if binary else 20_000) * setting.spec.num_seeds * tasks


def _select(exp: Experiment, smoke, num_seeds, datasets) -> Tuple[list, list]:
  """(all settings, the settings to run): filtered by data set, seeds overridden."""
  settings = all_settings = exp.settings_fn(smoke)
  if datasets:
    known = sorted({s.dataset for s in settings})
    unknown = [d for d in datasets if d not in known]
    if unknown:
      raise ValueError(f'experiment {exp.name} has no setting on data set(s) {unknown} '
                       f'(--dataset); its data sets: {known}')
    settings = [s for s in settings if s.dataset in datasets]
  if num_seeds is not None:
    if num_seeds < 1:
      raise ValueError(f'num_seeds (--num_seeds) must be >= 1, got {num_seeds}')
    settings = [dataclasses.replace(s, spec=dataclasses.replace(s.spec,
                                                                num_seeds=num_seeds))
                for s in settings]
  for s in settings:  # every setting is validated before anything runs
    methods.validate(s.spec)
  return all_settings, settings


def run_experiment(exp: Experiment, workdir: str, smoke: bool = False,
                   num_seeds: Optional[int] = None, datasets: Optional[Sequence[str]] = None,
                   data_dir: Optional[str] = None, log: Callable[[str], None] = print,
                   options=None) -> Dict:
  """Runs (or resumes) an experiment; writes its outputs; returns the summary.

  num_seeds: override every setting's seed count. datasets: keep only settings on these
  data sets (ValueError if the experiment has none). Settings whose data are not on this
  machine are skipped and listed in the summary with the reason. options: the engine's
  `EngineOptions` (devices, runs per call, checkpoint interval)."""
  all_settings, settings = _select(exp, smoke, num_seeds, datasets)
  loaded, missing = {}, {}
  for name in dict.fromkeys(s.dataset for s in settings):
    try:
      loaded[name] = data_lib.load(name, smoke=smoke, data_dir=data_dir)
    except (OSError, ImportError) as e:
      missing[name] = ' '.join(str(e).split())
      log(f'[{exp.name}] skipping data set {name}: {missing[name]}')
  runnable = [s for s in settings if s.dataset in loaded]
  tasks_of = {}  # (dataset, tasks) -> [DataSet]: every setting's first pool
  for s in runnable:
    if s.tasks is not None and (s.dataset, s.tasks) not in tasks_of:
      tasks_of[(s.dataset, s.tasks)] = sequences.make_tasks(loaded[s.dataset], s.tasks,
                                                            smoke)
    first = tasks_of[(s.dataset, s.tasks)][0] if s.tasks else loaded[s.dataset]
    methods.validate(s.spec, first)
  groups = group_settings(runnable)
  weights = [sum(_cost_weight(s, loaded[s.dataset]) for s in g) for g in groups]
  total_w, done_w, computed_w, start = sum(weights) or 1.0, 0.0, 0.0, time.time()
  for gi, group in enumerate(groups):
    head = (f'[{exp.name}] setting {gi + 1}/{len(groups)} ({group[0].dataset}: '
            f'{", ".join(s.label for s in group)})')
    paths = [s.file(workdir, smoke) for s in group]
    if all(os.path.exists(p) for p in paths):
      for s, p in zip(group, paths):  # a damaged file is refused, not silently reused
        _read_setting(s, p)
      log(f'{head}: already done, skipped')
      done_w += weights[gi]
      continue
    spec, t0 = grid_spec(group), time.time()
    log(f'{head}: running {spec.num_seeds} seeds x {spec.num_epochs} epochs'
        + (f' x {group[0].tasks.name} tasks' if group[0].tasks else '')
        + (f' (one grid call of {len(group)} points)' if len(group) > 1 else ''))
    if group[0].tasks is None:
      _run_group(exp, group, spec, loaded[group[0].dataset], workdir, smoke, options)
    else:
      _run_sequence_group(exp, group, spec, tasks_of[(group[0].dataset, group[0].tasks)],
                          workdir, smoke, log, options)
    done_w += weights[gi]
    computed_w += weights[gi]
    elapsed = time.time() - start
    left = (f'estimated {elapsed / computed_w * (total_w - done_w):.0f}s left'
            if computed_w else 'no estimate')
    log(f'{head}: done in {time.time() - t0:.1f}s; elapsed {elapsed:.0f}s, {left}')
  # The outputs cover the whole experiment: this run's settings, and the other data
  # sets' settings as an earlier run left them (or "not run").
  ran = {s.dataset for s in settings}
  report = list(settings) + [s for s in all_settings if s.dataset not in ran]
  return write_outputs(exp, workdir, report, smoke, missing, log)


def _run_group(exp, group, spec, ds, workdir, smoke, options) -> None:
  ckpt = os.path.join(workdir, 'checkpoints', group[0].setting_id(smoke) + '.npz')
  res = methods.run(spec, ds, None, ckpt, options=options)
  for s in group:
    p = _point(res.grid, s)
    point = res if p is None else dataclasses.replace(
        res, train_acc=res.train_acc[p], test_acc=res.test_acc[p], grid={},
        metrics={k: v[p] for k, v in res.metrics.items()})
    rows = results_lib.tidy_rows(s.spec, s.dataset, point)
    for r in rows:
      r.update(experiment=exp.name, setting=s.label, series=s.series,
               setting_id=s.setting_id(smoke), smoke=smoke,
               call_wall_seconds=round(res.wall_seconds, 2), call_points=len(group))
    text = results_lib.csv_text(rows)
    ckpt_lib.atomic_write(s.file(workdir, smoke), lambda f, t=text: f.write(t.encode()))
  if os.path.exists(ckpt):
    os.remove(ckpt)


def _run_sequence_group(exp, group, spec, tasks, workdir, smoke, log, options) -> None:
  res = sequences.run_sequence(spec, tasks, log, options)
  for s in group:
    p = _point(res['grid'], s) or 0
    record = {'acc': res['acc'][p].tolist(), 'train_curve': res['train_curve'][p].tolist(),
              'test_curve': res['test_curve'][p].tolist(),
              'wall_seconds': res['wall_seconds'], 'call_points': len(group),
              'spec': dataclasses.asdict(s.spec), 'dataset': s.dataset,
              'tasks': s.tasks.name, 'setting_id': s.setting_id(smoke), 'smoke': smoke,
              'task_names': [t.name for t in tasks],
              'num_test': [t.num_test for t in tasks]}
    text = json.dumps(record, default=str)
    ckpt_lib.atomic_write(s.file(workdir, smoke), lambda f, t=text: f.write(t.encode()))


def _read_setting(s: Setting, path: str):
  """A finished setting's rows (CSV) or record (JSON), checked; ValueError naming a
  damaged file."""
  if s.tasks is None:
    return results_lib.read_rows(path)
  try:
    with open(path) as f:
      record = json.load(f)
    acc = np.asarray(record['acc'], np.float64)
    curves = [np.asarray(record[k], np.float64) for k in ('train_curve', 'test_curve')]
    if acc.ndim != 3 or acc.shape[1] != acc.shape[2] or any(
        c.shape[:2] != acc.shape[:2] for c in curves):
      raise ValueError('inconsistent shapes')
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise ValueError(f'results file {path} is damaged or not a bnnjax sequence record '
                     f'({e}); remove it to compute it again') from None
  record.update(acc=acc, train_curve=curves[0], test_curve=curves[1])
  return record


# ----------------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------------


def summarize_setting(rows: List[Dict[str, str]]) -> Dict:
  num_epochs = max(int(r['epoch']) for r in rows)
  final = [r for r in rows if int(r['epoch']) == num_epochs]
  test = np.array([float(r['test_acc']) for r in final])
  train = np.array([float(r['train_acc']) for r in final])
  curve = {}
  for r in rows:
    curve.setdefault(int(r['epoch']), []).append(float(r['test_acc']))
  return {'test_acc_mean': float(test.mean()), 'test_acc_std': float(test.std()),
          'train_acc_mean': float(train.mean()), 'train_acc_std': float(train.std()),
          'num_seeds': int(len(final)), 'num_epochs': num_epochs,
          'curve_mean': [float(np.mean(curve[e])) for e in sorted(curve)],
          'curve_std': [float(np.std(curve[e])) for e in sorted(curve)],
          'call_wall_seconds': float(rows[0].get('call_wall_seconds') or 0.0)}


def summarize_sequence(record: Dict) -> Dict:
  """The sequence metrics of one setting (mean, std over seeds) and its mean matrix."""
  acc = record['acc']
  out = {k: (float(np.mean(v)), float(np.std(v)))
         for k, v in sequences.metrics(acc).items()}
  out.update(acc_mean=acc.mean(0).tolist(), num_seeds=int(acc.shape[0]),
             num_tasks=int(acc.shape[1]), num_epochs=int(record['test_curve'].shape[-1]),
             wall_seconds=float(sum(record['wall_seconds'])))
  return out


def write_outputs(exp: Experiment, workdir: str, settings: Sequence[Setting], smoke: bool,
                  missing: Dict[str, str], log=print) -> Dict:
  """results.csv (and matrices.csv, curves.csv), summary.json, table.md and the figures
  from the settings' files."""
  exp_dir = os.path.join(workdir, exp.name)
  rows_all, mats, curves, entries = [], [], [], []
  paper = paper_rows()
  for s in settings:
    path = s.file(workdir, smoke)
    entry = {'label': s.label, 'dataset': s.dataset, 'method': s.spec.method,
             'series': s.series, 'x': s.x, 'setting_id': s.setting_id(smoke),
             'layers': s.spec.layers_text or ','.join(map(str, s.spec.layers)),
             'tasks': s.tasks.name if s.tasks else None}
    pr = paper_result(s, paper)
    entry['paper'] = None if pr is None else {'mean': pr[0], 'std': pr[1]}
    if smoke:  # smoke sizes are not comparable with the paper
      pr = None
    entries.append(entry)
    if not os.path.exists(path):
      entry['missing'] = missing.get(s.dataset, 'not run')
      continue
    found = _read_setting(s, path)
    if s.tasks is not None:
      entry.update(summarize_sequence(found))
      base = {'experiment': exp.name, 'tasks': s.tasks.name, 'dataset': s.dataset,
              'method': s.spec.method, 'learner': s.label, 'setting_id': entry['setting_id'],
              'smoke': smoke}
      m, c = sequences.tidy_rows(found, base)
      mats += m
      curves += c
      entry['acc'] = found['acc']  # for the figures; not written to summary.json
      continue
    for r in found:  # a setting shared with another experiment gets this one's names
      r.update(experiment=exp.name, setting=s.label, series=s.series)
    rows_all.extend(found)
    entry.update(summarize_setting(found))
    entry['cost'] = _setting_cost(s, smoke)
    if pr is not None:
      entry['diff'] = entry['test_acc_mean'] - pr[0]
      entry['flagged'] = flag(entry['test_acc_mean'], entry['test_acc_std'], *pr)
  files = {'table.md': render_lib.render(exp, entries, missing, smoke)}
  if exp.pairs and rows_all:
    files['table.md'] += '\n' + paired_table(rows_all, exp.pairs)
  for name, rows in (('results.csv', rows_all), ('matrices.csv', mats),
                     ('curves.csv', curves)):
    if rows:
      files[name] = results_lib.csv_text(rows)
  public = [{k: v for k, v in e.items() if k != 'acc'} for e in entries]
  summary = {'experiment': exp.name, 'reference': exp.reference, 'smoke': smoke,
             'settings': public, 'missing_data': missing, **results_lib.environment()}
  files['summary.json'] = json.dumps(summary, indent=2, sort_keys=True, default=str)
  for name, text in files.items():
    ckpt_lib.atomic_write(os.path.join(exp_dir, name),
                          lambda f, t=text: f.write(t.encode()))
  figures = render_lib.plot(exp, entries, exp_dir)
  summary['figures'] = figures
  if not figures:
    log(f'[{exp.name}] no figure: matplotlib is not installed (pip install '
        f"'bnnjax[plots]')")
  log(f'[{exp.name}] wrote {exp_dir}/' + ', '.join(
      list(files) + [os.path.basename(p) for p in figures]))
  return summary


def paired_table(rows: Sequence[Dict], pairs: Sequence[Tuple[str, str]]) -> str:
  """Markdown: for each (base, other) pair of setting labels and each data set where
  both ran, the final-epoch test accuracy difference other − base paired by run (the
  same seed: the same split, initial key and shuffles), its mean ± std over seeds, and
  in how many seeds `other` is ahead."""
  import numpy as np
  final: Dict[Tuple[str, str], Dict[int, float]] = {}
  last: Dict[Tuple[str, str], int] = {}
  for r in rows:
    key, epoch = (r['dataset'], r['setting']), int(r['epoch'])
    if epoch >= last.get(key, 0):
      if epoch > last.get(key, 0):
        final[key] = {}
      last[key] = epoch
      final[key][int(r['run'])] = float(r['test_acc'])
  lines = ['## Paired by seed', '', '| data set | other | base | other − base (mean ± '
           'std over seeds) | other ahead |', '|---|---|---|---|---|']
  for dataset in sorted({d for d, _ in final}):
    for base, other in pairs:
      a, b = final.get((dataset, base)), final.get((dataset, other))
      runs = sorted(set(a or {}) & set(b or {}))
      if not runs:
        continue
      diff = np.array([b[k] - a[k] for k in runs])
      lines.append(f'| {dataset} | {other} | {base} | {diff.mean():+.2f} ± '
                   f'{diff.std():.2f} | {int(np.sum(diff > 0))}/{len(runs)} |')
  return '\n'.join(lines) + '\n'


_COST_DATA = {}


def _setting_cost(s: Setting, smoke: bool) -> Dict:
  """The paper's cost model for the setting at the paper's data shape where known."""
  from bnnjax import cost
  try:
    key = (s.dataset, smoke)
    if key not in _COST_DATA:
      if s.dataset in data_lib.PAPER and not smoke:
        _COST_DATA[key] = cost.synthetic_dataset(s.dataset)
      else:
        _COST_DATA[key] = data_lib.load(s.dataset, smoke=smoke)
    cols = cost.run_columns(s.spec, _COST_DATA[key], measured=False)
  except (ValueError, OSError, ImportError):
    return {}
  return {k: cols[k] for k in ('model_memory_kb', 'model_gates_per_step') if k in cols}
