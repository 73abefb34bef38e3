"""The machinery every experiment shares: settings, the resumable runner, the paper's
numbers, Markdown tables and figures.

An experiment module lists its settings (`Setting`: a data set and a
`bnnjax.methods.RunSpec`, plus how the paper names the row) and says how to plot them.
`run_experiment` runs them through the library (`bnnjax.methods`), never through the
`bnnjax.train` command line:

* Settings that differ only in the traced hyper-parameters (r, p_r, weight clip) and
  form a full grid run as ONE compiled, vmapped call (`RunSpec` tuples); settings that
  change shapes (width, γ, depth, method) loop over compiled configurations.
* Each setting's tidy rows are written atomically to `<workdir>/settings/<id>.csv` as
  soon as its call finishes; `<id>` hashes everything that determines the result (data
  set, smoke, every RunSpec field), so a rerun, or another experiment with the same
  setting, skips it. A killed call resumes from its checkpoint
  (`<workdir>/checkpoints/<id>.npz`) and reaches the same bits.
* Outputs per experiment, in `<workdir>/<experiment>/`: `results.csv` (one row per
  setting x seed x epoch), `summary.json`, `table.md` (paper, ours, difference; cells
  beyond max(1.0, 2σ) flagged) and `figure.png` (needs matplotlib, an optional extra; the
  CSV and Markdown never do).
"""

import csv
import dataclasses
import hashlib
import io
import json
import math
import os
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from bnnjax import methods
from bnnjax import results as results_lib
from bnnjax import run as run_lib

PAPER_CSV = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'paper_results.csv')
# bnnjax registry name -> the paper's data set name in paper_results.csv.
PAPER_DATASET = {'prototypes': 'prototypes', 'fashion_mnist': 'fmnist',
                 'cifar10_features': 'cifar10tl', 'cifar100_features': 'cifar100tl',
                 'imagenette_features': 'imagenettetl'}
SMOKE_EPOCHS = 2
SMOKE_SEEDS = 2
# RunSpec fields that change no result bit (left out of the setting ids).
RESULT_NEUTRAL = ('diagnostics',)
# Speed settings that do not change results, hashed at a fixed value (the one every
# stored setting was written with), so choosing them never changes a setting's id.
SPEED_SETTINGS = {'seed_chunk': 5}


@dataclasses.dataclass(frozen=True)
class Setting:
  """One row of an experiment's table: `spec` run on `dataset`.

  label: the row's name in tables and figures. paper: how the paper's results file
  names the row ({column: value}, e.g. {'experiment': 'main', 'layers': '35_35'}; the
  data set and method columns are filled in from the setting) or None when the paper has
  no such row. series: the curve the row belongs to in the figure; x: its x value
  (None: the cost model's memory or gates, as the experiment's figure says).
  """
  dataset: str
  spec: methods.RunSpec
  label: str
  paper: Optional[Dict[str, str]] = None
  series: str = ''
  x: Optional[float] = None

  def setting_id(self, smoke: bool) -> str:
    """Content hash of everything that determines the result."""
    spec = {k: SPEED_SETTINGS.get(k, v) for k, v in dataclasses.asdict(self.spec).items()
            if k not in RESULT_NEUTRAL}
    text = json.dumps({'dataset': self.dataset, 'smoke': smoke, 'spec': spec},
                      sort_keys=True, default=str)
    layers = self.spec.layers_text or '_'.join(map(str, self.spec.layers))
    slug = ''.join(ch if (ch.isascii() and ch.isalnum()) else '_' for ch in
                   f'{self.spec.method}-{self.dataset}-{layers}')[:60]
    # Content only (no label), so experiments that share a setting share its file.
    return f'{slug}-{hashlib.sha256(text.encode()).hexdigest()[:12]}'


