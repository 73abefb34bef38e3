"""Task sequences: one learner trained on tasks one after another, without replay.

The protocol of Laborieux et al. (Nature Communications 12, 2549, 2021, "Synaptic
metaplasticity in binarized neural networks"): after each task, every task's test split
is evaluated, giving the T x T accuracy matrix A[t, k] (accuracy on task k after
training task t), per seed. Every seed and every grid point run vmapped in one compiled
call per task: the method is prepared once (`bnnjax.methods.prepare`), each task's call
continues the previous task's states (`initial_states`), and the states are then
evaluated on every task's test split (the same per-run split the engine draws:
`engine.split_indices` of the run's split key), vmapped over runs.

A setting of an experiment becomes a sequence with `Setting.tasks` (a `Tasks`): the
framework builds the tasks from the setting's data set (`make_tasks`), runs them
(`run_sequence`) and keeps the record (`settings/<id>.json`); `metrics` gives the
usual summaries (docs/continual.md).
"""

import dataclasses
import time
from typing import Callable, Dict, List, Sequence

import numpy as np

from bnnjax import methods

PERMUTATION_SEED = 1000


@dataclasses.dataclass(frozen=True)
class Tasks:
  """A sequence of tasks cut from one data set.

  name: the sequence's name in outputs (e.g. 'permuted_mnist5k'). kind: 'permuted' (T
  fixed random permutations of the input bits, task 0 the identity; NumPy seed
  `seed` + t) or 'split' (class-disjoint tasks of `classes_per_task` classes, labels
  0..k-1 inside each task: the "domain-incremental" split, one shared head; every task
  cut to the smallest one's size). num_tasks: T of a permuted sequence (a split has one
  task per class group); smoke runs keep at most `smoke_tasks` of it.
  """
  name: str
  kind: str
  num_tasks: int = 5
  smoke_tasks: int = 3
  seed: int = PERMUTATION_SEED
  classes_per_task: int = 2

  def __post_init__(self):
    if self.kind not in ('permuted', 'split'):
      raise ValueError(f'task sequence kind must be permuted or split, got {self.kind!r}')
    if self.num_tasks < 1:
      raise ValueError(f'num_tasks must be >= 1, got {self.num_tasks}')


def _unpack(ds) -> np.ndarray:
  from bnnjax import bits
  return np.asarray(bits.unpack_rows(np.asarray(ds.x), ds.num_features))


def permuted_tasks(ds, num_tasks: int, seed: int = PERMUTATION_SEED) -> List:
  """[DataSet] of num_tasks input-bit permutations of ds (task 0: the identity).

  Labels, pool order and test size are ds's; x_float is dropped, so every method (the
  float baselines included) trains on the same ±1 bits."""
  from bnnjax import bits
  from bnnjax import data as data_lib
  if num_tasks < 1:
    raise ValueError(f'num_tasks must be >= 1, got {num_tasks}')
  x = _unpack(ds)
  out = []
  for t in range(num_tasks):
    perm = (np.arange(ds.num_features) if t == 0 else
            np.random.default_rng(seed + t).permutation(ds.num_features))
    out.append(data_lib.from_packed(
        f'{ds.name}/perm{t}', bits.pack_numpy(x[:, perm]), ds.y, ds.num_features,
        ds.num_classes, ds.num_test, shuffle_split=ds.shuffle_split,
        notes=f'input bits permuted (task {t}, numpy seed {seed + t})'))
  return out


def split_tasks(ds, classes_per_task: int = 2, test_fraction: float = 0.2) -> List:
  """[DataSet] of class-disjoint tasks: classes {0..k-1}, {k..2k-1}, ...; labels are
  the class index inside the task (0..k-1). Every task keeps the first n_min samples
  of its classes in pool order (n_min: the smallest task), test split
  floor(test_fraction · n_min), so all tasks share one compiled program."""
  from bnnjax import data as data_lib
  if ds.num_classes % classes_per_task or classes_per_task < 2:
    raise ValueError(f'classes_per_task must be >= 2 and divide the {ds.num_classes} '
                     f'classes, got {classes_per_task}')
  y = np.asarray(ds.y)
  groups = [np.flatnonzero((y >= lo) & (y < lo + classes_per_task))
            for lo in range(0, ds.num_classes, classes_per_task)]
  n_min = min(len(g) for g in groups)
  num_test = max(1, int(test_fraction * n_min))
  out = []
  for t, idx in enumerate(groups):
    idx = idx[:n_min]
    out.append(data_lib.from_packed(
        f'{ds.name}/classes{t * classes_per_task}-{(t + 1) * classes_per_task - 1}',
        np.asarray(ds.x)[idx], y[idx] - t * classes_per_task, ds.num_features,
        classes_per_task, num_test, shuffle_split=ds.shuffle_split))
  return out


def make_tasks(ds, tasks: Tasks, smoke: bool = False) -> List:
  """The tasks of a sequence cut from the loaded data set `ds`."""
  if tasks.kind == 'permuted':
    return permuted_tasks(ds, min(tasks.num_tasks, tasks.smoke_tasks) if smoke
                          else tasks.num_tasks, tasks.seed)
  return split_tasks(ds, tasks.classes_per_task)


def make_evaluator(job: methods.Prepared) -> Callable:
  """evaluate(states [R, ...], run_keys uint32[R, 2], x, y) -> int32[R] correct
  predictions of each run's state on ITS test split of the pool (the split the engine
  draws from the run key: split_key, init_key = split(key)), vmapped over runs in
  chunks of the seed chunk."""
  import jax
  from jax import lax
  from bnnjax import config as config_lib
  from bnnjax import engine
  protocol = job.config.protocol

  @jax.jit
  def evaluate(states, run_keys, x, y):
    n = x.shape[0]

    def one(args):
      st, key = args
      split_key, _ = jax.random.split(key)
      _, test_idx = engine.split_indices(split_key, n, protocol)
      return job.evaluate_fn(st, x[test_idx], y[test_idx])

    chunk = config_lib.resolved_seed_chunk(job.config.seed_chunk, jax.default_backend())
    return lax.map(one, (states, run_keys), batch_size=min(chunk, run_keys.shape[0]))

  return evaluate


