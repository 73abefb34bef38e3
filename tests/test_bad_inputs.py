"""The bad-input table: every flag of every entry point, and the public functions'
arguments, tried with invalid values -> one clear error, before any compile, and
nothing written.

Entry points (setup.cfg console_scripts and `python -m`): bnnjax.train (bnnjax-train),
bnnjax.predict (bnnjax-predict) and experiments.run. Their absl flags share one global
registry and clash (--dataset, --batch_size, ...), so each runs its whole table in ONE
fresh worker process (`python tests/test_bad_inputs.py <module> <cases> <out>`), which
calls the module's `main` in-process per case, the way `absl.app.run` does: flags parsed
(a flag absl cannot parse gives its one 'FATAL Flags parsing error' line and exit 1),
then main; SystemExit caught, stderr captured. Each case runs in an empty folder of its
own; afterwards the folder, and the fixture files it may name, must be unchanged.

Per case the promise is: exit status != 0; exactly one line 'error: ...' (or absl's
'FATAL Flags parsing error: ...') that names the flag or file; no traceback; nothing
compiled (`reliability_util.CompileWatch`); nothing written.

"""

import contextlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reliability_util as ru  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THIS = 'tests/test_bad_inputs.py'

# ----------------------------------------------------------------------------------
# Command-line tables: (case id, arguments, text the error line must contain).
# Placeholders: {tmp} the case's own (empty) folder, also the working directory;
# {file} an existing file and {dir} an existing folder (fixtures outside {tmp});
# {good} a valid export of 2 networks (64 inputs, trained on digits smoke), {one} the
# same with 1 network, {nodata} one exported without its data set, {empty}, {trunc},
# {junk}, {flip} damaged exports.
# ----------------------------------------------------------------------------------

# A valid, tiny command each case breaks one flag of (absl keeps a flag's last value).
TRAIN_BASE = ['--dataset=digits', '--layers=15', '--epochs=1', '--num_seeds=1',
              '--workdir={tmp}/wd']