@dataclasses.dataclass(frozen=True)
class Experiment:
  """name: registry name. reference: the paper's table or figure. settings_fn(smoke) ->
  [Setting]. plot: 'memory' / 'gates' (x from the cost model, log scale), 'x' (the
  settings' x, xlabel/xlog as given), 'epochs' (learning curves). command and runtime:
  for the docs."""
  name: str
  reference: str
  settings_fn: Callable[[bool], List[Setting]]
  plot: Union[str, Tuple[str, ...]] = 'x'
  xlabel: str = ''
  xlog: bool = False
  ylabel: str = 'test accuracy (%)'
  note: str = ''


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


def paper_dataset(name: str) -> str:
  if name.startswith('uci/'):
    return 'uci_' + name[4:].split('-')[0]  # the paper's file says uci_tic for tic-tac-toe
  return PAPER_DATASET.get(name, name)


def paper_method(spec: methods.RunSpec) -> str:
  if spec.method == 'ours':
    return 'ours_train_out' if spec.train_classifiers else 'ours'
  if spec.method in ('sgd', 'adam'):
    return f'{spec.method}_{spec.input_mode}'
  return spec.method


def paper_result(setting: Setting, rows=None) -> Optional[Tuple[float, float]]:
  """(mean, std) of the paper's final test accuracy for the setting, or None."""
  if setting.paper is None:
    return None
  rows = paper_rows() if rows is None else rows
  want = {'dataset': paper_dataset(setting.dataset), 'method': paper_method(setting.spec)}
  want.update(setting.paper)
  for r in rows:
    if all(r.get(k) == str(v) for k, v in want.items()):
      return float(r['test_acc_mean']), float(r['test_acc_std'])
  return None


# ----------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------


def data_status(name: str, data_dir: Optional[str] = None) -> Tuple[bool, str]:
  """(available, reason) for a registered data set on this machine: tries its smoke
  slice (seconds); a missing file or package gives the loader's message."""
  from bnnjax import data as data_lib
  try:
    data_lib.load(name, smoke=True, data_dir=data_dir)
  except (OSError, ImportError, ValueError) as e:
    return False, ' '.join(str(e).split())
  return True, 'available'


# ----------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------


def _grid_key(setting: Setting):
  spec = dataclasses.replace(setting.spec, **{f: None for f in methods.GRID_FIELDS})
  return setting.dataset, spec


def group_settings(settings: Sequence[Setting]) -> List[List[Setting]]:
  """Groups settings that differ only in the traced hyper-parameters and together form
  a full grid (the Cartesian product `methods.grid_points` builds), keeping order; any
  other setting is a group of its own."""
  groups: Dict = {}
  order = []
  for s in settings:
    key = _grid_key(s)
    if key not in groups:
      groups[key] = []
      order.append(key)
    groups[key].append(s)
  out = []
  for key in order:
    members = groups[key]
    if len(members) > 1 and members[0].spec.method in ('ours', 'cp_r'):
      values = {f: tuple(dict.fromkeys(getattr(m.spec, f) for m in members))
                for f in methods.GRID_FIELDS}
      n_points = math.prod(len(v) for v in values.values())
      points = {tuple(getattr(m.spec, f) for f in methods.GRID_FIELDS) for m in members}
      if n_points == len(members) == len(points):
        out.append(members)
        continue
    out.extend([m] for m in members)
  return out


def grid_spec(group: Sequence[Setting]) -> methods.RunSpec:
  """The RunSpec of a group: tuples for the fields that vary (a grid), else scalars."""
  spec = group[0].spec
  if len(group) == 1:
    return spec
  changes = {}
  for f in methods.GRID_FIELDS:
    vals = tuple(dict.fromkeys(getattr(m.spec, f) for m in group))
    changes[f] = vals if len(vals) > 1 else vals[0]
  return dataclasses.replace(spec, **changes)


def _point_result(res: methods.MethodResult, grid_spec_: methods.RunSpec,
                  setting: Setting) -> methods.MethodResult:
  """The [S, E] result of one grid point of a grid call."""
  if not res.grid:
    return res
  target = tuple(getattr(setting.spec, f) for f in methods.GRID_FIELDS)
  points = list(zip(*(res.grid[f] for f in methods.GRID_FIELDS)))
  p = points.index(target)
  return dataclasses.replace(res, train_acc=res.train_acc[p], test_acc=res.test_acc[p],
                             grid={})


