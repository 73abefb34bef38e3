r"""Hidden-weight bit width: clip c ∈ {1, 8, 16, 32, 64, 128, unbounded} (the paper
labels it log2(c) + 1 bits), ours 135-135 with γ 135 as in the paper's table. The seven
clips of one data set run as ONE vmapped grid call.

  python -m experiments.run --experiment=weight_bits [--dataset=prototypes]

Runtime on Prototypes and mnist5k (2 grid calls x 7 clips x 10 seeds x 50 epochs): 544 s
on the project's 2-core CPU with other jobs sharing it (experiments/results/RUN.md).
"""

import math

from experiments import framework

CLIPS = (1, 8, 16, 32, 64, 128, 0)  # 0: unbounded
DATASETS = ('fashion_mnist', 'cifar10_features', 'imagenette_features', 'prototypes',
            'mnist5k')


def bits_label(c: int) -> str:
  return 'unbounded' if c == 0 else f'c={c} ({int(math.log2(c)) + 1} bits)'


def settings(smoke: bool = False):
  out = []
  for ds in DATASETS:
    for c in ((1, 0) if smoke else CLIPS):
      out.append(framework.Setting(
          ds, framework.spec_for('ours', (135, 135), smoke, group_size=(135,),
                                 weight_clip=c),
          f'135-135 γ135 {bits_label(c)}',
          {'experiment': 'weight_bits', 'weight_clip': str(c)} if c else None,
          series='ours 135-135', x=(math.log2(c) + 1) if c else 32))
  return out


EXPERIMENT = framework.Experiment(
    name='weight_bits', reference='hidden-weight bit width (clip) ablation',
    settings_fn=settings, plot='x', xlabel='hidden-weight bits (log2 c + 1; 32 = '
    'unbounded int32)', note='Unbounded weights are int32 in bnnjax and are plotted at 32 '
    'bits.')
