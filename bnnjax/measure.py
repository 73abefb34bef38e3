"""What a run really holds: bytes of its arrays, and XLA's memory analysis of its step.

The measured side of the cost model (docs/cost.md): `measured_ours` counts the bytes of
the arrays bnnjax allocates for one run of the rule (`model.State`, the packed pool and
its labels, the split indices, one batch, one step's forward activations) from their
shapes alone (`jax.eval_shape`: nothing is computed), and, on request, compiles the
jitted `model.step` and reads its `memory_analysis()`. `bnnjax.cost` reports it beside
the paper's model.
"""

import math
from typing import Dict, Optional

def _nbytes(tree) -> int:
  import jax
  import numpy as np
  return int(sum(np.dtype(x.dtype).itemsize * math.prod(x.shape)
                 for x in jax.tree_util.tree_leaves(tree)))


def xla_memory(compiled) -> Optional[Dict[str, int]]:
  """`compiled.memory_analysis()` as a dict of byte counts, or None if unavailable."""
  try:
    ma = compiled.memory_analysis()
  except (NotImplementedError, RuntimeError, AttributeError):
    return None
  if ma is None:
    return None
  out = {}
  for name in ('argument_size_in_bytes', 'output_size_in_bytes', 'alias_size_in_bytes',
               'temp_size_in_bytes', 'generated_code_size_in_bytes'):
    v = getattr(ma, name, None)
    if v is not None:
      out[name] = int(v)
  if out:
    # Peak device bytes of one call: live inputs, outputs not aliased to an input, temps.
    out['peak_estimate_bytes'] = (out.get('argument_size_in_bytes', 0) +
                                  out.get('output_size_in_bytes', 0) -
                                  out.get('alias_size_in_bytes', 0) +
                                  out.get('temp_size_in_bytes', 0))
  return out or None


def measured_ours(config, dataset=None, params=None, xla: bool = True) -> Dict:
  """Bytes bnnjax allocates for one run of `ours` with `config` (a `config.Config`).

  dataset: a `bnnjax.data.DataSet` (its packed pool is measured) or None (a pool of
  config.num_inputs features is assumed absent: data fields are then None).
  xla: also lower and compile the jitted `model.step` and read its memory analysis.

  Returns a flat dict of byte counts: state_bytes (all of `model.State`), hidden_bytes
  (int32 H), classifier_bytes (int8 P, plus int32 Q of trained classifiers), data_x_bytes (packed pool, test included),
  data_train_x_bytes (its training part), data_y_bytes, split_index_bytes (the int32
  train/test indices a run keeps), batch_bytes, activation_bytes (one step's forward:
  int32 a_l, int8 s_l, int32 z_l), and xla (dict or None).
  """
  import jax
  import jax.numpy as jnp
  from bnnjax import bits
  from bnnjax import model
  from bnnjax.config import HParams

  params = HParams() if params is None else params
  # The state of `model.init`, abstractly: exact shapes and dtypes, nothing computed.
  state = jax.eval_shape(lambda k: model.init(k, config, params), jax.random.PRNGKey(0))
  words = bits.num_words(config.num_inputs)
  b = config.batch_size
  batch = model.Batch(x=jax.ShapeDtypeStruct((b, words), jnp.uint32),
                      y=jax.ShapeDtypeStruct((b,), jnp.int32),
                      valid=jax.ShapeDtypeStruct((b,), jnp.bool_))
  fwd = jax.eval_shape(lambda s, x: model.forward(s, x, config), state, batch.x)
  out = {
      'state_bytes': _nbytes(state),
      'hidden_bytes': _nbytes(state.hidden),
      'classifier_bytes': _nbytes(state.classifiers) + _nbytes(state.classifier_hidden),
      'batch_bytes': _nbytes(batch),
      'activation_bytes': _nbytes(fwd),
      'data_x_bytes': None, 'data_train_x_bytes': None, 'data_y_bytes': None,
      'split_index_bytes': None, 'data_num_samples': None, 'data_num_train': None,
  }
  if dataset is not None:
    x = dataset.x
    n_train = dataset.num_samples - dataset.num_test
    out.update(data_x_bytes=int(x.nbytes),
               data_train_x_bytes=int(n_train * x.shape[1] * x.dtype.itemsize),
               data_y_bytes=int(dataset.y.nbytes),
               split_index_bytes=4 * dataset.num_samples,  # int32 train + test indices
               data_num_samples=dataset.num_samples, data_num_train=n_train)
  out['xla'] = None
  if xla:
    step = jax.jit(model.step, static_argnums=3)
    p = HParams(*[jnp.asarray(v) for v in params])
    out['xla'] = xla_memory(step.lower(state, batch, p, config).compile())
  return out


def measured_columns(config, dataset=None, params=None, xla: bool = False) -> Dict:
  """`measured_ours` flattened with a `measured_` prefix (for summary files)."""
  m = measured_ours(config, dataset, params, xla)
  cols = {f'measured_{k}': v for k, v in m.items() if k != 'xla'}
  for k, v in (m['xla'] or {}).items():
    cols[f'measured_xla_{k}'] = v
  return cols