TRAIN_CASES = [
    ('dataset_unknown', '--dataset=nope', 'dataset'),
    ('dataset_empty', '--dataset=', 'dataset'),
    ('dataset_missing_data', '--dataset=fashion_mnist --data_dir={tmp}/nodata',
     'fashion_mnist'),
    ('method_unknown', '--method=nope', 'method'),
    ('layers_zero', '--layers=0', 'layers'),
    ('layers_negative', '--layers=-15', 'layers'),
    ('layers_text', '--layers=a,b', 'layers'),
    ('layers_fraction', '--layers=15.5', 'layers'),
    ('layers_empty', '--layers=', 'layers'),
    ('layers_no_paper_group_size', '--layers=33', 'group_size'),
    ('group_size_not_a_divisor', '--group_size=4', 'group_size'),
    ('group_size_zero', '--group_size=0', 'group_size'),
    ('group_size_negative', '--group_size=-5', 'group_size'),
    ('group_size_text', '--group_size=x', 'group_size'),
    ('group_size_too_many', '--group_size=5,5', 'group_size'),
    ('group_size_larger_than_width', '--group_size=30', 'group_size'),
    ('robustness_negative', '--robustness=-1', 'robustness'),
    ('robustness_nan', '--robustness=nan', 'robustness'),
    ('robustness_inf', '--robustness=inf', 'robustness'),
    ('robustness_text', '--robustness=a', 'robustness'),
    ('robustness_empty', '--robustness=', 'robustness'),
    ('robustness_list_with_nan', '--robustness=0,nan', 'robustness'),
    ('p_reinforce_above_one', '--p_reinforce=1.5', 'p_reinforce'),
    ('p_reinforce_negative', '--p_reinforce=-0.1', 'p_reinforce'),
    ('p_reinforce_nan', '--p_reinforce=nan', 'p_reinforce'),
    ('p_reinforce_text', '--p_reinforce=x', 'p_reinforce'),
    ('p_reinforce_list_out_of_range', '--p_reinforce=0.5,2', 'p_reinforce'),
    ('weight_clip_negative', '--weight_clip=-2', 'weight_clip'),
    ('weight_clip_fraction', '--weight_clip=1.5', 'weight_clip'),
    ('weight_clip_text', '--weight_clip=x', 'weight_clip'),
    ('weight_clip_nan', '--weight_clip=nan', 'weight_clip'),
    ('weight_clip_too_large', '--weight_clip=1073741824', 'weight_clip'),
    ('head_unknown', '--head=softmax', 'head'),
    ('head_sign_with_ten_classes', '--head=sign', 'head'),
    ('batch_size_zero', '--batch_size=0', 'batch_size'),
    ('batch_size_negative', '--batch_size=-1', 'batch_size'),
    ('batch_size_too_large', '--batch_size=1048577', 'batch_size'),
    ('batch_size_text', '--batch_size=x', 'batch_size'),
    ('epochs_zero', '--epochs=0', 'epochs'),
    ('epochs_negative', '--epochs=-3', 'epochs'),
    ('epochs_text', '--epochs=1.5', 'epochs'),
    ('num_seeds_zero', '--num_seeds=0', 'num_seeds'),
    ('num_seeds_negative', '--num_seeds=-2', 'num_seeds'),
    ('seed_text', '--seed=x', 'seed'),
    ('seed_too_large', '--seed=18446744073709551616', 'seed'),
    ('seed_negative', '--seed=-1', 'seed'),
    ('semantics_unknown', '--semantics=ternary', 'semantics'),
    ('backend_unknown', '--backend=gpu', 'backend'),
    ('seed_chunk_zero', '--seed_chunk=0', 'seed_chunk'),
    ('seed_chunk_negative', '--seed_chunk=-1', 'seed_chunk'),
    ('input_mode_unknown', '--method=sgd --layers=20,20 --input_mode=x', 'input_mode'),
    ('learning_rate_negative', '--method=sgd --layers=20,20 --learning_rate=-1',
     'learning_rate'),
    ('learning_rate_nan', '--method=sgd --layers=20,20 --learning_rate=nan',
     'learning_rate'),
    ('learning_rate_text', '--method=sgd --layers=20,20 --learning_rate=x',
     'learning_rate'),
    ('sgd_with_grid', '--method=sgd --layers=20,20 --robustness=0,0.5', 'grid'),
    ('flip_prob_above_one', '--method=flip --flip_prob=1.5', 'flip_prob'),
    ('flip_prob_text', '--method=flip --flip_prob=x', 'flip_prob'),
    ('flip_prob_list_with_nan', '--method=flip --flip_prob=0.5,nan', 'flip_prob'),
    ('flip_prob_with_ours', '--flip_prob=0.1', 'flip_prob'),
    ('flip_with_learning_rate', '--method=flip --learning_rate=0.1', 'flip_prob'),
    ('nu_above_one', '--method=bep --nu=1.5', 'nu'),
    ('nu_text', '--method=bep --nu=x', 'nu'),
    ('nu_list_with_negative', '--method=bep --nu=0.1,-0.1', 'nu'),
    ('nu_with_ours', '--nu=0.1', 'nu'),
    ('bep_patience_negative', '--method=bep --bep_patience=-1', 'bep_patience'),
    ('bep_patience_with_ours', '--bep_patience=2', 'bep_patience'),
    ('flip_k_zero', '--method=flip_topk --flip_k=0', 'flip_k'),
    ('flip_k_text', '--method=flip_topk --flip_k=x', 'flip_k'),
    ('flip_k_with_ours', '--flip_k=2', 'flip_k'),
    ('flip_anneal_negative', '--method=flip_anneal --flip_anneal=-1', 'flip_anneal'),
    ('flip_anneal_with_topk', '--method=flip_topk --flip_anneal=2', 'flip_anneal'),
    ('flip_topk_batch_too_large', '--method=flip_topk --batch_size=70000', 'batch_size'),
    ('bep_robustness_above_two', '--method=bep --robustness=3', 'robustness'),
    ('sgd_with_train_classifiers', '--method=sgd --layers=20,20 --train_classifiers',
     'train_classifiers'),
    ('conv_without_blocks', '--method=conv', 'conv'),
    ('conv_block_text', '--method=conv --conv=8:x', 'conv'),
    ('conv_block_too_large', '--method=conv --conv=8:9', 'does not fit'),
    ('conv_on_prototypes', '--method=conv --conv=8:3 --dataset=prototypes',
     'image shape'),
    ('conv_with_ours', '--conv=8:3:2', 'conv'),
    ('conv_select_unknown', '--method=conv --conv=8:3:2 --conv_select=best',
     'conv_select'),
    ('conv_margin_negative', '--method=conv --conv=8:3:2 --conv_margin=-1',
     'conv_margin'),
    ('conv_regions_too_many', '--method=conv --conv=8:3:2 --conv_regions=9',
     'conv_regions'),
    ('freeze_conv_with_ours', '--freeze_conv', 'freeze_conv'),
    ('conv_group_size_not_a_divisor', '--method=conv --conv=8:3:2 --group_size=3,5',
     'group_size'),
    ('cp_r_bad_blocks', '--method=cp_r --layers=330-31', 'layers'),
    ('train_classifiers_value', '--train_classifiers=maybe', 'train_classifiers'),
    ('diagnostics_value', '--diagnostics=2', 'diagnostics'),
    ('smoke_value', '--smoke=maybe', 'smoke'),
    ('official_split_without_one', '--official_split', 'official'),
    ('workdir_is_a_file', '--workdir={file}', 'workdir'),
    ('workdir_under_a_file', '--workdir={file}/wd', 'workdir'),
    ('export_is_a_folder', '--export={dir}', 'export'),
    ('export_under_a_file', '--export={file}/x.bnn', 'export'),
    ('export_with_cp_r', '--method=cp_r --layers=330-30 --export={tmp}/x.bnn', 'export'),
    ('export_seed_without_export', '--export_seed=0', 'export_seed'),
    ('export_hidden_without_export', '--export_hidden', 'export_hidden'),
    ('export_seed_out_of_range', '--export={tmp}/x.bnn --export_seed=1', 'export_seed'),
    ('export_seed_negative', '--export={tmp}/x.bnn --export_seed=-1', 'export_seed'),
    ('download_value', '--download=maybe', 'download'),
    # issue 13 (sharding, checkpoint cadence)
    ('devices_zero', '--devices=0', 'devices'),
    ('devices_text', '--devices=x', 'devices'),
    ('devices_more_than_exist', '--devices=4096', 'devices'),
    ('runs_per_call_zero', '--runs_per_call=0', 'runs_per_call'),
    ('runs_per_call_negative', '--runs_per_call=-2', 'runs_per_call'),
    ('checkpoint_every_negative', '--checkpoint_every=-1', 'checkpoint_every'),
    ('checkpoint_every_text', '--checkpoint_every=x', 'checkpoint_every'),
    ('positional_argument', 'extra', 'unexpected'),
    ('unknown_flag', '--nope=1', 'nope'),
]

