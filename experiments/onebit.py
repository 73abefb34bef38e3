r"""Beyond the paper: training with ONE bit per weight (the paper's open question 3), and
consolidation at that budget (docs/onebit.md).

The 1-bit learners of `bnnjax.baselines.onebit` (`--method=flip_<design>`: topk,
threshold, anneal, errscale, consolidate) beside the 8-bit rule (ours, c = 127), the
1-bit `flip` (q = 1/256) and flip's 5-bit stochastic counter (c = 15, q = 1/16):
* one task, mnist5k and Prototypes, 135-135, 10 seeds x 100 epochs;
* permuted mnist5k (5 tasks, 20 epochs each, as experiments/continual.py): ours 8-bit,
  flip, flip_topk and flip_consolidate over its flips per halving s.
The designs' hyper-parameters (batch size, k, q, a) were chosen on validation data
(experiments/onebit_tune.py; experiments/results/onebit/tuning.md), `TUNED` below.

  python -m experiments.run --experiment=onebit --workdir=experiments/results
      [--dataset=mnist5k,prototypes] [--smoke]
"""

from experiments import framework
from experiments.sequences import Tasks

LAYERS, SMOKE_LAYERS = (135, 135), (15, 15)
EPOCHS = 100  # one task: every curve flat at the end (at 50, Prototypes' top-k still rose)
TASK_EPOCHS = 20  # per task of the sequence (experiments/continual.py's)
SINGLE = ('mnist5k', 'prototypes')
SEQUENCE = Tasks('permuted_mnist5k', 'permuted', num_tasks=5)
# The choices of experiments/onebit_tune.py (validation accuracy; tuning.md).
TUNED = {
    'mnist5k': {'topk': dict(batch_size=2500, flip_k=4),
                'threshold': dict(batch_size=5000, flip_k=64),
                'anneal': dict(batch_size=100, flip_prob=1 / 64, flip_anneal=0.1),
                'errscale': dict(batch_size=100, flip_prob=1 / 256)},
    'prototypes': {'topk': dict(batch_size=5000, flip_k=8),
                   'threshold': dict(batch_size=5000, flip_k=16),
                   'anneal': dict(batch_size=100, flip_prob=1 / 64, flip_anneal=0.1),
                   'errscale': dict(batch_size=100, flip_prob=1 / 64)},
}
CONSOLIDATE_S = (16, 64, 256)  # flips per halving of a neuron's plasticity
SINGLE_S = 256
# Smoke runs (CI) keep one setting: mnist5k's top-k (the suite's time budget; each
# design's step is tested against NumPy in tests/test_onebit.py, the task sequences in
# the continual experiment's smoke run).
SMOKE = {'mnist5k': 'flip_topk'}


def label(spec) -> str:
  suffix = ' [binary semantics]' if spec.semantics == 'binary' else ''
  return _label(spec) + suffix


def _label(spec) -> str:
  if spec.method == 'ours':
    return f'ours 8-bit (c={spec.weight_clip})'
  if spec.method == 'flip':
    c = max(1, int(spec.weight_clip))
    q = f'q=1/{round(1 / float(spec.flip_prob))}'
    return f'flip 1-bit {q}' if c == 1 else f'flip counter 5-bit (c={c}) {q}'
  parts = [f'B={spec.batch_size}']
  if spec.flip_k is not None:
    parts.append(('θ' if spec.method == 'flip_threshold' else 'k') + f'={spec.flip_k}')
  if spec.flip_prob is not None:
    parts.append(f'q=1/{round(1 / float(spec.flip_prob))}')
  if spec.flip_anneal is not None:
    parts.append(('s' if spec.method == 'flip_consolidate' else 'a') +
                 f'={spec.flip_anneal:g}')
  return f'{spec.method} ' + ' '.join(parts)


def _setting(dataset, method, smoke, tasks=None, **kw):
  epochs = TASK_EPOCHS if tasks is not None else EPOCHS
  spec = framework.spec_for(method, SMOKE_LAYERS if smoke else LAYERS, smoke, 10,
                            num_epochs=epochs, diagnostics=False, **kw)
  return framework.Setting(dataset, spec, label(spec), series=method, tasks=tasks)


def _baselines(dataset, smoke, tasks=None):
  return [_setting(dataset, 'ours', smoke, tasks, weight_clip=127, p_reinforce=0.5),
          _setting(dataset, 'flip', smoke, tasks, flip_prob=1 / 256),
          _setting(dataset, 'flip', smoke, tasks, weight_clip=15, flip_prob=1 / 16)]


def settings(smoke: bool = False):
  out = []
  for dataset in SINGLE:
    rows = _baselines(dataset, smoke)
    for design, kw in TUNED[dataset].items():
      rows.append(_setting(dataset, f'flip_{design}', smoke, **kw))
    rows.append(_setting(dataset, 'flip_consolidate', smoke,
                         flip_anneal=float(SINGLE_S), **TUNED[dataset]['topk']))
    # Strictly one bit: under 'binary' no weight is ever 0 (under 'reference' the
    # initial W = sign(trunc(G)) is 0 for about 1 % of the weights until they move).
    rows += [_setting(dataset, 'ours', smoke, weight_clip=127, p_reinforce=0.5,
                      semantics='binary'),
             _setting(dataset, 'flip_topk', smoke, semantics='binary',
                      **TUNED[dataset]['topk'])]
    out += [s for s in rows if not smoke or (s.spec.method == SMOKE.get(dataset)
                                             and s.spec.semantics == 'reference')]
  mnist = TUNED['mnist5k']['topk']
  rows = _baselines('mnist5k', smoke, SEQUENCE)
  rows.append(_setting('mnist5k', 'flip_topk', smoke, SEQUENCE, **mnist))
  rows += [_setting('mnist5k', 'flip_consolidate', smoke, SEQUENCE, flip_anneal=float(s),
                    **mnist) for s in CONSOLIDATE_S]
  return out + ([] if smoke else rows)


def _panel(entry) -> str:
  return ('one bit per weight: the designs' if entry['label'].startswith('flip_') else
          'the 8-bit rule, flip and its counter')


def _pairs():
  """(the 8-bit rule, each 1-bit row) and (flip's 5-bit counter, the top-k row), per
  data set (their labels carry the data set's tuned values)."""
  rows = [s for s in settings() if s.tasks is None]
  out = []
  for dataset in SINGLE:
    mine = [s.label for s in rows if s.dataset == dataset and s.spec.semantics != 'binary']
    binary = [s.label for s in rows if s.dataset == dataset and s.spec.semantics == 'binary']
    topk = [l for l in mine if l.startswith('flip_topk')]
    out += ([(mine[0], l) for l in mine[1:]] + [(mine[2], l) for l in topk] +
            [(binary[0], binary[1])])
  return tuple(dict.fromkeys(out))


EXPERIMENT = framework.Experiment(
    name='onebit', reference='beyond the paper: one bit per weight (open question 3) '
    'and consolidation at that budget', settings_fn=settings, plot='epochs',
    panel_fn=_panel, pairs=_pairs(),
    note='One task (mnist5k, Prototypes, 135-135, 100 epochs) and permuted mnist5k (5 '
         'tasks x 20 epochs); hyper-parameters chosen on validation data (tuning.md).')


def collect(workdir: str = 'experiments/results') -> None:
  """Writes <workdir>/onebit/ from every finished setting (the table of a partial run)."""
  import os
  done = [s for s in settings() if os.path.exists(s.file(workdir, False))]
  framework.write_outputs(EXPERIMENT, workdir, done, False, {}, log=print)
