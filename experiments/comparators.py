r"""The rule against its successors, in one harness: ours (fixed and trained local
classifiers), BEP (arXiv 2512.04189), Mono-Forward (arXiv 2501.09238), and the float
SGD / Adam MLPs and the STE binary MLP, on the same data, splits, seeds and cost model
(beyond arXiv 2412.00119; its "next checks"). Accuracy against the cost model's memory
and Boolean gates, and BEP's ν ablation.

  python -m experiments.run --experiment=comparators [--dataset=prototypes_bep]

Settings (10 seeds × 50 epochs, seeds 42 + k; batch 100, 32 on breast_cancer):
* data: prototypes, prototypes_bep (BEP's protocol: 20,000 / 3,000, flip 0.46), mnist5k,
  digits, breast_cancer; fashion_mnist and the AlexNet feature sets where their data
  are prepared (`python -m experiments.run --list`).
* widths 35, 75, 135, 255, 525 with L = 2 and 3 hidden layers (the rule's paper γ per
  width; BEP uses the same γ).
* ours (fixed classifiers, 'reference' semantics), ours_train_out (trained classifiers),
  bep ('reference' = BEP's own arithmetic, sign(0) = +1; `BEP_HPARAMS`), and at equal
  memory under the cost model (`matched_width`: the widest net whose memory does not
  exceed ours' at the same depth): mono_forward (Adam, `MF_LEARNING_RATE`), sgd, adam
  (the paper's learning rates) and ste (Adam's widths; it has no cost row), all with
  binary ('bin') input.
* BEP's ν ablation (0.005, 0.05, 0.1, 0.25, 0.5, 1) at 135-135 on prototypes_bep, one
  vmapped grid call.

Hyper-parameters of BEP (ν, r, p_r) and Mono-Forward (learning rate) were chosen by
`tune` on a validation split carved from training data only: the tuning pool of a data
set is the samples that are in NONE of the 10 reported runs' test splits (seeds 42-51),
so no reported test sample is ever seen while tuning; 20% of it is the validation split.
The search, its budget and its result are in experiments/results/comparators/tuning.md
(`tune` writes it):

  python -c "from experiments import comparators; comparators.tune('prototypes_bep')"

Runtime: the must-show subset (ours and BEP at 35-35, 525-525, 35-35-35, 525-525-525 on
prototypes_bep) and what else ran: experiments/results/RUN.md. The whole table (~350
settings) is days on a 2-core CPU; run it per data set, preferably on a GPU.
"""

import csv
import dataclasses
import io
import itertools
import os
import time
from typing import Dict, List, Optional, Sequence, Tuple

from experiments import framework

WIDTHS = (35, 75, 135, 255, 525)
DEPTHS = (2, 3)
GAMMA = {35: 35, 75: 75, 135: 45, 255: 85, 525: 105}  # the rule's paper γ per width
LOCAL_SETS = ('prototypes', 'prototypes_bep', 'mnist5k', 'digits', 'breast_cancer')
PREPARED_SETS = ('fashion_mnist', 'cifar10_features', 'imagenette_features')
# (D, C_out of ours, n train) per data set, for the memory match (D·n is the data term
# of every 'bin' method; C_out 1 for ours' two-class sign head).
SHAPES = {'prototypes': (1000, 10, 10_000), 'prototypes_bep': (1000, 10, 20_000),
          'mnist5k': (784, 10, 4_000), 'digits': (64, 10, 1_437),
          'breast_cancer': (960, 1, 456), 'fashion_mnist': (784, 10, 50_000),
          'cifar10_features': (9216, 10, 40_000),
          'imagenette_features': (2304, 10, 10_000)}
BATCH = {'breast_cancer': 32}
FLOAT_METHODS = ('mono_forward', 'sgd', 'adam', 'ste')

# Chosen by `tune` (experiments/results/comparators/tuning.md); every data set uses
# the values tuned on prototypes_bep (the must-show data set).
BEP_HPARAMS = dict(nu=0.5, robustness=0.75, p_reinforce=0.5)
MF_LEARNING_RATE = 1e-3
NU_ABLATION = (0.005, 0.05, 0.1, 0.25, 0.5, 1.0)
NU_WIDTH = 135
# Smoke (CI): one small BEP setting on digits (the suite's time budget; Mono-Forward's
# step is tested against NumPy in tests/test_bep.py).
SMOKE = (('bep', 15),)


