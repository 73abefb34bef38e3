"""Whole runs of a baseline: `make_train(model, config) -> train(keys, params, data)`.

The same structure as `bnnjax.run.make_train` (which is specialised to `bnnjax.model`),
for any model given as three pure functions, so every method sees the same protocol:

* run k uses `jax.random.PRNGKey(seed + k)`, split into a split key and an init key;
  the split key shuffles the pool exactly as `bnnjax.run` does, so seed k of a baseline
  has the same test set as seed k of `ours` (algorithm.md, "Data protocol");
* `train_divisor` > 1 keeps a random 1/divisor of the training split, drawn per run
  (the float baselines' "FP input", algorithm.md "Baselines of the paper");
* every epoch reshuffles the training split with the state's key, runs `lax.scan` over
  mini-batches (the last one padded and masked), then evaluates on the test split;
* `lax.map` over chunks of `seed_chunk` runs, `vmap` inside a chunk, `pmap` over devices;
  the host loops over epochs, calls `progress_fn` and writes atomic checkpoints (the
  checkpoint helpers of `bnnjax.run`).

A model state is a NamedTuple of arrays with at least the fields `key` (uint32[2]),
`prev_acc` (float32[], running train accuracy of the previous epoch) and `epoch`
(int32[]), like `bnnjax.model.State`.
"""

import dataclasses
import os
import time
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np

from bnnjax import model
from bnnjax import run as run_lib


class Model(NamedTuple):
  """init_fn(key, params) -> state; step_fn(state, batch: model.Batch, params) ->
  (state, correct int32[]) with `correct` the pre-update correct predictions of the valid
  rows; evaluate_fn(state, x, y) -> int32[] number of correct predictions."""
  init_fn: Callable
  step_fn: Callable
  evaluate_fn: Callable


@dataclasses.dataclass(frozen=True)
class RunConfig:
  """Static protocol of a run (hashable).

  batch_size: B. num_epochs: E. num_test: size of the test split. shuffle_split: shuffle
  the pool with the run's key before splitting (else the last num_test samples are the
  test set). seed_chunk: runs vmapped together. train_divisor: keep a random
  1/train_divisor of the training split (1 keeps all of it).
  """
  batch_size: int = 100
  num_epochs: int = 50
  num_test: int = 2000
  shuffle_split: bool = True
  seed_chunk: int = 5
  train_divisor: int = 1


def check_data(x: np.ndarray, y: np.ndarray, num_test: int,
               train_divisor: int = 1) -> None:
  """Host-side validation of a pool (x: [n, ...] features, y: int[n] labels)."""
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


def split_indices(key: jax.Array, n: int, config: RunConfig):
  """(train_idx int32[n_train], test_idx int32[num_test]) of one run.

  The permutation is the one of `bnnjax.run` for the same key; the 1/train_divisor
  subset is drawn with a key folded from the split key."""
  if config.shuffle_split:
    perm = jax.random.permutation(key, n)
  else:
    perm = jnp.arange(n)
  train_idx, test_idx = perm[:n - config.num_test], perm[n - config.num_test:]
  if config.train_divisor > 1:
    keep = train_idx.shape[0] // config.train_divisor
    sub_key = jax.random.fold_in(key, 1)
    train_idx = jax.random.permutation(sub_key, train_idx)[:keep]
  return train_idx, test_idx


