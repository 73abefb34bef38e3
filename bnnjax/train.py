r"""Main job: train on a data set with several seeds in one call, write tidy results.

  python -m bnnjax.train                      # Random Prototypes 135-135, γ 45, 10 seeds
  python -m bnnjax.train --layers=35,35 --group_size=35 --semantics=binary

Writes <workdir>/results.csv (one row per seed x epoch, every config field a column) and
<workdir>/summary.json (final test/train accuracy mean and std, wall time, versions, the
full config and the command). Every flag is checked before anything is compiled or
written; a bad value exits with a one-line error naming the flag and its valid range.
An interrupted run resumes from <workdir>/checkpoint.npz and reaches the same bits.
"""

import csv
import io
import json
import os
import platform
import sys
import time

from absl import app
from absl import flags
from absl import logging

_DATASET = flags.DEFINE_string('dataset', 'prototypes', 'Registered data set name.')
_METHOD = flags.DEFINE_string('method', 'ours', 'Training method.')
_LAYERS = flags.DEFINE_string('layers', '135,135', 'Hidden widths, comma-separated.')
_GROUP_SIZE = flags.DEFINE_string(
    'group_size', None, 'γ: one value or one per layer (default: the paper\'s γ for '
    'each width).')
_ROBUSTNESS = flags.DEFINE_float('robustness', 0.25, 'r: margin τ = floor(r * N).')
_P_REINFORCE = flags.DEFINE_float('p_reinforce', 0.5, 'p_r of the reinforcement.')
_WEIGHT_CLIP = flags.DEFINE_integer('weight_clip', 0, 'c: H in [-c, c]; 0 = unbounded.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 100, 'Mini-batch size.')
_EPOCHS = flags.DEFINE_integer('epochs', 50, 'Epochs per run.')
_NUM_SEEDS = flags.DEFINE_integer('num_seeds', 10, 'Seeds, run in one vmapped call.')
_SEED = flags.DEFINE_integer('seed', 42, 'Run k uses seed + k (the paper: 42 + k).')
_SEMANTICS = flags.DEFINE_string('semantics', 'reference', 'reference or binary.')
_BACKEND = flags.DEFINE_string('backend', 'packed', 'packed or dense.')
_SEED_CHUNK = flags.DEFINE_integer('seed_chunk', 5, 'Runs vmapped together per device.')
_INPUT_MODE = flags.DEFINE_string('input_mode', 'bin', 'Float baselines: fp or bin.')
_LEARNING_RATE = flags.DEFINE_float('learning_rate', None,
                                    'Float baselines (default: the paper\'s).')
_WORKDIR = flags.DEFINE_string('workdir', None,
                               'Output folder (default runs/<method>-<dataset>-<layers>).')
_SMOKE = flags.DEFINE_bool('smoke', False, 'Tiny data set slice, 2 epochs, 2 seeds.')
_DATA_DIR = flags.DEFINE_string(
    'data_dir', None, 'Data folder (default $BNNJAX_DATA_DIR, else $TFDS_DATA_DIR, else '
    '~/tensorflow_datasets).')
_DOWNLOAD = flags.DEFINE_bool('download', False,
                              'Allow tfds / UCI downloads (needs network; tfds needs '
                              'TensorFlow: pip install "bnnjax[tfds-prepare]").')
_OFFICIAL_SPLIT = flags.DEFINE_bool(
    'official_split', False, 'Use the official test split instead of the paper\'s seeded '
    'split of the training pool (a deviation from the paper).')


def _fail(msg: str) -> None:
  msg = ' '.join(line.strip() for line in str(msg).splitlines())  # one line
  print(f'error: {msg}', file=sys.stderr)
  sys.exit(2)


def _int_list(flag: str, text: str):
  try:
    vals = tuple(int(v) for v in text.split(',') if v.strip())
  except ValueError:
    _fail(f'--{flag} must be comma-separated integers, got {text!r}')
  if not vals:
    _fail(f'--{flag} must list at least one integer')
  return vals


def build_spec(default_batch_size=None):
  """RunSpec from flags; exits with a one-line error on a bad value.

  default_batch_size: the data set's paper batch size (32 for UCI), used when
  --batch_size is not given on the command line."""
  from bnnjax import methods
  batch_size = _BATCH_SIZE.value
  if default_batch_size and not flags.FLAGS['batch_size'].present:
    batch_size = default_batch_size
  if _METHOD.value == 'ours':
    layers = _int_list('layers', _LAYERS.value)
  else:  # e.g. cp_r '330-30' or '880-80,880-80'; the method validates the structure
    layers = _int_list('layers', _LAYERS.value.replace('-', ','))
  spec = methods.RunSpec(
      method=_METHOD.value, layers=layers, layers_text=_LAYERS.value,
      group_size=(None if _GROUP_SIZE.value is None
                  else _int_list('group_size', _GROUP_SIZE.value)),
      robustness=_ROBUSTNESS.value, p_reinforce=_P_REINFORCE.value,
      weight_clip=_WEIGHT_CLIP.value, batch_size=batch_size,
      num_epochs=_EPOCHS.value, num_seeds=_NUM_SEEDS.value, seed=_SEED.value,
      semantics=_SEMANTICS.value, backend=_BACKEND.value, seed_chunk=_SEED_CHUNK.value,
      input_mode=_INPUT_MODE.value, learning_rate=_LEARNING_RATE.value)
  if _SMOKE.value:
    import dataclasses
    spec = dataclasses.replace(spec, num_epochs=2, num_seeds=2)
  if any(n < 1 for n in spec.layers):
    _fail(f'layers (--layers) widths must be >= 1, got {_LAYERS.value!r}')
  if spec.num_seeds < 1:
    _fail(f'num_seeds (--num_seeds) must be >= 1, got {spec.num_seeds}')
  return spec


def tidy_rows(spec, dataset: str, result):
  """One dict per seed x epoch with every config field as a column."""
  import dataclasses
  base = {'dataset': dataset}
  base.update({k: (','.join(map(str, v)) if isinstance(v, tuple) else v)
               for k, v in dataclasses.asdict(spec).items()})
  if spec.method == 'ours':
    base['group_size'] = ','.join(map(str, spec.resolved_group_size()))
  elif 'committee_size' in result.extra:  # cp_r: K1 / K2 acts as γ
    size = result.extra['committee_size']
    base['group_size'] = ','.join(map(str, size)) if isinstance(size, (list, tuple)) else size
  rows = []
  num_seeds, num_epochs = result.test_acc.shape
  for s in range(num_seeds):
    for e in range(num_epochs):
      row = dict(base)
      row.update(run=s, run_seed=spec.seed + s, epoch=e + 1,
                 train_acc=round(float(result.train_acc[s, e]), 4),
                 test_acc=round(float(result.test_acc[s, e]), 4))
      rows.append(row)
  return rows


def write_results(workdir: str, spec, dataset: str, result, argv, cost_columns=None,
                  data_notes: str = '') -> dict:
  """Writes results.csv and summary.json atomically; returns the summary."""
  import jax
  import numpy as np
  import bnnjax
  from bnnjax import run as run_lib
  rows = tidy_rows(spec, dataset, result)
  buf = io.StringIO()
  writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
  writer.writeheader()
  writer.writerows(rows)
  run_lib.atomic_write(os.path.join(workdir, 'results.csv'),
                       lambda f: f.write(buf.getvalue().encode()))
  final_test = result.test_acc[:, -1]
  final_train = result.train_acc[:, -1]
  import dataclasses
  summary = {
      'dataset': dataset,
      'data_notes': data_notes,
      'method': spec.method,
      'test_acc_mean': float(np.mean(final_test)),
      'test_acc_std': float(np.std(final_test)),
      'train_acc_mean': float(np.mean(final_train)),
      'train_acc_std': float(np.std(final_train)),
      'test_acc_per_seed': [float(v) for v in final_test],
      'num_seeds': int(final_test.shape[0]),
      'num_epochs': int(result.test_acc.shape[1]),
      'wall_seconds': float(result.wall_seconds),
      'spec': dataclasses.asdict(spec),
      'config': result.config,
      'extra': result.extra,
      'cost': cost_columns or {},
      'command': ' '.join(['python -m bnnjax.train'] + list(argv[1:])),
      'versions': {'bnnjax': bnnjax.__version__, 'jax': jax.__version__,
                   'numpy': np.__version__, 'python': platform.python_version()},
      'machine': {'platform': platform.platform(), 'devices': [str(d) for d in
                                                               jax.devices()],
                  'cpu_count': os.cpu_count()},
  }
  text = json.dumps(summary, indent=2, sort_keys=True, default=str)
  run_lib.atomic_write(os.path.join(workdir, 'summary.json'),
                       lambda f: f.write(text.encode()))
  return summary


def main(argv):
  if len(argv) > 1:
    _fail(f'unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.WARNING)  # JAX's backend probing logs at INFO
  from bnnjax import run as run_lib
  run_lib.use_cpu_cores()  # before JAX touches a backend
  from bnnjax import data as data_lib
  from bnnjax import methods
  spec = build_spec()
  try:
    method = methods.get(spec.method)
    if _DATASET.value not in data_lib.DATASETS:
      data_lib.load(_DATASET.value)  # raises the registry's ValueError
    method.validate_fn(spec, None)
  except ValueError as e:
    _fail(str(e))
  t0 = time.time()
  try:
    ds = data_lib.load(_DATASET.value, smoke=_SMOKE.value, data_dir=_DATA_DIR.value,
                       download=_DOWNLOAD.value, official_split=_OFFICIAL_SPLIT.value)
    spec = build_spec(ds.batch_size)
    method.validate_fn(spec, ds)
  except (ValueError, OSError, ImportError) as e:
    _fail(str(e) or repr(e))
  workdir = _WORKDIR.value or os.path.join(
      'runs', f'{spec.method}-{ds.name.replace("/", "_")}-'
      f'{"_".join(map(str, spec.layers))}-{spec.semantics}')
  print(f'bnnjax: {spec.method} on {ds.name} ({ds.num_samples} samples, '
        f'{ds.num_features} features, {ds.num_classes} classes, test {ds.num_test}); '
        f'layers {spec.layers}; {spec.num_seeds} seeds x {spec.num_epochs} epochs; '
        f'data ready in {time.time() - t0:.1f}s; workdir {workdir}', flush=True)
  if ds.notes:
    print(f'data: {ds.notes}', flush=True)
  start = time.time()

  def progress(epoch, train_acc, test_acc):
    print(f'epoch {epoch + 1:3d}/{spec.num_epochs}  train {train_acc.mean():6.2f}  '
          f'test {test_acc.mean():6.2f} ± {test_acc.std():5.2f}  '
          f'({time.time() - start:6.1f}s)', flush=True)

  result = method.run_fn(spec, ds, progress, os.path.join(workdir, 'checkpoint.npz'))
  from bnnjax import cost
  summary = write_results(workdir, spec, ds.name, result, sys.argv,
                          cost.run_columns(spec, ds), ds.notes)
  print(f'final test accuracy {summary["test_acc_mean"]:.2f} ± '
        f'{summary["test_acc_std"]:.2f} (train {summary["train_acc_mean"]:.2f}) over '
        f'{summary["num_seeds"]} seeds, {summary["wall_seconds"]:.1f}s; wrote '
        f'{workdir}/results.csv and summary.json', flush=True)


def run():
  app.run(main)


if __name__ == '__main__':
  run()
