"""The cost model of binary conv nets trained by the rule (`bnnjax.conv`; docs/cost.md).

The paper's model (`bnnjax.cost.formulas`) counts chains of dense layers; a conv layer
shares its weights over P = Ho * Wo positions. Under the same conventions as `ours`
(8-bit hidden weights, 1-bit data and classifiers, gates XNOR 1, popcount 10,
increment 10), per layer l with fan-in n_l = k*k*C, F_l filters, P_l positions and
D_l = Hp*Wp*F_l pooled units (a dense layer: P = 1, D = its width):

Memory (bits):
  data         D * n_train
  weights      8 * (sum_l n_l * F_l + D_L * C)      (the last classifier as a layer)
  classifiers  max over the trained layers l < L of (entries of P_l) * C  (one at a
               time, as `ours`; a tied block stores R*R*F_l entries)
  activations  8 * B * (sum_l P_l * F_l + C)  (pre-activations)  +  B * sum_l P_l * n_l
               (the 1-bit patches the update reads)
Gates per step (B samples):
  forward, every layer     XNOR and popcount B * P_l * n_l * F_l; pooling (OR of signs)
                           XNOR B * P_l * F_l (pool > 1)
  classifier, trained l    XNOR and popcount B * D_l * C
  selection, trained l     XNOR 9 * B * P_l * F_l
  update, trained l        XNOR 2 * P_l * n_l * F_l, popcount P_l * n_l * F_l
                           (the paper's per-weight terms over P_l times as many
                           products), increment 4 * n_l * F_l
With the conv blocks frozen (the control) their classifier, selection and update are
not counted (nor their classifiers' memory).
"""

import math
from typing import Dict, Sequence

from bnnjax.config import LayerShape
from bnnjax.cost.formulas import BITS_PER_BYTE, GATE_WEIGHTS, bits_to_kb


def memory_bits_breakdown(shapes: Sequence[LayerShape], num_classes: int,
                          batch_size: int, num_train: int, num_conv: int,
                          freeze_conv: bool = False, regions: int = 0) -> Dict[str, int]:
  """Bits by part (data, weights, classifiers, activations, gradients) of a conv net."""
  d = math.prod(shapes[0].image)
  c, b = int(num_classes), int(batch_size)
  weights = 8 * (sum(s.fan_in * s.filters for s in shapes) + shapes[-1].units * c)
  first = num_conv if freeze_conv else 0
  entries = [(regions * regions * s.filters if l < num_conv and regions else s.units) * c
             for l, s in enumerate(shapes[:-1]) if l >= first]
  act = 8 * b * (sum(s.positions * s.filters for s in shapes) + c)
  act += b * sum(s.positions * s.fan_in for s in shapes)
  return dict(data=d * int(num_train), weights=weights,
              classifiers=max(entries, default=0), activations=act, gradients=0)


def op_counts(shapes: Sequence[LayerShape], num_classes: int, batch_size: int,
              num_conv: int, freeze_conv: bool = False) -> Dict[str, int]:
  """Operations of one training step, by kind (keys of GATE_WEIGHTS)."""
  ops = dict.fromkeys(GATE_WEIGHTS, 0)
  b, c = int(batch_size), int(num_classes)
  first = num_conv if freeze_conv else 0
  for l, s in enumerate(shapes):
    prod = s.positions * s.fan_in * s.filters
    ops['xnor'] += b * prod
    ops['popcount'] += b * prod
    if s.pool > 1:
      ops['xnor'] += b * s.positions * s.filters
    if l < first:
      continue
    ops['xnor'] += b * s.units * c
    ops['popcount'] += b * s.units * c
    ops['xnor'] += 9 * b * s.positions * s.filters
    ops['xnor'] += 2 * prod
    ops['popcount'] += prod
    ops['increment'] += 4 * s.fan_in * s.filters
  return ops


def gates_per_step(*args, **kwargs) -> int:
  return sum(GATE_WEIGHTS[k] * v for k, v in op_counts(*args, **kwargs).items())


def summary_columns(shapes: Sequence[LayerShape], num_classes: int, batch_size: int,
                    num_train: int, num_epochs: int, num_conv: int,
                    freeze_conv: bool = False, regions: int = 0) -> Dict[str, float]:
  """The columns of `bnnjax.cost.formulas.summary_columns` for a conv net."""
  parts = memory_bits_breakdown(shapes, num_classes, batch_size, num_train, num_conv,
                                freeze_conv, regions)
  total = sum(parts.values())
  full, rest = divmod(int(num_train), int(batch_size))
  step = lambda bsz: gates_per_step(shapes, num_classes, bsz, num_conv, freeze_conv)
  per_epoch = full * step(batch_size) + (step(rest) if rest else 0)
  cols = {'model_num_train': int(num_train), 'model_memory_bits': total,
          'model_memory_bytes': total / BITS_PER_BYTE, 'model_memory_kb': bits_to_kb(total)}
  cols.update({f'model_memory_{k}_bits': v for k, v in parts.items()})
  cols.update(model_gates_per_step=step(batch_size), model_gates_per_epoch=per_epoch,
              model_gates_per_run=per_epoch * int(num_epochs))
  return cols
