"""Whole runs: `make_train(config) -> Runner`, called as `train(keys, params, data)`.

A run is one (seed, hyper-parameter) pair. All runs of a call share the data pool and
are processed by one jitted epoch function (`Runner.epoch_runs`, pure, over flat run
arrays): `lax.map` over chunks of `config.seed_chunk` runs, `vmap` inside a chunk (on
CPU, vmapping more than a few seeds at once is cache-bound). The run axis is sharded
over a device mesh with `jax.shard_map` (every device of every process, `--devices`).
The host driver loops over epochs, so progress is printed between jitted calls, and the
states are checkpointed atomically (every epoch, or every K epochs for huge states): an
interrupted run resumes from the last checkpoint and reaches the same bits.

Seeds: run k of a call uses key `jax.random.PRNGKey(seed + k)`; the key is split into
a split key (the per-run shuffle of the pool, algorithm.md "Data protocol") and an init
key; the state then carries its own key for shuffling and reinforcement.
"""

import dataclasses
import gc
import hashlib
import math
import os
import zipfile
import tempfile
import sys
import time
from typing import Callable, Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np

from bnnjax import bits
from bnnjax import model
from bnnjax import rng
from bnnjax.config import Config, resolved_seed_chunk, validate_hparams


class Data(NamedTuple):
  """A data pool, packed once on the host.

  x: uint32[n, W] — ±1 features packed along D (bits.py convention).
  y: int32[n] — labels in [0, C).
  """
  x: jax.Array
  y: jax.Array


class Results(NamedTuple):
  """train_acc, test_acc: float64[..., E] in percent, leading axes [P,] S (grid, seed).
  states: model.State with the same leading axes. wall_seconds: host wall time of the
  whole run, cumulative over resumes (the time of earlier, interrupted calls is kept in
  the checkpoint). already_complete: the checkpoint held every epoch, nothing trained.
  metrics: {name: array [..., E, ...]} per-epoch diagnostics (`bnnjax.diagnostics`;
  {} when the method has none or they are off)."""
  train_acc: np.ndarray
  test_acc: np.ndarray
  states: model.State
  wall_seconds: float
  metrics: Dict[str, np.ndarray] = {}
  already_complete: bool = False


MAX_SEED = 2**32 - 1  # PRNGKey keeps 32 bits without x64: larger seeds would alias


def seed_keys(seed: int, num_seeds: int) -> jax.Array:
  """uint32[S, 2]: run k gets PRNGKey(seed + k) (the paper's runs use 42 + k).

  Seeds must lie in [0, MAX_SEED]: without x64 mode PRNGKey keeps 32 bits, so -1 or
  2^32 would silently train with another seed than the one recorded."""
  check_seeds(seed, num_seeds)
  if jax.config.jax_default_prng_impl == 'threefry2x32':
    # A threefry PRNGKey(s) is the pair (s >> 32, s & 0xFFFFFFFF), here (0, s): built on
    # the host (tested equal), without the small programs jax.random.PRNGKey, jnp.stack
    # and jnp.asarray compile first (0.1 s of the default job's start).
    s = np.arange(seed, seed + num_seeds, dtype=np.uint64)
    return jax.device_put(np.stack([s >> np.uint64(32), s & np.uint64(0xFFFFFFFF)],
                                   axis=1).astype(np.uint32))
  return jnp.stack([jax.random.PRNGKey(seed + k) for k in range(num_seeds)])


def check_seeds(seed, num_seeds) -> None:
  """ValueError unless seed, ..., seed + num_seeds - 1 are integers in [0, MAX_SEED]."""
  for name, v in (('seed', seed), ('num_seeds', num_seeds)):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
      raise ValueError(f'{name} (--{name}) must be an integer, got {v!r}')
  if num_seeds < 1:
    raise ValueError(f'num_seeds (--num_seeds) must be >= 1, got {num_seeds}')
  if not 0 <= seed or seed + num_seeds - 1 > MAX_SEED:
    raise ValueError(f'seed (--seed) must be in [0, {MAX_SEED - num_seeds + 1}] so that '
                     f'seeds seed .. seed + {num_seeds - 1} fit PRNGKey\'s 32 bits, got '
                     f'{seed}')


def check_data(data: Data, config: Config) -> None:
  """Host-side validation of a data pool against a config (before any compile)."""
  x, y = np.asarray(data.x), np.asarray(data.y)
  _check_labels(y)
  if x.ndim != 2 or x.dtype != np.uint32:
    raise ValueError(f'data.x must be uint32[n, W] packed bits, got {x.dtype}{list(x.shape)}')
  if x.shape[1] != bits.num_words(config.num_inputs):
    raise ValueError(
        f'data has {x.shape[1]} words per sample but the network expects '
        f'{config.num_inputs} inputs ({bits.num_words(config.num_inputs)} words)')
  if y.shape != (x.shape[0],):
    raise ValueError(f'data.y must have shape [{x.shape[0]}], got {list(y.shape)}')
  if y.size and (y.min() < 0 or y.max() >= config.num_classes):
    raise ValueError(f'labels must be in [0, {config.num_classes}), got range '
                     f'[{y.min()}, {y.max()}]')
  if not 1 <= config.num_test < x.shape[0]:
    raise ValueError(f'num_test must be in [1, {x.shape[0] - 1}] for a pool of '
                     f'{x.shape[0]} samples, got {config.num_test}')
  if x.shape[0] and bits.num_words(config.num_inputs) * bits.WORD_BITS > config.num_inputs:
    full = bits.pack_numpy(np.ones((1, config.num_inputs), np.int8))[0]
    if np.any(x & ~full):
      raise ValueError('data.x has padding bits set (bits beyond num_inputs must be 0)')


