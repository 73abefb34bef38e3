"""The run engine: pure functions of whole runs over flat run arrays, and their sharding.

A run is one (seed, hyper-parameter point) pair. Every method of bnnjax is a `Model` (its
init, step and evaluation functions); with the run `Protocol` (config.py) the engine
turns it into two pure, jittable functions over R runs at once:

  `Engine.init_runs(keys [R, 2], params [R], y) -> (states, train_idx, test_idx)`
  `Engine.epoch_runs(states, params, train_idx, test_idx, data) -> (states,
     train_correct int32[R], test_correct int32[R], epoch_metrics {name: [R, ...]})`

Inside, runs are mapped in vmapped chunks of `seed_chunk` runs, one chunk after another
(`lax.map`); a lone run is traced without map or vmap. Every run is independent, so any
split of the runs gives the same bits. `Engine.programs(devices)` jits both over a 1-D
mesh of the run axis with `jax.shard_map` (each device maps over its own runs; the data
pool is replicated), and keeps the compiled programs in a process-wide cache keyed by
everything they depend on (`Engine.cache_key`, the devices and the XLA options), so a
second trainer of the same method, config and protocol compiles nothing.

This module and the modules of the method's model are what a checkpoint fingerprint
hashes (`bnnjax.checkpoint.code_fingerprint`): the host driver (`bnnjax.driver`),
checkpoints and platform code change no result bit.

Seeds: run k of a call uses key PRNGKey(seed + k); the key is split into a split key
(the per-run shuffle of the pool, docs/algorithm.md "Data protocol") and an init key;
the state then carries its own key for shuffling and reinforcement.
"""

import collections
import dataclasses
from typing import Callable, Hashable, NamedTuple, Optional

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np

from bnnjax import bits
from bnnjax import model
from bnnjax import platform as platform_lib
from bnnjax import rng
from bnnjax.config import Protocol, resolved_seed_chunk

# Fraction bits of an integer `prev_acc` (floor(accuracy * 2^30) fits int32).
ACC_BITS = 30


class Data(NamedTuple):
  """A data pool, packed once on the host.

  x: uint32[n, W] — ±1 features packed along D (bits.py convention); or float32[n, D]
    features for the float baselines.
  y: int32[n] — labels in [0, C).
  """
  x: jax.Array
  y: jax.Array


class Model(NamedTuple):
  """A trainable method as pure functions: the interface of the engine.

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
  (running train accuracy of the previous epoch: float32[] fraction, or for an
  integer-only method int32[] floor(accuracy * 2^ACC_BITS)) and `epoch` (int32[]).
  """
  init_fn: Callable
  step_fn: Callable
  evaluate_fn: Callable
  epoch_metrics_fn: Optional[Callable] = None
  step_eval_fn: Optional[Callable] = None


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