def _cost_weight(setting: Setting, ds) -> float:
  """Relative compute of a setting, for the time estimate: the cost model's gates per
  run over the gates of one machine operation (a 32-bit XNOR + popcount word for the
  binary rule, about 11 gates per bit-MAC x 32; a float multiply-add, 20,000 gates),
  times the seeds. Methods without a cost model count as nothing."""
  from bnnjax import cost
  try:
    cols = cost.run_columns(setting.spec, ds, measured=False)
  except ValueError:
    cols = {}
  gates = float(cols.get('model_gates_per_run') or 0.0)
  per_op = 11 * 32 if setting.spec.method in ('ours', 'cp_r') else 20_000
  return gates / per_op * setting.spec.num_seeds


def run_experiment(exp: Experiment, workdir: str, smoke: bool = False,
                   num_seeds: Optional[int] = None, datasets: Optional[Sequence[str]] = None,
                   data_dir: Optional[str] = None, log: Callable[[str], None] = print
                   ) -> Dict:
  """Runs (or resumes) an experiment; writes its outputs; returns the summary.

  num_seeds: override every setting's seed count. datasets: keep only settings on these
  data sets (ValueError if the experiment has none). Settings whose data are not on this
  machine are skipped and listed in the summary with the reason."""
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
  from bnnjax import data as data_lib
  for s in settings:  # every setting is validated before anything runs
    methods.get(s.spec.method).validate_fn(s.spec, None)
  exp_dir = os.path.join(workdir, exp.name)
  settings_dir = os.path.join(workdir, 'settings')
  ckpt_dir = os.path.join(workdir, 'checkpoints')
  loaded, missing = {}, {}
  for name in dict.fromkeys(s.dataset for s in settings):
    try:
      loaded[name] = data_lib.load(name, smoke=smoke, data_dir=data_dir)
    except (OSError, ImportError) as e:
      missing[name] = ' '.join(str(e).split())
      log(f'[{exp.name}] skipping data set {name}: {missing[name]}')
  runnable = [s for s in settings if s.dataset in loaded]
  for s in runnable:
    methods.get(s.spec.method).validate_fn(s.spec, loaded[s.dataset])
  groups = group_settings(runnable)
  weights = [sum(_cost_weight(s, loaded[s.dataset]) for s in g) for g in groups]
  total_w = sum(weights) or 1.0
  done_w = 0.0
  start = time.time()
  computed_w = 0.0
  for gi, group in enumerate(groups):
    paths = [os.path.join(settings_dir, s.setting_id(smoke) + '.csv') for s in group]
    labels = ', '.join(s.label for s in group)
    head = f'[{exp.name}] setting {gi + 1}/{len(groups)} ({group[0].dataset}: {labels})'
    if all(os.path.exists(p) for p in paths):
      for p in paths:  # a damaged file is refused (naming it), not silently reused
        results_lib.read_rows(p)
      log(f'{head}: already done, skipped')
      done_w += weights[gi]
      continue
    spec = grid_spec(group)
    ds = loaded[group[0].dataset]
    t0 = time.time()
    log(f'{head}: running {spec.num_seeds} seeds x {spec.num_epochs} epochs'
        f'{" (one grid call of " + str(len(group)) + " points)" if len(group) > 1 else ""}')
    ckpt = os.path.join(ckpt_dir, group[0].setting_id(smoke) + '.npz')
    res = methods.get(spec.method).run_fn(spec, ds, None, ckpt)
    for s, path in zip(group, paths):
      point = _point_result(res, spec, s)
      rows = results_lib.tidy_rows(s.spec, s.dataset, point)
      for r in rows:
        r.update(experiment=exp.name, setting=s.label, series=s.series,
                 setting_id=s.setting_id(smoke), smoke=smoke,
                 call_wall_seconds=round(res.wall_seconds, 2), call_points=len(group))
      text = results_lib.csv_text(rows)
      run_lib.atomic_write(path, lambda f, t=text: f.write(t.encode()))
    if os.path.exists(ckpt):
      os.remove(ckpt)
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