def _broadcast_params(params, num_runs_per_point: int):
  """Flattens a NamedTuple of scalars or 1-D grids to per-run arrays [P * S].

  Returns (params of the same type with leaves [R], grid shape: () or (P,)). Floats
  become float32 and integers int32 (the traced dtypes)."""
  leaves = [np.asarray(v) for v in params]
  try:
    grid = np.broadcast_shapes(*[v.shape for v in leaves])
  except ValueError:
    raise ValueError(
        f'hyper-parameter grid: every field must be a scalar or a 1-D array of the same '
        f'length P, got shapes {dict(zip(params._fields, [list(v.shape) for v in leaves]))}'
    ) from None
  if len(grid) > 1:
    raise ValueError(f'hyper-parameter grids must be 1-D, got shape {grid}')
  num_points = grid[0] if grid else 1
  out = []
  for v in leaves:
    dtype = np.float32 if np.issubdtype(v.dtype, np.floating) else (
        np.int32 if np.issubdtype(v.dtype, np.integer) else v.dtype)
    v = np.broadcast_to(v, (num_points,)).astype(dtype)
    out.append(np.repeat(v, num_runs_per_point))
  return type(params)(*out), grid


class Model(NamedTuple):
  """A trainable model as pure functions, the interface of `make_runner`.

  init_fn(key, params) -> state; step_fn(state, batch: model.Batch, params) ->
  (state, metrics): metrics is the int32[] count of pre-update correct predictions of
  the valid rows, or a pytree of per-step counts with such a `correct` field (e.g.
  `model.StepMetrics`), which the epoch scan sums; evaluate_fn(state, x, y) -> int32[]
  number of correct predictions; epoch_metrics_fn (optional)(old_state, new_state,
  summed_step_metrics, num_steps, n_train) -> {name: array}, the epoch's diagnostics.
  step_eval_fn (optional)(state, batch, params, train: bool[]) -> (state, metrics):
  step_fn where `train` is True; where False, the state as it was and metrics whose
  `correct` counts the batch's correct predictions (the other counts 0). With it the
  epoch evaluates the test split in batches of batch_size through the same compiled
  step (less to compile), without it through evaluate_fn.
  A state is a NamedTuple of arrays with at least `key` (uint32[2]), `prev_acc`
  (float32[], running train accuracy of the previous epoch) and `epoch` (int32[]).
  """
  init_fn: Callable
  step_fn: Callable
  evaluate_fn: Callable
  epoch_metrics_fn: Optional[Callable] = None
  step_eval_fn: Optional[Callable] = None


@dataclasses.dataclass(frozen=True)
class Protocol:
  """The run protocol shared by every method (algorithm.md, "Schedule of a run").

  batch_size: B. num_epochs: E. num_test: size of the test split. shuffle_split: shuffle
  the pool with the run's key before splitting (else the last num_test samples are the
  test set). seed_chunk: runs vmapped together (None: per platform,
  `config.resolved_seed_chunk`). train_divisor: keep a random
  1/train_divisor of the training split, drawn per run (the float baselines' "FP input").
  """
  batch_size: int = 100
  num_epochs: int = 50
  num_test: int = 2000
  shuffle_split: bool = True
  seed_chunk: Optional[int] = None
  train_divisor: int = 1


def split_indices(key: jax.Array, n: int, protocol: Protocol):
  """(train_idx int32[n_train], test_idx int32[num_test]) of one run.

  The last num_test samples of the run's permutation of the pool are the test set; the
  1/train_divisor subset is drawn with a key folded from the split key."""
  perm = rng.permutation(key, jnp.arange(n)) if protocol.shuffle_split else jnp.arange(n)
  train_idx, test_idx = perm[:n - protocol.num_test], perm[n - protocol.num_test:]
  if protocol.train_divisor > 1:
    keep = train_idx.shape[0] // protocol.train_divisor
    train_idx = rng.permutation(jax.random.fold_in(key, 1), train_idx)[:keep]
  return train_idx, test_idx


def _check_labels(y: np.ndarray) -> None:
  if y.dtype.kind not in 'iu':
    raise ValueError(f'labels (data.y) must be integers, got {y.dtype} (float labels '
                     f'would be truncated silently)')


def check_keys(keys) -> np.ndarray:
  """uint32[S, 2] (or [2]) PRNG keys as from `seed_keys`; ValueError otherwise."""
  a = np.asarray(keys)
  if a.dtype.kind not in 'iu' or a.ndim not in (1, 2) or a.shape[-1] != 2 or (
      a.ndim == 2 and a.shape[0] < 1):
    raise ValueError(f'keys must be uint32[S, 2] or uint32[2] PRNG keys (see '
                     f'bnnjax.seed_keys), got {a.dtype}{list(a.shape)}')
  if a.size and (a.min() < 0 or a.max() > MAX_SEED):
    raise ValueError('keys must hold uint32 values (see bnnjax.seed_keys)')
  return a.astype(np.uint32)


def check_pool(x: np.ndarray, y: np.ndarray, num_test: int,
               train_divisor: int = 1) -> None:
  """Host-side validation of any pool (x: [n, ...] features, y: int[n] labels)."""
  _check_labels(y)
  if x.ndim != 2:
    raise ValueError(f'data.x must be 2-D [n, features], got shape {list(x.shape)}')
  if y.shape != (x.shape[0],):
    raise ValueError(f'data.y must have shape [{x.shape[0]}], got {list(y.shape)}')
  if y.size and y.min() < 0:
    raise ValueError(f'labels must be >= 0, got {y.min()}')
  if not 1 <= num_test < x.shape[0]:
    raise ValueError(f'num_test must be in [1, {x.shape[0] - 1}] for a pool of '
                     f'{x.shape[0]} samples, got {num_test}')
  if (x.shape[0] - num_test) // train_divisor < 1:
    raise ValueError(f'a 1/{train_divisor} subset of {x.shape[0] - num_test} training '
                     f'samples is empty')


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


