"""Shared helpers of the reliability tests (test_bad_inputs, test_faults,
test_determinism) and scripts/reliability_report.py.

* `FULL`: the report script sets BNNJAX_RELIABILITY_FULL=1 for the full fault counts;
  CI runs the reduced counts (`count(ci, full)`).
* `record(...)`: when BNNJAX_RELIABILITY_LOG names a file, every case tried and every
  fault injected appends one JSON line (suite, case, the test that checks it, whether
  the outcome was the promised one, and what happened), so docs/reliability.md is built
  from the test run itself.
* `CompileWatch`: counts the XLA compiles of programs (not of single jnp primitives)
  while it is active, to check that a bad input is refused before anything compiles.
"""

import json
import os
import signal
import subprocess
import time

FULL = os.environ.get('BNNJAX_RELIABILITY_FULL') == '1'
LOG = os.environ.get('BNNJAX_RELIABILITY_LOG')
SEED = int(os.environ.get('BNNJAX_RELIABILITY_SEED', '0'))


def count(ci: int, full: int) -> int:
  """The number of faults to inject: `full` under the report script, else `ci`."""
  return full if FULL else ci


def record(suite: str, case: str, test: str, ok: bool, **info) -> None:
  """Appends one outcome to the reliability log (no-op without BNNJAX_RELIABILITY_LOG).

  suite: 'bad_input', 'fault', 'determinism'. case: what was tried. test: the pytest
  node that checks it. ok: the promised outcome was observed. info: JSON-able details."""
  if not LOG:
    return
  line = json.dumps(dict(suite=suite, case=case, test=test, ok=bool(ok),
                         time=round(time.time(), 3), **info), default=str)
  with open(LOG, 'a') as f:
    f.write(line + '\n')


# A compile of a program of bnnjax (not of a single jnp primitive such as a dtype
# conversion): its name holds one of these (the engine's init/epoch functions under jit or
# pmap, export's forward pass, the models' train/step/evaluate/predict functions).
PROGRAM_NAME_PARTS = ('init_', 'epoch_', 'pmap', 'forward', 'train', 'step', 'evaluate',
                      'predict')


class CompileWatch:
  """`with CompileWatch() as w: ...` then `w.programs`: names of the programs lowered
  for XLA inside the block (compiled, or read from the persistent compilation cache;
  primitive-sized programs are ignored)."""
  _installed = False
  _active = []

  def __init__(self):
    self.programs = []

  @classmethod
  def _install(cls):
    if cls._installed:
      return
    import jax

    def listener(event, duration, **kwargs):
      if not event.endswith('jaxpr_to_mlir_module_duration'):
        return
      name = str(kwargs.get('fun_name', '?'))
      if not any(part in name for part in PROGRAM_NAME_PARTS):
        return
      for w in cls._active:
        w.programs.append(name)

    jax.monitoring.register_event_duration_secs_listener(listener)
    cls._installed = True

  def __enter__(self):
    self._install()
    self._active.append(self)
    return self

  def __exit__(self, *exc):
    self._active.remove(self)
    return False


def tree_snapshot(folder: str):
  """{relative path: (size, mtime_ns)} of every file and folder under `folder`."""
  out = {}
  if not os.path.exists(folder):
    return out
  for root, dirs, files in os.walk(folder):
    for name in dirs + files:
      p = os.path.join(root, name)
      st = os.lstat(p)
      out[os.path.relpath(p, folder)] = (st.st_size if name in files else -1,
                                         st.st_mtime_ns)
  return out


# ----------------------------------------------------------------------------------
# Command-line runs in fresh processes, and what they wrote
# ----------------------------------------------------------------------------------

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs `python -m <module> args...` with N CPU devices: the backend is started with
# jax_num_cpu_devices = N before the entry point runs, so the entry point cannot change
# it (use_cpu_cores and --devices=all then see N devices).
_WITH_DEVICES = ('import sys, runpy, jax; '
                 'jax.config.update("jax_num_cpu_devices", int(sys.argv[1])); '
                 'jax.devices(); sys.argv = sys.argv[2:]; '
                 'runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)')


def command(module: str, args, devices=None):
  """argv of a fresh Python process running the entry point `module`."""
  import sys
  if devices is None:
    return [sys.executable, '-m', module] + list(args)
  return [sys.executable, '-c', _WITH_DEVICES, str(devices), module] + list(args)


def env(optimized: bool = False):
  """The children's environment; optimized: compile with every XLA optimization, as
  users' runs do (the suite turns most of them off; tests/conftest.py)."""
  out = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
  if optimized:
    out['JAX_DISABLE_MOST_OPTIMIZATIONS'] = '0'
  return out


def run_cli(module: str, args, cwd, devices=None, timeout=600, optimized=False):
  """subprocess.CompletedProcess of one entry-point run to its end."""
  import subprocess
  return subprocess.run(command(module, args, devices), cwd=str(cwd),
                        env=env(optimized), capture_output=True, text=True,
                        timeout=timeout)


# Columns that legitimately differ between two runs of the same command.
TIME_COLUMN_PARTS = ('wall', 'seconds', 'time')