def make_train(net: Model, config: RunConfig, fingerprint_config: Any = None,
               num_devices: Optional[int] = None) -> Callable:
  """Returns `train(keys, params, data, progress_fn=None, checkpoint_path=None)`.

  keys: uint32[S, 2] (`bnnjax.run.seed_keys`). params: a NamedTuple of scalars (traced
  hyper-parameters, shared by every run). data: `bnnjax.run.Data` pool (x may be packed
  uint32 bits or float features: the model's functions read it). progress_fn(epoch,
  train_acc[S], test_acc[S]) in percent after every epoch. fingerprint_config: any
  object whose repr identifies the program (stored in checkpoints).
  Returns `bnnjax.run.Results` with float64[S, E] accuracies in percent (exact counts
  divided on the host, as `bnnjax.run` does).
  """

  def init_run(key, params, n):
    split_key, init_key = jax.random.split(key)
    train_idx, test_idx = split_indices(split_key, n, config)
    return net.init_fn(init_key, params), train_idx, test_idx

  def epoch_run(state, params, train_idx, test_idx, data):
    n_train = train_idx.shape[0]
    bsz = config.batch_size
    num_batches = -(-n_train // bsz)
    pad = num_batches * bsz - n_train
    key, perm_key = jax.random.split(state.key)
    order = jax.random.permutation(perm_key, train_idx)
    order = jnp.pad(order, (0, pad)).reshape(num_batches, bsz)
    valid = (jnp.arange(num_batches * bsz) < n_train).reshape(num_batches, bsz)

    def body(st, inp):
      idx, ok = inp
      return net.step_fn(st, model.Batch(data.x[idx], data.y[idx], ok), params)

    state, correct = lax.scan(body, state._replace(key=key), (order, valid))
    train_correct = jnp.sum(correct)
    prev_acc = train_correct.astype(jnp.float32) / jnp.float32(n_train)
    state = state._replace(prev_acc=prev_acc, epoch=state.epoch + 1)
    test_correct = net.evaluate_fn(state, data.x[test_idx], data.y[test_idx])
    return state, train_correct, test_correct  # counts; percentages on the host

  # Leading axes inside: [device, run]; each device maps over its runs in vmapped chunks.
  def init_device(keys, params, y):
    return lax.map(lambda k: init_run(k, params, y.shape[0]), keys,
                   batch_size=min(config.seed_chunk, keys.shape[0]))

  def epoch_device(states, params, train_idx, test_idx, data):
    return lax.map(lambda a: epoch_run(a[0], params, a[1], a[2], data),
                   (states, train_idx, test_idx),
                   batch_size=min(config.seed_chunk, train_idx.shape[0]))

  all_devices = jax.local_devices()[:num_devices] if num_devices else jax.local_devices()
  pmapped = {}  # num_dev -> (init_fn, epoch_fn): compiled once per device count

  def pmapped_fns(num_dev):
    if num_dev not in pmapped:
      devices = all_devices[:num_dev]
      pmapped[num_dev] = (
          jax.pmap(init_device, in_axes=(0, None, None), devices=devices),
          jax.pmap(epoch_device, in_axes=(0, None, 0, 0, None), devices=devices))
    return pmapped[num_dev]

  def train(keys, params, data: run_lib.Data, progress_fn: Optional[Callable] = None,
            checkpoint_path: Optional[str] = None) -> run_lib.Results:
    start = time.time()
    keys = np.asarray(keys, np.uint32)
    if keys.ndim == 1:
      keys = keys[None]
    num_runs = keys.shape[0]
    x, y = np.asarray(data.x), np.asarray(data.y)
    check_data(x, y, config.num_test, config.train_divisor)
    data = run_lib.Data(jnp.asarray(x), jnp.asarray(y, jnp.int32))
    params = type(params)(*[jnp.asarray(v) for v in params])
    fingerprint = run_lib._fingerprint(  # pylint: disable=protected-access
        (fingerprint_config, config), params, keys, data)

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
    states, train_idx, test_idx = init_fn(to_devices(keys), params, data.y)
    history = np.zeros((2, num_runs, 0), np.float64)
    n_train, n_test = train_idx.shape[-1], test_idx.shape[-1]
    if checkpoint_path and os.path.exists(checkpoint_path):
      flat, history = run_lib._load_checkpoint(  # pylint: disable=protected-access
          checkpoint_path, fingerprint, jax.tree_util.tree_map(from_devices, states))
      states = jax.tree_util.tree_map(to_devices, flat)
    for epoch in range(history.shape[2], config.num_epochs):
      states, train_correct, test_correct = epoch_fn(states, params, train_idx,
                                                     test_idx, data)
      accs = np.stack([100.0 * from_devices(train_correct) / n_train,
                       100.0 * from_devices(test_correct) / n_test])
      history = np.concatenate([history, accs[..., None]], axis=2)
      if checkpoint_path:
        run_lib._save_checkpoint(  # pylint: disable=protected-access
            checkpoint_path, fingerprint, jax.tree_util.tree_map(from_devices, states),
            history)
      if progress_fn is not None:
        progress_fn(epoch, history[0, :, -1], history[1, :, -1])
    return run_lib.Results(train_acc=history[0], test_acc=history[1],
                           states=jax.tree_util.tree_map(from_devices, states),
                           wall_seconds=time.time() - start)

  return train