def use_cpu_cores(num_devices: Optional[int] = None) -> None:
  """Exposes the host's cores as separate JAX CPU devices, so `make_train` runs
  independent seeds on each core in parallel (XLA alone used ~1.3 of 2 cores here).

  Must be called before JAX initialises its backends (before the first computation);
  entry points call it first. A no-op when the backends already exist."""
  try:
    jax.config.update('jax_num_cpu_devices', int(num_devices or os.cpu_count() or 1))
  except (RuntimeError, ValueError):  # backends already initialised
    pass


def make_train(config: Config, num_devices=None, diagnostics: bool = True,
               runs_per_call: Optional[int] = None) -> 'Runner':
  """Whole runs of the local-error rule (`bnnjax.model`); see `make_runner`.

  Returns a `Runner`, called as `train(keys, params: HParams, data: Data, ...) ->
  Results`. params may hold 1-D grids (runs = P x S). diagnostics: compute
  `bnnjax.diagnostics` per epoch (Results.metrics). num_devices, runs_per_call: see
  `make_runner`."""
  from bnnjax import diagnostics as diag_lib
  protocol = Protocol(batch_size=config.batch_size, num_epochs=config.num_epochs,
                      num_test=config.num_test, shuffle_split=config.shuffle_split,
                      seed_chunk=config.seed_chunk)
  net = Model(init_fn=lambda key, params: model.init(key, config, params),
              step_fn=lambda state, batch, params: model.step(state, batch, params,
                                                              config),
              evaluate_fn=lambda state, x, y: model.evaluate(state, x, y, config),
              epoch_metrics_fn=diag_lib.rule_epoch_metrics if diagnostics else None,
              step_eval_fn=lambda state, batch, params, train: model.step(
                  state, batch, params, config, train))

  def check_fn(params, data):
    validate_hparams(params)
    check_data(data, config)

  return make_runner(net, protocol, fingerprint_config=config, num_devices=num_devices,
                     check_fn=check_fn, runs_per_call=runs_per_call)


