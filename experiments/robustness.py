r"""Robustness r ∈ {0, 0.25, 0.5, 0.75, 1}: one hidden layer (the paper's widths 75,
135, 525, 2025 on FMNIST, CIFAR-10, Imagenette; 75 and 135 on Random Prototypes and
mnist5k here). The five values of r of one width run as ONE vmapped grid call.

  python -m experiments.run --experiment=robustness [--dataset=prototypes]

Runtime on Prototypes and mnist5k (4 grid calls x 5 values x 10 seeds x 50 epochs): 740 s
on the project's 2-core CPU with other jobs sharing it (experiments/results/RUN.md).
"""

from experiments import framework

R = (0.0, 0.25, 0.5, 0.75, 1.0)
ROWS = {'fashion_mnist': [(75, 75), (135, 135), (525, 105), (2025, 135)],
        'cifar10_features': [(75, 75), (135, 135), (525, 105), (2025, 135)],
        'imagenette_features': [(75, 75), (135, 135), (525, 105), (2025, 135)],
        'prototypes': [(75, 75), (135, 135)],
        'mnist5k': [(75, 75), (135, 135)]}


def settings(smoke: bool = False):
  out = []
  for ds, rows in ROWS.items():
    for n, g in (rows[:1] if smoke else rows):
      for r in (R[:2] if smoke else R):
        out.append(framework.Setting(
            ds, framework.spec_for('ours', (n,), smoke, group_size=(g,), robustness=r),
            f'{n} γ{g} r={r}', {'experiment': 'robustness', 'layers': str(n),
                                'robustness': str(r)}, series=f'width {n}', x=r))
  return out


EXPERIMENT = framework.Experiment(
    name='robustness', reference='robustness r ablation (one hidden layer)',
    settings_fn=settings, plot='x', xlabel='robustness r')
