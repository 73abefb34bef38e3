"""Devices, processes, the compilation cache and XLA options: where runs execute.

Nothing here changes a result bit (tested: the same bits on 1, 2 or 4 devices, in one
process or two, in one call or in chunks). `EngineOptions` carries the per-call choices
(devices, runs per call, checkpoint interval) explicitly from the entry points to the
driver: there is no process-wide engine state.
"""

import dataclasses
import os
import sys
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class EngineOptions:
  """How a call's runs are placed and saved (no result depends on them).

  devices: 'all' / None (every device of every process) or N (N devices; N / processes
    from each process). runs_per_call: at most this many runs per compiled call (None:
    every run in one call, or on CPU one seed chunk per device per call; sweeps larger
    than device memory run in chunks of the same shape, so nothing recompiles).
  checkpoint_every: K > 0 writes the checkpoint after every K epochs and after the
    last; 0 or None is automatic (`bnnjax.checkpoint.Policy`)."""
  devices: object = None
  runs_per_call: Optional[int] = None
  checkpoint_every: Optional[int] = None

  def __post_init__(self):
    parse_devices(self.devices)
    for name, v, low in (('runs_per_call', self.runs_per_call, 1),
                         ('checkpoint_every', self.checkpoint_every, 0)):
      if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer))
                            or v < low):
        raise ValueError(f'{name} (--{name}) must be an integer >= {low}, got {v!r}')


def parse_devices(devices):
  """'all' / None -> None; N -> int N >= 1 (ValueError otherwise)."""
  if devices is None or devices == 'all':
    return None
  try:
    n = int(devices)
  except (TypeError, ValueError):
    n = 0
  if n < 1 or isinstance(devices, bool) or (isinstance(devices, float) and
                                            devices != n):
    raise ValueError(f"devices (--devices) must be 'all' or an integer >= 1, got "
                     f'{devices!r}')
  return n


def select_devices(devices=None, num_runs: Optional[int] = None) -> list:
  """The devices runs are sharded over: 'all'/None -> every device of every process;
  N -> N devices, N / process_count from each process. In one process, never more
  devices than runs."""
  n = parse_devices(devices)
  procs = jax.process_count()
  if procs == 1:
    local = jax.local_devices()
    if n is not None and n > len(local):
      raise ValueError(f'devices (--devices) asks for {n} devices but this process has '
                       f'{len(local)} ({local[0].platform}); on CPU set them with '
                       f'bnnjax.use_cpu_cores(N) before the first computation')
    chosen = local[:n] if n else local
    return chosen[:num_runs] if num_runs else chosen
  by_proc = {}
  for d in jax.devices():
    by_proc.setdefault(d.process_index, []).append(d)
  per = min(len(v) for v in by_proc.values())
  if n is not None:
    if n % procs or n // procs > per:
      raise ValueError(f'devices (--devices) must be a multiple of the {procs} '
                       f'processes and at most {procs * per}, got {n}')
    per = n // procs
  return [d for p in sorted(by_proc) for d in by_proc[p][:per]]


def use_cpu_cores(num_devices: Optional[int] = None) -> None:
  """Exposes the host's cores as separate JAX CPU devices, so independent runs train
  on each core in parallel (XLA alone used ~1.3 of 2 cores here).

  Must be called before JAX initialises its backends (before the first computation);
  entry points call it first. A no-op when the backends already exist."""
  try:
    jax.config.update('jax_num_cpu_devices', int(num_devices or os.cpu_count() or 1))
  except (RuntimeError, ValueError):  # backends already initialised
    pass


def init_distributed(coordinator_address: Optional[str] = None,
                     num_processes: Optional[int] = None,
                     process_id: Optional[int] = None) -> bool:
  """Joins a multi-process run (`jax.distributed.initialize`) before any computation.

  Values come from the arguments, else from $JAX_COORDINATOR_ADDRESS,
  $JAX_NUM_PROCESSES and $JAX_PROCESS_ID; with none of them set this is a single-process
  run and nothing happens (returns False). On CPU, cross-process collectives use gloo.
  Every process then runs the same program on the same data: runs are sharded over the
  devices of all processes, results are gathered to every process, and only process 0
  writes files (`is_main_process`)."""
  env = os.environ
  address = coordinator_address or env.get('JAX_COORDINATOR_ADDRESS') or None
  num = num_processes if num_processes is not None else env.get('JAX_NUM_PROCESSES')
  pid = process_id if process_id is not None else env.get('JAX_PROCESS_ID')
  if address is None and num is None and pid is None:
    return False
  if address is None or num is None or pid is None:
    raise ValueError('a multi-process run needs all of --coordinator_address, '
                     '--num_processes and --process_id (or $JAX_COORDINATOR_ADDRESS, '
                     '$JAX_NUM_PROCESSES, $JAX_PROCESS_ID)')
  try:
    num, pid = int(num), int(pid)
  except ValueError:
    raise ValueError(f'num_processes and process_id must be integers, got {num!r}, '
                     f'{pid!r}') from None
  if num < 1 or not 0 <= pid < num:
    raise ValueError(f'process_id must be in [0, {num - 1}] for {num} processes, got '
                     f'{pid}')
  if ':' not in address:
    raise ValueError(f'coordinator_address must be host:port, got {address!r}')
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  jax.distributed.initialize(address, num, pid)
  return True


