"""The cost report: the paper's model beside bnnjax's measured bytes, as a text table.

  python -m bnnjax.cost --method=ours --dataset=fashion_mnist --layers=525,525
  python -m bnnjax.cost --method=sgd --input_mode=fp --dataset=fmnist --layers=5,5

A paper data set (`bnnjax.data.PAPER`, by its registry or paper name) whose files are
not prepared is replaced, for the measured side, by an all-zero pool of the paper's
shape (said so in the output).
"""

from typing import Sequence

from bnnjax.cost.formulas import (BITS_PER_BYTE, BYTES_PER_KB, ONEBIT_METHODS,
                                  RULE_METHODS, bits_to_kb, cost_layers, formula,
                                  op_counts, summary_columns)
from bnnjax.measure import measured_ours


def synthetic_dataset(name: str):
  """An all-zero packed pool of the paper's shape for `name` (`bnnjax.data.PAPER`): the
  measured side needs when the real data are not available offline."""
  import numpy as np
  from bnnjax import bits
  from bnnjax.data import DataSet
  from bnnjax.data import paper_data
  p = paper_data(name)
  return DataSet(name=f'{name} (synthetic, paper shape)',
                 x=np.zeros((p.num_samples, bits.num_words(p.num_features)), np.uint32),
                 y=np.zeros((p.num_samples,), np.int32), num_features=p.num_features,
                 num_classes=p.num_classes, num_test=p.num_test)


# ----------------------------------------------------------------------------------
# Report (the entry point prints it)
# ----------------------------------------------------------------------------------

WHY_DIFFERENT = (
    'bnnjax keeps every hidden weight H as int32 where the model assumes 8 bits (the '
    'initial trunc(Normal(0, 64^2)) already leaves int8 for ~5% of weights, unclipped '
    'reinforcement and batch-summed updates grow |H| further, and an integer must never '
    'wrap), stores all local classifiers as int8 and pre-activations as int32, and holds '
    'the whole pool, test split included, padded to whole 32-bit words per sample, with '
    'int32 labels and split indices, where the model counts 1 bit per feature of the '
    'training split only.')


def _fmt_bytes(v) -> str:
  if v is None:
    return 'n/a'
  if isinstance(v, float) and not v.is_integer():
    return f'{v:,.2f} B'
  return f'{int(v):,} B'


