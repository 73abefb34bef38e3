r"""Main job: train on a data set with several seeds in one call, write tidy results.

  python -m bnnjax.train                      # Random Prototypes 135-135, γ 45, 10 seeds
  python -m bnnjax.train --layers=35,35 --group_size=35 --semantics=binary
  python -m bnnjax.train --layers=35,35 --group_size=35 --train_classifiers
  python -m bnnjax.train --robustness=0,0.25,0.5 --p_reinforce=0,0.5   # a 3 x 2 grid
  python -m bnnjax.train --export=net.bnn --export_seed=0   # see bnnjax.predict

--robustness, --p_reinforce and --weight_clip take one value or a comma-separated list;
lists are swept as their Cartesian product in one compiled call (ours and cp_r), and the
results get one row per grid point, seed and epoch.

Writes <workdir>/results.csv (one row per seed x epoch, every config field a column) and
<workdir>/summary.json (final test/train accuracy mean and std, wall time, versions, the
full config and the command). Every flag is checked before anything is compiled or
written; a bad value exits with a one-line error naming the flag and its valid range.
An interrupted run resumes from <workdir>/checkpoint.npz and reaches the same bits.
--export=PATH (ours) then writes the trained networks as packed bits (bnnjax.export):
every run, or only run K with --export_seed=K; --export_hidden adds the integer hidden
weights so training can resume from the file.
"""

import os
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
_ROBUSTNESS = flags.DEFINE_string(
    'robustness', '0.25', 'r: margin τ = floor(r * N); a comma-separated list sweeps.')
_P_REINFORCE = flags.DEFINE_string(
    'p_reinforce', '0.5', 'p_r of the reinforcement; a comma-separated list sweeps.')
_WEIGHT_CLIP = flags.DEFINE_string(
    'weight_clip', '0', 'c: H in [-c, c]; 0 = unbounded; a comma-separated list sweeps.')
_TRAIN_CLASSIFIERS = flags.DEFINE_bool(
    'train_classifiers', False, 'ours: train the local classifiers too (the paper\'s '
    '"train-out" appendix).')
_DIAGNOSTICS = flags.DEFINE_bool(
    'diagnostics', True, 'ours, cp_r: per-epoch diagnostics (flip rate, error set, '
    'updated neurons, |H| statistics, int8 overflow, histograms) in results.csv, '
    'summary.json and diagnostics.npz.')
