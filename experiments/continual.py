r"""Beyond the paper: continual learning with metaplastic integer weights, and training
with no hidden integers at all (issue 15).

Protocol of Laborieux et al. (Nature Communications 12, 2549, 2021, "Synaptic
metaplasticity in binarized neural networks"): tasks are trained one after another,
without replay; after each task, every task's test split is evaluated, giving the T x T
accuracy matrix A[t, k] (accuracy on task k after training task t), per seed. Every
seed (and every grid point of the rule's hyper-parameters) runs vmapped in one
compiled call per task: `methods.make_trainer` compiles the method once, each task's
call continues the previous task's states (`initial_states`), and the states are then
evaluated on every task's test split (the same per-run split `bnnjax.run` draws:
`run.split_indices` of the run's split key), vmapped over runs.

Benchmarks (`BENCHMARKS`):
* permuted_mnist5k: T permutations of mnist5k's 784 input bits (task 0 the identity,
  task t a fixed random permutation drawn with NumPy seed PERMUTATION_SEED + t); ten
  classes in every task; the split is the same samples for every task.
* split_digits: scikit-learn digits cut into five class-disjoint tasks {0,1}, {2,3},
  ..., {8,9}, labels 0/1 inside each task (the "domain-incremental" split: one
  two-class head shared by all tasks); every task is cut to the smallest task's size
  so one compiled program serves all five.
* mnist5k, prototypes: one task (the pure-binary comparison).

Learners (`settings`): ours 135-135 (γ 45) with a grid over p_r ∈ {0.5, 0} x clip ∈
{127 (8-bit signed), 31 (6-bit signed), unbounded}, run as one call; `flip`
(bnnjax.baselines.flip: 1-bit weights, random flips, no hidden integers) and flip with a
stochastic counter (c = 7); SGD (lr 0.01) and the STE binary MLP (Adam 1e-3), same widths,
the same ±1 input bits, as references for catastrophic forgetting. Pure binary, single
task on mnist5k and Prototypes: ours at c = 127, unbounded and c = 1 (pure ±1 hidden
weights), flip over q, ours clipped at c ∈ {3, 7, 15} vs flip's stochastic counters
at the same c,
and the main rows again under the strictly 1-bit 'binary' semantics.

  python -m experiments.continual --workdir=experiments/results [--smoke]
      [--benchmark=permuted_mnist5k,split_digits,mnist5k,prototypes] [--num_seeds=N]
  python -m experiments.run --experiment=continual --workdir=experiments/results

Runtime (10 seeds, 20 epochs per task, 22 settings): about 60 minutes on the project's
2-core CPU shared with other jobs (experiments/results/continual/RUN.md); the smoke run
about a minute (six settings, each mostly compile time). Expected numbers (mean over
seeds, experiments/results/continual/README_section.md): permuted mnist5k forgetting
24.1 (ours 8-bit) vs 12.1 (ours unbounded) vs 8.6 (SGD) vs 43.0 (STE) points; one task,
mnist5k / Prototypes: ours 8-bit 89.6 / 92.1, c = 1 10.2 / 11.5, flip 1-bit 61.4 / 13.8,
flip counter (c = 15) 86.8 / 82.0.

Outputs in <workdir>/continual/: settings/<id>.json (one per learner x benchmark,
written atomically when its sequence finishes; a rerun skips it), matrices.csv (one row
per learner x seed x trained task x evaluated task), curves.csv (per epoch of every
task), summary.json, table.md, and (with matplotlib) heatmaps_<benchmark>.png,
forgetting_<benchmark>.png and pure_binary.png. Runtime: experiments/results/continual/
RUN.md.
"""

import dataclasses
import hashlib
import io
import json
import os
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from bnnjax import methods
from bnnjax import run as run_lib

