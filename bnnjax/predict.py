r"""Predict with an exported network (bnnjax.export): accuracy on the run's test split.

  python -m bnnjax.train --layers=135,135 --export=net.bnn --export_seed=0
  python -m bnnjax.predict --model=net.bnn --dataset=prototypes
  python -m bnnjax.predict --model=net.bnn --dataset=prototypes --predictions=pred.csv
  python -m bnnjax.predict --model=net.bnn --dataset=digits --inputs=raw   # thresholds
  python -m bnnjax.predict --model=net.bnn --network=0 --c_header=bnn_model.h \
      --dataset=prototypes --c_inputs=test.bin      # for bnnjax/csrc/bnn_infer.c

Each network of the file was trained on a pool split by its own seed; `--split=test`
(default) recomputes that split (the file records the seed, the split protocol and a
hash of the pool, and refuses a different pool) and prints the accuracy on its test
part, beside the accuracy training reported. `--split=all` predicts every sample of any
data set of the right width. `--inputs=raw` feeds the data set's raw features
(`DataSet.x_float`) through the thresholds stored in the file, where it has them.
`--predictions` writes a CSV (network, run, seed, sample, label, prediction; sample is
the row in the pool; prediction -1 means no class, the 'sign' head's z = 0 under
'reference'). `--c_header` writes the C header of one network, `--c_inputs` its split's
packed inputs in the 'BNNI' format of the reference C program.
A bad flag or file exits non-zero with one line `error: ...`.
"""

import csv
import io
import os
import sys

from absl import app
from absl import flags
from absl import logging

_MODEL = flags.DEFINE_string('model', None, 'Exported network file (bnnjax.export).')
_DATASET = flags.DEFINE_string(
    'dataset', None, 'Registered data set (default: the one the file was trained on).')
_NETWORK = flags.DEFINE_integer('network', None,
                                'Index of the network in the file (default: all).')
_SPLIT = flags.DEFINE_string('split', 'test', "test (the run's test split) or all.")
_INPUTS = flags.DEFINE_string(
    'inputs', 'packed', 'packed (the data set\'s bits) or raw (its raw features through '
    'the thresholds stored in the file).')
_PREDICTIONS = flags.DEFINE_string('predictions', None, 'Write predictions to this CSV.')
_C_HEADER = flags.DEFINE_string('c_header', None,
                                'Write the C header of one network (--network) here.')
_C_INPUTS = flags.DEFINE_string(
    'c_inputs', None, 'Write the packed inputs of the split here (BNNI format, for '
    'bnnjax/csrc/bnn_infer.c).')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'Data folder (as bnnjax.train).')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 1024, 'Samples per predictor call.')

SPLITS = ('test', 'all')
INPUTS = ('packed', 'raw')


def _fail(msg: str) -> None:
  msg = ' '.join(line.strip() for line in str(msg).splitlines())  # one line
  print(f'error: {msg}', file=sys.stderr)
  sys.exit(2)


def _check_flags() -> None:
  if not _MODEL.value:
    _fail('--model is required (an exported network file)')
  if _SPLIT.value not in SPLITS:
    _fail(f'split (--split) must be one of {list(SPLITS)}, got {_SPLIT.value!r}')
  if _INPUTS.value not in INPUTS:
    _fail(f'inputs (--inputs) must be one of {list(INPUTS)}, got {_INPUTS.value!r}')
  if _BATCH_SIZE.value < 1:
    _fail(f'batch_size (--batch_size) must be >= 1, got {_BATCH_SIZE.value}')
  for flag in (_PREDICTIONS, _C_HEADER, _C_INPUTS):
    _check_output(flag)


def _check_output(flag) -> None:
  """Exits with a one-line error unless the output file of `flag` can be written: not
  a folder, and the nearest existing folder above it writable (before any work)."""
  path = flag.value
  if path is None:
    return
  if not path or os.path.isdir(path):
    _fail(f'{flag.name} (--{flag.name}) must be a file path, {path!r} is a folder')
  folder = os.path.dirname(os.path.abspath(path))
  while not os.path.exists(folder):
    folder = os.path.dirname(folder)
  if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
    _fail(f'{flag.name} (--{flag.name}) cannot be written: {folder!r} is not a writable '
          f'folder')


def _write(flag, write_fn, what: str) -> None:
  """Writes one output file (atomically: a failed write leaves any previous file
  intact) or exits with a one-line error naming the flag and the file."""
  try:
    write_fn(flag.value)
  except OSError as e:
    _fail(f'{flag.name} (--{flag.name}): cannot write {flag.value}: '
          f'{e.strerror or e}; any previous file there is unchanged')
  print(f'wrote {flag.value}{what}', flush=True)


def _write_header(export, exp, index: int) -> None:
  try:
    text = export.c_header(exp, index)
  except ValueError as e:  # e.g. a conv net: the C program is dense-only
    _fail(str(e))
  from bnnjax.checkpoint import atomic_write
  _write(_C_HEADER, lambda p: atomic_write(
      p, lambda f: f.write(text.encode('ascii'))), '')