class Runner:
  """The run engine of every method: pure per-run functions and a host driver.

  Pure, jittable functions over flat run arrays (leading axis R = runs):
    `init_runs(keys [R, 2], params [R], y) -> (states, train_idx, test_idx)`
    `epoch_runs(states, params, train_idx, test_idx, data) -> (states, train_correct
      int32[R], test_correct int32[R], epoch_metrics {name: [R, ...]})`
  Inside, runs are mapped in vmapped chunks of `protocol.seed_chunk` (`lax.map`); every
  run is independent, so any split of the runs gives the same bits.

  `sharded(devices)` wraps them in `jax.jit(jax.shard_map(...))` over a 1-D mesh of the
  run axis: each device (of every process) maps over its own runs; the data pool is
  replicated. Calling the runner (`__call__`, see `make_runner`) is the host driver:
  validation, padding, run chunks, checkpoints, progress and gathering of results.
  """

  def __init__(self, net: Model, protocol: Protocol, fingerprint_config=None,
               num_devices=None, check_fn: Optional[Callable] = None,
               runs_per_call: Optional[int] = None):
    self.net = net
    self.protocol = protocol
    self.fingerprint_config = fingerprint_config
    self.num_devices = num_devices
    self.check_fn = check_fn
    self.runs_per_call = runs_per_call
    self._compiled = {}  # device ids -> (init_fn, epoch_fn)
    self._platform = None  # of the devices being traced for (`sharded`)

  # --- Pure functions of one run and of flat runs ---------------------------------

  def init_run(self, key, params, n: int):
    split_key, init_key = jax.random.split(key)
    train_idx, test_idx = split_indices(split_key, n, self.protocol)
    return self.net.init_fn(init_key, params), train_idx, test_idx

  def epoch_run(self, state, params, train_idx, test_idx, data: Data):
    net, protocol = self.net, self.protocol
    n_train = train_idx.shape[0]
    bsz = protocol.batch_size

    def batches(idx):  # [n] -> ([num_batches, bsz] indices, the same of valid rows)
      n = idx.shape[0]
      num = -(-n // bsz)
      return (jnp.pad(idx, (0, num * bsz - n)).reshape(num, bsz),
              (jnp.arange(num * bsz) < n).reshape(num, bsz))

    key, perm_key = jax.random.split(state.key)
    # = jax.random.permutation, faster
    order, valid = batches(rng.permutation(perm_key, train_idx))
    num_batches = order.shape[0]

    # With step_eval_fn the test split goes through the same compiled step as the
    # training batches (test batches after the training ones, `train` False): the
    # forward pass is compiled once instead of twice. Default job: 0.5 s less XLA
    # compile and 0.1-0.2 s less tracing; a 1035 x 5 net 0.8-1.1 s less compile.
    fused = net.step_eval_fn is not None

    def body(st, inp):
      idx, ok = inp[:2]
      batch = model.Batch(data.x[idx], data.y[idx], ok)
      if fused:
        st, metrics = net.step_eval_fn(st, batch, params, inp[2])
      else:
        st, metrics = net.step_fn(st, batch, params)
      if net.epoch_metrics_fn is None:  # keep only the count of correct predictions
        metrics = getattr(metrics, 'correct', metrics)
      return st, metrics

    old_state = state
    xs = (order, valid)
    if fused:
      test_order, test_valid = batches(test_idx)
      xs = (jnp.concatenate([order, test_order]), jnp.concatenate([valid, test_valid]),
            jnp.arange(num_batches + test_order.shape[0]) < num_batches)
    state, step_metrics = lax.scan(body, state._replace(key=key), xs)
    sums, test_sums = [jax.tree_util.tree_map(lambda a: jnp.sum(a[part], axis=0),
                                              step_metrics)
                       for part in (slice(0, num_batches), slice(num_batches, None))]
    train_correct = getattr(sums, 'correct', sums)
    prev_acc = train_correct.astype(jnp.float32) / jnp.float32(n_train)
    state = state._replace(prev_acc=prev_acc, epoch=state.epoch + 1)
    test_correct = (getattr(test_sums, 'correct', test_sums) if fused else
                    net.evaluate_fn(state, data.x[test_idx], data.y[test_idx]))
    epoch_metrics = ({} if net.epoch_metrics_fn is None else
                     net.epoch_metrics_fn(old_state, state, sums, num_batches, n_train))
    # counts; percentages on the host
    return state, train_correct, test_correct, epoch_metrics

  def init_runs(self, keys, params, y):
    """Flat runs: keys uint32[R, 2], params leaves [R]; y: the pool's labels (its
    length fixes the split)."""
    return self._map_runs(lambda a: self.init_run(a[0], a[1], y.shape[0]),
                          (keys, params))

  def epoch_runs(self, states, params, train_idx, test_idx, data: Data):
    """One epoch of every run; leading axis R on every argument but `data`."""
    return self._map_runs(lambda a: self.epoch_run(*a, data),
                          (states, params, train_idx, test_idx))

  def _map_runs(self, fn, runs):
    """fn of one run mapped over the leading axis of `runs`: chunks of `seed_chunk`
    runs vmapped, one chunk after another (`lax.map`); a single run is called as it is
    (no map, no vmap: less to trace and to compile)."""
    num_runs = jax.tree_util.tree_leaves(runs)[0].shape[0]
    if num_runs == 1:
      out = fn(jax.tree_util.tree_map(lambda a: a[0], runs))
      return jax.tree_util.tree_map(lambda a: a[None], out)
    return lax.map(fn, runs, batch_size=self.seed_chunk(num_runs))

  def seed_chunk(self, num_runs: int) -> int:
    """Runs vmapped together among num_runs on one device: the protocol's seed_chunk,
    or its automatic value for the platform traced for (`sharded`'s devices, else
    JAX's default backend)."""
    platform = self._platform or jax.default_backend()
    return max(1, min(resolved_seed_chunk(self.protocol.seed_chunk, platform), num_runs))

  def call_plan(self, num_runs: int, num_dev: int) -> Tuple[int, int, bool]:
    """(size, groups, on_host): num_runs runs go in `groups` calls of `size` runs each
    (a multiple of num_dev; runs padded with copies of run 0 up to groups x size).

    At most `runs_per_call` runs per call (the runner's, else `configure`'s); without
    one, every run in one call, except on CPU: one seed chunk per device per call, the
    host calling the program once per chunk. An in-program map over several chunks
    copies each run's state out of the stacked states and back every epoch (7% of a
    9,216-input 1035-1035 net's epoch in a profile); separate calls train each state in
    place, and the program is that of one chunk per device, which traces and compiles
    faster (a lone run needs no map: Prototypes 135-135 0.9 -> 0.5 s to trace, 3.0 ->
    2.3-2.5 s to compile on this project's 2-core machine). Whole runs at 10 seeds, A/B in
    one process: 2% faster for the 9,216-input net, the same at 525-525 and 1035 x 5,
    3% slower at 135-135 (five calls per epoch instead of one). Between calls states
    stay on the device, except where a limit splits the runs on a GPU or TPU
    (`on_host`: device memory). Call after `sharded` (the platform)."""
    limit = self.runs_per_call or _ENGINE['runs_per_call']
    cpu = (self._platform or jax.default_backend()) == 'cpu'
    if limit is None and cpu:
      limit = num_dev * self.seed_chunk(num_runs)
    per_call = -(-min(limit or num_runs, num_runs) // num_dev) * num_dev
    groups = -(-num_runs // per_call)
    size = -(-num_runs // (groups * num_dev)) * num_dev  # balanced over the calls
    return size, groups, groups > 1 and not cpu

  def sharded(self, devices):
    """(init_fn, epoch_fn): `init_runs` and `epoch_runs` jitted over a mesh of
    `devices` (axis 'runs'); R must be a multiple of len(devices). The epoch donates its
    states. Compiled once per device set and shapes."""
    ids = tuple(d.id for d in devices)
    if ids not in self._compiled:
      mesh = jax.sharding.Mesh(np.asarray(devices), ('runs',))
      runs, rep = jax.sharding.PartitionSpec('runs'), jax.sharding.PartitionSpec()
      opts = compiler_options(devices[0].platform)
      self._platform = devices[0].platform
      init_fn = jax.jit(jax.shard_map(self.init_runs, mesh=mesh,
                                      in_specs=(runs, runs, rep), out_specs=runs,
                                      check_vma=False),
                        compiler_options=compiler_options(self._platform, 'init'))
      epoch_fn = jax.jit(jax.shard_map(self.epoch_runs, mesh=mesh,
                                       in_specs=(runs, runs, runs, runs, rep),
                                       out_specs=runs, check_vma=False),
                         donate_argnums=0, compiler_options=opts)
      self._compiled[ids] = (mesh, init_fn, epoch_fn)
    return self._compiled[ids]

  # --- Host driver ------------------------------------------------------------------

  def train(self, keys, params, data: Data, progress_fn: Optional[Callable] = None,
            checkpoint_path: Optional[str] = None, initial_states=None,
            checkpoint_every: Optional[int] = None) -> Results:
    """See `make_runner`."""
    gc_pause = _GcPause()
    try:
      return self._train(keys, params, data, progress_fn, checkpoint_path,
                         initial_states, checkpoint_every, gc_pause)
    finally:
      gc_pause.end()

  def _train(self, keys, params, data, progress_fn, checkpoint_path, initial_states,
             checkpoint_every, gc_pause) -> Results:
    start = time.time()
    protocol = self.protocol
    if self.check_fn is not None:
      self.check_fn(params, data)
    x, y = np.asarray(data.x), np.asarray(data.y)
    check_pool(x, y, protocol.num_test, protocol.train_divisor)
    if checkpoint_every is not None and (isinstance(checkpoint_every, bool) or
                                         int(checkpoint_every) < 0):
      raise ValueError(f'checkpoint_every must be an integer >= 0 (0 = automatic), '
                       f'got {checkpoint_every!r}')
    keys = check_keys(keys)
    single = keys.ndim == 1
    if single:
      keys = keys[None]
    num_seeds = keys.shape[0]
    flat_params, grid = _broadcast_params(params, num_seeds)
    num_runs = flat_params[0].shape[0]
    run_keys = np.tile(keys, (num_runs // num_seeds, 1))
    data = Data(x, y.astype(np.int32))
    fingerprint = _fingerprint(self.fingerprint_config, flat_params, run_keys, data)
    if jax.process_count() > 1:  # every process must run the same runs on the same data
      from jax.experimental import multihost_utils
      multihost_utils.assert_equal(
          np.frombuffer(bytes.fromhex(fingerprint), np.uint8),
          'the processes of a multi-process run differ in config, hyper-parameters, '
          'seeds, data or code')

    # Runs are padded (with copies of run 0, dropped at the end) to `groups` calls of
    # `size` runs each, `size` a multiple of the device count.
    devices = select_devices(self.num_devices or _ENGINE['devices'], num_runs)
    mesh, init_fn, epoch_fn = self.sharded(devices)
    size, groups, on_host = self.call_plan(num_runs, len(devices))
    total = groups * size
    shard = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec('runs'))
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())

    def pad_split(a):  # host [R, ...] -> [groups] of host [size, ...]
      a = np.asarray(a)
      a = np.concatenate([a, np.repeat(a[:1], total - num_runs, axis=0)])
      return [a[g * size:(g + 1) * size] for g in range(groups)]

    def to_dev(tree):  # host tree [size, ...] -> global arrays sharded over the runs
      return jax.tree_util.tree_map(lambda a: _global_array(a, shard), tree)

    def group_trees(tree):  # host tree [R, ...] -> [groups] of host trees [size, ...]
      leaves, treedef = jax.tree_util.tree_flatten(tree)
      split = [pad_split(a) for a in leaves]
      return [jax.tree_util.tree_unflatten(treedef, [s[g] for s in split])
              for g in range(groups)]

    def flat(group_list):  # [groups] of trees [size, ...] -> host tree [R, ...]
      hosts = [_to_host(t) for t in group_list]
      return jax.tree_util.tree_map(
          lambda *a: np.concatenate(a)[:num_runs], *hosts)

    dev_data = Data(_global_array(data.x, replicated), _global_array(data.y, replicated))
    param_groups = [to_dev(p) for p in group_trees(flat_params)]
    key_groups = group_trees(run_keys)
    epoch_fn = _compile_ahead(epoch_fn, init_fn, (
        _global_array(key_groups[0], shard), param_groups[0], dev_data.y), shard,
        param_groups[0], dev_data)
    states, train_idx, test_idx = [], [], []
    for g in range(groups):
      st, tr, te = init_fn(_global_array(key_groups[g], shard), param_groups[g],
                           dev_data.y)
      states.append(st)
      train_idx.append(tr)
      test_idx.append(te)
    n_train, n_test = train_idx[0].shape[-1], test_idx[0].shape[-1]
    like = flat(states) if (initial_states is not None or checkpoint_path) else None
    if initial_states is not None:  # continue trained states (e.g. a new task)
      states = [to_dev(t) for t in group_trees(_initial_states(initial_states, like))]
    history = np.zeros((2, num_runs, 0), np.float64)
    metrics = {}  # name -> [R, E, ...]
    earlier_seconds = 0.0  # wall time of earlier calls of this run (from the checkpoint)
    if checkpoint_path and jax.process_index() == 0:
      _remove_stale_temporaries(checkpoint_path)
    if checkpoint_path and os.path.exists(checkpoint_path):
      flat_states, history, metrics, earlier_seconds = _load_checkpoint(
          checkpoint_path, fingerprint, like)
      states = [to_dev(t) for t in group_trees(flat_states)]
      want = self.net.epoch_metrics_fn is not None and history.shape[2] > 0
      if want != bool(metrics) or any(v.shape[1] != history.shape[2]
                                      for v in metrics.values()):
        raise ValueError(
            f'checkpoint {checkpoint_path} was written with diagnostics '
            f'{"off" if want else "on"}; resume with the same setting, or remove it')
    if on_host:  # states wait on the host while other calls run (device memory)
      states = [_to_host(t) for t in states]
      train_idx = [_to_host(t) for t in train_idx]
      test_idx = [_to_host(t) for t in test_idx]
    already_complete = history.shape[2] >= protocol.num_epochs
    if checkpoint_every is None:
      checkpoint_every = _ENGINE['checkpoint_every']
    every = int(checkpoint_every or 0)  # 0: automatic (see `_CheckpointPolicy`)
    policy = _CheckpointPolicy(every)
    for epoch in range(history.shape[2], protocol.num_epochs):
      t_epoch = time.time()
      outs = []
      for g in range(groups):  # dispatched one after another; fetched below
        if on_host:
          st = to_dev(states[g])
          args = (st, param_groups[g], _global_array(train_idx[g], shard),
                  _global_array(test_idx[g], shard), dev_data)
        else:
          args = (states[g], param_groups[g], train_idx[g], test_idx[g], dev_data)
        st, train_correct, test_correct, epoch_metrics = epoch_fn(*args)
        states[g] = _to_host(st) if on_host else st
        outs.append((train_correct, test_correct, epoch_metrics))
      outs = [_to_host(o) for o in outs]
      gc_pause.end()  # the programs are compiled
      cat = lambda *a: np.concatenate(a)[:num_runs]
      train_correct, test_correct, epoch_metrics = jax.tree_util.tree_map(cat, *outs)
      accs = np.stack([100.0 * train_correct / n_train, 100.0 * test_correct / n_test])
      history = np.concatenate([history, accs[..., None]], axis=2)
      for name, v in epoch_metrics.items():
        v = np.asarray(v)[:, None]
        metrics[name] = v if name not in metrics else np.concatenate(
            [metrics[name], v], axis=1)
      last = epoch + 1 == protocol.num_epochs
      if checkpoint_path and policy.due(epoch + 1, last, time.time() - t_epoch):
        t_save = time.time()
        flat_states = flat(states)
        if jax.process_index() == 0:  # one writer
          _save_checkpoint(checkpoint_path, fingerprint, flat_states, history, metrics,
                           earlier_seconds + time.time() - start)
        policy.saved(time.time() - t_save)
      if progress_fn is not None:
        progress_fn(epoch, history[0, :, -1], history[1, :, -1])

    lead = () if (single and not grid) else tuple(grid) + (num_seeds,)
    reshape = lambda a: np.asarray(a).reshape(lead + np.asarray(a).shape[1:])
    flat_states = flat(states)
    return Results(train_acc=reshape(history[0]), test_acc=reshape(history[1]),
                   states=jax.tree_util.tree_map(reshape, flat_states),
                   wall_seconds=(earlier_seconds if already_complete else
                                 earlier_seconds + time.time() - start),
                   metrics={k: reshape(v) for k, v in metrics.items()},
                   already_complete=already_complete)

  __call__ = train


class _GcPause:
  """Python's cyclic garbage collector paused from construction to `end()` (if it was
  on), while a run's programs are traced and lowered: collections of the many
  short-lived objects of tracing took about 0.05 s of the default job's 0.45 s of
  tracing and lowering the epoch (A/B in one process). Tracing makes few cycles."""

  def __init__(self):
    self._resume = gc.isenabled()
    gc.disable()

  def end(self):
    if self._resume:
      self._resume = False
      gc.enable()


def _compile_ahead(epoch_fn, init_fn, init_args, shard, params, data):
  """epoch_fn, compiled in a background thread while the caller compiles and runs
  init_fn (tracing and XLA compilation of the two programs overlap: about 1 s of the
  default job's start on 2 cores). Returns a callable of epoch_fn's arguments; if the
  ahead-of-time program cannot be built or refuses the arguments (their shardings),
  it falls back to epoch_fn itself, which compiles as usual."""
  import concurrent.futures
  try:
    states, train_idx, test_idx = jax.eval_shape(init_fn, *init_args)
    spec = lambda tree: jax.tree_util.tree_map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=shard), tree)
    abstract = (spec(states), params, spec(train_idx), spec(test_idx), data)
  except Exception:  # pylint: disable=broad-except
    return epoch_fn
  pool = concurrent.futures.ThreadPoolExecutor(1)
  future = pool.submit(lambda: epoch_fn.lower(*abstract).compile())
  pool.shutdown(wait=False)
  chosen = []

  def call(*args):
    if not chosen:
      try:
        chosen.append(future.result())
      except Exception:  # pylint: disable=broad-except
        chosen.append(epoch_fn)
    try:
      return chosen[0](*args)
    except (TypeError, ValueError):
      if chosen[0] is epoch_fn:
        raise
      chosen[0] = epoch_fn  # e.g. arguments placed differently than foreseen
      return epoch_fn(*args)
  return call


# XLA options of the run engine's programs on CPU. 512-bit vectors (where the CPU has
# AVX-512; elsewhere LLVM keeps its widths) made whole runs 9-13% faster on this
# project's Sapphire Rapids machine, with the same bits (benchmarks/bench_perf.py).
CPU_COMPILER_OPTIONS = {'xla_cpu_prefer_vector_width': 512}
# Added for the initial states' program, which runs once: without the MLIR fusion
# emitters and at LLVM's -O1 it compiles in 0.45 instead of 0.65 s on its own (in a run
# it compiles beside the epoch program, 2 cores shared) and runs in 3 instead of 9 ms
# (default job's shapes), with the same bits (its float32 Normal draws compared on 20 M
# values; at -O0 they differ, so -O1; test_run checks every method's initial states).
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


def make_runner(net: Model, protocol: Protocol, fingerprint_config=None,
                num_devices=None, check_fn: Optional[Callable] = None,
                runs_per_call: Optional[int] = None) -> Runner:
  """Returns a `Runner`: call it as `train(keys, params, data, progress_fn=None,
  checkpoint_path=None, initial_states=None, checkpoint_every=None)`.

  Every method of bnnjax runs through this one engine, so all see the same protocol.
  keys: uint32[S, 2] (see `seed_keys`) or a single uint32[2] key.
  params: a NamedTuple of traced hyper-parameters: scalars, or 1-D arrays (a grid of P
    points; runs = P x S, results get a leading [P] axis).
  data: `Data` pool; the per-run split is made inside (`split_indices`).
  progress_fn: called after every epoch as progress_fn(epoch, train_acc, test_acc) with
    float arrays [R] (percent) — e.g. to print.
  checkpoint_path: if given, the states are written there atomically (by process 0)
    and a matching checkpoint is resumed. checkpoint_every: K > 0 writes after every K
    epochs and after the last; 0 or None (default) is automatic: after every epoch while
    a write is cheap (`CHECKPOINT_CHEAP_SECONDS`, or `CHECKPOINT_OVERHEAD` of the epoch
    time), else every K epochs with K measured (`_CheckpointPolicy`).
  initial_states: states with the leading axes of `Results.states` to start from
    instead of the init (e.g. the next task of a continual-learning sequence).
  fingerprint_config: any object whose repr identifies the program (in checkpoints).
  num_devices: 'all', N, or None (the `configure` default, else every device of every
    process): runs are sharded over them. runs_per_call: at most this many runs per
    compiled call (sweeps larger than device memory run in chunks of runs; every chunk
    has the same shape, so nothing recompiles). Results depend on neither.
  check_fn(params, data): host-side validation run before anything is compiled.
  Returns `Results` (accuracies are exact counts divided on the host).
  """
  return Runner(net, protocol, fingerprint_config, num_devices, check_fn, runs_per_call)


# ----------------------------------------------------------------------------------
# Devices and processes
# ----------------------------------------------------------------------------------

# Process-wide engine defaults (`configure`): entry points set them from flags, and every
# `make_runner` without its own values uses them.
_ENGINE = {'devices': None, 'runs_per_call': None, 'checkpoint_every': None}


def configure(devices=None, runs_per_call: Optional[int] = None,
              checkpoint_every: Optional[int] = None) -> None:
  """Sets the engine defaults of this process: devices ('all' or N), the largest
  number of runs per compiled call (None = all runs in one call) and the checkpoint
  interval in epochs (None or 0 = automatic). Raises ValueError on a bad value."""
  if devices is not None:
    _parse_devices(devices)
  for name, v, low in (('runs_per_call', runs_per_call, 1),
                       ('checkpoint_every', checkpoint_every, 0)):
    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer))
                          or v < low):
      raise ValueError(f'{name} (--{name}) must be an integer >= {low}, got {v!r}')
  _ENGINE.update(devices=devices, runs_per_call=runs_per_call,
                 checkpoint_every=checkpoint_every)