def _csv_digest(path: str) -> str:
  import csv
  import hashlib
  with open(path, newline='') as f:
    rows = list(csv.DictReader(f))
  h = hashlib.sha256()
  for r in rows:
    keep = sorted((k, v) for k, v in r.items()
                  if not any(p in k for p in TIME_COLUMN_PARTS))
    h.update(repr(keep).encode())
  return f'{len(rows)} rows {h.hexdigest()[:16]}'


def _npz_digest(path: str) -> str:
  import hashlib
  import numpy as np
  h = hashlib.sha256()
  with np.load(path) as z:
    for k in sorted(z.files):
      a = z[k]
      h.update(k.encode() + str(a.dtype).encode() + repr(a.shape).encode())
      h.update(np.ascontiguousarray(a).tobytes())
  return h.hexdigest()[:16]


def run_digest(workdir: str, export_path=None):
  """{file: hash} of a bnnjax.train workdir's results, wall-time columns left out:
  results.csv rows, summary.json's per-seed final accuracies, diagnostics.npz arrays,
  and the exported file's bytes (the final binary and integer hidden weights)."""
  import hashlib
  out = {'results.csv': _csv_digest(os.path.join(workdir, 'results.csv'))}
  with open(os.path.join(workdir, 'summary.json')) as f:
    s = json.load(f)
  out['summary.json'] = repr([(p.get('test_acc_per_seed'), p.get('train_acc_mean'))
                              for p in s['points']] + [s['num_seeds'], s['num_epochs']])
  diag = os.path.join(workdir, 'diagnostics.npz')
  if os.path.exists(diag):
    out['diagnostics.npz'] = _npz_digest(diag)
  if export_path:
    with open(export_path, 'rb') as f:
      out['export'] = hashlib.sha256(f.read()).hexdigest()[:16]
  return out


def sweep_digest(workdir: str, experiment: str):
  """{file: hash} of an experiment's outputs: its results.csv and every setting's
  rows (wall-time columns left out), and the table."""
  out = {'results.csv': _csv_digest(os.path.join(workdir, experiment, 'results.csv'))}
  settings = os.path.join(workdir, 'settings')
  for name in sorted(os.listdir(settings)):
    if name.endswith('.csv'):
      out['settings/' + name] = _csv_digest(os.path.join(settings, name))
  with open(os.path.join(workdir, experiment, 'table.md')) as f:
    out['table.md'] = f.read()
  return out


def temp_litter(folder: str):
  """Temporary files of interrupted atomic writes ('.tmp-*') under `folder`."""
  return sorted(os.path.relpath(os.path.join(r, n), folder)
                for r, _, files in os.walk(folder) for n in files
                if n.startswith('.tmp-'))


def kill_at(module, args, cwd, rng, span, mode, optimized=False):
  """Starts the command, kills it with SIGKILL at a random moment, returns what was
  on disk then: mode 'time': uniform in [0.05, span] seconds after the start; 'line':
  after a random one of the progress lines (epoch or setting lines) plus up to 0.2 s."""
  log_path = os.path.join(str(cwd), f'killed-{time.time_ns()}.log')
  with open(log_path, 'w') as log:
    proc = subprocess.Popen(command(module, args), cwd=str(cwd), env=env(optimized),
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    t0 = time.time()
    if mode == 'time':
      deadline = t0 + rng.uniform(0.05, span)
      while time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    else:
      want = rng.randint(1, 6)
      while proc.poll() is None:
        lines = [l for l in open(log_path).read().splitlines()
                 if l.startswith('epoch ') or ': running' in l or ': done' in l]
        if len(lines) >= want:
          break
        time.sleep(0.01)
      time.sleep(rng.uniform(0, 0.2))
    finished = proc.poll() is not None
    if not finished:
      os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
  text = open(log_path).read()
  os.remove(log_path)
  return dict(after_s=round(time.time() - t0, 2), finished_before_kill=finished,
              epochs_printed=sum(l.startswith('epoch ') for l in text.splitlines()),
              settings_done=text.count(': done in'))


def code_hash() -> str:
  """SHA-256 of bnnjax's and experiments' sources: a kill/rerun case is redone when
  another process edits the code meanwhile (checkpoints then refuse to resume, rightly:
  `bnnjax.checkpoint.code_fingerprint`)."""
  import hashlib
  h = hashlib.sha256()
  for pkg in ('bnnjax', 'experiments'):
    for root, _, files in sorted(os.walk(os.path.join(ROOT, pkg))):
      for name in sorted(files):
        if name.endswith('.py'):
          with open(os.path.join(root, name), 'rb') as f:
            h.update(name.encode() + f.read())
  return h.hexdigest()


def stable_code(case_fn, tries: int = 3):
  """Runs case_fn() until the code did not change while it ran; returns its result
  and the number of runs. (CI edits nothing; a shared working tree may.)"""
  for attempt in range(1, tries + 1):
    before = code_hash()
    out = case_fn()
    if code_hash() == before:
      return out, attempt
  raise RuntimeError(f'the sources changed during each of {tries} tries')
