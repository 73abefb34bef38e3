r"""Learning dynamics: test accuracy after every epoch (the paper's learning-dynamics
table), ours 35-35, 135-135 and 525-525 on every data set of the main figure.

  python -m experiments.run --experiment=learning_curves [--dataset=prototypes]

The settings are the main experiment's, so a finished `main` run is reused (settings are
cached by content in <workdir>/settings). Figure: mean ± std over seeds per epoch.
Runtime on Prototypes: that of the three `main` settings (about 7 minutes of the 2-core
CPU; 1 s when `main` ran first).
"""

from experiments import framework
from experiments import main as main_exp

WIDTHS = (35, 135, 525)


def settings(smoke: bool = False):
  return [s for s in main_exp.settings(smoke)
          if s.spec.method == 'ours' and s.spec.layers[0] in WIDTHS]


EXPERIMENT = framework.Experiment(
    name='learning_curves', reference='learning dynamics (test accuracy per epoch)',
    settings_fn=settings, plot='epochs')