def matched_width(method: str, dataset: str, depth: int, width: int) -> int:
  """The largest width n of `method` ((n,) * depth, 'bin' input) whose memory under the
  cost model does not exceed ours' at (width,) * depth (STE: Adam's), at least 1."""
  from bnnjax.cost import formulas
  d, c_out, n_train = SHAPES[dataset]
  c = max(2, c_out)
  b = BATCH.get(dataset, 100)
  budget = formulas.memory_bits('ours', (width,) * depth, d, c_out, b, n_train)
  cost_method = 'adam' if method == 'ste' else method
  best = 1
  for n in range(1, width + 1):
    if formulas.memory_bits(cost_method, (n,) * depth, d, c, b, n_train) > budget:
      break
    best = n
  return best


def _label(method: str, layers: Tuple[int, ...], extra: str = '') -> str:
  return f'{method} {"-".join(map(str, layers))}{extra}'


def settings(smoke: bool = False) -> List[framework.Setting]:
  if smoke:
    out = []
    for method, width in SMOKE:
      layers = (width,) if method == 'bep' else (matched_width(method, 'digits', 1,
                                                                width),)
      kw = dict(group_size=(GAMMA.get(width, width),), **BEP_HPARAMS) if method == 'bep' \
          else {}
      out.append(framework.Setting('digits', framework.spec_for(method, layers, True,
                                                                **kw),
                                   _label(method, layers), series=method))
    return out
  out = []
  for ds in LOCAL_SETS + PREPARED_SETS:
    kw_ds = {'batch_size': BATCH[ds]} if ds in BATCH else {}
    for depth in DEPTHS:
      for w in WIDTHS:
        layers = (w,) * depth
        key = '_'.join(map(str, layers))
        g = (GAMMA[w],)
        out.append(framework.Setting(
            ds, framework.spec_for('ours', layers, group_size=g, **kw_ds),
            _label('ours', layers), {'experiment': 'main', 'layers': key,
                                     'group_size': str(GAMMA[w])} if depth == 2 else
            None, series=f'ours L={depth}'))
        out.append(framework.Setting(
            ds, framework.spec_for('ours', layers, group_size=g, train_classifiers=True,
                                   **kw_ds),
            _label('ours_train_out', layers), series=f'ours_train_out L={depth}'))
        out.append(framework.Setting(
            ds, framework.spec_for('bep', layers, group_size=g, **BEP_HPARAMS, **kw_ds),
            _label('bep', layers), series=f'bep L={depth}'))
        for method in FLOAT_METHODS:
          n = matched_width(method, ds, depth, w)
          lr = {'learning_rate': MF_LEARNING_RATE} if method == 'mono_forward' else {}
          out.append(framework.Setting(
              ds, framework.spec_for(method, (n,) * depth, **lr, **kw_ds),
              _label(method, (n,) * depth, f' (≈ ours {w})'),
              series=f'{method} L={depth}'))
  # BEP's ν ablation: one grid call (ν is a traced hyper-parameter).
  for nu in NU_ABLATION:
    hp = dict(BEP_HPARAMS, nu=nu)
    out.append(framework.Setting(
        'prototypes_bep', framework.spec_for('bep', (NU_WIDTH, NU_WIDTH),
                                             group_size=(GAMMA[NU_WIDTH],), **hp),
        _label('bep', (NU_WIDTH, NU_WIDTH), f' ν={nu}'), series='bep ν ablation'))
  return out


EXPERIMENT = framework.Experiment(
    name='comparators', reference='beyond the paper: ours vs BEP (2512.04189), '
    'Mono-Forward (2501.09238), SGD, Adam, STE at equal memory; BEP ν ablation',
    settings_fn=settings, plot=('memory', 'gates'),
    note='ours: the rule (reference semantics); ours_train_out: trained local '
    'classifiers; bep: Binary Error Propagation (reference = BEP\'s sign(0) = +1 '
    'arithmetic, 16-bit hidden weights); float methods at the widest width whose cost-'
    'model memory does not exceed ours\' (ste: Adam\'s widths). BEP and Mono-Forward '
    'hyper-parameters: tuning.md (validation carved from training data only).')


# ----------------------------------------------------------------------------------
# Tuning on a validation split carved from the training data of every reported run
# ----------------------------------------------------------------------------------

TUNE_GRID = dict(nu=(0.05, 0.1, 0.25, 0.5), robustness=(0.25, 0.5, 0.75),
                 p_reinforce=(0.5, 0.75))
TUNE_WIDTHS = ((35, 35), (525, 525))
TUNE_LR = (3e-4, 1e-3, 3e-3)
TUNE_SEEDS, TUNE_EPOCHS = 3, 20