def report(method: str, layers: Sequence[int], dataset, batch_size: int = 100,
           num_epochs: int = 50, input_mode: str = 'bin', group_size=None,
           semantics: str = 'reference', backend: str = 'packed',
           synthetic: bool = False, xla: bool = True) -> str:
  """Text table: the paper's cost model beside bnnjax's measured bytes (ours only)."""
  d, c = dataset.num_features, dataset.num_classes
  if method in RULE_METHODS and method != 'bep' and c == 2:
    c = 1  # the one-output ('sign') head of two-class tasks (Config head 'auto')
  n_split = dataset.num_samples - dataset.num_test
  cols = summary_columns(method, layers, d, c, batch_size, n_split, num_epochs,
                         input_mode)
  parts = {k: cols[f'model_memory_{k}_bits'] for k in
           ('data', 'weights', 'classifiers', 'activations', 'gradients')}
  ops = op_counts(method, layers, d, c, batch_size)
  layer_text = '-'.join(map(str, layers))
  label = method if method in RULE_METHODS else f'{method} {input_mode}'
  lines = [f'bnnjax.cost: {label}'
           f' on {dataset.name} ({dataset.num_samples:,} samples x {d:,} features, '
           f'{dataset.num_classes} classes, {c} classifier columns, test '
           f'{dataset.num_test:,}), layers {layer_text}, '
           f'B {batch_size}, n {cols["model_num_train"]:,}, {num_epochs} epochs']
  if synthetic:
    lines.append('  (data not available offline: an all-zero pool of the paper\'s shape '
                 'stands in for the measured side)')
  m = None
  if method in ('ours', 'ours_train_out'):
    from bnnjax.config import Config
    gs = group_size
    if gs is None:
      gs = tuple(_group_size_for(n) for n in layers)
    elif len(gs) == 1:
      gs = tuple(gs) * len(layers)
    config = Config(layers=tuple(layers), group_size=gs, num_inputs=d,
                    num_classes=dataset.num_classes, batch_size=batch_size,
                    num_epochs=num_epochs, num_test=dataset.num_test,
                    semantics=semantics, backend=backend,
                    train_classifiers=method == 'ours_train_out')
    m = measured_ours(config, dataset, xla=xla)
  w = 30
  row = lambda name, model_v, meas: f'  {name:<{w}}{model_v:>22}   {meas}'
  lines.append(row('memory', 'paper model', 'bnnjax measured (one run)'))
  lines.append(row('', f'({formula(method).weights} weights)', ''))
  na = 'n/a (measured side of baselines not yet implemented)' if m is None else None
  if m is not None:
    meas_data = (f'{_fmt_bytes(m["data_train_x_bytes"])} train split packed '
                 f'({m["data_train_x_bytes"] // max(1, m["data_num_train"])} B/sample); '
                 f'pool with test {_fmt_bytes(m["data_x_bytes"])}')
    meas_w = (f'{_fmt_bytes(m["hidden_bytes"])} int32 H + '
              f'{_fmt_bytes(m["classifier_bytes"])} int8 P (+ int32 Q if trained; all '
              f'layers)')
    meas_cls = 'in the line above'
    meas_act = (f'{_fmt_bytes(m["activation_bytes"])} forward (int32 a, int8 s, int32 z)'
                f' + {_fmt_bytes(m["batch_bytes"])} batch')
    small = m['state_bytes'] - m['hidden_bytes'] - m['classifier_bytes']
    meas_other = (f'{_fmt_bytes(m["data_y_bytes"])} int32 labels + '
                  f'{_fmt_bytes(m["split_index_bytes"])} split indices + '
                  f'{_fmt_bytes(small)} key/accuracy/epoch')
    meas_total = (m['data_x_bytes'] + m['data_y_bytes'] + m['split_index_bytes'] +
                  m['state_bytes'] + m['activation_bytes'] + m['batch_bytes'])
  else:
    meas_data = meas_w = meas_cls = meas_act = meas_other = na
    meas_total = None
  by = lambda bits_: _fmt_bytes(bits_ / BITS_PER_BYTE)
  lines.append(row('data', by(parts['data']), meas_data))
  lines.append(row('weights', by(parts['weights']), meas_w))
  if method == 'flip_consolidate':
    lines.append(row('classifiers + neuron counters', by(parts['classifiers']), meas_cls))
  elif method in ('ours', 'flip') + ONEBIT_METHODS:
    lines.append(row('local classifiers (max N_l*C)', by(parts['classifiers']), meas_cls))
  elif method == 'ours_train_out':
    lines.append(row('trained classifiers (8-bit)', by(parts['classifiers']), meas_cls))
  lines.append(row('activations (one step)', by(parts['activations']), meas_act))
  if method in ('sgd', 'adam'):
    lines.append(row('gradient buffer', by(parts['gradients']), na))
  if m is not None:
    lines.append(row('other', '-', meas_other))
  total = cols['model_memory_bits']
  lines.append(row('total', by(total),
                   'n/a' if meas_total is None else _fmt_bytes(meas_total)))
  meas_kb = 'n/a' if meas_total is None else f'{meas_total / BYTES_PER_KB:,.0f} KB'
  lines.append(row('total KB (1 KB = 1,000 B)', f'{bits_to_kb(total):,.0f} KB', meas_kb))
  if m is not None:
    x = m['xla']
    if x is None:
      lines.append(row('XLA memory_analysis(step)', '-', 'not provided by this backend'))
    else:
      lines.append(row('XLA memory_analysis(step)', '-',
                       ', '.join(f'{k.replace("_size_in_bytes", "")} {v:,}'
                                 for k, v in x.items()
                                 if k != 'peak_estimate_bytes')))
      lines.append(row('', '-', f'peak (args + out - alias + temp) '
                                f'{x["peak_estimate_bytes"]:,} B'))
    lines.append('  why they differ: ' + WHY_DIFFERENT)
  lines.append('gates (paper model)')
  op_text = ', '.join(f'{k} {v:,}' for k, v in ops.items() if v)
  lines.append(f'  per step   {cols["model_gates_per_step"]:.2e} '
               f'({cols["model_gates_per_step"]:,}; ops: {op_text})')
  lines.append(f'  per epoch  {cols["model_gates_per_epoch"]:.2e} '
               f'({-(-cols["model_num_train"] // batch_size):,} steps)')
  lines.append(f'  per run    {cols["model_gates_per_run"]:.2e} ({num_epochs} epochs)')
  return '\n'.join(lines)


