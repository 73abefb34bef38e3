"""Whole runs: `make_train(config) -> train(keys, params, data)`.

A run is one (seed, hyper-parameter) pair. All runs of a call share the data pool and
are processed by one jitted epoch function: `lax.map` over chunks of `config.seed_chunk`
runs, `vmap` inside a chunk (on CPU, vmapping more than a few seeds at once is
cache-bound). The host loops over epochs, so progress is printed between jitted calls,
and the states can be checkpointed atomically after every epoch: an interrupted run
resumes from the last checkpoint and reaches the same bits.

Seeds: run k of a call uses key `jax.random.PRNGKey(seed + k)`; the key is split into
a split key (the per-run shuffle of the pool, algorithm.md "Data protocol") and an init
key; the state then carries its own key for shuffling and reinforcement.
"""

import dataclasses
import hashlib
import os
import tempfile
import time
from typing import Callable, Dict, NamedTuple, Optional

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np

from bnnjax import bits
from bnnjax import model
from bnnjax.config import Config, validate_hparams


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


def seed_keys(seed: int, num_seeds: int) -> jax.Array:
  """uint32[S, 2]: run k gets PRNGKey(seed + k) (the paper's runs use 42 + k)."""
  return jnp.stack([jax.random.PRNGKey(seed + k) for k in range(num_seeds)])