def tuning_pool(name: str, num_seeds: int = 10, seed: int = 42, smoke: bool = False):
  """The data set restricted to the samples in none of the test splits of runs
  seed .. seed + num_seeds - 1 (bnnjax.engine.split_indices, the runs' own split),
  with 20% of them as its validation ('test') split: a `DataSet`."""
  import jax
  import numpy as np
  from bnnjax import checks, config as config_lib, data as data_lib, engine
  ds = data_lib.load(name, smoke=smoke)
  protocol = config_lib.Protocol(num_test=ds.num_test, shuffle_split=ds.shuffle_split)
  seen = np.zeros(ds.num_samples, bool)
  for key in checks.seed_keys(seed, num_seeds):
    split_key, _ = jax.random.split(key)
    _, test_idx = engine.split_indices(split_key, ds.num_samples, protocol)
    seen[np.asarray(test_idx)] = True
  keep = np.flatnonzero(~seen)
  x_float = None if ds.x_float is None else np.asarray(ds.x_float)[keep]
  return data_lib.from_packed(f'{name}-tuning', np.asarray(ds.x)[keep],
                              np.asarray(ds.y)[keep], ds.num_features, ds.num_classes,
                              max(1, len(keep) // 5), x_float=x_float,
                              float_input=ds.float_input)


def tune(name: str = 'prototypes_bep', out_dir: Optional[str] = None,
         smoke: bool = False) -> Dict:
  """Grid search of BEP (`TUNE_GRID`, one vmapped call per width) and Mono-Forward
  (`TUNE_LR`, at the widths matched to `TUNE_WIDTHS`) on `tuning_pool(name)`,
  `TUNE_SEEDS` seeds x `TUNE_EPOCHS` epochs; the choice is the best mean final
  validation accuracy summed over the widths. Writes tuning.csv and tuning.md to
  out_dir (default experiments/results/comparators) and returns the choice."""
  import numpy as np
  from bnnjax import methods
  out_dir = out_dir or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    'results', 'comparators')
  pool = tuning_pool(name, smoke=smoke)
  seeds, epochs = (2, 2) if smoke else (TUNE_SEEDS, TUNE_EPOCHS)
  rows, start = [], time.time()
  for layers in TUNE_WIDTHS:
    spec = methods.RunSpec(method='bep', layers=layers,
                           group_size=(GAMMA[layers[0]],), num_seeds=seeds,
                           num_epochs=epochs, **{k: tuple(v) for k, v in
                                                 TUNE_GRID.items()})
    t0 = time.time()
    res = methods.run(spec, pool)
    for p in range(res.test_acc.shape[0]):
      rows.append(dict(method='bep', layers='-'.join(map(str, layers)),
                       **{k: res.grid[k][p] for k in TUNE_GRID},
                       learning_rate='', val_acc_mean=float(res.test_acc[p, :, -1].mean()),
                       val_acc_std=float(res.test_acc[p, :, -1].std()),
                       seconds=round(time.time() - t0, 1)))
    for lr in TUNE_LR:
      n = matched_width('mono_forward', name, len(layers), layers[0])
      spec = methods.RunSpec(method='mono_forward', layers=(n,) * len(layers),
                             num_seeds=seeds, num_epochs=epochs, learning_rate=lr)
      t0 = time.time()
      res = methods.run(spec, pool)
      rows.append(dict(method='mono_forward', layers='-'.join(map(str, (n,) * len(layers))),
                       nu='', robustness='', p_reinforce='', learning_rate=lr,
                       val_acc_mean=float(res.test_acc[:, -1].mean()),
                       val_acc_std=float(res.test_acc[:, -1].std()),
                       seconds=round(time.time() - t0, 1)))
  wall = time.time() - start

  def best(method, keys):
    score = {}
    for r in rows:
      if r['method'] == method:
        k = tuple(r[f] for f in keys)
        score[k] = score.get(k, 0.0) + r['val_acc_mean']
    return dict(zip(keys, max(score, key=score.get)))

  choice = {'bep': best('bep', tuple(TUNE_GRID)),
            'mono_forward': best('mono_forward', ('learning_rate',))}
  os.makedirs(out_dir, exist_ok=True)
  buf = io.StringIO()
  writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
  writer.writeheader()
  writer.writerows(rows)
  with open(os.path.join(out_dir, 'tuning.csv'), 'w') as f:
    f.write(buf.getvalue())
  n_bep = len(list(itertools.product(*TUNE_GRID.values())))
  lines = [f'# comparators: hyper-parameter search on {name} (validation only)', '',
           f'Tuning pool: the {pool.num_samples:,} samples of {name} that are in none of '
           f'the test splits of the 10 reported runs (seeds 42-51); its last '
           f'{pool.num_test:,} samples of each tuning run\'s shuffle are the validation '
           f'split. {seeds} seeds x {epochs} epochs per point; final validation '
           f'accuracy, mean over seeds; the choice maximises its sum over the widths.', '',
           f'Budget: BEP {n_bep} grid points x {len(TUNE_WIDTHS)} widths '
           f'({list(TUNE_WIDTHS)}, one vmapped call each), Mono-Forward {len(TUNE_LR)} '
           f'learning rates x {len(TUNE_WIDTHS)} matched widths; '
           f'{len(rows) * seeds} runs, {wall:.0f} s wall on the machine of RUN.md.', '',
           f'Chosen: BEP {choice["bep"]}; Mono-Forward {choice["mono_forward"]}.', '',
           '| method | layers | ν | r | p_r | lr | validation acc |', '|---|---|---|---|---|---|---|']
  for r in sorted(rows, key=lambda r: (r['method'], r['layers'], -r['val_acc_mean'])):
    lines.append(f'| {r["method"]} | {r["layers"]} | {r["nu"]} | {r["robustness"]} | '
                 f'{r["p_reinforce"]} | {r["learning_rate"]} | '
                 f'{r["val_acc_mean"]:.2f} ± {r["val_acc_std"]:.2f} |')
  with open(os.path.join(out_dir, 'tuning.md'), 'w') as f:
    f.write('\n'.join(lines) + '\n')
  return choice


