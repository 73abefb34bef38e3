r"""Beyond the paper: continual learning with metaplastic integer weights, and training
with no hidden integers at all (docs/continual.md).

Task sequences (`framework.Setting.tasks`, `experiments/sequences.py`), trained one task
after another without replay, every task evaluated after each (the T x T accuracy
matrix of Laborieux et al., Nature Communications 2021):
* permuted_mnist5k: 5 permutations of mnist5k's 784 input bits (task 1 the identity);
* split_digits: scikit-learn digits in 5 class-disjoint tasks {0,1}, ..., {8,9}, labels
  0/1 inside each task (one shared two-class head).
Learners: ours 135-135 (γ 45) over p_r ∈ {0.5, 0} x clip ∈ {127 (8-bit), 31 (6-bit),
unbounded}, one grid call per task; `flip` (1-bit weights, random flips, no hidden
integers) and flip with a stochastic counter (c = 7); SGD (lr 0.01) and the STE binary
MLP (Adam 1e-3), same widths, the same ±1 input bits.
One task (mnist5k, Prototypes), pure binary against integer hidden weights: ours at
c = 127, unbounded and c = 1 (pure ±1 hidden weights), flip over q, ours clipped at
c ∈ {3, 7, 15} against flip's stochastic counters at the same c, and the main rows again
under the strictly 1-bit 'binary' semantics.

  python -m experiments.run --experiment=continual --workdir=experiments/results
      [--dataset=mnist5k,digits,prototypes] [--num_seeds=N] [--smoke]

Runtime (10 seeds, 20 epochs per task): about 60 minutes on the project's 2-core CPU
shared with other jobs (experiments/results/continual/RUN.md); the smoke run about a
minute. Expected numbers (mean over seeds; experiments/results/continual/table.md):
permuted mnist5k forgetting 24.1 (ours 8-bit) vs 12.1 (ours unbounded) vs 8.6 (SGD) vs
43.0 (STE) points; one task, mnist5k / Prototypes: ours 8-bit 89.6 / 92.1, c = 1
10.2 / 11.5, flip 1-bit 61.4 / 13.8, flip counter (c = 15) 86.8 / 82.0.
"""

import itertools

import numpy as np

from experiments import framework
from experiments.sequences import Tasks

LAYERS, SMOKE_LAYERS = (135, 135), (15, 15)
EPOCHS = 20  # per task
CLIPS = (127, 31, 0)  # 8-bit and 6-bit signed integers, unbounded (int32)
P_REINFORCE = (0.5, 0.0)
FLIP_PROB = 1.0 / 256  # flip's q in the sequences
COUNTER = (7, 1.0 / 16)  # (clip, q) of flip's counter in the sequences
PURE_CLIPS = (127, 0, 1)  # c = 1: pure ±1 hidden weights
FLIP_GRID = (1.0 / 16, 1.0 / 64, 1.0 / 256, 1.0 / 1024)
SMALL_CLIPS = (15, 7, 3)  # 5-, 4- and 3-bit signed hidden integers, deterministic steps
COUNTER_CLIPS, COUNTER_GRID = (3, 7, 15), (1.0 / 16, 1.0 / 64)  # flip's counters

SEQUENCES = {'mnist5k': Tasks('permuted_mnist5k', 'permuted', num_tasks=5),
             'digits': Tasks('split_digits', 'split')}
SINGLE = ('mnist5k', 'prototypes')
# Smoke runs keep the first grid of these learners (every code path, few compiles).
SMOKE = {'permuted_mnist5k': ('ours', 'sgd'), 'split_digits': ('flip', 'ste'),
         'mnist5k': ('ours',), 'prototypes': ('flip',)}


def _bits(c) -> str:
  c = int(c)
  if c == 0:
    return 'unbounded'
  if c == 1:
    return 'c=1 (pure ±1)'
  return f'{int(np.ceil(np.log2(c + 1))) + 1}-bit (c={c})'


def _q(q) -> str:
  return f'q=1/{round(1 / float(q))}' if q > 0 else 'q=0'


def label(spec) -> str:
  """The learner's name in tables and figures."""
  suffix = ' [binary semantics]' if spec.semantics == 'binary' else ''
  if spec.method == 'ours':
    text = f'ours {_bits(spec.weight_clip)} p_r={float(spec.p_reinforce):g}'
  elif spec.method == 'flip':
    c = max(1, int(spec.weight_clip))
    text = (f'flip 1-bit {_q(spec.flip_prob)}' if c == 1 else
            f'flip counter c={c} {_q(spec.flip_prob)}')
  else:
    text = {'sgd': 'SGD', 'ste': 'STE (Adam)'}.get(spec.method, spec.method)
  return text + suffix


def _grid(dataset, tasks, method, smoke, num_seeds=10, **values):
  """The settings of one grid: every point of the product of `values` (tuples), in
  the order the method's grid runs them (the last field varying fastest)."""
  names = list(values)
  out = []
  for point in itertools.product(*(values[n] for n in names)):
    spec = framework.spec_for(method, SMOKE_LAYERS if smoke else LAYERS, smoke,
                              num_seeds, num_epochs=EPOCHS, diagnostics=False,
                              **dict(zip(names, point)))
    out.append(framework.Setting(dataset, spec, label(spec), series=method,
                                 tasks=tasks))
  return out


def _learners(dataset, tasks, smoke):
  """The groups of settings (each one grid call) of one benchmark."""
  g = lambda method, **v: _grid(dataset, tasks, method, smoke, **v)
  if tasks is not None:
    return [g('ours', p_reinforce=P_REINFORCE, weight_clip=CLIPS),
            g('flip', flip_prob=(FLIP_PROB,)),
            g('flip', weight_clip=(COUNTER[0],), flip_prob=(COUNTER[1],)),
            g('sgd'), g('ste')]
  return [g('ours', weight_clip=PURE_CLIPS),
          g('flip', flip_prob=FLIP_GRID),
          # Small integers: deterministic (the rule, clipped) vs stochastic (flip's counter).
          g('ours', weight_clip=SMALL_CLIPS),
          g('flip', weight_clip=COUNTER_CLIPS, flip_prob=COUNTER_GRID),
          # The same under strictly 1-bit arithmetic (no zero weight, activation or
          # classifier entry anywhere).
          g('ours', weight_clip=PURE_CLIPS, semantics=('binary',)),
          g('flip', flip_prob=(FLIP_PROB,), semantics=('binary',))]


def settings(smoke: bool = False):
  out = []
  benchmarks = [(d, t) for d, t in SEQUENCES.items()] + [(d, None) for d in SINGLE]
  for dataset, tasks in benchmarks:
    keep = SMOKE[tasks.name if tasks else dataset]
    seen = set()
    for group in _learners(dataset, tasks, smoke):
      method = group[0].spec.method
      if smoke and (method not in keep or method in seen):
        continue  # smoke: the first grid of each listed learner
      seen.add(method)
      out += group
  return out


def _panel(entry) -> str:
  small = 'counter' in entry['label'] or any(
      f'ours {k}-bit' in entry['label'] for k in (3, 4, 5))
  return ('small integers: clipped rule vs stochastic counter' if small else
          '1-bit vs integer hidden weights')


EXPERIMENT = framework.Experiment(
    name='continual', reference='beyond the paper: sequential tasks without replay, and '
    'pure-binary training', settings_fn=settings, plot='epochs', panel_fn=_panel,
    note='Single-task rows: mnist5k and Prototypes, 20 epochs (the pure-binary study); '
         'the task sequences follow.')