# Flags with no case, and why.
UNTESTED_FLAGS = {
    ('bnnjax.train', 'coordinator_address'): 'multi-process start-up: a bad value may '
                                             'wait on the network, not for CI',
    ('bnnjax.train', 'num_processes'): 'as coordinator_address',
    ('bnnjax.train', 'process_id'): 'as coordinator_address',
    ('experiments.run', 'data_dir'): 'no invalid value: settings whose data are not '
                                     'there are skipped and listed with the reason',
    ('bnnjax.train', 'compilation_cache'): 'no invalid value: a folder that cannot be '
                                           'made leaves the cache off with a warning '
                                           '(tests/test_train_cli.py)',
    ('experiments.run', 'compilation_cache'): 'as bnnjax.train',
    ('experiments.run', 'list'): 'a bool with no invalid value but a parse error, '
                                 'covered by smoke_value',
}

PREDICT_BASE = []
PREDICT_CASES = [
    ('model_not_given', '', '--model'),
    ('model_missing_file', '--model={tmp}/none.bnn', 'none.bnn'),
    ('model_is_a_folder', '--model={dir}', 'cannot read'),
    ('model_empty_file', '--model={empty}', 'empty'),
    ('model_truncated', '--model={trunc}', 'truncated'),
    ('model_not_an_export', '--model={junk}', 'not a bnnjax export'),
    ('model_flipped_byte', '--model={flip}', 'checksum'),
    ('split_unknown', '--model={good} --split=train', 'split'),
    ('inputs_unknown', '--model={good} --inputs=x', 'inputs'),
    ('inputs_raw_without_thresholds', '--model={good} --dataset=prototypes --inputs=raw '
     '--split=all', 'inputs'),
    ('inputs_raw_of_a_model_without_data', '--model={nodata} --dataset=digits '
     '--inputs=raw', 'no input thresholds'),
    ('network_negative', '--model={good} --network=-1', 'network'),
    ('network_too_large', '--model={good} --network=2', 'network'),
    ('network_text', '--model={good} --network=x', 'network'),
    ('batch_size_zero', '--model={good} --batch_size=0', 'batch_size'),
    ('batch_size_negative', '--model={good} --batch_size=-4', 'batch_size'),
    ('dataset_unknown', '--model={good} --dataset=nope', 'dataset'),
    ('dataset_wrong_width', '--model={good} --dataset=prototypes --split=all', 'inputs'),
    ('dataset_other_pool_for_test_split', '--model={good} --dataset=breast_cancer',
     'expects 64 inputs'),
    ('dataset_missing_data', '--model={good} --dataset=fashion_mnist '
     '--data_dir={tmp}/nodata', 'fashion_mnist'),
    ('c_header_needs_one_network', '--model={good} --c_header={tmp}/h.h', 'network'),
    ('c_inputs_needs_one_network', '--model={good} --c_inputs={tmp}/in.bin', 'network'),
    ('c_header_is_a_folder', '--model={good} --network=0 --c_header={dir}', 'c_header'),
    ('c_header_under_a_file', '--model={good} --network=0 --c_header={file}/h.h',
     'c_header'),
    ('c_inputs_under_a_file', '--model={one} --c_inputs={file}/in.bin', 'c_inputs'),
    ('predictions_is_a_folder', '--model={good} --predictions={dir}', 'predictions'),
    ('predictions_under_a_file', '--model={good} --predictions={file}/p.csv',
     'predictions'),
    ('predictions_bad_after_c_header', '--model={good} --network=0 --c_header={tmp}/h.h '
     '--predictions={file}/p.csv', 'predictions'),
    ('positional_argument', '--model={good} extra', 'unexpected'),
    ('unknown_flag', '--model={good} --nope=1', 'nope'),
]

EXPERIMENTS_BASE = ['--workdir={tmp}/wd']
EXPERIMENTS_CASES = [
    ('experiment_not_given', '', '--experiment'),
    ('experiment_unknown', '--experiment=nope', 'nope'),
    ('num_seeds_zero', '--experiment=depth --smoke --num_seeds=0', 'num_seeds'),
    ('num_seeds_negative', '--experiment=depth --smoke --num_seeds=-1', 'num_seeds'),
    ('num_seeds_text', '--experiment=depth --smoke --num_seeds=x', 'num_seeds'),
    ('dataset_not_in_experiment', '--experiment=depth --smoke --dataset=digits',
     'dataset'),
    ('dataset_unknown', '--experiment=depth --smoke --dataset=nope', 'dataset'),
    ('smoke_value', '--experiment=depth --smoke=maybe', 'smoke'),
    ('workdir_is_a_file', '--experiment=depth --smoke --dataset=mnist5k '
     '--workdir={file}', 'workdir'),
    ('workdir_under_a_file', '--experiment=depth --smoke --dataset=mnist5k '
     '--workdir={file}/wd', 'workdir'),
    ('devices_zero', '--experiment=depth --smoke --devices=0', 'devices'),
    ('devices_text', '--experiment=depth --smoke --devices=x', 'devices'),
    ('runs_per_call_zero', '--experiment=depth --smoke --runs_per_call=0',
     'runs_per_call'),
    ('checkpoint_every_negative', '--experiment=depth --smoke --checkpoint_every=-1',
     'checkpoint_every'),
    ('positional_argument', '--experiment=depth extra', 'unexpected'),
    ('unknown_flag', '--experiment=depth --nope=1', 'nope'),
]

