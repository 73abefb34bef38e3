r"""Runs one experiment (a table or figure of arXiv 2412.00119) and writes its outputs.

  python -m experiments.run --list
  python -m experiments.run --experiment=main --dataset=prototypes
  python -m experiments.run --experiment=robustness --smoke
  python -m experiments.run --experiment=continual [--dataset=mnist5k]

Writes <workdir>/<experiment>/{results.csv, summary.json, table.md, figure.png} and one
file per finished setting in <workdir>/settings (reused by any later run, of this or
another experiment, with the same setting). Every flag and every setting is checked
before anything is compiled or written; a bad one exits with one line `error: ...`.
"""

import os
import sys
import time

from absl import app
from absl import flags
from absl import logging

_EXPERIMENT = flags.DEFINE_string('experiment', None, 'Experiment name (see --list).')
_LIST = flags.DEFINE_bool('list', False, 'List the experiments and their data.')
_SMOKE = flags.DEFINE_bool('smoke', False, 'Tiny data slices, 2 epochs, 2 seeds, few '
                           'settings; same code paths.')
_NUM_SEEDS = flags.DEFINE_integer('num_seeds', None, 'Override the seeds per setting.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output folder (default '
                               'runs/experiments, or runs/experiments-smoke).')
_DATASET = flags.DEFINE_list('dataset', None, 'Only the settings on these data sets.')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'Data folder (as bnnjax.train).')
_DEVICES = flags.DEFINE_string('devices', 'all', 'Devices each call shards its runs over '
                               '(as bnnjax.train): all or N.')
_RUNS_PER_CALL = flags.DEFINE_integer(
    'runs_per_call', None, 'At most this many runs per compiled call (as bnnjax.train).')
_COMPILATION_CACHE = flags.DEFINE_string(
    'compilation_cache', None, 'Persistent XLA compilation cache folder, or none (as '
    'bnnjax.train).')
_CHECKPOINT_EVERY = flags.DEFINE_integer(
    'checkpoint_every', 0, 'Checkpoint interval in epochs; 0 = automatic (as '
    'bnnjax.train).')


def _fail(msg: str) -> None:
  print('error: ' + ' '.join(str(msg).split()), file=sys.stderr)
  sys.exit(2)


def list_experiments(data_dir=None) -> str:
  import experiments
  from experiments import framework
  lines = []
  status = {}
  for name in experiments.NAMES:
    exp = experiments.get(name)
    sets = list(dict.fromkeys(s.dataset for s in exp.settings_fn(False)))
    lines.append(f'{name:16s} {exp.reference}')
    avail, other = [], []
    for ds in sets:
      if ds not in status:
        status[ds] = framework.data_status(ds, data_dir)[0]
      (avail if status[ds] else other).append(ds)
    lines.append(f'{"":16s}   data here: {", ".join(avail) or "none"}')
    if other:
      shown = other if len(other) <= 6 else other[:6] + [f'... ({len(other) - 6} more)']
      lines.append(f'{"":16s}   needs data: {", ".join(shown)}')
  return '\n'.join(lines)


def main(argv):
  if len(argv) > 1:
    _fail(f'unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.WARNING)
  from bnnjax import platform as platform_lib
  platform_lib.use_cpu_cores()  # before JAX touches a backend
  platform_lib.enable_compilation_cache(_COMPILATION_CACHE.value)
  try:  # how every setting's call places its runs (bnnjax.platform)
    options = platform_lib.EngineOptions(devices=_DEVICES.value,
                                         runs_per_call=_RUNS_PER_CALL.value,
                                         checkpoint_every=_CHECKPOINT_EVERY.value)
    platform_lib.select_devices(_DEVICES.value)
  except ValueError as e:
    _fail(e)
  if _WORKDIR.value:
    from bnnjax import results as results_lib
    try:
      results_lib.check_output_dir(_WORKDIR.value)
    except ValueError as e:
      _fail(e)
  import experiments
  from experiments import framework
  if _LIST.value:
    print(list_experiments(_DATA_DIR.value))
    return
  if not _EXPERIMENT.value:
    _fail('--experiment is required (or --list); valid: ' + ', '.join(experiments.NAMES))
  try:
    exp = experiments.get(_EXPERIMENT.value)
  except ValueError as e:
    _fail(e)
  if _NUM_SEEDS.value is not None and _NUM_SEEDS.value < 1:
    _fail(f'num_seeds (--num_seeds) must be >= 1, got {_NUM_SEEDS.value}')
  workdir = _WORKDIR.value or os.path.join(
      'runs', 'experiments-smoke' if _SMOKE.value else 'experiments')
  start = time.time()
  try:
    summary = framework.run_experiment(
        exp, workdir, smoke=_SMOKE.value, num_seeds=_NUM_SEEDS.value,
        datasets=_DATASET.value, data_dir=_DATA_DIR.value,
        log=lambda m: print(m, flush=True), options=options)
  except ValueError as e:
    _fail(e)
  done = [e for e in summary['settings'] if 'missing' not in e]
  print(f'[{exp.name}] {len(done)}/{len(summary["settings"])} settings done in '
        f'{time.time() - start:.1f}s; table: {os.path.join(workdir, exp.name, "table.md")}',
        flush=True)


if __name__ == '__main__':
  app.run(main)