def flag(ours_mean, ours_std, paper_mean, paper_std) -> bool:
  """True when |ours - paper| exceeds max(1.0, 2σ), σ = the larger seed std."""
  return abs(ours_mean - paper_mean) > max(1.0, 2 * max(ours_std, paper_std))


def write_outputs(exp: Experiment, workdir: str, settings: Sequence[Setting], smoke: bool,
                  missing: Dict[str, str], log=print) -> Dict:
  """results.csv, summary.json, table.md and figure.png from the settings' files."""
  exp_dir = os.path.join(workdir, exp.name)
  rows_all, entries = [], []
  paper = paper_rows()
  for s in settings:
    path = os.path.join(workdir, 'settings', s.setting_id(smoke) + '.csv')
    entry = {'label': s.label, 'dataset': s.dataset, 'method': s.spec.method,
             'series': s.series, 'x': s.x, 'setting_id': s.setting_id(smoke),
             'layers': s.spec.layers_text or ','.join(map(str, s.spec.layers))}
    pr = paper_result(s, paper)
    entry['paper'] = None if pr is None else {'mean': pr[0], 'std': pr[1]}
    if smoke:  # smoke sizes are not comparable with the paper
      pr = None
    if not os.path.exists(path):
      entry['missing'] = missing.get(s.dataset, 'not run')
      entries.append(entry)
      continue
    rows = results_lib.read_rows(path)
    for r in rows:  # a setting shared with another experiment gets this one's names
      r.update(experiment=exp.name, setting=s.label, series=s.series)
    rows_all.extend(rows)
    entry.update(summarize_setting(rows))
    entry['cost'] = _setting_cost(s, smoke)
    if pr is not None:
      entry['diff'] = entry['test_acc_mean'] - pr[0]
      entry['flagged'] = flag(entry['test_acc_mean'], entry['test_acc_std'], *pr)
    entries.append(entry)
  summary = {'experiment': exp.name, 'reference': exp.reference, 'smoke': smoke,
             'settings': entries, 'missing_data': missing, **results_lib.environment()}
  if rows_all:
    text = results_lib.csv_text(rows_all)
    run_lib.atomic_write(os.path.join(exp_dir, 'results.csv'),
                         lambda f: f.write(text.encode()))
  table = render(exp, entries, missing, smoke)
  run_lib.atomic_write(os.path.join(exp_dir, 'table.md'), lambda f: f.write(table.encode()))
  js = json.dumps(summary, indent=2, sort_keys=True, default=str)
  run_lib.atomic_write(os.path.join(exp_dir, 'summary.json'), lambda f: f.write(js.encode()))
  png = os.path.join(exp_dir, 'figure.png')
  if plot(exp, entries, png):
    summary['figure'] = png
  else:
    log(f'[{exp.name}] no figure: matplotlib is not installed (pip install '
        f"'bnnjax[plots]')")
  log(f'[{exp.name}] wrote {exp_dir}/results.csv, table.md, summary.json'
      f'{", figure.png" if "figure" in summary else ""}')
  return summary


_COST_DATA = {}


def _setting_cost(s: Setting, smoke: bool) -> Dict:
  """The paper's cost model for the setting at the paper's data shape where known."""
  from bnnjax import cost
  from bnnjax import data as data_lib
  try:
    name = cost.DATASET_ALIASES.get(s.dataset, s.dataset)
    key = (s.dataset, smoke)
    if key not in _COST_DATA:
      if name in cost.PAPER_DATASETS and not smoke:
        _COST_DATA[key] = cost.synthetic_dataset(name)
      else:
        _COST_DATA[key] = data_lib.load(s.dataset, smoke=smoke)
    ds = _COST_DATA[key]
    cols = cost.run_columns(s.spec, ds, measured=False)
  except (ValueError, OSError, ImportError):
    return {}
  return {k: cols[k] for k in ('model_memory_kb', 'model_gates_per_step') if k in cols}


def _pm(mean, std) -> str:
  return f'{mean:.2f} ± {std:.2f}'