EXPERIMENT = 'continual'
PERMUTATION_SEED = 1000
LAYERS = (135, 135)
SMOKE_LAYERS = (15, 15)
CLIPS = (127, 31, 0)  # 8-bit and 6-bit signed integers, unbounded (int32)
P_REINFORCE = (0.5, 0.0)
FLIP_PROB = 1.0 / 256  # flip's q in the continual runs
FLIP_GRID = (1.0 / 16, 1.0 / 64, 1.0 / 256, 1.0 / 1024)
PURE_CLIPS = (127, 0, 1)  # c = 1: pure ±1 hidden weights
SMALL_CLIPS = (15, 7, 3)  # 5-, 4- and 3-bit signed hidden integers, deterministic steps
# flip with a small stochastic counter: clips x q
COUNTER_CLIPS = (3, 7, 15)
COUNTER_GRID = (1.0 / 16, 1.0 / 64)
COUNTER = (7, 1.0 / 16)  # (clip, q) of the counter in the continual runs


@dataclasses.dataclass(frozen=True)
class Benchmark:
  """dataset: bnnjax.data name; kind: 'permuted', 'split' or 'single'; num_tasks: T
  (full run; smoke runs keep at most SMOKE_TASKS of a permuted sequence)."""
  dataset: str
  kind: str
  num_tasks: int
  num_epochs: int  # per task
  smoke_tasks: int = 3


BENCHMARKS: Dict[str, Benchmark] = {
    'permuted_mnist5k': Benchmark('mnist5k', 'permuted', 5, 20),
    'split_digits': Benchmark('digits', 'split', 5, 20),
    'mnist5k': Benchmark('mnist5k', 'single', 1, 20),
    'prototypes': Benchmark('prototypes', 'single', 1, 20),
}
SMOKE_EPOCHS = 2
SMOKE_SEEDS = 2
NUM_SEEDS = 10


def benchmark(name: str) -> Benchmark:
  if name not in BENCHMARKS:
    raise ValueError(f'unknown benchmark {name!r} (--benchmark); valid: '
                     f'{sorted(BENCHMARKS)}')
  return BENCHMARKS[name]


# ----------------------------------------------------------------------------------
# Tasks
# ----------------------------------------------------------------------------------


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


def make_tasks(name: str, smoke: bool = False) -> List:
  from bnnjax import data as data_lib
  b = benchmark(name)
  ds = data_lib.load(b.dataset, smoke=smoke)
  if b.kind == 'permuted':
    return permuted_tasks(ds, min(b.num_tasks, b.smoke_tasks) if smoke else b.num_tasks)
  if b.kind == 'split':
    return split_tasks(ds)
  return [ds]


# ----------------------------------------------------------------------------------
# Settings
# ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Setting:
  """A learner (one RunSpec; ours and flip may hold a grid) on a benchmark."""
  benchmark: str
  spec: methods.RunSpec

  def setting_id(self, smoke: bool) -> str:
    spec = {k: v for k, v in dataclasses.asdict(self.spec).items() if k != 'diagnostics'}
    b = dataclasses.asdict(benchmark(self.benchmark))
    text = json.dumps({'benchmark': self.benchmark, 'def': b, 'smoke': smoke,
                       'spec': spec, 'permutation_seed': PERMUTATION_SEED},
                      sort_keys=True, default=str)
    return (f'{self.spec.method}-{self.benchmark}-'
            f'{hashlib.sha256(text.encode()).hexdigest()[:12]}')


def _spec(method: str, smoke: bool, num_epochs: int, num_seeds: int,
          **kwargs) -> methods.RunSpec:
  layers = SMOKE_LAYERS if smoke else LAYERS
  return methods.RunSpec(method=method, layers=layers,
                         num_epochs=SMOKE_EPOCHS if smoke else num_epochs,
                         num_seeds=min(num_seeds, SMOKE_SEEDS) if smoke else num_seeds,
                         diagnostics=False, **kwargs)


# Smoke runs keep these learners per benchmark (every code path, few compiles: a CI
# budget of about half a minute); full runs have all of them.
SMOKE_METHODS = {'permuted_mnist5k': ('ours', 'sgd'), 'split_digits': ('flip', 'ste'),
                 'mnist5k': ('ours',), 'prototypes': ('flip',)}