_HEAD = flags.DEFINE_string(
    'head', 'auto', 'ours, cp_r: auto (one ±1 output for two classes, else argmax), '
    'argmax or sign.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 100, 'Mini-batch size.')
_EPOCHS = flags.DEFINE_integer('epochs', 50, 'Epochs per run.')
_NUM_SEEDS = flags.DEFINE_integer('num_seeds', 10, 'Seeds, run in one vmapped call.')
_SEED = flags.DEFINE_integer('seed', 42, 'Run k uses seed + k (the paper: 42 + k).')
_SEMANTICS = flags.DEFINE_string('semantics', 'reference', 'reference or binary.')
_BACKEND = flags.DEFINE_string(
    'backend', 'auto', 'auto (packed on CPU, dense on GPU/TPU), packed or dense; all '
    'give identical results.')
_SEED_CHUNK = flags.DEFINE_integer(
    'seed_chunk', None, 'Runs vmapped together per device (default: per platform, 1 on '
    'CPU and 5 elsewhere).')
_INPUT_MODE = flags.DEFINE_string('input_mode', 'bin', 'Float baselines: fp or bin.')
_LEARNING_RATE = flags.DEFINE_float('learning_rate', None,
                                    'Float baselines (default: the paper\'s).')
_FLIP_PROB = flags.DEFINE_string(
    'flip_prob', None, 'flip: move probability q per unit of drive (default 1/256); a '
    'comma-separated list sweeps (with --weight_clip, the clip of its counter).')
_BEP_PATIENCE = flags.DEFINE_integer(
    'bep_patience', 0, 'bep: group-size schedule, move each γ to the next divisor of '
    'its width after this many epochs without a lower training error (0: off; '
    'docs/bep.md).')
_FLIP_K = flags.DEFINE_string(
    'flip_k', None, 'flip_topk / flip_consolidate: flips per neuron and step; '
    'flip_threshold: the evidence threshold (default 4); a list sweeps.')
_FLIP_ANNEAL = flags.DEFINE_string(
    'flip_anneal', None, 'flip_anneal: a of q / (1 + a * epoch) (default 1); '
    'flip_consolidate: flips per halving of a neuron\'s plasticity (default 64); a list '
    'sweeps (docs/onebit.md).')
_CONV = flags.DEFINE_string(
    'conv', '', "Conv blocks before the dense --layers, 'F:K[:P[:S[:PAD]]]' comma-"
    "separated (filters, kernel, pool, stride, padding), e.g. 16:3:2 (--method=conv; the "
    'float baselines build the same net).')
_CONV_SELECT = flags.DEFINE_string(
    'conv_select', 'filter', '--method=conv: what an update moves: filter, unit or all '
    '(docs/conv.md).')
_CONV_MARGIN = flags.DEFINE_integer(
    'conv_margin', 0, '--method=conv: positions with stability in [0, m) are '
    'candidates too.')
_FREEZE_CONV = flags.DEFINE_bool(
    'freeze_conv', False, '--method=conv: keep the conv blocks at their random init '
    '(the control).')
_CONV_REGIONS = flags.DEFINE_integer(
    'conv_regions', 0, '--method=conv: tie each block\'s classifier over R x R regions '
    'of its map (1: one target per filter and class); 0: untied.')
_NU = flags.DEFINE_string(
    'nu', None, 'bep: the backward gate ν in [0, 1] (|z| <= ν * fan-in; default 0.1); a '
    'comma-separated list sweeps.')
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
_EXPORT = flags.DEFINE_string(
    'export', None, 'ours: after training, write the networks to this file '
    '(bnnjax.export format; read it with python -m bnnjax.predict).')
_EXPORT_SEED = flags.DEFINE_integer(
    'export_seed', None, 'With --export: only run K (0-based; run K used seed --seed + '
    'K), of every grid point. Default: every run.')
_DEVICES = flags.DEFINE_string(
    'devices', 'all', 'Devices the runs are sharded over: all (every device of every '
    'process; on CPU one per core) or N. Results do not depend on it.')
_RUNS_PER_CALL = flags.DEFINE_integer(
    'runs_per_call', None, 'At most this many runs (seeds x grid points) per compiled '
    'call; larger sweeps run in chunks of this size without recompiling (device '
    'memory). Default: all runs in one call.')
_CHECKPOINT_EVERY = flags.DEFINE_integer(
    'checkpoint_every', 0, 'Write the checkpoint every K epochs (and after the last); '
    '0 = automatic: every epoch while writing is cheap, less often for huge states.')
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', None, 'Multi-process run: host:port of process 0 (else '
    '$JAX_COORDINATOR_ADDRESS). Every process runs the same command.')
_NUM_PROCESSES = flags.DEFINE_integer(
    'num_processes', None, 'Multi-process run: number of processes (else '
    '$JAX_NUM_PROCESSES).')
_PROCESS_ID = flags.DEFINE_integer(
    'process_id', None, 'Multi-process run: this process\'s index in [0, '
    'num_processes) (else $JAX_PROCESS_ID). Process 0 writes every file.')
_COMPILATION_CACHE = flags.DEFINE_string(
    'compilation_cache', None, 'Folder of the persistent XLA compilation cache (compiled '
    'programs are reused by later runs); default $BNNJAX_COMPILATION_CACHE or '
    '~/.cache/bnnjax/xla; none = off.')
_EXPORT_HIDDEN = flags.DEFINE_bool(
    'export_hidden', False, 'With --export: also store the integer hidden weights and '
    'the rest of the training state (to resume training).')


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


def _number_list(flag: str, text: str, kind):
  """One value, or a tuple of values for a comma-separated list (a grid axis)."""
  parts = [v.strip() for v in text.split(',')]
  try:
    if kind is int:
      vals = tuple(int(v) for v in parts)
    else:
      vals = tuple(float(v) for v in parts)
  except ValueError:
    _fail(f'{flag} (--{flag}) must be {"an integer" if kind is int else "a number"} '
          f'or a comma-separated list of them, got {text!r}')
  return vals[0] if len(vals) == 1 else vals


def build_spec(default_batch_size=None):
  """RunSpec from flags; exits with a one-line error on a bad value.

  default_batch_size: the data set's paper batch size (32 for UCI), used when
  --batch_size is not given on the command line."""
  from bnnjax import methods
  batch_size = _BATCH_SIZE.value
  if default_batch_size and not flags.FLAGS['batch_size'].present:
    batch_size = default_batch_size
  if _METHOD.value in ('ours', 'conv'):
    layers = _int_list('layers', _LAYERS.value)
  else:  # e.g. cp_r '330-30' or '880-80,880-80'; the method validates the structure
    layers = _int_list('layers', _LAYERS.value.replace('-', ','))
  spec = methods.RunSpec(
      method=_METHOD.value, layers=layers, layers_text=_LAYERS.value,
      group_size=(None if _GROUP_SIZE.value is None
                  else _int_list('group_size', _GROUP_SIZE.value)),
      robustness=_number_list('robustness', _ROBUSTNESS.value, float),
      p_reinforce=_number_list('p_reinforce', _P_REINFORCE.value, float),
      weight_clip=_number_list('weight_clip', _WEIGHT_CLIP.value, int),
      train_classifiers=_TRAIN_CLASSIFIERS.value, head=_HEAD.value,
      diagnostics=_DIAGNOSTICS.value,
      batch_size=batch_size,
      num_epochs=_EPOCHS.value, num_seeds=_NUM_SEEDS.value, seed=_SEED.value,
      semantics=_SEMANTICS.value, backend=_BACKEND.value, seed_chunk=_SEED_CHUNK.value,
      input_mode=_INPUT_MODE.value, learning_rate=_LEARNING_RATE.value,
      flip_prob=(None if _FLIP_PROB.value is None else
                 _number_list('flip_prob', _FLIP_PROB.value, float)),
      conv=_CONV.value, conv_select=_CONV_SELECT.value, conv_margin=_CONV_MARGIN.value,
      freeze_conv=_FREEZE_CONV.value, conv_regions=_CONV_REGIONS.value,
      nu=None if _NU.value is None else _number_list('nu', _NU.value, float),
      bep_patience=_BEP_PATIENCE.value,
      flip_k=None if _FLIP_K.value is None else _number_list('flip_k', _FLIP_K.value, int),
      flip_anneal=(None if _FLIP_ANNEAL.value is None else
                   _number_list('flip_anneal', _FLIP_ANNEAL.value, float)))
  if _SMOKE.value:
    import dataclasses
    spec = dataclasses.replace(spec, num_epochs=2, num_seeds=2)
  if any(n < 1 for n in spec.layers):
    _fail(f'layers (--layers) widths must be >= 1, got {_LAYERS.value!r}')
  from bnnjax import checks
  try:
    checks.check_seeds(spec.seed, spec.num_seeds)
  except ValueError as e:
    _fail(str(e))
  return spec


def check_workdir(path: str) -> None:
  """Exits with a one-line error unless --workdir is a folder or can be created."""
  from bnnjax import results
  try:
    results.check_output_dir(path)
  except ValueError as e:
    _fail(str(e))


def check_export_flags(spec) -> None:
  """Exits with a one-line error on a bad --export / --export_seed / --export_hidden."""
  path = _EXPORT.value
  if not path:
    for flag in (_EXPORT_SEED, _EXPORT_HIDDEN):
      if flags.FLAGS[flag.name].present:
        _fail(f'{flag.name} (--{flag.name}) needs --export=PATH')
    return
  if spec.method not in ('ours', 'conv'):
    _fail(f'export (--export) applies to --method=ours and conv, not {spec.method}')
  if os.path.isdir(path):
    _fail(f'export (--export) must be a file path, {path!r} is a folder')
  from bnnjax import results
  try:  # its folder must exist or be creatable
    results.check_output_dir(os.path.dirname(os.path.abspath(path)), 'export')
  except ValueError as e:
    _fail(str(e))
  k = _EXPORT_SEED.value
  if k is not None and not 0 <= k < spec.num_seeds:
    _fail(f'export_seed (--export_seed) must be a run index in [0, {spec.num_seeds - 1}] '
          f'(run k used seed {spec.seed} + k), got {k}')


def _export(spec, ds, result) -> None:
  from bnnjax import export
  from bnnjax import methods
  hparams = {f: getattr(spec, f) for f in methods.GRID_FIELDS}
  try:
    num, size = export.save_run(
        _EXPORT.value, methods.get(spec.method).config_fn(spec, ds), result.states, ds,
        spec.seed,
        hparams=hparams, grid=result.grid, test_acc=result.test_acc,
        export_run=_EXPORT_SEED.value, include_hidden=_EXPORT_HIDDEN.value,
        smoke=_SMOKE.value, official_split=_OFFICIAL_SPLIT.value)
  except (ValueError, OSError) as e:
    _fail(f'export (--export): {e}')
  print(f'exported {num} network(s) to {_EXPORT.value} ({size} bytes)', flush=True)


def main(argv):
  if len(argv) > 1:
    _fail(f'unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.WARNING)  # JAX's backend probing logs at INFO
  from bnnjax import platform as platform_lib
  platform_lib.use_cpu_cores()  # before JAX touches a backend
  platform_lib.enable_compilation_cache(_COMPILATION_CACHE.value)
  try:
    options = platform_lib.EngineOptions(devices=_DEVICES.value,
                                         runs_per_call=_RUNS_PER_CALL.value,
                                         checkpoint_every=_CHECKPOINT_EVERY.value)
    distributed = platform_lib.init_distributed(_COORDINATOR.value, _NUM_PROCESSES.value,
                                                _PROCESS_ID.value)
    devices = platform_lib.select_devices(_DEVICES.value)  # enough devices?
  except (ValueError, RuntimeError) as e:
    _fail(str(e))
  main_process = platform_lib.is_main_process()
  from bnnjax import data as data_lib
  from bnnjax import methods
  spec = build_spec()
  try:
    methods.get(spec.method)  # an unknown method: the registry's ValueError
    if _DATASET.value not in data_lib.DATASETS:
      data_lib.load(_DATASET.value)  # raises the registry's ValueError
    methods.validate(spec)
  except ValueError as e:
    _fail(str(e))
  check_export_flags(spec)
  if _WORKDIR.value:
    check_workdir(_WORKDIR.value)
  t0 = time.time()
  try:
    ds = data_lib.load(_DATASET.value, smoke=_SMOKE.value, data_dir=_DATA_DIR.value,
                       download=_DOWNLOAD.value, official_split=_OFFICIAL_SPLIT.value)
    spec = build_spec(ds.batch_size)
    methods.validate(spec, ds)
  except (ValueError, OSError, ImportError) as e:
    _fail(str(e) or repr(e))
  variant = ('-train_out' if spec.train_classifiers else '') + (
      '-grid' if methods.grid_points(spec) else '')
  workdir = _WORKDIR.value or os.path.join(
      'runs', f'{spec.method}-{ds.name.replace("/", "_")}-'
      f'{"_".join(map(str, spec.layers))}-{spec.semantics}{variant}')
  # Every process runs the same program; process 0 alone prints and writes files.
  check_workdir(workdir)
  say = (lambda *a, **k: print(*a, **k)) if main_process else (lambda *a, **k: None)
  say(f'bnnjax: {spec.method} on {ds.name} ({ds.num_samples} samples, '
      f'{ds.num_features} features, {ds.num_classes} classes, test {ds.num_test}); '
      f'layers {spec.layers}; {spec.num_seeds} seeds x {spec.num_epochs} epochs; '
      f'data ready in {time.time() - t0:.1f}s; workdir {workdir}', flush=True)
  from bnnjax import config as config_lib
  say(f'backend: {config_lib.resolved_backend(spec)}'
      + (' (auto)' if spec.backend == 'auto' else '') + '; '
      f'seed chunk: {config_lib.resolved_seed_chunk(spec.seed_chunk, devices[0].platform)}'
      + (' (auto)' if spec.seed_chunk is None else '') + '; '
      f'devices: up to {len(devices)} {devices[0].platform} device(s)'
      + (f' over {len({d.process_index for d in devices})} processes' if distributed
         else ''), flush=True)
  if ds.notes:
    say(f'data: {ds.notes}', flush=True)
  start = time.time()

  def progress(epoch, train_acc, test_acc):
    say(f'epoch {epoch + 1:3d}/{spec.num_epochs}  train {train_acc.mean():6.2f}  '
        f'test {test_acc.mean():6.2f} ± {test_acc.std():5.2f}  '
        f'({time.time() - start:6.1f}s)', flush=True)

  try:
    result = methods.run(spec, ds, progress, os.path.join(workdir, 'checkpoint.npz'),
                         options=options)
  except (ValueError, OSError) as e:  # a damaged checkpoint, one of another run, a full
    _fail(str(e))                     # disk
  if not main_process:
    return
  from bnnjax import cost
  from bnnjax import results
  command = ' '.join(['python -m bnnjax.train'] + list(sys.argv[1:]))
  try:
    summary = results.write_results(workdir, spec, ds.name, result, command,
                                    cost.run_columns(spec, ds), ds.notes)
  except OSError as e:
    _fail(f'writing the results: {e}')
  for point in summary['points']:
    label = ', '.join(f'{k} {point[k]}' for k in summary['grid'])
    print(f'final test accuracy {point["test_acc_mean"]:.2f} ± '
          f'{point["test_acc_std"]:.2f} (train {point["train_acc_mean"]:.2f}) over '
          f'{summary["num_seeds"]} seeds{"; " + label if label else ""}', flush=True)
  if summary['already_complete']:
    print(f'the run was already complete in {workdir}/checkpoint.npz: nothing trained; '
          f'the results and wall time are those of the original run', flush=True)
  print(f'{summary["wall_seconds"]:.1f}s; wrote {workdir}/results.csv and summary.json',
        flush=True)
  if _EXPORT.value:
    _export(spec, ds, result)


def run():
  app.run(main)


if __name__ == '__main__':
  run()