# ----------------------------------------------------------------------------------
# Paired differences by seed (the same seed: the same split and shuffles' key)
# ----------------------------------------------------------------------------------


def paired(results_csv: str, out_path: Optional[str] = None, base: str = 'ours',
           other: str = 'bep') -> str:
  """Markdown: per data set and layers, final test accuracy of `base` and `other`
  (mean ± std over seeds) and their paired difference other − base by seed (mean ± std,
  and in how many seeds `other` is ahead). From an experiment's results.csv."""
  import numpy as np
  final: Dict[Tuple[str, str, str], Dict[int, float]] = {}
  with open(results_csv, newline='') as f:
    rows = list(csv.DictReader(f))
  last = max(int(r['epoch']) for r in rows)
  for r in rows:
    label = r['setting']
    method = label.split(' ')[0]
    if method not in (base, other) or int(r['epoch']) != last or 'ν=' in label:
      continue
    final.setdefault((r['dataset'], label.split(' ')[1], method), {})[int(r['run'])] = \
        float(r['test_acc'])
  lines = [f'| data set | layers | {base} | {other} | {other} − {base} (paired) | '
           f'{other} ahead |', '|---|---|---|---|---|---|']
  keys = sorted({(d, l) for d, l, _ in final},
                key=lambda k: (k[0], k[1].count('-'), int(k[1].split('-')[0])))
  for d, l in keys:
    a, b = final.get((d, l, base)), final.get((d, l, other))
    if not a or not b:
      continue
    runs = sorted(set(a) & set(b))
    x, y = np.array([a[k] for k in runs]), np.array([b[k] for k in runs])
    diff = y - x
    lines.append(f'| {d} | {l} | {x.mean():.2f} ± {x.std():.2f} | {y.mean():.2f} ± '
                 f'{y.std():.2f} | {diff.mean():+.2f} ± {diff.std():.2f} | '
                 f'{int(np.sum(diff > 0))}/{len(runs)} |')
  text = '\n'.join(lines) + '\n'
  if out_path:
    with open(out_path, 'w') as f:
      f.write(text)
  return text


def run_subset(datasets: Sequence[str], pattern: str,
               workdir: str = 'experiments/results', **kwargs) -> Dict:
  """Runs the settings on `datasets` whose label matches the regular expression
  `pattern` (e.g. r'^(ours|bep) (35|525)-' for the must-show rows) through the
  framework, with the same setting ids (and so the same files) as the whole
  experiment. kwargs: `framework.run_experiment`'s (num_seeds, options, log, ...)."""
  import re
  regex = re.compile(pattern)
  exp = dataclasses.replace(EXPERIMENT, settings_fn=lambda smoke: [
      s for s in settings(smoke) if s.dataset in datasets and regex.search(s.label)])
  kwargs.setdefault('log', lambda m: print(m, flush=True))
  return framework.run_experiment(exp, workdir, **kwargs)


def collect(workdir: str = 'experiments/results') -> str:
  """Writes <workdir>/comparators/ (table.md, results.csv, summary.json, figure.png)
  from every finished setting of the experiment, and paired.md (`paired`); returns
  the paired table."""
  done = [s for s in settings() if os.path.exists(s.file(workdir, False))]
  framework.write_outputs(EXPERIMENT, workdir, done, False, {}, log=print)
  out = os.path.join(workdir, EXPERIMENT.name)
  return paired(os.path.join(out, 'results.csv'), os.path.join(out, 'paired.md'))