def run_sequence(spec: methods.RunSpec, tasks: Sequence, log: Callable = print,
                 options=None) -> Dict:
  """Trains `spec` on tasks[0], tasks[1], ... (states continued, no replay) and
  evaluates after each task on every task's test split.

  Returns {'acc': float64[P, S, T, T] percent (A[p, s, t, k]: on task k after task t),
  'train_curve', 'test_curve': float64[P, S, T, E] (per epoch of each task, on the task
  being trained), 'grid', 'wall_seconds': [T] seconds per task call}. Checks that the
  diagonal equals the test accuracy the training call reported."""
  import jax
  from bnnjax import checks
  first = tasks[0]
  for t in tasks[1:]:  # one compiled program: same shapes for every task
    if (t.num_features, t.num_classes, t.num_test, t.num_samples) != (
        first.num_features, first.num_classes, first.num_test, first.num_samples):
      raise ValueError('every task of a sequence must have the same features, classes, '
                       'pool and test size')
  job = methods.prepare(spec, first, options)
  keys = np.asarray(checks.seed_keys(spec.seed, spec.num_seeds))
  evaluate = make_evaluator(job)
  datas = [job.data_fn(t) for t in tasks]
  num_tasks, s = len(tasks), spec.num_seeds
  p = len(next(iter(job.grid.values()))) if job.grid else 1
  run_keys = np.tile(keys, (p, 1))  # run r = point * S + seed, as the driver
  acc = np.zeros((p, s, num_tasks, num_tasks))
  train_curve = np.zeros((p, s, num_tasks, spec.num_epochs))
  test_curve = np.zeros_like(train_curve)
  states, walls = None, []
  for t, data in enumerate(datas):
    t0 = time.time()
    res = job.train(keys, job.params, data, initial_states=states)
    states = res.states
    train_curve[:, :, t] = np.asarray(res.train_acc).reshape(p, s, -1)
    test_curve[:, :, t] = np.asarray(res.test_acc).reshape(p, s, -1)
    flat = jax.tree_util.tree_map(
        lambda a: np.asarray(a).reshape((p * s,) + np.asarray(a).shape[
            (2 if job.grid else 1):]), states)
    for k, other in enumerate(datas):
      correct = np.asarray(evaluate(flat, run_keys, np.asarray(other.x),
                                    np.asarray(other.y, np.int32)))
      acc[:, :, t, k] = (100.0 * correct / tasks[k].num_test).reshape(p, s)
    if not np.array_equal(acc[:, :, t, t], test_curve[:, :, t, -1]):
      raise AssertionError(f'task {t}: the evaluated diagonal differs from the training '
                           f'call\'s test accuracy')
    walls.append(time.time() - t0)
    log(f'  task {t + 1}/{num_tasks} in {walls[-1]:.1f}s: on tasks 0..{t}: '
        + ', '.join(f'{v:.1f}' for v in acc[:, :, t, :t + 1].mean(axis=1)[0]))
  return {'acc': acc, 'train_curve': train_curve, 'test_curve': test_curve,
          'grid': job.grid, 'wall_seconds': walls}


def metrics(acc: np.ndarray) -> Dict[str, np.ndarray]:
  """Per-run metrics of accuracy matrices acc [..., T, T] (percent), over the last axes:

  final_avg: mean_k A[T-1, k] (every task after the last one).
  learning: mean_k A[k, k] (each task just after training it).
  bwt: backward transfer, mean_{k<T-1} (A[T-1, k] - A[k, k]) (negative: forgetting).
  forgetting: mean_{k<T-1} (max_{k<=t<T-1} A[t, k] - A[T-1, k]) (Chaudhry et al. 2018).
  first_task_final: A[T-1, 0]. With T = 1, bwt and forgetting are 0."""
  acc = np.asarray(acc, np.float64)
  t = acc.shape[-1]
  diag = np.diagonal(acc, axis1=-2, axis2=-1)
  last = acc[..., t - 1, :]
  out = {'final_avg': last.mean(-1), 'learning': diag.mean(-1),
         'first_task_final': last[..., 0]}
  if t == 1:
    out['bwt'] = out['forgetting'] = np.zeros(acc.shape[:-2])
    return out
  out['bwt'] = (last[..., :-1] - diag[..., :-1]).mean(-1)
  best = np.stack([acc[..., k:t - 1, k].max(-1) for k in range(t - 1)], -1)
  out['forgetting'] = (best - last[..., :-1]).mean(-1)
  return out


def tidy_rows(record: Dict, base: Dict):
  """(matrix rows: seed x trained task x evaluated task, curve rows: seed x task x
  epoch) of one setting's record, each with the columns of `base`."""
  mats, curves = [], []
  seed0 = record['spec']['seed']
  acc, tr, te = (np.asarray(record[k]) for k in ('acc', 'train_curve', 'test_curve'))
  for s in range(acc.shape[0]):
    for t in range(acc.shape[1]):
      for k in range(acc.shape[2]):
        mats.append(dict(base, seed=seed0 + s, trained_task=t + 1, eval_task=k + 1,
                         test_acc=acc[s, t, k]))
      for e in range(tr.shape[-1]):
        curves.append(dict(base, seed=seed0 + s, task=t + 1, epoch=e + 1,
                           train_acc=tr[s, t, e], test_acc=te[s, t, e]))
  return mats, curves
