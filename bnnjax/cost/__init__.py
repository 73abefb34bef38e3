"""Cost accounting: the paper's memory and Boolean-gate model beside bnnjax's real bytes.

* `bnnjax.cost.formulas` — the paper's cost model, one `Formula` record per method (pure
  functions of the widths; docs/cost.md), re-exported here.
* `bnnjax.cost.conv` — the same model for binary conv nets (`--method=conv`).
* `bnnjax.measure` — the measured side: bytes of the arrays one run holds, and XLA's
  memory analysis of the compiled step.
* `run_columns(spec, dataset)` — both, for one run's summary file, from the method
  registry's cost entry (`bnnjax.methods.Method.cost_fn`).
* `report(...)` — the text table of both (`bnnjax.cost.tables`), printed by
  `python -m bnnjax.cost ...`.
"""

from typing import Dict

from bnnjax.cost.formulas import (BITS_PER_BYTE, BYTES_PER_KB, FLOAT_BITS, FORMULAS,
                                  FP_SUBSET, GATE_WEIGHTS, INPUT_MODES, METHODS,
                                  RULE_METHODS, CostLayer, Formula, bits_to_kb,
                                  cost_layers, flip_weight_bits, formula, fp_subset_size,
                                  gates_per_epoch, gates_per_step, memory_bits,
                                  memory_bits_breakdown, op_counts, samples_held,
                                  summary_columns)
from bnnjax.cost.tables import load_dataset, report, synthetic_dataset
from bnnjax.measure import measured_columns, measured_ours, xla_memory


def run_columns(spec, dataset, measured: bool = True) -> Dict:
  """All cost columns of one run for a summary file: `summary_columns` of the method's
  row of the cost model (its registry entry's `cost_fn`: n = pool minus test, the
  classifier columns C_out of the run's head for the binary methods, the float
  baselines' own input width and subset), plus `measured_columns` (without compiling)
  for `ours` when `measured` is set. Methods without a row (e.g. 'ste') give {}."""
  from bnnjax import methods
  inputs = methods.get(spec.method).cost_fn(spec, dataset)
  if inputs is None:
    return {}
  n_split = dataset.num_samples - dataset.num_test
  if inputs['method'] == 'conv':  # a conv net: bnnjax.cost.conv
    from bnnjax.cost import conv as conv_cost
    cols = conv_cost.summary_columns(
        inputs['shapes'], inputs['num_classes'], spec.batch_size, n_split,
        spec.num_epochs, inputs['num_conv'], inputs['freeze_conv'], inputs['regions'])
    cols.update(model_method='conv', model_classifier_columns=inputs['num_classes'])
    return cols
  cols = summary_columns(batch_size=spec.batch_size, num_train=n_split,
                         num_epochs=spec.num_epochs, **inputs)
  cols['model_method'] = inputs['method']
  if FORMULAS[inputs['method']].binary:
    cols['model_classifier_columns'] = inputs['num_classes']
  if measured and spec.method == 'ours':
    job_config = methods.get('ours').config_fn(spec, dataset)
    cols.update(measured_columns(job_config, dataset, methods.scalar_params(spec),
                                 xla=False))
  return cols