def settings(smoke: bool = False, num_seeds: int = NUM_SEEDS) -> List[Setting]:
  out, seen = [], set()
  for s in _all_settings(smoke, num_seeds):
    if smoke and (s.spec.method not in SMOKE_METHODS[s.benchmark]
                  or (s.benchmark, s.spec.method) in seen):
      continue  # smoke: the first setting of each listed method
    seen.add((s.benchmark, s.spec.method))
    out.append(s)
  return out


def _all_settings(smoke: bool, num_seeds: int) -> List[Setting]:
  out = []
  for name, b in BENCHMARKS.items():
    e = b.num_epochs
    if b.kind == 'single':  # pure binary vs integer hidden weights
      out.append(Setting(name, _spec('ours', smoke, e, num_seeds,
                                     weight_clip=PURE_CLIPS)))
      out.append(Setting(name, _spec('flip', smoke, e, num_seeds,
                                     learning_rate=FLIP_GRID)))
      # Small integers: deterministic (the rule, clipped) vs stochastic (flip's counter).
      out.append(Setting(name, _spec('ours', smoke, e, num_seeds,
                                     weight_clip=SMALL_CLIPS)))
      out.append(Setting(name, _spec('flip', smoke, e, num_seeds,
                                     weight_clip=COUNTER_CLIPS,
                                     learning_rate=COUNTER_GRID)))
      # The same under strictly 1-bit arithmetic (algorithm.md, 'binary' semantics:
      # no zero weight, activation or classifier entry anywhere).
      out.append(Setting(name, _spec('ours', smoke, e, num_seeds, weight_clip=PURE_CLIPS,
                                     semantics='binary')))
      out.append(Setting(name, _spec('flip', smoke, e, num_seeds,
                                     learning_rate=FLIP_PROB, semantics='binary')))
      continue
    out += [
        Setting(name, _spec('ours', smoke, e, num_seeds, p_reinforce=P_REINFORCE,
                            weight_clip=CLIPS)),
        Setting(name, _spec('flip', smoke, e, num_seeds, learning_rate=FLIP_PROB)),
        Setting(name, _spec('flip', smoke, e, num_seeds, weight_clip=COUNTER[0],
                            learning_rate=COUNTER[1])),
        Setting(name, _spec('sgd', smoke, e, num_seeds)),
        Setting(name, _spec('ste', smoke, e, num_seeds)),
    ]
  return out


def _bits_label(c) -> str:
  c = int(c)
  if c == 0:
    return 'unbounded'
  if c == 1:
    return 'c=1 (pure ±1)'
  return f'{int(np.ceil(np.log2(c + 1))) + 1}-bit (c={c})'


def point_labels(spec: methods.RunSpec, grid: Dict[str, list]) -> List[str]:
  """One label per grid point (or one for no grid)."""
  num = len(next(iter(grid.values()))) if grid else 1
  labels = []
  suffix = ' [binary semantics]' if spec.semantics == 'binary' else ''
  for p in range(num):
    val = lambda f: grid[f][p] if grid else getattr(spec, f)
    if spec.method == 'ours':
      labels.append(f'ours {_bits_label(val("weight_clip"))} p_r={float(val("p_reinforce")):g}')
    elif spec.method == 'flip':
      fp = methods.flip_params(spec)
      q = grid['flip_prob'][p] if grid else fp.flip_prob
      c = int(grid['counter_clip'][p] if grid else fp.counter_clip)
      q_text = f'q=1/{round(1 / float(q))}' if q > 0 else 'q=0'
      labels.append(f'flip 1-bit {q_text}' if c == 1 else f'flip counter c={c} {q_text}')
    elif spec.method == 'ste':
      labels.append('STE (Adam)')
    else:
      labels.append(spec.method.upper() if spec.method == 'sgd' else spec.method)
  return [label + suffix for label in labels]


