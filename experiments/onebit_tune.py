r"""Hyper-parameter search of the 1-bit learners (experiments/onebit.py), on validation
data only.

  python -m experiments.onebit_tune [--smoke]

Tuning pool of a data set: the training split of the first reported run (seed 42; its
test split is never seen), of which 20 % is the validation ('test') split of each
tuning run. The test splits of the other reported seeds (43-51) are drawn from the same
pool, so they overlap this pool (a small, stated leak; the choice is made on coarse
grids). Per design, one vmapped grid call per batch size; 3 seeds; the choice maximises
the mean final validation accuracy. Writes experiments/results/onebit/tuning.{csv,md}.
"""

import csv
import io
import os
import sys
import time
from typing import Dict, Optional

TUNE_SETS = ('mnist5k', 'prototypes')
TUNE_SEEDS = 3
TUNE_EPOCHS = {'mnist5k': 30, 'prototypes': 50}
# design: [(batch size, {grid field: values})]
TUNE_GRID = {
    'topk': [(b, {'flip_k': (1, 2, 4, 8, 16)}) for b in (100, 500, 1000, 2500, 5000)],
    'threshold': [(b, {'flip_k': (1, 2, 4, 8, 16, 32, 64, 128, 256)})
                  for b in (100, 1000, 2500, 5000)],
    'anneal': [(100, {'flip_prob': (1 / 16, 1 / 64, 1 / 256),
                      'flip_anneal': (0.1, 0.5, 2.0)})],
    'errscale': [(100, {'flip_prob': (1 / 4, 1 / 16, 1 / 64, 1 / 256, 1 / 1024)})],
}
LAYERS = (135, 135)


def tuning_pool(name: str, seed: int = 42, smoke: bool = False):
  """The training split of run `seed` of data set `name`, 20 % of it as validation."""
  import jax
  import numpy as np
  from bnnjax import checks, config as config_lib, data as data_lib, engine
  ds = data_lib.load(name, smoke=smoke)
  protocol = config_lib.Protocol(num_test=ds.num_test, shuffle_split=ds.shuffle_split)
  split_key, _ = jax.random.split(checks.seed_keys(seed, 1)[0])
  train_idx, _ = engine.split_indices(split_key, ds.num_samples, protocol)
  keep = np.sort(np.asarray(train_idx))
  return data_lib.from_packed(f'{name}-tuning', np.asarray(ds.x)[keep],
                              np.asarray(ds.y)[keep], ds.num_features, ds.num_classes,
                              max(1, len(keep) // 5))


def tune(out_dir: Optional[str] = None, smoke: bool = False, log=print) -> Dict:
  """Runs the search; returns {data set: {design: {'batch_size': B, field: value}}}."""
  from bnnjax import methods
  out_dir = out_dir or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    'results', 'onebit')
  rows, start = [], time.time()
  for name in TUNE_SETS:
    pool = tuning_pool(name, smoke=smoke)
    seeds, epochs = (2, 2) if smoke else (TUNE_SEEDS, TUNE_EPOCHS[name])
    for design, calls in TUNE_GRID.items():
      for batch, grid in calls:
        spec = methods.RunSpec(method=f'flip_{design}', layers=LAYERS, num_seeds=seeds,
                               num_epochs=epochs, batch_size=batch, diagnostics=False,
                               **{k: tuple(v) for k, v in grid.items()})
        t0 = time.time()
        res = methods.run(spec, pool)
        for p in range(res.test_acc.shape[0]):
          rows.append(dict(dataset=name, design=design, batch_size=batch,
                           **{f: res.grid[f][p] for f in grid},
                           val_acc_mean=round(float(res.test_acc[p, :, -1].mean()), 3),
                           val_acc_std=round(float(res.test_acc[p, :, -1].std()), 3),
                           val_acc_best_epoch=int(res.test_acc[p].mean(0).argmax()) + 1,
                           seconds=round(time.time() - t0, 1)))
        log(f'[onebit tune] {name} flip_{design} B={batch}: {time.time() - t0:.0f}s; '
            + ', '.join(f'{r["val_acc_mean"]:.1f}' for r in rows[-res.test_acc.shape[0]:]))
  wall = time.time() - start
  choice: Dict[str, Dict] = {}
  for r in rows:
    best = choice.setdefault(r['dataset'], {}).get(r['design'])
    if best is None or r['val_acc_mean'] > best['val_acc_mean']:
      choice[r['dataset']][r['design']] = r
  fields = ['dataset', 'design', 'batch_size', 'flip_k', 'flip_prob', 'flip_anneal',
            'val_acc_mean', 'val_acc_std', 'val_acc_best_epoch', 'seconds']
  os.makedirs(out_dir, exist_ok=True)
  buf = io.StringIO()
  writer = csv.DictWriter(buf, fieldnames=fields, restval='')
  writer.writeheader()
  writer.writerows(rows)
  with open(os.path.join(out_dir, 'tuning.csv'), 'w') as f:
    f.write(buf.getvalue())
  lines = ['# 1-bit learners: hyper-parameter search (validation only)', '',
           'Tuning pool: the training split of the first reported run (seed 42) of each '
           'data set; 20 % of it is the validation split of each tuning run. '
           f'{seeds} seeds; epochs {TUNE_EPOCHS}; layers {LAYERS}; final validation '
           f'accuracy, mean over seeds. {len(rows)} grid points, {wall:.0f} s wall.', '',
           '| data set | design | batch | k | q | anneal | validation acc | best epoch |',
           '|---|---|---|---|---|---|---|---|']
  for r in sorted(rows, key=lambda r: (r['dataset'], r['design'], -r['val_acc_mean'])):
    chosen = ' **(chosen)**' if choice[r['dataset']][r['design']] is r else ''
    lines.append(f'| {r["dataset"]} | {r["design"]} | {r["batch_size"]} | '
                 f'{r.get("flip_k", "")} | {r.get("flip_prob", "")} | '
                 f'{r.get("flip_anneal", "")} | {r["val_acc_mean"]:.2f} ± '
                 f'{r["val_acc_std"]:.2f}{chosen} | {r["val_acc_best_epoch"]} |')
  with open(os.path.join(out_dir, 'tuning.md'), 'w') as f:
    f.write('\n'.join(lines) + '\n')
  return {d: {k: {f: v for f, v in r.items() if f in fields[2:6]} for k, r in c.items()}
          for d, c in choice.items()}


if __name__ == '__main__':
  from bnnjax import platform as platform_lib
  platform_lib.use_cpu_cores()
  print(tune(smoke='--smoke' in sys.argv[1:]))