TABLES = {'bnnjax.train': (TRAIN_BASE, TRAIN_CASES),
          'bnnjax.predict': (PREDICT_BASE, PREDICT_CASES),
          'experiments.run': (EXPERIMENTS_BASE, EXPERIMENTS_CASES)}

def _expand(args, paths):
  return [a.format(**paths) for a in args]


def _case_args(module, case_args, paths):
  base, _ = TABLES[module]
  return _expand(list(base) + case_args.split(), paths)


# ----------------------------------------------------------------------------------
# The worker (one fresh process per entry point)
# ----------------------------------------------------------------------------------


def _make_fixtures(folder):
  """Files the cases name, outside each case's folder: {file}, {dir}, good and damaged
  exports."""
  import jax
  from bnnjax import data as data_lib
  from bnnjax import export
  from bnnjax import model
  from bnnjax.config import Config
  ds = data_lib.load('digits', smoke=True)
  config = Config(layers=(8,), group_size=4, num_inputs=64, num_classes=10,
                  num_test=ds.num_test, num_epochs=1)
  states = [model.init(jax.random.PRNGKey(k), config) for k in range(2)]
  stacked = jax.tree_util.tree_map(lambda *a: np.stack(a), *states)
  paths = {k: os.path.join(folder, v) for k, v in dict(
      good='good.bnn', one='one.bnn', empty='empty.bnn', trunc='trunc.bnn',
      junk='junk.bnn', flip='flip.bnn', file='a_file.txt', dir='a_dir',
      nodata='nodata.bnn').items()}
  export.save(paths['good'], config, stacked, [42, 43], dataset=ds, smoke=True)
  export.save(paths['one'], config, states[0], [42], dataset=ds, smoke=True)
  export.save(paths['nodata'], config, states[0], [42])  # no data set: no thresholds
  blob = open(paths['good'], 'rb').read()
  open(paths['empty'], 'wb').close()
  open(paths['trunc'], 'wb').write(blob[:len(blob) // 2])
  open(paths['junk'], 'wb').write(b'PK\x03\x04 this is a zip, not a network')
  flipped = bytearray(blob)
  flipped[len(blob) // 2] ^= 0x10
  open(paths['flip'], 'wb').write(bytes(flipped))
  open(paths['file'], 'w').write('a file, not a folder\n')
  os.makedirs(paths['dir'])
  return paths


def _run_case(module_name, main, argv):
  """(exit status, stdout, stderr, programs compiled) of one in-process main call,
  as absl.app.run would run it."""
  from absl import flags
  flags.FLAGS.unparse_flags()
  out, err = io.StringIO(), io.StringIO()
  status = 0
  with ru.CompileWatch() as watch, contextlib.redirect_stdout(out), \
      contextlib.redirect_stderr(err):
    try:
      try:
        args = flags.FLAGS([module_name] + argv)
      except flags.Error as e:  # what absl.app.run prints for a flag it cannot parse
        print(f'FATAL Flags parsing error: {e}', file=sys.stderr)
        print('Pass --helpshort or --helpfull to see help on flags.', file=sys.stderr)
        status = 1
      else:
        main(args)
    except SystemExit as e:
      status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # a crash: the traceback is the outcome
      traceback.print_exc(file=err)
      status = 'crash'
  return status, out.getvalue(), err.getvalue(), watch.programs


def worker(module_name: str, case_ids, out_path: str) -> None:
  import importlib
  from bnnjax import run as run_lib
  run_lib.use_cpu_cores()
  base, cases = TABLES[module_name]
  wanted = [c for c in cases if c[0] in case_ids] if case_ids else cases
  module = importlib.import_module(module_name)
  fixtures_dir = tempfile.mkdtemp(prefix='bnnjax-bad-fixtures-')
  paths = _make_fixtures(fixtures_dir)
  results = {}
  cwd = os.getcwd()
  for case_id, case_args, _ in wanted:
    tmp = tempfile.mkdtemp(prefix=f'bnnjax-bad-{case_id}-')
    p = dict(paths, tmp=tmp)
    argv = _case_args(module_name, case_args, p)
    before = ru.tree_snapshot(fixtures_dir)
    os.chdir(tmp)
    try:
      status, out, err, programs = _run_case(module_name, module.main, argv)
    finally:
      os.chdir(cwd)
    results[case_id] = dict(status=status, stdout=out[-2000:], stderr=err[-4000:],
                            programs=programs, argv=argv,
                            written=sorted(ru.tree_snapshot(tmp)),
                            fixtures_changed=ru.tree_snapshot(fixtures_dir) != before)
    shutil.rmtree(tmp, ignore_errors=True)
  shutil.rmtree(fixtures_dir, ignore_errors=True)
  with open(out_path, 'w') as f:
    json.dump(results, f)


def start_worker(module_name, tmp_dir, case_ids=()):
  """Starts the worker process of one entry point; `finish_worker` collects it."""
  out = os.path.join(str(tmp_dir), f'{module_name}.json')
  env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
  proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), module_name,
                           ','.join(case_ids), out], cwd=str(tmp_dir), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  return proc, out


def finish_worker(started):
  proc, out = started
  _, err = proc.communicate(timeout=900)
  assert proc.returncode == 0, err[-4000:]
  with open(out) as f:
    return json.load(f)


def check_outcome(result, match):
  """[] when the case gave the promised outcome, else what was wrong."""
  problems = []
  err = result['stderr']
  lines = [l for l in err.splitlines()
           if l.startswith('error:') or l.startswith('FATAL Flags parsing error:')]
  if result['status'] in (0, 'crash'):
    problems.append(f'exit status {result["status"]}')
  if 'Traceback' in err:
    problems.append('a traceback')
  if len(lines) != 1:
    problems.append(f'{len(lines)} error lines')
  elif match.lower() not in lines[0].lower():
    problems.append(f'the error line does not name {match!r}')
  if result['programs']:
    problems.append(f'compiled {result["programs"]}')
  if result['written']:
    problems.append(f'wrote {result["written"]}')
  if result['fixtures_changed']:
    problems.append('changed a file it was given')
  return problems


def cli_params():
  return [pytest.param(module, case_id, match, id=f'{module}:{case_id}')
          for module, (_, cases) in TABLES.items() for case_id, _, match in cases]


def cli_results_for(folder):
  """{module: {case id: result}} of every case; the entry points' workers run side by
  side."""
  started = {module: start_worker(module, folder, [c[0] for c in cases])
             for module, (_, cases) in TABLES.items()}
  return {module: finish_worker(s) for module, s in started.items()}


@pytest.fixture(scope='module')
def cli_results(tmp_path_factory):
  return cli_results_for(tmp_path_factory.mktemp('cli'))


@pytest.mark.slow
@pytest.mark.parametrize('module,case_id,match', cli_params())
def test_cli_bad_flag_gives_one_error_and_writes_nothing(module, case_id, match,
                                                         cli_results):
  result = cli_results[module][case_id]
  problems = check_outcome(result, match)
  ru.record('bad_input', f'{module} {case_id}',
            f'{THIS}::test_cli_bad_flag_gives_one_error_and_writes_nothing',
            not problems, entry=module, argv=result['argv'], problems=problems,
            error=next((l for l in result['stderr'].splitlines()
                        if l.startswith(('error:', 'FATAL'))), ''))
  assert not problems, (problems, result)


def test_every_flag_of_every_entry_point_is_in_the_table():
  """A new flag without a bad-input case fails here."""
  named = {'bnnjax.train': 'bnnjax/train.py', 'bnnjax.predict': 'bnnjax/predict.py',
           'experiments.run': 'experiments/run.py'}
  import re
  for module, path in named.items():
    src = open(os.path.join(ROOT, path)).read()
    defined = set(re.findall(r"DEFINE_\w+\(\s*'(\w+)'", src))
    base, cases = TABLES[module]
    text = ' '.join(base) + ' ' + ' '.join(c[1] for c in cases)
    used = set(re.findall(r'--(\w+)', text))
    exempt = {f for m, f in UNTESTED_FLAGS if m == module}
    assert defined - used - exempt == set(), (module, defined - used - exempt)
  # setup.cfg lists no other console script than these, and bnnjax.selftest (argparse;
  # its bad arguments are tested in tests/test_selftest.py).
  cfg = open(os.path.join(ROOT, 'setup.cfg')).read()
  scripts = re.findall(r'^\s*([\w-]+) = ([\w.]+):\w+', cfg, re.M)
  assert {m for _, m in scripts} <= set(named) | {'bnnjax.selftest'}, scripts


# ----------------------------------------------------------------------------------
# Public functions
# ----------------------------------------------------------------------------------


def _digits():
  from bnnjax import data as data_lib
  return data_lib.load('digits', smoke=True)


def _config(**kw):
  from bnnjax.config import Config
  base = dict(layers=(8,), group_size=4, num_inputs=64, num_classes=10, num_test=36,
              num_epochs=1)
  base.update(kw)
  return Config(**base)


def _train(config_kw=None, params=None, keys=None, x=None, y=None):
  import bnnjax
  from bnnjax.config import HParams
  ds = _digits()
  cfg = _config(**(config_kw or {}))
  train = bnnjax.make_train(cfg)
  k = bnnjax.seed_keys(0, 1) if keys is None else keys
  data = bnnjax.Data(ds.x if x is None else x, ds.y if y is None else y)
  train(k, HParams() if params is None else params, data)


# Files a case creates as its input (not output): {path: snapshot at creation}.
_GIVEN = {}


def _given(path):
  """Registers a file or folder a case made as its input (then unchanged is fine)."""
  st = os.lstat(path)
  _GIVEN[path] = (st.st_size if not os.path.isdir(path) else -1, st.st_mtime_ns)
  return path


def _export_load(tmp, blob=None, name='m.bnn', make_dir=False):
  from bnnjax import export
  path = os.path.join(tmp, name)
  if make_dir:
    os.makedirs(path)
    _given(path)
  elif blob is not None:
    open(path, 'wb').write(blob)
    _given(path)
  return export.load(path)


def _good_blob():
  import jax
  from bnnjax import export
  from bnnjax import model
  cfg = _config()
  path = tempfile.mktemp(suffix='.bnn')
  export.save(path, cfg, model.init(jax.random.PRNGKey(0), cfg), [0])
  blob = open(path, 'rb').read()
  os.remove(path)
  return blob


def _predictor(batch_size=1024):
  import jax
  from bnnjax import export
  from bnnjax import model
  cfg = _config()
  path = tempfile.mktemp(suffix='.bnn')
  export.save(path, cfg, model.init(jax.random.PRNGKey(0), cfg), [0], dataset=_digits())
  exp = export.load(path)
  os.remove(path)
  return exp.predictor(0, batch_size=batch_size)


def _export_save(tmp, **kw):
  import jax
  from bnnjax import export
  from bnnjax import model
  cfg = _config()
  state = model.init(jax.random.PRNGKey(0), cfg)
  args = dict(path=os.path.join(tmp, 'out.bnn'), config=cfg, states=state, seeds=[0])
  args.update(kw)
  return export.save(args.pop('path'), args.pop('config'), args.pop('states'),
                     args.pop('seeds'), **args)


def _from_signs(**kw):
  from bnnjax import data as data_lib
  rng = np.random.default_rng(0)
  args = dict(name='t', x_pm1=np.where(rng.random((20, 10)) < 0.5, 1, -1),
              y=np.arange(20) % 3, num_classes=3, num_test=5)
  args.update(kw)
  return data_lib.from_signs(**args)


def _from_packed(**kw):
  from bnnjax import data as data_lib
  args = dict(name='t', x_packed=np.zeros((20, 1), np.uint32), y=np.arange(20) % 3,
              num_features=10, num_classes=3, num_test=5)
  args.update(kw)
  return data_lib.from_packed(**args)


def _hp(**kw):
  from bnnjax.config import HParams, validate_hparams
  validate_hparams(HParams(**kw))


def _keys(shape, dtype=np.uint32):
  return np.zeros(shape, dtype)


def _x_digits(fn):
  return fn(np.asarray(_digits().x))


def _y_digits(fn):
  return fn(np.asarray(_digits().y))


# (case id, function(tmp) that must raise, exception type, text the message contains)
API_CASES = [
    # Config
    ('Config.layers_empty', lambda t: _config(layers=(), group_size=()), ValueError,
     'layers'),
    ('Config.layers_zero', lambda t: _config(layers=(0,)), ValueError, 'layers'),
    ('Config.layers_negative', lambda t: _config(layers=(-8,)), ValueError, 'layers'),
    ('Config.layers_fraction', lambda t: _config(layers=(8.5,)), ValueError, 'layers'),
    ('Config.layers_text', lambda t: _config(layers=('a',)), ValueError, 'layers'),
    ('Config.group_size_not_divisor', lambda t: _config(group_size=3), ValueError,
     'group_size'),
    ('Config.group_size_count', lambda t: _config(group_size=(4, 4)), ValueError,
     'group_size'),
    ('Config.num_inputs_zero', lambda t: _config(num_inputs=0), ValueError, 'num_inputs'),
    ('Config.num_inputs_fraction', lambda t: _config(num_inputs=64.5), ValueError,
     'num_inputs'),
    ('Config.num_inputs_nan', lambda t: _config(num_inputs=math.nan), ValueError,
     'num_inputs'),
    ('Config.num_classes_one', lambda t: _config(num_classes=1), ValueError,
     'num_classes'),
    ('Config.batch_size_zero', lambda t: _config(batch_size=0), ValueError, 'batch_size'),
    ('Config.batch_size_fraction', lambda t: _config(batch_size=2.5), ValueError,
     'batch_size'),
    ('Config.batch_size_too_large', lambda t: _config(batch_size=2**20 + 1), ValueError,
     'batch_size'),
    ('Config.num_epochs_zero', lambda t: _config(num_epochs=0), ValueError, 'epochs'),
    ('Config.num_test_zero', lambda t: _config(num_test=0), ValueError, 'num_test'),
    ('Config.semantics_unknown', lambda t: _config(semantics='ternary'), ValueError,
     'semantics'),
    ('Config.backend_unknown', lambda t: _config(backend='gpu'), ValueError, 'backend'),
    ('Config.head_unknown', lambda t: _config(head='softmax'), ValueError, 'head'),
    ('Config.head_sign_ten_classes', lambda t: _config(head='sign'), ValueError, 'head'),
    ('Config.seed_chunk_zero', lambda t: _config(seed_chunk=0), ValueError, 'seed_chunk'),
    ('Config.eval_batch_size_zero', lambda t: _config(eval_batch_size=0), ValueError,
     'eval_batch_size'),
    ('Config.word_chunk_zero', lambda t: _config(word_chunk=0), ValueError, 'word_chunk'),
    ('Config.train_classifiers_not_bool', lambda t: _config(train_classifiers='yes'),
     ValueError, 'train_classifiers'),
    # HParams (validate_hparams, and train() before compiling)
    ('HParams.robustness_negative', lambda t: _hp(robustness=-1.0), ValueError,
     'robustness'),
    ('HParams.robustness_nan', lambda t: _hp(robustness=math.nan), ValueError,
     'robustness'),
    ('HParams.robustness_inf', lambda t: _hp(robustness=math.inf), ValueError,
     'robustness'),
    ('HParams.robustness_text', lambda t: _hp(robustness='a'), ValueError, 'robustness'),
    ('HParams.p_reinforce_above_one', lambda t: _hp(p_reinforce=1.5), ValueError,
     'p_reinforce'),
    ('HParams.p_reinforce_nan', lambda t: _hp(p_reinforce=math.nan), ValueError,
     'p_reinforce'),
    ('HParams.p_reinforce_grid_with_nan', lambda t: _hp(p_reinforce=np.array([0.5,
                                                                              np.nan])),
     ValueError, 'p_reinforce'),
    ('HParams.weight_clip_negative', lambda t: _hp(weight_clip=-1), ValueError,
     'weight_clip'),
    ('HParams.weight_clip_fraction', lambda t: _hp(weight_clip=1.5), ValueError,
     'weight_clip'),
    ('HParams.weight_clip_nan', lambda t: _hp(weight_clip=math.nan), ValueError,
     'weight_clip'),
    ('HParams.weight_clip_too_large', lambda t: _hp(weight_clip=2**31), ValueError,
     'weight_clip'),
    # train() = make_train(config)(keys, params, data)
    ('train.params_nan', lambda t: _train(params=_hparams(robustness=math.nan)),
     ValueError, 'robustness'),
    ('train.params_grid_2d', lambda t: _train(params=_hparams(
        robustness=np.zeros((2, 2)))), ValueError, 'grid'),
    ('train.params_grid_lengths_differ', lambda t: _train(params=_hparams(
        robustness=np.zeros(2), p_reinforce=np.full(3, 0.5))), ValueError, 'grid'),
    ('train.keys_wrong_shape', lambda t: _train(keys=_keys((2, 3))), ValueError, 'key'),
    ('train.keys_float', lambda t: _train(keys=_keys((1, 2), np.float32) + 0.5),
     ValueError, 'key'),
    ('train.x_float_dtype', lambda t: _train(x=_x_digits(lambda x: x.astype(
        np.float32))), ValueError, 'uint32'),
    ('train.x_wrong_width', lambda t: _train(x=_x_digits(lambda x: np.concatenate(
        [x, x], 1))), ValueError, 'words'),
    ('train.x_1d', lambda t: _train(x=_x_digits(lambda x: x[:, 0])), ValueError,
     'uint32'),
    ('train.y_out_of_range', lambda t: _train(y=_y_digits(lambda y: y + 1)), ValueError,
     'labels'),
    ('train.y_negative', lambda t: _train(y=_y_digits(lambda y: y - 1)), ValueError,
     'labels'),
    ('train.y_float', lambda t: _train(y=_y_digits(lambda y: y.astype(np.float32) + 0.5)),
     ValueError, 'labels'),
    ('train.y_nan', lambda t: _train(y=_y_digits(lambda y: np.full(y.shape, np.nan))),
     ValueError, 'labels'),
    ('train.y_wrong_length', lambda t: _train(y=_y_digits(lambda y: y[:-1])), ValueError,
     'data.y'),
    ('train.num_test_too_large', lambda t: _train(config_kw=dict(num_test=180)),
     ValueError, 'num_test'),
    ('train.checkpoint_every_negative', lambda t: _train_ckpt(t, -1), ValueError,
     'checkpoint_every'),
    # data
    ('data.load_unknown', lambda t: _load('nope'), ValueError, 'nope'),
    ('data.load_unknown_argument', lambda t: _load('digits', smok=True), ValueError,
     'smok'),
    ('data.load_missing_files', lambda t: _load('fashion_mnist', data_dir=os.path.join(
        t, 'none')), FileNotFoundError, 'fashion_mnist'),
    ('data.load_no_official_split', lambda t: _load('digits', official_split=True),
     ValueError, 'official'),
    ('data.from_signs_not_pm1', lambda t: _from_signs(x_pm1=np.zeros((20, 10))),
     ValueError, '±1'),
    ('data.from_signs_nan', lambda t: _from_signs(x_pm1=np.full((20, 10), np.nan)),
     ValueError, '±1'),
    ('data.from_signs_empty', lambda t: _from_signs(x_pm1=np.zeros((0, 10))), ValueError,
     'empty'),
    ('data.from_signs_1d', lambda t: _from_signs(x_pm1=np.ones(10)), ValueError, '2-D'),
    ('data.labels_out_of_range', lambda t: _from_signs(y=np.arange(20)), ValueError,
     'labels'),
    ('data.labels_negative', lambda t: _from_signs(y=-(np.arange(20) % 3)), ValueError,
     'labels'),
    ('data.labels_float', lambda t: _from_signs(y=np.zeros(20) + 0.5), ValueError,
     'labels'),
    ('data.labels_wrong_length', lambda t: _from_signs(y=np.zeros(19, int)), ValueError,
     'labels'),
    ('data.num_classes_one', lambda t: _from_signs(y=np.zeros(20, int), num_classes=1),
     ValueError, 'num_classes'),
    ('data.num_test_zero', lambda t: _from_signs(num_test=0), ValueError, 'num_test'),
    ('data.num_test_all', lambda t: _from_signs(num_test=20), ValueError, 'num_test'),
    ('data.packed_wrong_dtype', lambda t: _from_packed(x_packed=np.zeros((20, 1),
                                                                         np.int64)),
     ValueError, 'uint32'),
    ('data.packed_wrong_width', lambda t: _from_packed(num_features=40), ValueError,
     'uint32'),
    ('data.packed_padding_bits', lambda t: _from_packed(x_packed=np.full((20, 1), 2**31,
                                                                         np.uint32)),
     ValueError, 'padding'),
    ('data.x_float_wrong_rows', lambda t: _from_signs(x_float=np.zeros((19, 10),
                                                                       np.float32)),
     ValueError, 'x_float'),
    ('data.x_float_integer', lambda t: _from_signs(x_float=np.zeros((20, 10), int)),
     ValueError, 'x_float'),
    # export.load
    ('export.load_missing', lambda t: _export_load(t), ValueError, 'cannot read'),
    ('export.load_folder', lambda t: _export_load(t, make_dir=True), ValueError,
     'cannot read'),
    ('export.load_unreadable', lambda t: _unreadable(t), ValueError, 'cannot read'),
    ('export.load_empty', lambda t: _export_load(t, b''), ValueError, 'empty'),
    ('export.load_truncated', lambda t: _export_load(t, _good_blob()[:-1]), ValueError,
     'truncated'),
    ('export.load_trailing_bytes', lambda t: _export_load(t, _good_blob() + b'\0'),
     ValueError, 'trailing'),
    ('export.load_not_an_export', lambda t: _export_load(t, b'{"format": 1}'),
     ValueError, 'not a bnnjax export'),
    ('export.load_flipped_byte', lambda t: _export_load(t, _flip(_good_blob(), 40)),
     ValueError, 'checksum'),
    # export.save
    ('export.save_seed_count', lambda t: _export_save(t, seeds=[0, 1]), ValueError,
     'seeds'),
    ('export.save_wrong_config', lambda t: _export_save(t, config=_config(layers=(12,))),
     ValueError, 'config'),
    ('export.save_into_a_file', lambda t: _export_save(t, path=_a_file(t) + '/x.bnn'),
     OSError, 'a_file'),
    ('export.save_to_a_folder', lambda t: _export_save(t, path=_a_dir(t)), OSError,
     'a_dir'),
    ('export.save_nan_test_acc', lambda t: _export_save(t, test_acc=[math.nan]),
     ValueError, 'test_acc'),
    ('export.save_binary_with_zero', lambda t: _export_save(
        t, config=_config(semantics='binary')), ValueError, 'binary'),
    # Predictor (bnnjax.predict's engine)
    ('predict.batch_size_zero', lambda t: _predictor(batch_size=0), ValueError,
     'batch_size'),
    ('predict.packed_float', lambda t: _predictor().predict_packed(np.zeros((3, 2),
                                                                            np.float32)),
     ValueError, 'uint32'),
    ('predict.packed_wrong_width', lambda t: _predictor().predict_packed(np.zeros(
        (3, 3), np.uint32)), ValueError, 'uint32'),
    ('predict.packed_1d', lambda t: _predictor().predict_packed(np.zeros(2, np.uint32)),
     ValueError, 'uint32'),
    ('predict.num_inputs_mismatch', lambda t: _predictor().predict_packed(np.zeros(
        (3, 2), np.uint32), 63), ValueError, 'features'),
    ('predict.raw_nan', lambda t: _predictor().predict_raw(np.full((3, 64), np.nan)),
     ValueError, 'finite'),
    ('predict.raw_wrong_width', lambda t: _predictor().predict_raw(np.zeros((3, 63))),
     ValueError, 'shape'),
    ('predict.raw_text', lambda t: _predictor().predict_raw(np.full((3, 64), 'a')),
     ValueError, 'number'),
]


def _hparams(**kw):
  from bnnjax.config import HParams
  return HParams(**kw)


def _train_ckpt(tmp, every):
  import bnnjax
  from bnnjax.config import HParams
  ds = _digits()
  train = bnnjax.make_train(_config())
  train(bnnjax.seed_keys(0, 1), HParams(), bnnjax.Data(ds.x, ds.y),
        checkpoint_path=os.path.join(tmp, 'ckpt.npz'), checkpoint_every=every)


def _load(name, **kw):
  from bnnjax import data as data_lib
  return data_lib.load(name, **kw)


def _flip(blob, i):
  b = bytearray(blob)
  b[i] ^= 0x01
  return bytes(b)


def _a_file(tmp):
  path = os.path.join(tmp, 'a_file')
  open(path, 'w').write('x')
  return _given(path)


def _a_dir(tmp):
  path = os.path.join(tmp, 'a_dir')
  os.makedirs(path)
  return _given(path)


def _unreadable(tmp):
  """An export the process may not read (PermissionError from open; root ignores
  chmod, so open is patched for that one path)."""
  import builtins
  from bnnjax import export
  path = os.path.join(tmp, 'locked.bnn')
  open(path, 'wb').write(_good_blob())
  _given(path)
  real_open = builtins.open

  def fake_open(p, *a, **k):
    if os.fspath(p) == path:
      raise PermissionError(13, 'Permission denied', path)
    return real_open(p, *a, **k)

  builtins.open = fake_open
  try:
    return export.load(path)
  finally:
    builtins.open = real_open


@pytest.mark.parametrize('case_id,fn,exc,match', [pytest.param(*c, id=c[0])
                                                 for c in API_CASES])
def test_public_function_bad_argument_raises_one_clear_error(case_id, fn, exc, match,
                                                             tmp_path):
  outcome = api_outcome(fn, exc, match, str(tmp_path))
  ru.record('bad_input', f'api {case_id}',
            f'{THIS}::test_public_function_bad_argument_raises_one_clear_error',
            not outcome['problems'], entry='api', **outcome)
  assert not outcome['problems'], outcome


def api_outcome(fn, exc, match, tmp):
  """{'problems': [...], 'error': message} of one public-function case."""
  before = ru.tree_snapshot(tmp)
  problems, message = [], ''
  with ru.CompileWatch() as watch:
    try:
      fn(tmp)
    except exc as e:
      message = str(e)
      if match not in message:
        problems.append(f'the message does not name {match!r}')
      if '\n' in message.strip():
        problems.append('a message of several lines')
    except Exception as e:  # noqa: BLE001 -- the wrong kind of error is the finding
      message = f'{type(e).__name__}: {e}'
      problems.append(f'raised {type(e).__name__}, not {exc.__name__}')
    else:
      problems.append('no error')
  programs = watch.programs
  if programs:
    problems.append(f'compiled {programs}')
  after = ru.tree_snapshot(tmp)
  given = {os.path.relpath(p, tmp): v for p, v in _GIVEN.items()
           if p.startswith(tmp + os.sep)}
  written = sorted(k for k, v in after.items()
                   if before.get(k, given.get(k)) != v)
  _GIVEN.clear()
  if written:
    problems.append(f'wrote {written}')
  return {'problems': problems, 'error': message[:300]}


if __name__ == '__main__':
  worker(sys.argv[1], [c for c in sys.argv[2].split(',') if c], sys.argv[3])
