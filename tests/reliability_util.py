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
# conversion): its name holds one of these (run.py's init/epoch functions under jit or
# pmap, export's forward pass, the models' train/step/evaluate/predict functions).
PROGRAM_NAME_PARTS = ('init_', 'epoch_', 'pmap', 'forward', 'train', 'step', 'evaluate',
                      'predict')


class CompileWatch:
  """`with CompileWatch() as w: ...` then `w.programs`: names of the programs XLA
  compiled inside the block (primitive-sized compiles are ignored)."""
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
      if not event.endswith('backend_compile_duration'):
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