def _parse_devices(devices):
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
  n = _parse_devices(devices)
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


def _global_array(a, sharding) -> jax.Array:
  """A host array (the same on every process) as a global array with `sharding`."""
  a = np.asarray(a)
  return jax.make_array_from_callback(a.shape, sharding, lambda idx: a[idx])


def _to_host(tree):
  """Global arrays -> full NumPy arrays on every process (a collective when several)."""
  if jax.process_count() == 1:
    return jax.tree_util.tree_map(np.asarray, tree)
  from jax.experimental import multihost_utils
  return jax.tree_util.tree_map(
      lambda a: np.asarray(multihost_utils.process_allgather(a, tiled=True)), tree)


# Automatic checkpoints (checkpoint_every = 0): write after every epoch while a write
# takes at most CHECKPOINT_CHEAP_SECONDS or at most CHECKPOINT_OVERHEAD of an epoch;
# otherwise every K epochs, K = the measured write time over CHECKPOINT_OVERHEAD of the
# epoch time, so the overhead stays near it (the widest paper nets: gigabytes of states).
CHECKPOINT_OVERHEAD = 0.05
CHECKPOINT_CHEAP_SECONDS = 1.0


class _CheckpointPolicy:
  """Decides after which epochs a checkpoint is written (the last always is)."""

  def __init__(self, every: int):
    self.every = every
    self.since = 0  # epochs since the last write
    self.epoch_seconds = None
    self.write_seconds = None

  def due(self, epochs_done: int, last: bool, epoch_seconds: float) -> bool:
    self.since += 1
    if last:
      return True
    if self.every:
      return epochs_done % self.every == 0
    self.epoch_seconds = epoch_seconds if self.epoch_seconds is None else min(
        self.epoch_seconds, epoch_seconds)
    if self.write_seconds is None or self.write_seconds <= CHECKPOINT_CHEAP_SECONDS:
      return True  # measure one write; cheap writes every epoch
    k = math.ceil(self.write_seconds / (CHECKPOINT_OVERHEAD * max(self.epoch_seconds,
                                                                  1e-9)))
    return self.since >= max(1, k)

  def saved(self, seconds: float) -> None:
    self.since = 0
    self.write_seconds = seconds