def render(exp: Experiment, entries: Sequence[Dict], missing: Optional[Dict] = None,
           smoke: bool = False) -> str:
  """Markdown: one row per setting with paper, ours and the difference; a difference
  beyond max(1.0, 2σ) is marked with ⚠. Data sets not available are listed below."""
  lines = [f'# {exp.name}: {exp.reference}', '']
  if smoke:
    lines += ['**Smoke run** (tiny data, 2 epochs, 2 seeds): not comparable with the '
              'paper; no difference is computed.', '']
  if exp.note:
    lines += [exp.note, '']
  lines += ['| data set | setting | paper | bnnjax | diff | seeds × epochs |',
            '|---|---|---|---|---|---|']
  for e in entries:
    paper = '—' if e['paper'] is None else _pm(e['paper']['mean'], e['paper']['std'])
    if 'test_acc_mean' not in e:
      why = 'data not available here' if e['dataset'] in (missing or {}) else 'not run'
      lines.append(f'| {e["dataset"]} | {e["label"]} | {paper} | {why} | | |')
      continue
    ours = _pm(e['test_acc_mean'], e['test_acc_std'])
    diff = ''
    if 'diff' in e:
      diff = f'{e["diff"]:+.2f}' + (' ⚠' if e['flagged'] else '')
    lines.append(f'| {e["dataset"]} | {e["label"]} | {paper} | {ours} | {diff} | '
                 f'{e["num_seeds"]} × {e["num_epochs"]} |')
  lines += ['', 'paper: the authors\' released result (mean ± std over seeds); bnnjax: '
            'final-epoch test accuracy (%), mean ± std over seeds; ⚠: |diff| > '
            'max(1.0, 2σ), σ the larger of the two seed stds.', '']
  if exp.plot == 'epochs':  # the learning-dynamics table: test accuracy at some epochs
    done = [e for e in entries if 'curve_mean' in e]
    epochs = sorted({k for e in done for k in (1, 5, 10, 25, len(e['curve_mean']))
                     if k <= len(e['curve_mean'])})
    if done:
      lines += ['Test accuracy (%) after epoch, mean ± std over seeds:', '',
                '| data set | setting | ' + ' | '.join(f'epoch {k}' for k in epochs) + ' |',
                '|---|---|' + '---|' * len(epochs)]
      for e in done:
        cells = [(_pm(e['curve_mean'][k - 1], e['curve_std'][k - 1])
                  if k <= len(e['curve_mean']) else '') for k in epochs]
        lines.append(f'| {e["dataset"]} | {e["label"]} | ' + ' | '.join(cells) + ' |')
      lines.append('')
  for name, why in (missing or {}).items():
    lines.append(f'- {name}: {why}')
  return '\n'.join(lines) + '\n'


def plot(exp: Experiment, entries: Sequence[Dict], path: str) -> bool:
  """A PNG styled like the paper's figures; False when matplotlib is missing."""
  try:  # a Figure without pyplot: no global backend change (notebooks keep inline)
    from matplotlib.figure import Figure
  except ImportError:
    return False
  done = [e for e in entries if 'test_acc_mean' in e]
  if exp.plot == 'scatter':
    return _scatter(exp, done, path)
  datasets = list(dict.fromkeys(e['dataset'] for e in done)) or ['(none)']
  kinds = exp.plot if isinstance(exp.plot, tuple) else (exp.plot,)
  fig = Figure(figsize=(5 * len(datasets), 4 * len(kinds)))
  axes = fig.subplots(len(kinds), len(datasets), squeeze=False)
  for ki, kind in enumerate(kinds):
    for ax, name in zip(axes[ki], datasets):
      _plot_panel(ax, exp, kind, [e for e in done if e['dataset'] == name], name)
  fig.suptitle(f'{exp.name}: {exp.reference}', fontsize=9)
  return _save_png(fig, path)


def _save_png(fig, path: str) -> bool:
  """Writes a matplotlib Figure as a PNG, atomically."""
  fig.tight_layout()
  buf = io.BytesIO()
  fig.savefig(buf, format='png', dpi=110)
  run_lib.atomic_write(path, lambda f: f.write(buf.getvalue()))
  return True