def check_data(data: Data, config: Config) -> None:
  """Host-side validation of a data pool against a config (before any compile)."""
  x, y = np.asarray(data.x), np.asarray(data.y)
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
  grid = np.broadcast_shapes(*[v.shape for v in leaves])
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
  A state is a NamedTuple of arrays with at least `key` (uint32[2]), `prev_acc`
  (float32[], running train accuracy of the previous epoch) and `epoch` (int32[]).
  """
  init_fn: Callable
  step_fn: Callable
  evaluate_fn: Callable
  epoch_metrics_fn: Optional[Callable] = None


@dataclasses.dataclass(frozen=True)
class Protocol:
  """The run protocol shared by every method (algorithm.md, "Schedule of a run").

  batch_size: B. num_epochs: E. num_test: size of the test split. shuffle_split: shuffle
  the pool with the run's key before splitting (else the last num_test samples are the
  test set). seed_chunk: runs vmapped together. train_divisor: keep a random
  1/train_divisor of the training split, drawn per run (the float baselines' "FP input").
  """
  batch_size: int = 100
  num_epochs: int = 50
  num_test: int = 2000
  shuffle_split: bool = True
  seed_chunk: int = 5
  train_divisor: int = 1


def split_indices(key: jax.Array, n: int, protocol: Protocol):
  """(train_idx int32[n_train], test_idx int32[num_test]) of one run.

  The last num_test samples of the run's permutation of the pool are the test set; the
  1/train_divisor subset is drawn with a key folded from the split key."""
  perm = jax.random.permutation(key, n) if protocol.shuffle_split else jnp.arange(n)
  train_idx, test_idx = perm[:n - protocol.num_test], perm[n - protocol.num_test:]
  if protocol.train_divisor > 1:
    keep = train_idx.shape[0] // protocol.train_divisor
    train_idx = jax.random.permutation(jax.random.fold_in(key, 1), train_idx)[:keep]
  return train_idx, test_idx


def check_pool(x: np.ndarray, y: np.ndarray, num_test: int,
               train_divisor: int = 1) -> None:
  """Host-side validation of any pool (x: [n, ...] features, y: int[n] labels)."""
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


def use_cpu_cores(num_devices: Optional[int] = None) -> None:
  """Exposes the host's cores as separate JAX CPU devices, so `make_train` runs
  independent seeds on each core in parallel (XLA alone used ~1.3 of 2 cores here).

  Must be called before JAX initialises its backends (before the first computation);
  entry points call it first. A no-op when the backends already exist."""
  try:
    jax.config.update('jax_num_cpu_devices', int(num_devices or os.cpu_count() or 1))
  except (RuntimeError, ValueError):  # backends already initialised
    pass


def make_train(config: Config, num_devices: Optional[int] = None,
               diagnostics: bool = True) -> Callable:
  """Whole runs of the local-error rule (`bnnjax.model`); see `make_runner`.

  Returns `train(keys, params: HParams, data: Data, progress_fn=None,
  checkpoint_path=None) -> Results`. params may hold 1-D grids (runs = P x S).
  diagnostics: compute `bnnjax.diagnostics` per epoch (Results.metrics)."""
  from bnnjax import diagnostics as diag_lib
  protocol = Protocol(batch_size=config.batch_size, num_epochs=config.num_epochs,
                      num_test=config.num_test, shuffle_split=config.shuffle_split,
                      seed_chunk=config.seed_chunk)
  net = Model(init_fn=lambda key, params: model.init(key, config, params),
              step_fn=lambda state, batch, params: model.step(state, batch, params,
                                                              config),
              evaluate_fn=lambda state, x, y: model.evaluate(state, x, y, config),
              epoch_metrics_fn=diag_lib.rule_epoch_metrics if diagnostics else None)

  def check_fn(params, data):
    validate_hparams(params)
    check_data(data, config)

  return make_runner(net, protocol, fingerprint_config=config, num_devices=num_devices,
                     check_fn=check_fn)


def make_runner(net: Model, protocol: Protocol, fingerprint_config=None,
                num_devices: Optional[int] = None,
                check_fn: Optional[Callable] = None) -> Callable:
  """Returns `train(keys, params, data, progress_fn=None, checkpoint_path=None)`.

  Every method of bnnjax runs through this one engine, so all see the same protocol.
  keys: uint32[S, 2] (see `seed_keys`) or a single uint32[2] key.
  params: a NamedTuple of traced hyper-parameters: scalars, or 1-D arrays (a grid of P
    points; runs = P x S, results get a leading [P] axis).
  data: `Data` pool; the per-run split is made inside (`split_indices`).
  progress_fn: called after every epoch as progress_fn(epoch, train_acc, test_acc) with
    float arrays [R] (percent) — e.g. to print.
  checkpoint_path: if given, the state after every epoch is written there atomically and
    a matching checkpoint is resumed.
  fingerprint_config: any object whose repr identifies the program (in checkpoints).
  num_devices: devices the runs are spread over (`pmap`); default all local devices of
    the default backend (see `use_cpu_cores`). Results do not depend on it.
  check_fn(params, data): host-side validation run before anything is compiled.
  Returns `Results` (accuracies are exact counts divided on the host).
  """

  def init_run(key, params, n):
    split_key, init_key = jax.random.split(key)
    train_idx, test_idx = split_indices(split_key, n, protocol)
    return net.init_fn(init_key, params), train_idx, test_idx

  def epoch_run(state, params, train_idx, test_idx, data):
    n_train = train_idx.shape[0]
    bsz = protocol.batch_size
    num_batches = -(-n_train // bsz)
    pad = num_batches * bsz - n_train
    key, perm_key = jax.random.split(state.key)
    order = jax.random.permutation(perm_key, train_idx)
    order = jnp.pad(order, (0, pad)).reshape(num_batches, bsz)
    valid = (jnp.arange(num_batches * bsz) < n_train).reshape(num_batches, bsz)

    def body(st, inp):
      idx, ok = inp
      st, metrics = net.step_fn(st, model.Batch(data.x[idx], data.y[idx], ok), params)
      if net.epoch_metrics_fn is None:  # keep only the count of correct predictions
        metrics = getattr(metrics, 'correct', metrics)
      return st, metrics

    old_state = state
    state, step_metrics = lax.scan(body, state._replace(key=key), (order, valid))
    sums = jax.tree_util.tree_map(lambda a: jnp.sum(a, axis=0), step_metrics)
    train_correct = getattr(sums, 'correct', sums)
    prev_acc = train_correct.astype(jnp.float32) / jnp.float32(n_train)
    state = state._replace(prev_acc=prev_acc, epoch=state.epoch + 1)
    test_correct = net.evaluate_fn(state, data.x[test_idx], data.y[test_idx])
    epoch_metrics = ({} if net.epoch_metrics_fn is None else
                     net.epoch_metrics_fn(old_state, state, sums, num_batches, n_train))
    # counts; percentages on the host
    return state, train_correct, test_correct, epoch_metrics

  # Leading axes inside: [device, run]; each device maps over its runs in vmapped chunks.
  def init_device(keys, params, y):
    return lax.map(lambda a: init_run(a[0], a[1], y.shape[0]), (keys, params),
                   batch_size=min(protocol.seed_chunk, keys.shape[0]))

  def epoch_device(states, params, train_idx, test_idx, data):
    return lax.map(lambda a: epoch_run(*a, data), (states, params, train_idx, test_idx),
                   batch_size=min(protocol.seed_chunk, train_idx.shape[0]))

  all_devices = jax.local_devices()[:num_devices] if num_devices else jax.local_devices()
  pmapped = {}  # device count -> (init_fn, epoch_fn), each compiled once

  def pmapped_fns(num_dev):
    if num_dev not in pmapped:
      devices = all_devices[:num_dev]
      pmapped[num_dev] = (
          jax.pmap(init_device, in_axes=(0, 0, None), devices=devices),
          jax.pmap(epoch_device, in_axes=(0, 0, 0, 0, 0), devices=devices))
    return pmapped[num_dev]

  def train(keys, params, data: Data, progress_fn: Optional[Callable] = None,
            checkpoint_path: Optional[str] = None, initial_states=None) -> Results:
    start = time.time()
    if check_fn is not None:
      check_fn(params, data)
    x, y = np.asarray(data.x), np.asarray(data.y)
    check_pool(x, y, protocol.num_test, protocol.train_divisor)
    keys = np.asarray(keys, np.uint32)
    single = keys.ndim == 1
    if single:
      keys = keys[None]
    num_seeds = keys.shape[0]
    flat_params, grid = _broadcast_params(params, num_seeds)
    num_runs = flat_params[0].shape[0]
    run_keys = np.tile(keys, (num_runs // num_seeds, 1))
    data = Data(jnp.asarray(x), jnp.asarray(y, jnp.int32))
    fingerprint = _fingerprint(fingerprint_config, flat_params, run_keys, data)

    # Spread runs over devices; pad with copies of run 0 (dropped at the end).
    num_dev = min(len(all_devices), num_runs)
    per_dev = -(-num_runs // num_dev)
    total = per_dev * num_dev

    def to_devices(a):
      a = np.asarray(a)
      a = np.concatenate([a, np.repeat(a[:1], total - num_runs, axis=0)])
      return a.reshape((num_dev, per_dev) + a.shape[1:])

    def from_devices(a):
      a = np.asarray(a)
      return a.reshape((total,) + a.shape[2:])[:num_runs]

    init_fn, epoch_fn = pmapped_fns(num_dev)
    dev_params = type(flat_params)(*[to_devices(v) for v in flat_params])
    # The pool is copied to every device once, not at every epoch call.
    dev_data = jax.pmap(lambda d: d, devices=all_devices[:num_dev])(
        jax.tree_util.tree_map(
            lambda a: np.broadcast_to(np.asarray(a), (num_dev,) + a.shape), data))
    states, train_idx, test_idx = init_fn(to_devices(run_keys), dev_params, data.y)
    if initial_states is not None:  # continue trained states (e.g. a new task)
      states = _initial_states(initial_states, jax.tree_util.tree_map(from_devices, states),
                               to_devices)
    n_train, n_test = train_idx.shape[-1], test_idx.shape[-1]
    history = np.zeros((2, num_runs, 0), np.float64)
    metrics = {}  # name -> [R, E, ...]
    earlier_seconds = 0.0  # wall time of earlier calls of this run (from the checkpoint)
    if checkpoint_path and os.path.exists(checkpoint_path):
      flat_states, history, metrics, earlier_seconds = _load_checkpoint(
          checkpoint_path, fingerprint, jax.tree_util.tree_map(from_devices, states))
      states = jax.tree_util.tree_map(to_devices, flat_states)
      want = net.epoch_metrics_fn is not None and history.shape[2] > 0
      if want != bool(metrics) or any(v.shape[1] != history.shape[2]
                                      for v in metrics.values()):
        raise ValueError(
            f'checkpoint {checkpoint_path} was written with diagnostics '
            f'{"off" if want else "on"}; resume with the same setting, or remove it')
    already_complete = history.shape[2] >= protocol.num_epochs
    for epoch in range(history.shape[2], protocol.num_epochs):
      states, train_correct, test_correct, epoch_metrics = epoch_fn(
          states, dev_params, train_idx, test_idx, dev_data)
      accs = np.stack([100.0 * from_devices(train_correct) / n_train,
                       100.0 * from_devices(test_correct) / n_test])
      history = np.concatenate([history, accs[..., None]], axis=2)
      for name, v in epoch_metrics.items():
        v = from_devices(v)[:, None]
        metrics[name] = v if name not in metrics else np.concatenate(
            [metrics[name], v], axis=1)
      if checkpoint_path:
        _save_checkpoint(checkpoint_path, fingerprint,
                         jax.tree_util.tree_map(from_devices, states), history, metrics,
                         earlier_seconds + time.time() - start)
      if progress_fn is not None:
        progress_fn(epoch, history[0, :, -1], history[1, :, -1])

    lead = () if (single and not grid) else tuple(grid) + (num_seeds,)
    reshape = lambda a: np.asarray(a).reshape(lead + np.asarray(a).shape[1:])
    flat_states = jax.tree_util.tree_map(from_devices, states)
    return Results(train_acc=reshape(history[0]), test_acc=reshape(history[1]),
                   states=jax.tree_util.tree_map(reshape, flat_states),
                   wall_seconds=(earlier_seconds if already_complete else
                                 earlier_seconds + time.time() - start),
                   metrics={k: reshape(v) for k, v in metrics.items()},
                   already_complete=already_complete)

  return train


def _initial_states(given, like, to_devices):
  """Per-device states from `initial_states` with leading [P,] S axes (or [R])."""
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
    out.append(to_devices(g.reshape(l.shape)))
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
  """Calls write_fn(file) on a temporary file beside `path`, then renames it over path."""
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp-', suffix=os.path.basename(path))
  try:
    with os.fdopen(fd, 'wb') as f:
      write_fn(f)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def _save_checkpoint(path, fingerprint, states, history, metrics=None,
                     wall_seconds: float = 0.0):
  leaves = jax.tree_util.tree_leaves(states)
  arrays = {f'leaf_{i}': np.asarray(v) for i, v in enumerate(leaves)}
  arrays['history'] = history
  arrays['fingerprint'] = np.asarray(fingerprint)
  arrays['wall_seconds'] = np.asarray(wall_seconds, np.float64)
  for name, v in (metrics or {}).items():
    arrays[f'metric_{name}'] = np.asarray(v)
  atomic_write(path, lambda f: np.savez(f, **arrays))


def _load_checkpoint(path, fingerprint, like_states):
  """(states, history [2, R, E], metrics {name: [R, E, ...]}, wall seconds so far) of
  a checkpoint."""
  with np.load(path) as z:
    if str(z['fingerprint']) != fingerprint:
      raise ValueError(
          f'checkpoint {path} belongs to a different run (config, hyper-parameters, '
          f'seeds, data or the code of the rule differ); remove it or use another '
          f'workdir')
    wall = float(z['wall_seconds']) if 'wall_seconds' in z.files else 0.0
    leaves, treedef = jax.tree_util.tree_flatten(like_states)
    new = [jnp.asarray(z[f'leaf_{i}']) for i in range(len(leaves))]
    history = z['history']
    metrics = {k[len('metric_'):]: z[k] for k in z.files if k.startswith('metric_')}
  return jax.tree_util.tree_unflatten(treedef, new), history, metrics, wall
