"""Markdown tables and figures of an experiment, from its summary entries.

`render(exp, entries, missing, smoke)`: one row per setting with the paper's number,
bnnjax's and their difference (⚠ beyond max(1.0, 2σ)); for an experiment of learning
curves, the accuracy after some epochs; for task sequences (`Setting.tasks`), per
sequence the learning / final / BWT / forgetting table and the mean accuracy matrices.
`plot(exp, entries, out_dir)` writes the figures (PNG, atomically) and returns their
paths: `figure.png` (accuracy against the cost model's memory or gates, a setting's x,
or the epochs), and per sequence `heatmaps_<name>.png` and `forgetting_<name>.png`.
Figures need matplotlib (an optional extra); without it `plot` returns [].
"""

import io
import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from bnnjax.checkpoint import atomic_write

METRICS = ('learning', 'final_avg', 'bwt', 'forgetting', 'first_task_final')


def _pm(mean, std) -> str:
  return f'{mean:.2f} ± {std:.2f}'


def render(exp, entries: Sequence[Dict], missing: Optional[Dict] = None,
           smoke: bool = False) -> str:
  """Markdown: one row per setting with paper, ours and the difference; a difference
  beyond max(1.0, 2σ) is marked with ⚠. Data sets not available are listed below."""
  lines = [f'# {exp.name}: {exp.reference}', '']
  if smoke:
    lines += ['**Smoke run** (tiny data, 2 epochs, 2 seeds): not comparable with the '
              'paper; no difference is computed.', '']
  if exp.note:
    lines += [exp.note, '']
  single = [e for e in entries if not e.get('tasks')]
  if single:
    lines += _single_table(exp, single, missing)
  sequences = list(dict.fromkeys(e['tasks'] for e in entries if e.get('tasks')))
  for name in sequences:
    lines += _sequence_section(name, [e for e in entries if e.get('tasks') == name],
                               missing)
  for name, why in (missing or {}).items():
    lines.append(f'- {name}: {why}')
  return '\n'.join(lines) + '\n'


def _cost_cells(e) -> str:
  """' memory KB | gates per step |' of the paper's cost model ('—' without a row)."""
  cost = e.get('cost') or {}
  kb, gates = cost.get('model_memory_kb'), cost.get('model_gates_per_step')
  return (f' {kb:,.1f} |' if kb is not None else ' — |') + (
      f' {gates:.3g} |' if gates is not None else ' — |')


def _single_table(exp, entries, missing) -> List[str]:
  # Experiments plotted against the cost model show its columns too.
  costed = exp.plot in ('memory', 'gates') and any(e.get('cost') for e in entries)
  extra = ' memory (KB) | gates / step |' if costed else ''
  lines = [f'| data set | setting | paper | bnnjax | diff | seeds × epochs |{extra}',
           '|---|---|---|---|---|---|' + ('---|---|' if costed else '')]
  for e in entries:
    paper = '—' if e['paper'] is None else _pm(e['paper']['mean'], e['paper']['std'])
    if 'test_acc_mean' not in e:
      why = 'data not available here' if e['dataset'] in (missing or {}) else 'not run'
      lines.append(f'| {e["dataset"]} | {e["label"]} | {paper} | {why} | | |' +
                   (' | |' if costed else ''))
      continue
    ours = _pm(e['test_acc_mean'], e['test_acc_std'])
    diff = ''
    if 'diff' in e:
      diff = f'{e["diff"]:+.2f}' + (' ⚠' if e['flagged'] else '')
    lines.append(f'| {e["dataset"]} | {e["label"]} | {paper} | {ours} | {diff} | '
                 f'{e["num_seeds"]} × {e["num_epochs"]} |' +
                 (_cost_cells(e) if costed else ''))
  lines += ['', 'paper: the authors\' released result (mean ± std over seeds); bnnjax: '
            'final-epoch test accuracy (%), mean ± std over seeds; ⚠: |diff| > '
            'max(1.0, 2σ), σ the larger of the two seed stds.' + (
                ' memory (KB) and gates / step: the paper\'s cost model (docs/cost.md; '
                '— where it has no row).' if costed else ''), '']
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
  return lines


