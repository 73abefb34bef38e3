"""bnnjax: fully binary MLPs trained with local binary error signals, in JAX.

Implements Colombo, Pittorino and Roveri, "Training Multi-Layer Binary Neural Networks
With (Random) Local Binary Error Signals", arXiv 2412.00119 (docs/algorithm.md).
"""

from bnnjax.config import Config, HParams, Protocol, Speed, paper_group_size
from bnnjax.model import Batch, State, evaluate, forward, init, predict, step
from bnnjax.run import (Data, EngineOptions, Results, make_train, seed_keys,
                        use_cpu_cores)

__version__ = '0.1.0'

__all__ = ['Batch', 'Config', 'Data', 'EngineOptions', 'HParams', 'Protocol',
           'Results', 'Speed', 'State', 'evaluate', 'forward', 'init', 'make_train',
           'paper_group_size', 'predict', 'seed_keys', 'step', 'use_cpu_cores']
