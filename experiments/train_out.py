r"""Trained vs fixed random local classifiers (the paper's "train-out" appendix table):
ours 35-35, 135-135 and 525-525 with `train_classifiers`, beside the fixed-classifier
runs of the main experiment.

  python -m experiments.run --experiment=train_out [--dataset=prototypes]

Runtime on Prototypes (3 trained settings; the fixed ones are main's): 472 s on the
project's 2-core CPU with other jobs sharing it (experiments/results/RUN.md).
"""

from experiments import framework

ROWS = {  # data set: [(width, γ)] of the paper's train-out rows
    'prototypes': [(35, 35), (135, 45), (525, 105)],
    'fashion_mnist': [(35, 35), (135, 135), (525, 105)],
    'cifar10_features': [(35, 35), (135, 135), (525, 105)],
    'imagenette_features': [(35, 35), (135, 135), (525, 105)],
}


def settings(smoke: bool = False):
  out = []
  for ds, rows in ROWS.items():
    for n, g in (rows[:1] if smoke else rows):
      for trained in (True, False):
        spec = framework.spec_for('ours', (n, n), smoke, group_size=(g,),
                                  train_classifiers=trained)
        key = ({'experiment': 'train_out', 'layers': f'{n}_{n}'} if trained else
               {'experiment': 'main', 'layers': f'{n}_{n}'})
        out.append(framework.Setting(
            ds, spec, f'{"trained" if trained else "fixed"} {n}-{n} γ{g}', key,
            series='trained classifiers' if trained else 'fixed classifiers', x=n))
  return out


EXPERIMENT = framework.Experiment(
    name='train_out', reference='train-out appendix (trained vs fixed local classifiers)',
    settings_fn=settings, plot='x', xlabel='hidden width', xlog=True)