def _sequence_section(name: str, entries, missing) -> List[str]:
  done = [e for e in entries if 'acc_mean' in e]
  if not done:
    why = 'data not available here' if entries[0]['dataset'] in (missing or {}) \
        else 'not run'
    return [f'## {name}: {why}', '']
  t, e_, s = done[0]['num_tasks'], done[0]['num_epochs'], done[0]['num_seeds']
  lines = [f'## {name}: {t} tasks x {e_} epochs, {s} seeds', '',
           'Test accuracy (%), mean ± std over seeds. learning: each task right after '
           'training it (mean of the diagonal); final: mean over all tasks after the '
           'last task; BWT: backward transfer (final − just-trained, tasks 1..T−1); '
           'forgetting: best earlier accuracy − final (tasks 1..T−1); task 1 final: '
           'the first task after the last.', '',
           '| learner | learning | final | BWT | forgetting | task 1 final |',
           '|---|---|---|---|---|---|']
  for e in done:
    lines.append(f'| {e["label"]} | ' + ' | '.join(_pm(*e[m]) for m in METRICS) + ' |')
  lines += ['', 'Accuracy matrices (mean over seeds; row: after training task t, '
            'column: task k):', '']
  for e in done:
    mean = np.asarray(e['acc_mean'])
    lines += [f'**{e["label"]}**', '',
              '| after \\ on | ' + ' | '.join(f'task {k + 1}' for k in range(t)) + ' |',
              '|---|' + '---|' * t]
    for i in range(t):
      lines.append(f'| task {i + 1} | ' + ' | '.join(f'{v:.1f}' for v in mean[i]) + ' |')
    lines.append('')
  for e in entries:
    if 'acc_mean' not in e:
      lines.append(f'- {e["label"]}: not run')
  return lines


def plot(exp, entries: Sequence[Dict], out_dir: str) -> List[str]:
  """The experiment's figures in out_dir (see the module docstring); [] without
  matplotlib."""
  try:  # a Figure without pyplot: no global backend change (notebooks keep inline)
    import matplotlib  # noqa: F401
  except ImportError:
    return []
  paths = []
  done = [e for e in entries if 'test_acc_mean' in e and not e.get('tasks')]
  if done or not any(e.get('tasks') for e in entries):
    path = os.path.join(out_dir, 'figure.png')
    _figure(exp, done, path)
    paths.append(path)
  for name in dict.fromkeys(e['tasks'] for e in entries if e.get('tasks')):
    seq = [e for e in entries if e.get('tasks') == name and 'acc' in e]
    if seq:
      paths += _sequence_figures(name, seq, out_dir)
  return paths


def _figure(exp, done: Sequence[Dict], path: str) -> None:
  """A PNG styled like the paper's figures."""
  from matplotlib.figure import Figure
  if exp.plot == 'scatter':
    _scatter(exp, done, path)
    return
  datasets = list(dict.fromkeys(e['dataset'] for e in done)) or ['(none)']
  kinds = exp.plot if isinstance(exp.plot, tuple) else (exp.plot,)
  # Rows of panels: one per kind of x, or per panel group of an 'epochs' figure.
  rows = [(k, None) for k in kinds]
  if exp.panel_fn is not None:
    rows = [(kinds[0], g) for g in dict.fromkeys(exp.panel_fn(e) for e in done)] or rows
  fig = Figure(figsize=(5.5 * len(datasets), 4 * len(rows)))
  axes = fig.subplots(len(rows), len(datasets), squeeze=False)
  for ri, (kind, group) in enumerate(rows):
    for ax, name in zip(axes[ri], datasets):
      sub = [e for e in done if e['dataset'] == name and
             (group is None or exp.panel_fn(e) == group)]
      _plot_panel(ax, exp, kind, sub, name if group is None else f'{name}: {group}')
  fig.suptitle(f'{exp.name}: {exp.reference}', fontsize=9)
  _save_png(fig, path)