def _initial_states(given, like):
  """Flat host states [R, ...] from `initial_states` with leading [P,] S axes (or [R])."""
  leaves, treedef = jax.tree_util.tree_flatten(like)
  given_leaves, given_def = jax.tree_util.tree_flatten(given)
  if given_def != treedef:
    raise ValueError(f'initial_states has structure {given_def}, expected {treedef}')
  out = []
  for g, l in zip(given_leaves, leaves):
    g = np.asarray(g)
    trailing = g.shape[g.ndim - (l.ndim - 1):] if l.ndim > 1 else ()
    if g.dtype != l.dtype or g.size != l.size or trailing != l.shape[1:]:
      raise ValueError(f'initial_states leaf {g.dtype}{list(g.shape)} does not match the '
                       f'runs\' {l.dtype}{list(l.shape)}')
    out.append(g.reshape(l.shape))
  return jax.tree_util.tree_unflatten(treedef, out)


# ----------------------------------------------------------------------------------
# Checkpoints (atomic: write to a temporary file in the same folder, then rename)
# ----------------------------------------------------------------------------------


# Config fields that change speed or memory but no result bit (tested): a checkpoint
# written with one value resumes with another.
SPEED_ONLY_FIELDS = ('seed_chunk', 'eval_batch_size', 'word_chunk', 'backend')
# The modules whose code decides the bits of a run: a checkpoint written by other code
# is refused rather than silently resumed.
RULE_MODULES = ('bits', 'rng', 'config', 'model', 'run', 'diagnostics',
                'baselines/cp_r', 'baselines/mlp')