def _group_size_for(width: int) -> int:
  """γ of the paper for a width, or the width itself (one neuron per group) otherwise.
  Only used for the measured side, where γ changes no array shape."""
  from bnnjax.config import PAPER_GROUP_SIZE
  return PAPER_GROUP_SIZE.get(width, width)


# ----------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------


def load_dataset(name: str, smoke: bool = False):
  """(DataSet, synthetic): the registered data set, or an all-zero pool of the paper's
  shape if the name is only a paper name or its files are not available offline."""
  from bnnjax import data as data_lib
  paper_names = {p.name for p in data_lib.PAPER.values()}
  known = name in data_lib.PAPER or name in paper_names
  if name in data_lib.DATASETS:
    try:
      return data_lib.load(name, smoke=smoke), False
    except (OSError, ImportError):  # files not prepared (no internet here)
      if not known:
        raise
  if known:
    return synthetic_dataset(name), True
  raise ValueError(f'unknown dataset {name!r} (--dataset); valid: '
                   f'{sorted(set(data_lib.DATASETS) | paper_names)}')


def main(argv):
  from absl import flags
  from absl import logging
  logging.set_verbosity(logging.WARNING)  # JAX's backend probing logs at INFO
  f = flags.FLAGS
  if len(argv) > 1:
    raise SystemExit(f'error: unexpected arguments: {argv[1:]}')
  try:
    # cp_r blocks may be written K1-K2,K1'-K2' as for bnnjax.train.
    layers = tuple(int(v) for v in f.layers.replace('-', ',').split(',') if v.strip())
    group_size = (None if f.group_size is None else
                  tuple(int(v) for v in f.group_size.split(',') if v.strip()))
  except ValueError:
    raise SystemExit('error: --layers and --group_size must be comma-separated integers')
  try:
    formula(f.method, f.input_mode)
    cost_layers(f.method, layers, 1, 2)
    ds, synthetic = load_dataset(f.dataset)
    print(report(f.method, layers, ds, batch_size=f.batch_size, num_epochs=f.epochs,
                 input_mode=f.input_mode, group_size=group_size,
                 semantics=f.semantics, backend=f.backend, synthetic=synthetic,
                 xla=f.xla))
  except ValueError as e:
    raise SystemExit(f'error: {e}')


def define_flags():
  """The flags of `python -m bnnjax.cost` (only that entry point defines them)."""
  from absl import flags
  from bnnjax import data as data_lib
  from bnnjax.cost.formulas import METHODS
  flags.DEFINE_string('method', 'ours', f'One of {list(METHODS)}.')
  flags.DEFINE_string('dataset', 'prototypes',
                      'Registered data set, or a paper data set name '
                      f'({sorted(p.name for p in data_lib.PAPER.values())}; synthetic '
                      'pool if not available).')
  flags.DEFINE_string('layers', '135,135', 'Hidden widths (cp_r: K1,K2 pairs).')
  flags.DEFINE_string('group_size', None,
                      'ours: γ (default: the paper\'s for each width).')
  flags.DEFINE_integer('batch_size', 100, 'Mini-batch size B.')
  flags.DEFINE_integer('epochs', 50, 'Epochs per run (for per-run gate totals).')
  flags.DEFINE_string('input_mode', 'bin', 'Float baselines: fp or bin.')
  flags.DEFINE_string('semantics', 'reference', 'ours: reference or binary.')
  flags.DEFINE_string('backend', 'packed', 'ours: packed or dense.')
  flags.DEFINE_bool('xla', True, 'ours: compile the step and print XLA memory analysis.')