# ----------------------------------------------------------------------------------
# Running one learner through a sequence of tasks
# ----------------------------------------------------------------------------------


def make_evaluator(trainer: methods.Trainer) -> Callable:
  """evaluate(states [R, ...], run_keys uint32[R, 2], data) -> int32[R] correct
  predictions of each run's state on ITS test split of `data` (the split `bnnjax.run`
  draws from the run key: split_key, init_key = split(key)), vmapped over runs in
  chunks of the protocol's seed_chunk."""
  import jax
  from jax import lax
  from bnnjax import config as config_lib
  protocol = trainer.protocol

  @jax.jit
  def evaluate(states, run_keys, x, y):
    n = x.shape[0]

    def one(args):
      st, key = args
      split_key, _ = jax.random.split(key)
      _, test_idx = run_lib.split_indices(split_key, n, protocol)
      return trainer.evaluate_fn(st, x[test_idx], y[test_idx])

    chunk = config_lib.resolved_seed_chunk(protocol.seed_chunk, jax.default_backend())
    return lax.map(one, (states, run_keys), batch_size=min(chunk, run_keys.shape[0]))

  return evaluate


def run_sequence(spec: methods.RunSpec, tasks: Sequence, log: Callable = print) -> Dict:
  """Trains `spec` on tasks[0], tasks[1], ... (states continued, no replay) and
  evaluates after each task on every task's test split.

  Returns {'acc': float64[P, S, T, T] percent (A[p, s, t, k]: on task k after task t),
  'train_curve', 'test_curve': float64[P, S, T, E] (per epoch of each task, on the task
  being trained), 'grid', 'labels', 'wall_seconds': [T] seconds per task call}.
  Checks that the diagonal equals the test accuracy the training call reported."""
  import jax
  trainer = methods.make_trainer(spec, tasks[0])
  for t in tasks[1:]:  # one compiled program: same shapes for every task
    if (t.num_features, t.num_classes, t.num_test, t.num_samples) != (
        tasks[0].num_features, tasks[0].num_classes, tasks[0].num_test,
        tasks[0].num_samples):
      raise ValueError('every task of a sequence must have the same features, classes, '
                       'pool and test size')
  keys = np.asarray(run_lib.seed_keys(spec.seed, spec.num_seeds))
  evaluate = make_evaluator(trainer)
  datas = [trainer.data_fn(t) for t in tasks]
  num_tasks, s = len(tasks), spec.num_seeds
  p = len(next(iter(trainer.grid.values()))) if trainer.grid else 1
  run_keys = np.tile(keys, (p, 1))  # run r = point * S + seed, as bnnjax.run
  acc = np.zeros((p, s, num_tasks, num_tasks))
  train_curve = np.zeros((p, s, num_tasks, spec.num_epochs))
  test_curve = np.zeros_like(train_curve)
  states, walls = None, []
  for t, data in enumerate(datas):
    t0 = time.time()
    res = trainer.train(keys, trainer.params, data, initial_states=states)
    states = res.states
    train_curve[:, :, t] = np.asarray(res.train_acc).reshape(p, s, -1)
    test_curve[:, :, t] = np.asarray(res.test_acc).reshape(p, s, -1)
    flat = jax.tree_util.tree_map(
        lambda a: np.asarray(a).reshape((p * s,) + np.asarray(a).shape[
            (2 if trainer.grid else 1):]), states)
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
          'grid': trainer.grid, 'labels': point_labels(spec, trainer.grid),
          'wall_seconds': walls}


# ----------------------------------------------------------------------------------
# Metrics (per seed; then mean and std over seeds)
# ----------------------------------------------------------------------------------


def sequence_metrics(acc: np.ndarray) -> Dict[str, np.ndarray]:
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


# ----------------------------------------------------------------------------------
# Driver and outputs
# ----------------------------------------------------------------------------------


def _to_json(result: Dict) -> Dict:
  return {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v)
          for k, v in result.items()}


