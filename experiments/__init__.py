"""One settings module per table or figure of arXiv 2412.00119 (and `continual`, beyond
the paper), run by `python -m experiments.run` through `experiments.framework`.

`EXPERIMENTS` maps a name to its `framework.Experiment`; `get(name)` raises ValueError
listing the valid names. Nothing in `bnnjax` imports this package.
"""

import importlib
from typing import Dict

NAMES = ('main', 'group_size', 'cp_r', 'depth', 'robustness', 'weight_bits', 'train_out',
         'learning_curves', 'uci', 'continual', 'conv', 'comparators', 'onebit')


def get(name: str):
  """The `framework.Experiment` of a registered experiment."""
  if name not in NAMES:
    raise ValueError(f'unknown experiment {name!r} (--experiment); valid: {list(NAMES)}')
  return importlib.import_module(f'experiments.{name}').EXPERIMENT


def all_experiments() -> Dict[str, object]:
  return {n: get(n) for n in NAMES}