def code_fingerprint() -> str:
  """SHA-256 of the source of RULE_MODULES (any change of them, comments included,
  refuses older checkpoints: remove them, or finish with the code that wrote them)."""
  h = hashlib.sha256()
  root = os.path.dirname(os.path.abspath(__file__))
  for name in RULE_MODULES:
    with open(os.path.join(root, name + '.py'), 'rb') as f:
      h.update(f.read())
  return h.hexdigest()


def _config_text(config) -> str:
  """repr of a config without its SPEED_ONLY_FIELDS."""
  if dataclasses.is_dataclass(config):
    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
              if f.name not in SPEED_ONLY_FIELDS}
    return f'{type(config).__name__}({fields!r})'
  return repr(config)


def _fingerprint(config, params, keys, data) -> str:
  """Identifies a run's program (config less its speed-only fields, and the code of the
  rule), hyper-parameters, seeds and data (for checkpoints)."""
  h = hashlib.sha256()
  h.update(_config_text(config).encode())
  h.update(code_fingerprint().encode())
  for a in list(params) + [keys, data.x, data.y]:
    h.update(np.ascontiguousarray(np.asarray(a)).tobytes())
  return h.hexdigest()


def atomic_write(path: str, write_fn: Callable) -> None:
  """Calls write_fn(file) on a temporary file beside `path`, then renames it over path.

  On any failure the temporary file is removed and an existing `path` is left as it
  was; an OSError (e.g. ENOSPC) is raised again naming `path`."""
  folder = os.path.dirname(os.path.abspath(path))
  tmp = None
  try:
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp-', suffix=os.path.basename(path))
    with os.fdopen(fd, 'wb') as f:
      write_fn(f)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException as e:
    if tmp is not None and os.path.exists(tmp):
      os.remove(tmp)
    if isinstance(e, OSError) and getattr(e, 'filename', None) != path:
      raise OSError(e.errno, f'could not write {path}: {e.strerror or e}; the previous '
                    f'file (if any) is unchanged', path) from e
    raise


