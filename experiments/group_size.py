r"""Group size γ: one hidden layer, the widths and γ values of the paper's γ figure
(FMNIST, CIFAR-10, Imagenette), and the same study on data available offline
(Random Prototypes and mnist5k, widths 75 and 135).

  python -m experiments.run --experiment=group_size [--dataset=prototypes]

Runtime on Prototypes and mnist5k (20 settings x 10 seeds x 50 epochs): 298 s on the
project's 2-core CPU (experiments/results/RUN.md).
"""

from experiments import framework

PAPER = {
    75: (1, 5, 15, 25, 75), 135: (1, 5, 15, 45, 135), 255: (1, 5, 15, 51, 85, 255),
    525: (1, 5, 15, 25, 35, 75, 105, 175, 525),
    1035: (1, 3, 5, 9, 15, 23, 45, 69, 115, 207, 345, 1035),
    2025: (1, 5, 15, 25, 45, 75, 135, 405, 675, 2025),
    4095: (1, 5, 15, 21, 45, 65, 117, 455, 819, 1365, 4095),
}
WIDTHS = {
    'fashion_mnist': (75, 135, 255, 525, 1035, 2025, 4095),
    'cifar10_features': (75, 135, 525, 2025),
    'imagenette_features': (75, 135, 525, 2025),
    'prototypes': (75, 135),
    'mnist5k': (75, 135),
}


def settings(smoke: bool = False):
  out = []
  for ds, widths in WIDTHS.items():
    for n in (widths[:1] if smoke else widths):
      gammas = PAPER[n][-2:] if smoke else PAPER[n]
      for g in gammas:
        out.append(framework.Setting(
            ds, framework.spec_for('ours', (n,), smoke, group_size=(g,)),
            f'{n} γ{g}', {'experiment': 'group_size', 'layers': str(n),
                          'group_size': str(g)}, series=f'width {n}', x=g))
  return out


EXPERIMENT = framework.Experiment(
    name='group_size', reference='group size γ ablation (one hidden layer)',
    settings_fn=settings, plot='x', xlabel='group size γ', xlog=True)
