r"""The 30 UCI tables: ours (15-15, 55-55, 135-135, the paper's UCI sizes) against CP+R
(15-3, 66-6, 187-17), batch 32, with the scatter plot of ours vs CP+R. Here, offline,
also `breast_cancer` (scikit-learn's copy of UCI "Breast Cancer Wisconsin
(Diagnostic)", which is not one of the paper's 30 tables: the paper's `uci/cancer` is
the "Original" table, id 15).

  python -m experiments.run --experiment=uci [--dataset=breast_cancer]

Runtime on breast_cancer (6 settings x 10 seeds x 50 epochs, batch 32): 46 s on the
project's 2-core CPU (experiments/results/RUN.md).
"""

from experiments import framework
from bnnjax.data import UCI_IDS

OURS = [(15, 15), (55, 55), (135, 45)]
CP_R = ['15-3', '66-6', '187-17']
DATASETS = ['breast_cancer'] + [f'uci/{n}' for n in sorted(UCI_IDS)]


def settings(smoke: bool = False):
  out = []
  for ds in DATASETS:
    for n, g in (OURS[:1] if smoke else OURS):
      out.append(framework.Setting(
          ds, framework.spec_for('ours', (n, n), smoke, group_size=(g,), batch_size=32),
          f'ours {n}-{n}', {'experiment': 'main', 'layers': f'{n}_{n}'}, series='ours',
          x=n))
    for b in (CP_R[:1] if smoke else CP_R):
      out.append(framework.Setting(
          ds, framework.spec_for('cp_r', b, smoke, batch_size=32), f'cp_r {b}',
          {'experiment': 'cp_r', 'layers': b.replace('-', '_')}, series='cp_r',
          x=int(b.split('-')[0])))
  return out


EXPERIMENT = framework.Experiment(
    name='uci', reference='the 30 UCI tables (ours vs CP+R, scatter plot)',
    settings_fn=settings, plot='scatter')