def _write_text(path: str, text: str) -> None:
  run_lib.atomic_write(path, lambda f: f.write(text.encode()))


def run(workdir: str, smoke: bool = False, benchmarks: Optional[Sequence[str]] = None,
        num_seeds: Optional[int] = None, log: Callable = print) -> Dict:
  """Runs (or resumes: finished settings are skipped) and writes every output."""
  if num_seeds is not None and num_seeds < 1:
    raise ValueError(f'num_seeds (--num_seeds) must be >= 1, got {num_seeds}')
  names = list(benchmarks) if benchmarks else list(BENCHMARKS)
  for n in names:
    benchmark(n)
  all_settings = settings(smoke, num_seeds or NUM_SEEDS)
  todo = [s for s in all_settings if s.benchmark in names]
  for s in todo:  # every setting is validated before anything runs
    methods.get(s.spec.method).validate_fn(s.spec, None)
  out_dir = os.path.join(workdir, EXPERIMENT)
  settings_dir = os.path.join(out_dir, 'settings')
  start = time.time()
  tasks_cache = {}
  for i, s in enumerate(todo):
    path = os.path.join(settings_dir, s.setting_id(smoke) + '.json')
    head = f'[{EXPERIMENT}] {i + 1}/{len(todo)} {s.benchmark} {s.spec.method}'
    if os.path.exists(path):
      log(f'{head}: already done, skipped')
      continue
    if s.benchmark not in tasks_cache:
      tasks_cache[s.benchmark] = make_tasks(s.benchmark, smoke)
    tasks = tasks_cache[s.benchmark]
    log(f'{head}: running {len(tasks)} task(s) x {s.spec.num_epochs} epochs x '
        f'{s.spec.num_seeds} seeds')
    t0 = time.time()
    result = run_sequence(s.spec, tasks, log)
    record = dict(_to_json(result), benchmark=s.benchmark, method=s.spec.method,
                  spec=dataclasses.asdict(s.spec), setting_id=s.setting_id(smoke),
                  smoke=smoke, num_tasks=len(tasks),
                  task_names=[t.name for t in tasks],
                  num_test=[t.num_test for t in tasks])
    _write_text(path, json.dumps(record, default=str))
    log(f'{head}: done in {time.time() - t0:.1f}s (elapsed {time.time() - start:.0f}s)')
  return write_outputs(workdir, all_settings, smoke, log)


def load_records(workdir: str, all_settings: Sequence[Setting], smoke: bool) -> List[Dict]:
  """The finished settings' records, in settings order, with numpy arrays."""
  out = []
  for s in all_settings:
    path = os.path.join(workdir, EXPERIMENT, 'settings', s.setting_id(smoke) + '.json')
    if not os.path.exists(path):
      continue
    with open(path) as f:
      r = json.load(f)
    for k in ('acc', 'train_curve', 'test_curve'):
      r[k] = np.asarray(r[k], np.float64)
    if r['method'] == 'flip' and r['grid'] and 'counter_clip' not in r['grid']:
      # written before flip had a counter: every point was the 1-bit flip
      r['grid']['counter_clip'] = [1] * len(r['grid']['flip_prob'])
    r['labels'] = point_labels(s.spec, r['grid'])  # today's names for the points
    out.append(r)
  return out


def learner_rows(records: Sequence[Dict]) -> List[Dict]:
  """One entry per (benchmark, learner = grid point): the matrices [S, T, T] and the
  metrics' mean and std over seeds."""
  rows = []
  for r in records:
    for p, label in enumerate(r['labels']):
      acc = r['acc'][p]
      m = sequence_metrics(acc)
      row = {'benchmark': r['benchmark'], 'method': r['method'], 'label': label,
             'acc': acc, 'test_curve': r['test_curve'][p],
             'num_seeds': acc.shape[0], 'num_tasks': acc.shape[-1],
             'num_epochs': r['test_curve'].shape[-1],
             'wall_seconds': float(sum(r['wall_seconds']))}
      for k, v in m.items():
        row[k] = (float(np.mean(v)), float(np.std(v)))
      rows.append(row)
  return rows