def is_main_process() -> bool:
  """True in the process that writes files (process 0; the only one when single)."""
  return jax.process_index() == 0


def global_array(a, sharding) -> jax.Array:
  """A host array (the same on every process) as a global array with `sharding`."""
  a = np.asarray(a)
  return jax.make_array_from_callback(a.shape, sharding, lambda idx: a[idx])


def to_host(tree):
  """Global arrays -> full NumPy arrays on every process (a collective when several)."""
  if jax.process_count() == 1:
    return jax.tree_util.tree_map(np.asarray, tree)
  from jax.experimental import multihost_utils
  return jax.tree_util.tree_map(
      lambda a: np.asarray(multihost_utils.process_allgather(a, tiled=True)), tree)


def assert_same_everywhere(fingerprint_hex: str) -> None:
  """In a multi-process run, fails unless every process runs the same runs (config,
  hyper-parameters, seeds, data and code: the checkpoint fingerprint)."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    multihost_utils.assert_equal(
        np.frombuffer(bytes.fromhex(fingerprint_hex), np.uint8),
        'the processes of a multi-process run differ in config, hyper-parameters, '
        'seeds, data or code')


# ----------------------------------------------------------------------------------
# The persistent compilation cache
# ----------------------------------------------------------------------------------

COMPILATION_CACHE_ENV = 'BNNJAX_COMPILATION_CACHE'


def default_compilation_cache() -> str:
  """$BNNJAX_COMPILATION_CACHE, else ~/.cache/bnnjax/xla."""
  return os.environ.get(COMPILATION_CACHE_ENV) or os.path.join(
      os.path.expanduser('~'), '.cache', 'bnnjax', 'xla')


def enable_compilation_cache(path: Optional[str] = None) -> Optional[str]:
  """Turns on JAX's persistent compilation cache in `path` (default
  `default_compilation_cache()`; 'none' or '' leaves it off) and returns the folder used.

  A program compiled once (same code, shapes, options and jaxlib) is then read back in
  later processes instead of compiled again: a rerun, the next setting of a sweep, or a
  resumed run. Programs that compile in under 0.2 s are not stored. A folder that cannot
  be created leaves the cache off with a warning (never an error: it only saves time)."""
  path = default_compilation_cache() if path is None else path
  if not path or path.lower() == 'none':
    return None
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    print(f'warning: compilation cache {path} left off: {e}', file=sys.stderr)
    return None
  jax.config.update('jax_compilation_cache_dir', path)
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.2)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)
  return path


# ----------------------------------------------------------------------------------
# XLA options of the engine's programs
# ----------------------------------------------------------------------------------

# XLA options of the run engine's programs on CPU. 512-bit vectors (where the CPU has
# AVX-512; elsewhere LLVM keeps its widths) made whole runs 9-13% faster on this
# project's Sapphire Rapids machine, with the same bits (benchmarks/bench_perf.py).
CPU_COMPILER_OPTIONS = {'xla_cpu_prefer_vector_width': 512}
# Added for the initial states' program, which runs once: without the MLIR fusion
# emitters and at LLVM's -O1 it compiles in 0.45 instead of 0.65 s on its own (in a run
# it compiles beside the epoch program, 2 cores shared) and runs in 3 instead of 9 ms
# (default job's shapes), with the same bits (its float32 Normal draws compared on 20 M
# values; at -O0 they differ, so -O1; tests/test_run.py checks every method's initial
# states).
CPU_INIT_COMPILER_OPTIONS = {'xla_cpu_use_fusion_emitters': False,
                             'xla_backend_optimization_level': 1}
_OPTIONS_OK = {}


def compiler_options(platform: str, program: str = 'epoch') -> Optional[dict]:
  """XLA options of the run engine's programs on `platform` (None: XLA's defaults);
  program 'init' for the initial states' program, 'epoch' for the others.

  Options this jaxlib's XLA does not know are dropped (checked once, by compiling a
  trivial program with all of them), so an older or newer jaxlib never fails on them."""
  if platform != 'cpu':
    return None
  opts = dict(CPU_COMPILER_OPTIONS)
  if program == 'init':
    opts.update(CPU_INIT_COMPILER_OPTIONS)
  if not opts:
    return None
  every = {**CPU_COMPILER_OPTIONS, **CPU_INIT_COMPILER_OPTIONS}  # one check for both
  return opts if _options_ok(every) or _options_ok(opts) else None


def _options_ok(opts: dict) -> bool:
  key = tuple(sorted(opts.items()))
  if key not in _OPTIONS_OK:
    try:
      jax.jit(lambda v: v + 1, compiler_options=opts).lower(
          jax.ShapeDtypeStruct((), jnp.int32)).compile()
      _OPTIONS_OK[key] = True
    except Exception:  # pylint: disable=broad-except
      _OPTIONS_OK[key] = False
  return _OPTIONS_OK[key]