def _remove_stale_temporaries(path: str) -> None:
  """Removes `atomic_write` temporaries of `path` left by a killed write (never read)."""
  folder = os.path.dirname(os.path.abspath(path))
  suffix = os.path.basename(path)
  if os.path.isdir(folder):
    for name in os.listdir(folder):
      if name.startswith('.tmp-') and name.endswith(suffix):
        try:
          os.remove(os.path.join(folder, name))
        except OSError:
          pass


def _narrow(a: np.ndarray) -> np.ndarray:
  """An integer array in the smallest signed dtype of int8/int16 holding its values
  (checkpoints of the widest nets shrink 2-4x; loading casts back, losslessly)."""
  if a.dtype.kind != 'i' or a.size == 0 or a.dtype.itemsize <= 1:
    return a
  lo, hi = int(a.min()), int(a.max())
  for t in (np.int8, np.int16):
    if np.dtype(t).itemsize < a.dtype.itemsize and np.iinfo(t).min <= lo and \
        hi <= np.iinfo(t).max:
      return a.astype(t)
  return a


def _save_checkpoint(path, fingerprint, states, history, metrics=None,
                     wall_seconds: float = 0.0):
  leaves = jax.tree_util.tree_leaves(states)
  arrays = {f'leaf_{i}': _narrow(np.asarray(v)) for i, v in enumerate(leaves)}
  arrays['history'] = history
  arrays['fingerprint'] = np.asarray(fingerprint)
  arrays['wall_seconds'] = np.asarray(wall_seconds, np.float64)
  for name, v in (metrics or {}).items():
    arrays[f'metric_{name}'] = np.asarray(v)
  atomic_write(path, lambda f: np.savez(f, **arrays))


def _load_checkpoint(path, fingerprint, like_states):
  """(states, history [2, R, E], metrics {name: [R, E, ...]}, wall seconds so far) of
  a checkpoint. A truncated or corrupted file raises ValueError naming it."""
  leaves, treedef = jax.tree_util.tree_flatten(like_states)
  try:
    with np.load(path) as z:
      if str(z['fingerprint']) != fingerprint:
        raise _Mismatch()
      wall = float(z['wall_seconds']) if 'wall_seconds' in z.files else 0.0
      new = []
      for i, like in enumerate(leaves):
        a = z[f'leaf_{i}']
        if a.shape != like.shape or a.dtype.kind != like.dtype.kind:
          raise ValueError(f'leaf {i} is {a.dtype}{list(a.shape)}, expected '
                           f'{like.dtype}{list(like.shape)}')
        new.append(a.astype(like.dtype))
      history = z['history']
      metrics = {k[len('metric_'):]: z[k] for k in z.files if k.startswith('metric_')}
      if history.ndim != 3 or history.shape[:2] != (2, leaves[0].shape[0]):
        raise ValueError(f'history has shape {list(history.shape)}')
  except _Mismatch:
    raise ValueError(
        f'checkpoint {path} belongs to a different run (config, hyper-parameters, '
        f'seeds, data or the code of the rule differ); remove it or use another '
        f'workdir') from None
  except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
    raise ValueError(
        f'checkpoint {path} is unreadable or incomplete ({type(e).__name__}: {e}). '
        f'bnnjax writes checkpoints atomically, so it was damaged afterwards (disk, '
        f'copy) or written by another program: remove it to start the run again, or '
        f'restore a good copy') from None
  return jax.tree_util.tree_unflatten(treedef, new), history, metrics, wall


class _Mismatch(Exception):
  pass