def _pm(v) -> str:
  return f'{v[0]:.2f} ± {v[1]:.2f}'


def render(rows: Sequence[Dict], smoke: bool) -> str:
  lines = ['# continual: sequential tasks without replay, and pure-binary training', '']
  if smoke:
    lines += ['**Smoke run** (tiny data, widths 15-15, 2 epochs per task, 2 seeds): '
              'checks the code paths only.', '']
  for name in BENCHMARKS:
    sub = [r for r in rows if r['benchmark'] == name]
    if not sub:
      continue
    b = BENCHMARKS[name]
    t, e, s = sub[0]['num_tasks'], sub[0]['num_epochs'], sub[0]['num_seeds']
    if b.kind == 'single':
      lines += [f'## {name}: one task, {e} epochs, {s} seeds', '',
                '| learner | test accuracy (%), last epoch |', '|---|---|']
      for r in sub:
        lines.append(f'| {r["label"]} | {_pm(r["final_avg"])} |')
      lines.append('')
      continue
    lines += [f'## {name}: {t} tasks x {e} epochs, {s} seeds', '',
              'Test accuracy (%), mean ± std over seeds. learning: each task right after '
              'training it (mean of the diagonal); final: mean over all tasks after the '
              'last task; BWT: backward transfer (final − just-trained, tasks 1..T−1); '
              'forgetting: best earlier accuracy − final (tasks 1..T−1); task 1 final: '
              'the first task after the last.', '',
              '| learner | learning | final | BWT | forgetting | task 1 final |',
              '|---|---|---|---|---|---|']
    for r in sub:
      lines.append(f'| {r["label"]} | {_pm(r["learning"])} | {_pm(r["final_avg"])} | '
                   f'{_pm(r["bwt"])} | {_pm(r["forgetting"])} | '
                   f'{_pm(r["first_task_final"])} |')
    lines += ['', 'Accuracy matrices (mean over seeds; row: after training task t, '
              'column: task k):', '']
    for r in sub:
      mean = r['acc'].mean(0)
      lines += [f'**{r["label"]}**', '',
                '| after \\ on | ' + ' | '.join(f'task {k + 1}' for k in range(t)) + ' |',
                '|---|' + '---|' * t]
      for i in range(t):
        lines.append(f'| task {i + 1} | ' + ' | '.join(f'{v:.1f}' for v in mean[i]) + ' |')
      lines.append('')
  return '\n'.join(lines) + '\n'


def tidy_rows(records: Sequence[Dict]) -> Tuple[List[Dict], List[Dict]]:
  """(matrix rows: learner x seed x trained task x evaluated task, curve rows:
  learner x seed x task x epoch)."""
  mats, curves = [], []
  for r in records:
    seed0 = r['spec']['seed']
    for p, label in enumerate(r['labels']):
      base = {'benchmark': r['benchmark'], 'method': r['method'], 'learner': label,
              'setting_id': r['setting_id'], 'smoke': r['smoke']}
      for f, vals in r['grid'].items():
        base[f] = vals[p]
      acc, tr, te = r['acc'][p], r['train_curve'][p], r['test_curve'][p]
      for s in range(acc.shape[0]):
        for t in range(acc.shape[1]):
          for k in range(acc.shape[2]):
            mats.append(dict(base, seed=seed0 + s, trained_task=t + 1, eval_task=k + 1,
                             test_acc=acc[s, t, k]))
          for e in range(tr.shape[-1]):
            curves.append(dict(base, seed=seed0 + s, task=t + 1, epoch=e + 1,
                               train_acc=tr[s, t, e], test_acc=te[s, t, e]))
  return mats, curves