def _save_png(fig, path: str, tight: bool = True) -> None:
  """Writes a matplotlib Figure as a PNG, atomically."""
  if tight:
    fig.tight_layout()
  buf = io.BytesIO()
  fig.savefig(buf, format='png', dpi=110, bbox_inches=None if tight else 'tight')
  atomic_write(path, lambda f: f.write(buf.getvalue()))


def _plot_panel(ax, exp, kind: str, sub: Sequence[Dict], name: str):
  """One data set's panel: a curve per series against the x of `kind`."""
  for ser in dict.fromkeys(e['series'] for e in sub):
    pts = [e for e in sub if e['series'] == ser]
    if kind == 'epochs':  # a colour per curve, a line style per series
      from matplotlib import colormaps
      style = ('-', '--', ':', '-.')[list(dict.fromkeys(e['series'] for e in sub)).index(
          ser) % 4]
      for e in pts:
        xs = np.arange(1, len(e['curve_mean']) + 1)
        m, sd = np.array(e['curve_mean']), np.array(e['curve_std'])
        color = colormaps['tab20'](sub.index(e) % 20)
        ax.plot(xs, m, style, color=color, label=e['label'])
        ax.fill_between(xs, m - sd, m + sd, alpha=0.15, color=color)
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


def _scatter(exp, done: Sequence[Dict], path: str) -> None:
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
  _save_png(fig, path)


def _sequence_figures(name: str, seq: Sequence[Dict], out_dir: str) -> List[str]:
  """Mean accuracy matrices as heat maps, and forgetting curves, of one sequence."""
  from matplotlib.figure import Figure
  t = seq[0]['num_tasks']
  cols = min(4, len(seq))
  nrows = -(-len(seq) // cols)
  fig = Figure(figsize=(3.2 * cols, 3.0 * nrows), layout='constrained')
  axes = fig.subplots(nrows, cols, squeeze=False)
  for ax in axes.flat[len(seq):]:
    ax.axis('off')
  for ax, e in zip(axes.flat, seq):
    mean = np.asarray(e['acc']).mean(0)
    im = ax.imshow(mean, vmin=0, vmax=100, cmap='viridis')
    for i in range(t):
      for k in range(t):
        ax.text(k, i, f'{mean[i, k]:.0f}', ha='center', va='center', fontsize=7,
                color='w' if mean[i, k] < 60 else 'k')
    ax.set_title(e['label'], fontsize=8)
    ax.set_xticks(range(t), [str(k + 1) for k in range(t)])
    ax.set_yticks(range(t), [str(k + 1) for k in range(t)])
    ax.set_xlabel('evaluated task', fontsize=7)
    ax.set_ylabel('after training task', fontsize=7)
  fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6, label='test accuracy (%)')
  fig.suptitle(f'{name}: accuracy matrices (mean over seeds)', fontsize=9)
  heat = os.path.join(out_dir, f'heatmaps_{name}.png')
  _save_png(fig, heat, tight=False)

  fig = Figure(figsize=(10, 4), layout='constrained')
  ax0, ax1 = fig.subplots(1, 2)
  xs = np.arange(1, t + 1)
  for e in seq:
    acc = np.asarray(e['acc'])
    first = acc[:, :, 0]
    ax0.errorbar(xs, first.mean(0), yerr=first.std(0), marker='o', capsize=2,
                 label=e['label'])
    seen = np.stack([acc[:, i, :i + 1].mean(-1) for i in range(t)], -1)
    ax1.errorbar(xs, seen.mean(0), yerr=seen.std(0), marker='o', capsize=2,
                 label=e['label'])
  ax0.set_title('accuracy on task 1', fontsize=9)
  ax1.set_title('mean accuracy on the tasks seen so far', fontsize=9)
  for ax in (ax0, ax1):
    ax.set_xlabel('tasks trained')
    ax.set_ylabel('test accuracy (%)')
    ax.set_xticks(xs)
    ax.grid(alpha=0.3)
  ax1.legend(fontsize=6)
  fig.suptitle(f'{name}: forgetting (mean ± std over seeds)', fontsize=9)
  forget = os.path.join(out_dir, f'forgetting_{name}.png')
  _save_png(fig, forget, tight=False)
  return [heat, forget]
