r"""Accuracy vs memory (fig. 1a) and vs Boolean gates (fig. 1b), and the CIFAR-100 table.

arXiv 2412.00119, figure 1 and the CIFAR-100 table: ours with two hidden layers
(35 ... 525, and 255 ... 4095 on CIFAR-100) against the CP+R committee machine (committees
of 11) and float MLPs trained with SGD and Adam on binary ("bin", full training split)
and float ("fp", 1/32 of it) inputs, at matched memory, on Random Prototypes,
Fashion-MNIST and the AlexNet features of CIFAR-10, Imagenette and CIFAR-100. The x axes
are the paper's cost model (`bnnjax.cost`).

  python -m experiments.run --experiment=main [--dataset=prototypes] [--smoke]

Runtime of the full Prototypes part (20 settings x 10 seeds x 50 epochs): 1,204 s on the
project's 2-core x86-64 CPU with other jobs sharing it (experiments/results/RUN.md). The
other data sets need prepared data (`python -m experiments.run --list` says which are
available).
"""

from experiments import framework

# (hidden width, γ) of the paper's two-layer rows, per data set.
OURS = {
    'prototypes': [(35, 35), (75, 75), (135, 45), (255, 85), (525, 105)],
    'fashion_mnist': [(35, 35), (75, 75), (135, 45), (255, 85), (525, 105)],
    'cifar10_features': [(35, 35), (75, 75), (135, 135), (255, 85), (525, 105)],
    'imagenette_features': [(35, 35), (55, 55), (75, 75), (135, 135), (255, 85),
                            (525, 105)],
    'cifar100_features': [(255, 51), (525, 75), (1035, 23), (2025, 45), (4095, 65)],
}
# CP+R K1-K2 blocks (committees of 11 perceptrons; CIFAR-100 as the paper's table).
CP_R = {
    'prototypes': ['44-4', '88-8', '165-15', '330-30', '814-74'],
    'fashion_mnist': ['44-4', '88-8', '165-15', '363-33', '880-80'],
    'cifar10_features': ['44-4', '77-7', '143-13', '264-24', '561-51'],
    'imagenette_features': ['44-4', '77-7', '154-14', '286-26', '660-60'],
    'cifar100_features': ['264-24', '561-51', '1177-107', '2541-231', '5951-541'],
}
# Float MLP widths at matched memory: {(method, input_mode): widths}, two hidden layers.
FLOAT = {
    'prototypes': {('sgd', 'bin'): [5, 10, 20, 41, 98], ('adam', 'bin'): [3, 5, 10, 22, 51]},
    'fashion_mnist': {('sgd', 'bin'): [5, 11, 21, 44, 105],
                      ('sgd', 'fp'): [5, 11, 21, 44, 105],
                      ('adam', 'bin'): [3, 6, 11, 23, 56],
                      ('adam', 'fp'): [3, 6, 11, 23, 56]},
    'cifar10_features': {('sgd', 'bin'): [5, 10, 18, 33, 70],
                         ('sgd', 'fp'): [5, 10, 18, 33, 70],
                         ('adam', 'bin'): [3, 5, 9, 17, 35],
                         ('adam', 'fp'): [3, 5, 9, 17, 35]},
    'imagenette_features': {('sgd', 'bin'): [5, 10, 19, 36, 81],
                            ('sgd', 'fp'): [5, 10, 19, 36, 81],
                            ('adam', 'bin'): [3, 5, 9, 19, 42],
                            ('adam', 'fp'): [3, 5, 9, 19, 42]},
    'cifar100_features': {('sgd', 'bin'): [33, 70, 145, 312, 715],
                          ('sgd', 'fp'): [33, 70, 145, 312, 715]},
}
SMOKE = {'ours': [(35, 35)], 'cp_r': ['44-4'], 'float': 1}


def settings(smoke: bool = False):
  out = []
  for ds, rows in OURS.items():
    for n, g in (rows[:1] if smoke else rows):
      out.append(framework.Setting(
          ds, framework.spec_for('ours', (n, n), smoke, group_size=(g,)),
          f'ours {n}-{n} γ{g}', {'experiment': 'main', 'layers': f'{n}_{n}',
                                  'group_size': str(g)}, series='ours'))
    for blocks in (CP_R[ds][:1] if smoke else CP_R[ds]):
      out.append(framework.Setting(
          ds, framework.spec_for('cp_r', blocks, smoke), f'cp_r {blocks}',
          {'experiment': 'cp_r', 'layers': blocks.replace('-', '_')}, series='cp_r'))
    for (method, mode), widths in FLOAT.get(ds, {}).items():
      for n in (widths[:1] if smoke else widths):
        out.append(framework.Setting(
            ds, framework.spec_for(method, (n, n), smoke, input_mode=mode),
            f'{method} {mode} {n}-{n}', {'experiment': method, 'layers': f'{n}_{n}'},
            series=f'{method} {mode}'))
  return out


EXPERIMENT = framework.Experiment(
    name='main', reference='fig. 1a (accuracy vs memory), fig. 1b (vs gates) and the '
    'CIFAR-100 table', settings_fn=settings, plot=('memory', 'gates'))