def write_outputs(workdir: str, all_settings: Sequence[Setting], smoke: bool,
                  log: Callable = print) -> Dict:
  from bnnjax import results as results_lib
  out_dir = os.path.join(workdir, EXPERIMENT)
  records = load_records(workdir, all_settings, smoke)
  rows = learner_rows(records)
  mats, curves = tidy_rows(records)
  if mats:
    _write_text(os.path.join(out_dir, 'matrices.csv'), results_lib.csv_text(mats))
    _write_text(os.path.join(out_dir, 'curves.csv'), results_lib.csv_text(curves))
  _write_text(os.path.join(out_dir, 'table.md'), render(rows, smoke))
  summary = {
      'experiment': EXPERIMENT, 'smoke': smoke,
      'learners': [{k: (v.mean(0).tolist() if k == 'acc' else v) for k, v in r.items()
                    if k != 'test_curve'} for r in rows],
      'not_run': [f'{s.benchmark} {s.spec.method}' for s in all_settings
                  if not any(r['setting_id'] == s.setting_id(smoke) for r in records)],
      **results_lib.environment()}
  _write_text(os.path.join(out_dir, 'summary.json'),
              json.dumps(summary, indent=1, sort_keys=True, default=str))
  figures = plot(rows, out_dir)
  summary['figures'] = figures
  log(f'[{EXPERIMENT}] wrote {out_dir}/matrices.csv, curves.csv, table.md, summary.json'
      + (', ' + ', '.join(os.path.basename(f) for f in figures) if figures else
         ' (no figures: matplotlib is not installed)'))
  return summary


def plt_color(i: int) -> str:
  """A colour of matplotlib's 20-colour qualitative map (more curves than 'C0'-'C9')."""
  from matplotlib import colormaps
  return colormaps['tab20'](i % 20)