def _batches(idx: jax.Array, batch_size: int):
  """[n] indices -> ([num_batches, B] indices, the same shape of bool: valid rows)."""
  n = idx.shape[0]
  num = -(-n // batch_size)
  return (jnp.pad(idx, (0, num * batch_size - n)).reshape(num, batch_size),
          (jnp.arange(num * batch_size) < n).reshape(num, batch_size))


@dataclasses.dataclass(frozen=True)
class Engine:
  """Whole runs of `model` under `protocol`.

  seed_chunk: runs vmapped together per device (None: per platform,
    `config.resolved_seed_chunk`). platform: the JAX platform the functions are traced
    for (None: `jax.default_backend()`); `programs` sets it from its devices.
  name: a hashable identity of `model`'s functions (e.g. ('ours', config, True): the
    method, its config and the diagnostics switch), so that programs compiled for one
    trainer serve every later trainer with the same name; None identifies the model by
    its function objects.
  """
  model: Model
  protocol: Protocol
  seed_chunk: Optional[int] = None
  name: Optional[Hashable] = None
  platform: Optional[str] = None

  # --- One run ----------------------------------------------------------------------

  def init_run(self, key, params, n: int):
    split_key, init_key = jax.random.split(key)
    train_idx, test_idx = split_indices(split_key, n, self.protocol)
    return self.model.init_fn(init_key, params), train_idx, test_idx

  def epoch_run(self, state, params, train_idx, test_idx, data: Data):
    """One epoch of one run: shuffle, the training steps, the test split's count."""
    net, bsz = self.model, self.protocol.batch_size
    n_train = train_idx.shape[0]
    key, perm_key = jax.random.split(state.key)
    order, valid = _batches(rng.permutation(perm_key, train_idx), bsz)
    num_batches = order.shape[0]
    # With step_eval_fn the test split goes through the same compiled step as the
    # training batches (test batches after the training ones, `train` False): the
    # forward pass is compiled once instead of twice (default job: 0.5 s less XLA
    # compile; a 1035 x 5 net 0.8-1.1 s less).
    fused = net.step_eval_fn is not None

    def body(st, inp):
      batch = model.Batch(data.x[inp[0]], data.y[inp[0]], inp[1])
      if fused:
        st, metrics = net.step_eval_fn(st, batch, params, inp[2])
      else:
        st, metrics = net.step_fn(st, batch, params)
      if net.epoch_metrics_fn is None:  # keep only the count of correct predictions
        metrics = getattr(metrics, 'correct', metrics)
      return st, metrics

    xs = (order, valid)
    if fused:
      test_order, test_valid = _batches(test_idx, bsz)
      xs = (jnp.concatenate([order, test_order]), jnp.concatenate([valid, test_valid]),
            jnp.arange(num_batches + test_order.shape[0]) < num_batches)
    new_state, step_metrics = lax.scan(body, state._replace(key=key), xs)
    sums, test_sums = [jax.tree_util.tree_map(lambda a: jnp.sum(a[part], axis=0),
                                              step_metrics)
                       for part in (slice(0, num_batches), slice(num_batches, None))]
    train_correct = getattr(sums, 'correct', sums)
    if jnp.issubdtype(state.prev_acc.dtype, jnp.integer):  # integer-only methods
      prev_acc = bits.fixed_fraction(train_correct, n_train, ACC_BITS)
    else:
      prev_acc = train_correct.astype(jnp.float32) / jnp.float32(n_train)
    new_state = new_state._replace(prev_acc=prev_acc, epoch=new_state.epoch + 1)
    test_correct = (getattr(test_sums, 'correct', test_sums) if fused else
                    net.evaluate_fn(new_state, data.x[test_idx], data.y[test_idx]))
    epoch_metrics = ({} if net.epoch_metrics_fn is None else
                     net.epoch_metrics_fn(state, new_state, sums, num_batches, n_train))
    return new_state, train_correct, test_correct, epoch_metrics  # counts

  # --- Flat runs ----------------------------------------------------------------------

  def init_runs(self, keys, params, y):
    """Flat runs: keys uint32[R, 2], params leaves [R]; y: the pool's labels (its
    length fixes the split)."""
    return self.map_runs(lambda a: self.init_run(a[0], a[1], y.shape[0]),
                         (keys, params))

  def epoch_runs(self, states, params, train_idx, test_idx, data: Data):
    """One epoch of every run; leading axis R on every argument but `data`."""
    return self.map_runs(lambda a: self.epoch_run(*a, data),
                         (states, params, train_idx, test_idx))

  def map_runs(self, fn, runs):
    """fn of one run mapped over the leading axis of `runs`: chunks of `seed_chunk`
    runs vmapped, one chunk after another (`lax.map`); a single run is called as it is
    (no map, no vmap: less to trace and to compile)."""
    num_runs = jax.tree_util.tree_leaves(runs)[0].shape[0]
    if num_runs == 1:
      out = fn(jax.tree_util.tree_map(lambda a: a[0], runs))
      return jax.tree_util.tree_map(lambda a: a[None], out)
    return lax.map(fn, runs, batch_size=self.chunk(num_runs))

  def chunk(self, num_runs: int) -> int:
    """Runs vmapped together among num_runs on one device: seed_chunk, or its
    automatic value on the platform traced for."""
    platform = self.platform or jax.default_backend()
    return max(1, min(resolved_seed_chunk(self.seed_chunk, platform), num_runs))

  # --- Sharded, compiled programs ----------------------------------------------------

  def cache_key(self) -> Hashable:
    """What the compiled programs depend on, besides the devices and XLA options (not
    the number of epochs: the host loops over them)."""
    return (self.name if self.name is not None else self.model,
            dataclasses.replace(self.protocol, num_epochs=1), self.seed_chunk)

  def programs(self, devices) -> 'Programs':
    """`init_runs` and `epoch_runs` jitted over a mesh of `devices` (axis 'runs'), from
    the process-wide cache; R must be a multiple of len(devices). The epoch donates its
    states."""
    platform = devices[0].platform
    init_opts = platform_lib.compiler_options(platform, 'init')
    epoch_opts = platform_lib.compiler_options(platform, 'epoch')
    key = (self.cache_key(), tuple(d.id for d in devices), platform,
           _frozen(init_opts), _frozen(epoch_opts))
    found = _PROGRAMS.get(key)
    if found is not None:
      _PROGRAMS.move_to_end(key)
      return found
    # The programs' own engine has 1 epoch: they cannot depend on the epoch count.
    engine = dataclasses.replace(self, platform=platform, protocol=dataclasses.replace(
        self.protocol, num_epochs=1))
    mesh = jax.sharding.Mesh(np.asarray(devices), ('runs',))
    runs, rep = jax.sharding.PartitionSpec('runs'), jax.sharding.PartitionSpec()
    init_fn = jax.jit(jax.shard_map(engine.init_runs, mesh=mesh,
                                    in_specs=(runs, runs, rep), out_specs=runs,
                                    check_vma=False), compiler_options=init_opts)
    epoch_fn = jax.jit(jax.shard_map(engine.epoch_runs, mesh=mesh,
                                     in_specs=(runs, runs, runs, runs, rep),
                                     out_specs=runs, check_vma=False),
                       donate_argnums=0, compiler_options=epoch_opts)
    found = Programs(mesh, init_fn, epoch_fn, {})
    _PROGRAMS[key] = found
    while len(_PROGRAMS) > MAX_CACHED_PROGRAMS:
      _PROGRAMS.popitem(last=False)
    return found


class Programs(NamedTuple):
  """mesh; init_fn, epoch_fn: the jitted sharded functions; compiled: {abstract
  arguments: ahead-of-time compiled epoch} (filled by the driver)."""
  mesh: jax.sharding.Mesh
  init_fn: Callable
  epoch_fn: Callable
  compiled: dict


# Compiled programs of the last few engines (least recently used first). Each holds its
# executables; an experiment that goes through many configurations keeps only these.
MAX_CACHED_PROGRAMS = 16
_PROGRAMS: 'collections.OrderedDict' = collections.OrderedDict()


def _frozen(opts):
  return None if opts is None else tuple(sorted(opts.items()))
