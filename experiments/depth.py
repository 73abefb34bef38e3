r"""Depth: 1, 2, 3, 5 and 10 hidden layers of 1035 (γ 115) against SGD and Adam MLPs of
the same widths with float input, as in the paper's depth table (FMNIST, CIFAR-10,
Imagenette); here also on Random Prototypes and mnist5k (ours only: the float baselines
there have no "fp" input).

  python -m experiments.run --experiment=depth [--dataset=prototypes] [--num_seeds=N]

The widest nets are the slowest settings of the paper: on a 2-core CPU prefer a GPU or
fewer seeds. Runtime on Prototypes, 10 seeds: 218 s on an NVIDIA H200 (16, 23, 33, 50 and
95 s for 1, 2, 3, 5 and 10 layers); on mnist5k, 3 seeds, on the project's 2-core CPU: see
experiments/results/RUN.md.
"""

from experiments import framework

DEPTHS = (1, 2, 3, 5, 10)
WIDTH, GAMMA = 1035, 115
PAPER_SETS = ('fashion_mnist', 'cifar10_features', 'imagenette_features')
LOCAL_SETS = ('prototypes', 'mnist5k')
SMOKE_WIDTH, SMOKE_GAMMA = 45, 15


def settings(smoke: bool = False):
  out = []
  width, gamma = (SMOKE_WIDTH, SMOKE_GAMMA) if smoke else (WIDTH, GAMMA)
  for ds in PAPER_SETS + LOCAL_SETS:
    for depth in ((1, 2) if smoke else DEPTHS):
      layers = (width,) * depth
      key = '_'.join(map(str, (WIDTH,) * depth))
      out.append(framework.Setting(
          ds, framework.spec_for('ours', layers, smoke, group_size=(gamma,)),
          f'ours {depth} x {width}', {'experiment': 'main', 'layers': key},
          series='ours', x=depth))
      if ds in PAPER_SETS:
        for method in ('sgd', 'adam'):
          out.append(framework.Setting(
              ds, framework.spec_for(method, layers, smoke, input_mode='fp'),
              f'{method} fp {depth} x {width}', {'experiment': method, 'layers': key},
              series=f'{method} fp', x=depth))
  return out


EXPERIMENT = framework.Experiment(
    name='depth', reference='depth study (1 to 10 hidden layers of 1035)',
    settings_fn=settings, plot='x', xlabel='hidden layers')