def plot(rows: Sequence[Dict], out_dir: str) -> List[str]:
  """Heat maps and forgetting curves per sequential benchmark, and the pure-binary
  comparison; [] when matplotlib is missing."""
  try:
    from matplotlib.figure import Figure
  except ImportError:
    return []
  paths = []

  def save(fig, name):
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=100, bbox_inches='tight')
    path = os.path.join(out_dir, name)
    run_lib.atomic_write(path, lambda f: f.write(buf.getvalue()))
    paths.append(path)

  for name, b in BENCHMARKS.items():
    sub = [r for r in rows if r['benchmark'] == name]
    if not sub:
      continue
    if b.kind == 'single':
      continue
    t = sub[0]['num_tasks']
    cols = min(4, len(sub))
    nrows = -(-len(sub) // cols)
    fig = Figure(figsize=(3.2 * cols, 3.0 * nrows), layout='constrained')
    axes = fig.subplots(nrows, cols, squeeze=False)
    for ax in axes.flat[len(sub):]:
      ax.axis('off')
    for ax, r in zip(axes.flat, sub):
      mean = r['acc'].mean(0)
      im = ax.imshow(mean, vmin=0, vmax=100, cmap='viridis')
      for i in range(t):
        for k in range(t):
          ax.text(k, i, f'{mean[i, k]:.0f}', ha='center', va='center', fontsize=7,
                  color='w' if mean[i, k] < 60 else 'k')
      ax.set_title(r['label'], fontsize=8)
      ax.set_xticks(range(t), [str(k + 1) for k in range(t)])
      ax.set_yticks(range(t), [str(k + 1) for k in range(t)])
      ax.set_xlabel('evaluated task', fontsize=7)
      ax.set_ylabel('after training task', fontsize=7)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6, label='test accuracy (%)')
    fig.suptitle(f'{name}: accuracy matrices (mean over seeds)', fontsize=9)
    save(fig, f'heatmaps_{name}.png')

    fig = Figure(figsize=(10, 4), layout='constrained')
    ax0, ax1 = fig.subplots(1, 2)
    xs = np.arange(1, t + 1)
    for r in sub:
      first = r['acc'][:, :, 0]
      ax0.errorbar(xs, first.mean(0), yerr=first.std(0), marker='o', capsize=2,
                   label=r['label'])
      seen = np.stack([r['acc'][:, i, :i + 1].mean(-1) for i in range(t)], -1)
      ax1.errorbar(xs, seen.mean(0), yerr=seen.std(0), marker='o', capsize=2,
                   label=r['label'])
    ax0.set_title('accuracy on task 1', fontsize=9)
    ax1.set_title('mean accuracy on the tasks seen so far', fontsize=9)
    for ax in (ax0, ax1):
      ax.set_xlabel('tasks trained')
      ax.set_ylabel('test accuracy (%)')
      ax.set_xticks(xs)
      ax.grid(alpha=0.3)
    ax1.legend(fontsize=6)
    fig.suptitle(f'{name}: forgetting (mean ± std over seeds)', fontsize=9)
    save(fig, f'forgetting_{name}.png')

  single = [r for r in rows if BENCHMARKS[r['benchmark']].kind == 'single']
  if single:
    names = list(dict.fromkeys(r['benchmark'] for r in single))
    small = lambda r: 'counter' in r['label'] or any(
        f'ours {k}-bit' in r['label'] for k in (3, 4, 5))
    reference = lambda r: r['label'] == 'ours 8-bit (c=127) p_r=0.5'
    panels = (('1-bit vs integer hidden weights', lambda r: not small(r)),
              ('small integers: clipped rule vs stochastic counter',
               lambda r: small(r) or reference(r)))
    fig = Figure(figsize=(5.5 * len(names), 4 * len(panels)), layout='constrained')
    axes = fig.subplots(len(panels), len(names), squeeze=False)
    for row, (title, keep) in enumerate(panels):
      for ax, name in zip(axes[row], names):
        sub = [r for r in single if r['benchmark'] == name and keep(r)]
        for i, r in enumerate(sub):
          curve = r['test_curve'][:, 0]  # [S, E]
          xs = np.arange(1, curve.shape[-1] + 1)
          style = (':' if 'binary semantics' in r['label'] else
                   '-' if r['method'] == 'ours' else '--')
          color = plt_color(i)
          ax.plot(xs, curve.mean(0), style, color=color, label=r['label'])
          ax.fill_between(xs, curve.mean(0) - curve.std(0),
                          curve.mean(0) + curve.std(0), color=color, alpha=0.15)
        ax.set_title(f'{name}: {title}', fontsize=9)
        ax.set_xlabel('epoch')
        ax.set_ylabel('test accuracy (%)')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    save(fig, 'pure_binary.png')
  return paths


def main(argv=None) -> None:
  """Entry point; flags are parsed here only."""
  from absl import app
  from absl import flags
  flags.DEFINE_bool('smoke', False, 'Tiny data, widths 15-15, 2 epochs, 2 seeds.')
  flags.DEFINE_string('workdir', None, 'Output folder (default runs/experiments or '
                      'runs/experiments-smoke); outputs go to <workdir>/continual.')
  flags.DEFINE_list('benchmark', None, f'Only these benchmarks ({", ".join(BENCHMARKS)}).')
  flags.DEFINE_integer('num_seeds', None, f'Seeds per setting (default {NUM_SEEDS}).')
  FLAGS = flags.FLAGS

  def _main(args):
    if len(args) > 1:
      print(f'error: unexpected arguments: {args[1:]}', file=sys.stderr)
      sys.exit(2)
    run_lib.use_cpu_cores()
    workdir = FLAGS.workdir or os.path.join(
        'runs', 'experiments-smoke' if FLAGS.smoke else 'experiments')
    start = time.time()
    try:
      run(workdir, smoke=FLAGS.smoke, benchmarks=FLAGS.benchmark,
          num_seeds=FLAGS.num_seeds, log=lambda m: print(m, flush=True))
    except ValueError as e:
      print('error: ' + ' '.join(str(e).split()), file=sys.stderr)
      sys.exit(2)
    print(f'[{EXPERIMENT}] done in {time.time() - start:.1f}s', flush=True)

  app.run(_main, argv)


if __name__ == '__main__':
  main()