def main(argv):
  if len(argv) > 1:
    _fail(f'unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.WARNING)
  _check_flags()
  import numpy as np
  from bnnjax import data as data_lib
  from bnnjax import export
  try:
    exp = export.load(_MODEL.value)
  except ValueError as e:
    _fail(str(e))
  num_networks = len(exp.networks)
  if _NETWORK.value is not None:
    try:
      exp.network(_NETWORK.value)
    except ValueError as e:
      _fail(f'network (--network): {e}')
    indices = [_NETWORK.value]
  else:
    indices = list(range(num_networks))
  if (_C_HEADER.value or _C_INPUTS.value) and len(indices) != 1:
    _fail(f'--c_header and --c_inputs need one network: pass --network (the file holds '
          f'{num_networks})')
  c = exp.config
  print(f'bnnjax.predict: {exp.path}: {num_networks} network(s), '
        f'{" -> ".join(map(str, c.widths + (c.num_outputs,)))}, {c.semantics} semantics, '
        f'{c.head} head; {exp.file_bytes} bytes', flush=True)
  name = _DATASET.value or exp.data.get('name')
  header_only = _C_HEADER.value and not (_DATASET.value or _PREDICTIONS.value or
                                         _C_INPUTS.value)
  if name is None and not header_only:
    _fail(f'{exp.path} records no data set: pass --dataset')
  if header_only:
    _write_header(export, exp, indices[0])
    return
  if name not in data_lib.DATASETS:
    try:
      data_lib.load(name)
    except ValueError as e:
      _fail(str(e))
  if _INPUTS.value == 'raw' and not exp.binarisation.available:
    _fail(f'inputs (--inputs) raw: {exp.path} has no input thresholds '
          f'({exp.binarisation.note})')
  same_name = exp.data.get('name') == name
  try:
    ds = data_lib.load(name, smoke=bool(same_name and exp.data.get('smoke')),
                       data_dir=_DATA_DIR.value,
                       official_split=bool(same_name and exp.data.get('official_split')))
    exp.check_dataset(ds)
  except (ValueError, OSError, ImportError) as e:
    _fail(str(e) or repr(e))
  if _SPLIT.value == 'test' and not exp.same_pool(ds):
    _fail(f"the run's test split is defined on the pool the network was trained on "
          f"({exp.data.get('name', 'not recorded')}); --dataset={name} is a different "
          f"pool (its hash differs): use --split=all")
  if _INPUTS.value == 'raw' and (ds.x_float is None or not same_name):
    _fail(f'inputs (--inputs) raw needs the raw features of {exp.data.get("name")}, '
          f'which --dataset={name} does not provide')

  rows, accs = [], []
  for i in indices:
    net = exp.networks[i]
    idx = (exp.split_indices(i)[1] if _SPLIT.value == 'test'
           else np.arange(ds.num_samples))
    predictor = exp.predictor(i, batch_size=_BATCH_SIZE.value)
    try:
      if _INPUTS.value == 'raw':
        pred = predictor.predict_raw(np.asarray(ds.x_float[idx]))
      else:
        pred = predictor.predict_packed(np.asarray(ds.x)[idx], ds.num_features)
    except ValueError as e:
      _fail(str(e))
    y = np.asarray(ds.y)[idx]
    correct = int(np.sum(pred == y))
    acc = 100.0 * correct / len(idx)
    accs.append(acc)
    reported = ''
    if _SPLIT.value == 'test' and net.test_acc is not None:
      reported = f'; training reported {net.test_acc:.2f}%'
    point = '' if net.grid_point is None else f', grid point {net.grid_point}'
    print(f'network {i} (run {net.run}, seed {net.seed}{point})'
          f': {_SPLIT.value} accuracy {acc:.2f}% ({correct}/{len(idx)}, {_INPUTS.value} '
          f'inputs){reported}', flush=True)
    rows += [(i, net.run, net.seed, int(s), int(t), int(p))
             for s, t, p in zip(idx, y, pred)]
    if _C_INPUTS.value:  # one network (checked above): written after the header
      c_inputs = (np.asarray(ds.x)[idx], ds.num_features)
  if len(accs) > 1:
    print(f'mean {_SPLIT.value} accuracy {np.mean(accs):.2f} ± {np.std(accs):.2f} over '
          f'{len(accs)} networks', flush=True)
  # Every output is written once every prediction is made, so a bad data set or input
  # leaves none behind.
  if _C_HEADER.value:
    _write_header(export, exp, indices[0])
  if _C_INPUTS.value:
    _write(_C_INPUTS, lambda p: export.write_inputs(p, *c_inputs),
           f' ({c_inputs[0].shape[0]} samples)')
  if _PREDICTIONS.value:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    writer.writerow(['network', 'run', 'seed', 'sample', 'label', 'prediction'])
    writer.writerows(rows)
    from bnnjax.checkpoint import atomic_write
    _write(_PREDICTIONS, lambda p: atomic_write(
        p, lambda f: f.write(buf.getvalue().encode())), f' ({len(rows)} rows)')


def run():
  app.run(main)


if __name__ == '__main__':
  run()