def _plot_panel(ax, exp: Experiment, kind: str, sub: Sequence[Dict], name: str):
  """One data set's panel: a curve per series against the x of `kind`."""
  for ser in dict.fromkeys(e['series'] for e in sub):
    pts = [e for e in sub if e['series'] == ser]
    if kind == 'epochs':
      for e in pts:
        xs = np.arange(1, len(e['curve_mean']) + 1)
        m, sd = np.array(e['curve_mean']), np.array(e['curve_std'])
        ax.plot(xs, m, label=e['label'])
        ax.fill_between(xs, m - sd, m + sd, alpha=0.2)
      continue
    xs = []
    for e in pts:
      if kind == 'memory':
        xs.append(e.get('cost', {}).get('model_memory_kb'))
      elif kind == 'gates':
        xs.append(e.get('cost', {}).get('model_gates_per_step'))
      else:
        xs.append(e['x'])
    keep = sorted(((x, e) for x, e in zip(xs, pts) if x is not None), key=lambda t: t[0])
    if not keep:
      continue
    ax.errorbar([k[0] for k in keep], [k[1]['test_acc_mean'] for k in keep],
                yerr=[k[1]['test_acc_std'] for k in keep], marker='o', capsize=3,
                label=ser or 'bnnjax')
    papers = [(x, e['paper']) for x, e in keep if e['paper'] is not None]
    if papers:
      ax.errorbar([p[0] for p in papers], [p[1]['mean'] for p in papers],
                  yerr=[p[1]['std'] for p in papers], marker='x', linestyle=':',
                  capsize=3, alpha=0.6, label=f'{ser or "bnnjax"} (paper)')
  xlabel = {'memory': 'memory (KB, paper cost model)',
            'gates': 'Boolean gates per step (paper cost model)',
            'epochs': 'epoch'}.get(kind, exp.xlabel)
  ax.set_xlabel(xlabel)
  ax.set_ylabel(exp.ylabel)
  if kind in ('memory', 'gates') or exp.xlog:
    ax.set_xscale('log')
  ax.set_title(name)
  ax.grid(alpha=0.3)
  if ax.get_legend_handles_labels()[0]:
    ax.legend(fontsize=7)


def _scatter(exp: Experiment, done: Sequence[Dict], path: str) -> bool:
  """One point per data set: the best cp_r setting (x) against the best of ours (y),
  ours and the paper's, with the diagonal."""
  from matplotlib.figure import Figure
  fig = Figure(figsize=(5, 5))
  ax = fig.subplots()
  best = {}
  for e in done:
    key = (e['dataset'], 'ours' if e['method'] == 'ours' else 'cp_r')
    if key not in best or e['test_acc_mean'] > best[key]['test_acc_mean']:
      best[key] = e
  names = sorted({d for d, _ in best})
  pts = [(best[(d, 'cp_r')], best[(d, 'ours')]) for d in names
         if (d, 'cp_r') in best and (d, 'ours') in best]
  if pts:
    ax.scatter([c['test_acc_mean'] for c, _ in pts], [o['test_acc_mean'] for _, o in pts],
               label='bnnjax')
    for c, o in pts:
      ax.annotate(o['dataset'], (c['test_acc_mean'], o['test_acc_mean']), fontsize=6)
    paper = [(c['paper']['mean'], o['paper']['mean']) for c, o in pts
             if c['paper'] and o['paper']]
    if paper:
      ax.scatter(*zip(*paper), marker='x', label='paper')
  lo = min([50.0] + [min(c['test_acc_mean'], o['test_acc_mean']) for c, o in pts])
  ax.plot([lo, 100], [lo, 100], 'k:', lw=0.8)
  ax.set_xlabel('CP+R, best setting: test accuracy (%)')
  ax.set_ylabel('ours, best setting: test accuracy (%)')
  ax.set_title(f'{exp.name}: {exp.reference}', fontsize=8)
  ax.grid(alpha=0.3)
  if pts:
    ax.legend(fontsize=7)
  return _save_png(fig, path)
