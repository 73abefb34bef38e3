r"""Cost accounting: the paper's memory and Boolean-gate model beside bnnjax's real bytes.

Model side (algorithm.md, "Cost model of the paper"; the x-axes of the paper's plots):
memory demand in bits, bytes and KB (1 KB = 1,000 bytes, as in the paper) and Boolean
gates per training step of B samples, for `ours`, `ours_train_out` (ours with trained
local classifiers, the paper's name), `cp_r`, `sgd` and `adam` (float inputs 'fp' or ±1
inputs 'bin'), and `flip` (1-bit weights, bnnjax.baselines.flip; beyond the paper), plus
gates per epoch and per run. Dimensions: D inputs, N_l hidden
widths, C classes, B batch, n training samples.

For `ours`, `ours_train_out`, `flip` and `cp_r`, `num_classes` is the number of classifier
columns C_out: C, or 1 for a two-class task with the one-output ('sign') head
(`bnnjax.config.Config.num_outputs`), so every formula counts the classifiers the
network really has. The float MLPs keep C logits (two for a two-class task).

Conventions (the ones under which the paper's check values come out; tests/test_cost.py):
* A network is a chain of layers (a, b) = (fan-in, fan-out): the hidden layers
  D -> N_1 -> ... -> N_L and the last classifier N_L -> C, which "counts as a last layer".
  `cp_r` layers K1-K2 are a trainable layer D -> K1, a fixed grouping layer K1 -> K2
  (the committees) and the fixed random classifier K2 -> C. Stacked blocks
  (K1-K2,K1'-K2', beyond the paper's formula) follow `bnnjax.baselines.cp_r`: block i+1
  reads block i's K1 perceptron signs, and each block's own classifier K2 -> C is
  counted like the last one (8-bit weights, forward gates).
* n is the training split the method holds: pool minus test (Prototypes 10,000 of 1,000
  features; FMNIST 50,000 of 784; Imagenette features 10,000 of 2,304; CIFAR features
  40,000 of 9,216). FP-input float baselines keep n // 32 of it at 32 bits per feature,
  so their data cost ≈ D·n bits like the 1-bit set.
* Memory (bits); W = Σ a·b over all layers (classifier included), Act = B·Σ b:
    ours:  D·n + 8·W + max_l(N_l·C) + 8·Act
    ours_train_out (bnnjax's extension; the paper gives no check value): every local
           classifier is trained, so each holds 8-bit integer weights: D·n + 8·W +
           8·Σ_{l<L} N_l·C + 8·Act (the last classifier N_L·C is already in W)
    flip (bnnjax.baselines.flip, beyond the paper): ours with 1-bit weights and no
           hidden integers: D·n + k·W + max_l(N_l·C) + 8·Act, k = 1 bit, or the bits of
           its small counter (`flip_weight_bits`: log2(c' + 1) for the odd values
           ±1, ..., ±c'); the drive Δ of a weight is a popcount used at once, never
           stored for all weights
    cp_r:  D·n + 8·W_trainable + 1·W_grouping + 8·Act  (W_trainable: perceptrons and the
           fixed classifier, stored like `ours` stores its classifier; W_grouping = K1·K2)
    sgd:   bits_in·D·n + 32·W + 32·Act + 32·max over layers of a·b (one gradient buffer)
    adam:  as sgd with 3·32·W (weights and two moments).
* Gates per step, per layer (a, b), weights XNOR 1, popcount 10, increment 10, float
  multiply 10,000, float add 10,000:
    binary forward (every layer):         XNOR B·a·b + popcount B·a·b
    ours local classifier (every layer, the last included, with b = C there):
                                          XNOR B·b·C + popcount B·b·C
    trainable binary layers (not the last): selection XNOR 9·B·b; update XNOR 2·a·b +
                                          popcount a·b + increment 4·a·b
    flip: the same gates as ours (Δ by XNOR + popcount; the compare of a random word
      with q·|Δ| and the flip counted as the increments they replace; random numbers are
      not counted, for ours' reinforcement either)
    ours_train_out, also for the local classifier (a, b) = (N_l, C) of every hidden
      layer (the last one's is the output layer): selection XNOR 9·B·C and the same
      update terms (bnnjax's extension, counted like a trained layer)
    float: forward mult B·a·b + add B·(a−1)·b; weight gradient the same again; input
      gradient (every layer after the first) mult B·a·b + add B·(b−1)·a; update SGD mult
      a·b + add a·b, Adam mult 10·a·b + add 4·a·b.
  An epoch is ceil(n / B) steps, the last one of n mod B samples; a run is num_epochs
  epochs. Memory is a peak, so it has no per-epoch total.

Measured side (`measured_ours`): bytes of the arrays bnnjax really holds for one run of
`ours` — the `model.State`, the packed pool (`DataSet.x`) and its labels, the split
indices, one batch and one step's forward activations — and XLA's compiled memory
analysis of the jitted `model.step` (None where the backend does not provide one).

  python -m bnnjax.cost --method=ours --dataset=fmnist --layers=525,525
  python -m bnnjax.cost --method=sgd --input_mode=fp --dataset=fmnist --layers=5,5

A paper data set (`PAPER_DATASETS`, or its registry name in `DATASET_ALIASES`) whose
files are not prepared is replaced, for the measured side, by an all-zero pool of the
paper's shape (said so in the output). Summaries: `summary_columns` (model side, any
method), `measured_columns` (ours), `run_columns(spec, dataset)` (both, from a RunSpec).
"""

import dataclasses
import math
from typing import Dict, List, Optional, Sequence

BITS_PER_BYTE = 8
BYTES_PER_KB = 1000  # the paper's KB

# Cost of one operation in Boolean gates (algorithm.md).
GATE_WEIGHTS = {'xnor': 1, 'popcount': 10, 'increment': 10, 'fmul': 10_000,
                'fadd': 10_000}

METHODS = ('ours', 'ours_train_out', 'cp_r', 'sgd', 'adam', 'flip')
RULE_METHODS = ('ours', 'ours_train_out', 'cp_r', 'flip')  # classifiers may have one column
INPUT_MODES = ('bin', 'fp')
FLOAT_BITS = 32
FP_SUBSET = 32  # FP-input runs keep 1/32 of the training split


@dataclasses.dataclass(frozen=True)
class PaperData:
  """Shape of a data set as the paper used it: pool of num_samples, the last num_test
  of each run's shuffle are the test split, so n = num_samples - num_test."""
  num_features: int
  num_classes: int
  num_samples: int
  num_test: int

  @property
  def num_train(self) -> int:
    return self.num_samples - self.num_test


# algorithm.md, "Data protocol of the paper" (names as in reference/paper_results.csv).
PAPER_DATASETS: Dict[str, PaperData] = {
    'prototypes': PaperData(1000, 10, 12_000, 2_000),
    'fmnist': PaperData(784, 10, 60_000, 10_000),
    'cifar10tl': PaperData(9216, 10, 50_000, 10_000),
    'cifar100tl': PaperData(9216, 100, 50_000, 10_000),
    'imagenettetl': PaperData(2304, 10, 13_394, 3_394),
}
# Names of the same data sets in the bnnjax.data registry.
DATASET_ALIASES = {'fashion_mnist': 'fmnist', 'cifar10_features': 'cifar10tl',
                   'cifar100_features': 'cifar100tl',
                   'imagenette_features': 'imagenettetl'}


def paper_data(name: str) -> PaperData:
  """The paper's shape of a data set, by its paper or bnnjax.data registry name."""
  key = DATASET_ALIASES.get(name, name)
  if key not in PAPER_DATASETS:
    raise ValueError(f'no paper shape for data set {name!r}; known: '
                     f'{sorted(set(PAPER_DATASETS) | set(DATASET_ALIASES))}')
  return PAPER_DATASETS[key]


@dataclasses.dataclass(frozen=True)
class CostLayer:
  """One layer of the cost model: fan_in a, fan_out b, and its kind: 'hidden' (trained),
  'grouping' (cp_r committees, fixed), 'classifier' (the fixed classifier of a cp_r
  block that is not the last) or 'output' (the last classifier N_L -> C)."""
  fan_in: int
  fan_out: int
  kind: str


def _check(ok: bool, msg: str) -> None:
  if not ok:
    raise ValueError(msg)


def _check_method(method: str, input_mode: str) -> None:
  _check(method in METHODS,
         f'unknown method {method!r} (--method); valid: {list(METHODS)}')
  _check(input_mode in INPUT_MODES,
         f'input_mode (--input_mode) must be one of {list(INPUT_MODES)}, '
         f'got {input_mode!r}')


def cost_layers(method: str, layers: Sequence[int], num_inputs: int,
                num_classes: int) -> List[CostLayer]:
  """The chain of layers the model counts (see the module docstring)."""
  _check_method(method, 'bin')
  layers = tuple(int(n) for n in layers)
  _check(len(layers) >= 1 and all(n >= 1 for n in layers),
         f'layers (--layers) must be positive widths, got {list(layers)}')
  min_classes = 1 if method in RULE_METHODS else 2
  _check(num_inputs >= 1 and num_classes >= min_classes,
         f'need num_inputs >= 1 and num_classes >= {min_classes}, got {num_inputs}, '
         f'{num_classes}')
  out, fan_in = [], int(num_inputs)
  if method == 'cp_r':
    _check(len(layers) % 2 == 0,
           f'cp_r layers (--layers) are K1-K2 pairs (perceptrons, committees), got '
           f'{list(layers)}')
    blocks = list(zip(layers[::2], layers[1::2]))
    for i, (k1, k2) in enumerate(blocks):
      _check(k1 % k2 == 0,
             f'cp_r: K2 = {k2} committees must divide K1 = {k1} perceptrons')
      last = i == len(blocks) - 1
      out += [CostLayer(fan_in, k1, 'hidden'), CostLayer(k1, k2, 'grouping'),
              CostLayer(k2, int(num_classes), 'output' if last else 'classifier')]
      fan_in = k1  # the next block reads the perceptron signs (bnnjax.baselines.cp_r)
    return out
  for n in layers:
    out.append(CostLayer(fan_in, n, 'hidden'))
    fan_in = n
  out.append(CostLayer(fan_in, int(num_classes), 'output'))
  return out


# ----------------------------------------------------------------------------------
# Memory (model)
# ----------------------------------------------------------------------------------


def fp_subset_size(num_train: int) -> int:
  """Samples an FP-input float baseline keeps: 1/32 of the training split (rounded down;
  the paper quotes 1,560 for FMNIST's 50,000, 1,250 for 40,000, 312 for 10,000)."""
  return int(num_train) // FP_SUBSET


def samples_held(method: str, num_train: int, input_mode: str = 'bin',
                 num_train_used: Optional[int] = None) -> int:
  """n of the cost model: the training split, or its FP subset for FP-input baselines."""
  if num_train_used is not None:
    return int(num_train_used)
  if method in ('sgd', 'adam') and input_mode == 'fp':
    return fp_subset_size(num_train)
  return int(num_train)


def flip_weight_bits(counter_clip: int = 1) -> int:
  """Bits per weight of `flip` with a counter clip c (0 or 1: no counter, 1 bit): the
  odd values ±1, ±3, ..., ±c' (c' the largest odd value <= c) take log2(c' + 1) bits,
  rounded up."""
  c = max(1, int(counter_clip))
  c -= 1 - c % 2
  return max(1, math.ceil(math.log2(c + 1)))


def memory_bits_breakdown(method: str, layers: Sequence[int], num_inputs: int,
                          num_classes: int, batch_size: int, num_train: int,
                          input_mode: str = 'bin',
                          num_train_used: Optional[int] = None,
                          weight_bits: Optional[int] = None) -> Dict[str, int]:
  """Memory demand in bits by part: data, weights, classifiers, activations, gradients.

  num_train: training-split size n; for FP-input float baselines the model holds
  `fp_subset_size(num_train)` samples at 32 bits per feature (`num_train_used`
  overrides the count). weight_bits: `flip` only, bits per weight (default 1)."""
  _check(weight_bits is None or (method == 'flip' and int(weight_bits) >= 1),
         f'weight_bits applies to method flip (>= 1), got {weight_bits} for {method}')
  _check_method(method, input_mode)
  _check(batch_size >= 1 and num_train >= 0,
         f'need batch_size >= 1 and num_train >= 0, got {batch_size}, {num_train}')
  net = cost_layers(method, layers, num_inputs, num_classes)
  n = samples_held(method, num_train, input_mode, num_train_used)
  d = int(num_inputs)
  act = batch_size * sum(l.fan_out for l in net)
  w_all = sum(l.fan_in * l.fan_out for l in net)
  parts = dict(data=d * n, weights=0, classifiers=0, activations=0, gradients=0)
  if method in ('ours', 'flip'):
    parts['weights'] = (int(weight_bits or 1) if method == 'flip' else 8) * w_all
    parts['classifiers'] = max(l.fan_out * num_classes for l in net if l.kind == 'hidden')
    parts['activations'] = 8 * act
  elif method == 'ours_train_out':
    parts['weights'] = 8 * w_all
    hidden = [l for l in net if l.kind == 'hidden']
    parts['classifiers'] = 8 * sum(l.fan_out * num_classes for l in hidden[:-1])
    parts['activations'] = 8 * act
  elif method == 'cp_r':
    w_group = sum(l.fan_in * l.fan_out for l in net if l.kind == 'grouping')
    parts['weights'] = 8 * (w_all - w_group) + 1 * w_group
    parts['activations'] = 8 * act
  else:  # float MLPs
    parts['data'] = (FLOAT_BITS if input_mode == 'fp' else 1) * d * n
    parts['weights'] = (3 if method == 'adam' else 1) * FLOAT_BITS * w_all
    parts['activations'] = FLOAT_BITS * act
    parts['gradients'] = FLOAT_BITS * max(l.fan_in * l.fan_out for l in net)
  return parts


def memory_bits(*args, **kwargs) -> int:
  """Total memory demand in bits (arguments of `memory_bits_breakdown`)."""
  return sum(memory_bits_breakdown(*args, **kwargs).values())


def bits_to_kb(num_bits: int) -> float:
  """Bits -> the paper's KB (1,000 bytes)."""
  return num_bits / BITS_PER_BYTE / BYTES_PER_KB


# ----------------------------------------------------------------------------------
# Boolean gates (model)
# ----------------------------------------------------------------------------------


def op_counts(method: str, layers: Sequence[int], num_inputs: int, num_classes: int,
              batch_size: int) -> Dict[str, int]:
  """Operations of one training step of `batch_size` samples, by kind (unweighted):
  keys of GATE_WEIGHTS."""
  _check_method(method, 'bin')
  _check(batch_size >= 1, f'batch_size must be >= 1, got {batch_size}')
  b_ = int(batch_size)
  c = int(num_classes)
  ops = dict.fromkeys(GATE_WEIGHTS, 0)
  for i, layer in enumerate(cost_layers(method, layers, num_inputs, num_classes)):
    a, b = layer.fan_in, layer.fan_out
    if method in RULE_METHODS:
      ops['xnor'] += b_ * a * b  # forward
      ops['popcount'] += b_ * a * b
      if method != 'cp_r':  # local classifier of every layer, the last included
        ops['xnor'] += b_ * b * c
        ops['popcount'] += b_ * b * c
      trained = [(a, b)] if layer.kind == 'hidden' else []  # not the last layer
      if method == 'ours_train_out' and layer.kind == 'hidden':
        trained.append((b, c))  # its local classifier N_l -> C is trained too
      for fan_in, fan_out in trained:
        ops['xnor'] += 9 * b_ * fan_out  # selection
        ops['xnor'] += 2 * fan_in * fan_out  # update
        ops['popcount'] += fan_in * fan_out
        ops['increment'] += 4 * fan_in * fan_out
    else:
      ops['fmul'] += 2 * b_ * a * b  # forward and weight gradient
      ops['fadd'] += 2 * b_ * (a - 1) * b
      if i > 0:  # input gradient
        ops['fmul'] += b_ * a * b
        ops['fadd'] += b_ * (b - 1) * a
      ops['fmul'] += (10 if method == 'adam' else 1) * a * b
      ops['fadd'] += (4 if method == 'adam' else 1) * a * b
  return ops


def gates_per_step(method: str, layers: Sequence[int], num_inputs: int,
                   num_classes: int, batch_size: int) -> int:
  """Boolean gates of one training step of `batch_size` samples."""
  ops = op_counts(method, layers, num_inputs, num_classes, batch_size)
  return sum(GATE_WEIGHTS[k] * v for k, v in ops.items())


def gates_per_epoch(method: str, layers: Sequence[int], num_inputs: int,
                    num_classes: int, batch_size: int, num_train: int) -> int:
  """Gates of one epoch over num_train samples: ceil(n / B) steps, the last partial."""
  full, rest = divmod(int(num_train), int(batch_size))
  total = full * gates_per_step(method, layers, num_inputs, num_classes, batch_size)
  if rest:
    total += gates_per_step(method, layers, num_inputs, num_classes, rest)
  return total


# ----------------------------------------------------------------------------------
# Summary columns (model side), for every experiment summary
# ----------------------------------------------------------------------------------


def summary_columns(method: str, layers: Sequence[int], num_inputs: int,
                    num_classes: int, batch_size: int, num_train: int,
                    num_epochs: int = 50, input_mode: str = 'bin',
                    num_train_used: Optional[int] = None,
                    weight_bits: Optional[int] = None) -> Dict[str, float]:
  """Memory and gate columns of the paper's cost model for one configuration.

  Args:
    method: 'ours', 'cp_r', 'sgd' or 'adam'.
    layers: hidden widths (cp_r: K1, K2 pairs).
    num_inputs, num_classes: D and C.
    batch_size: B.
    num_train: training-split size (pool minus test).
    num_epochs: epochs of a run.
    input_mode: float baselines: 'fp' (1/32 of the split, 32-bit features) or 'bin'.
    num_train_used: samples actually trained on, if not the convention above.

  Returns a flat dict (ints, and floats for bytes/KB): model_num_train,
  model_memory_bits, model_memory_bytes, model_memory_kb, model_memory_<part>_bits,
  model_gates_per_step, model_gates_per_epoch, model_gates_per_run.
  """
  n = samples_held(method, num_train, input_mode, num_train_used)
  parts = memory_bits_breakdown(method, layers, num_inputs, num_classes, batch_size,
                                num_train, input_mode, num_train_used, weight_bits)
  total = sum(parts.values())
  per_epoch = gates_per_epoch(method, layers, num_inputs, num_classes, batch_size, n)
  cols = {'model_num_train': n, 'model_memory_bits': total,
          'model_memory_bytes': total / BITS_PER_BYTE,
          'model_memory_kb': bits_to_kb(total)}
  cols.update({f'model_memory_{k}_bits': v for k, v in parts.items()})
  cols.update(model_gates_per_step=gates_per_step(method, layers, num_inputs,
                                                  num_classes, batch_size),
              model_gates_per_epoch=per_epoch,
              model_gates_per_run=per_epoch * int(num_epochs))
  return cols


# ----------------------------------------------------------------------------------
# Measured side (ours)
# ----------------------------------------------------------------------------------


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


def cost_method(spec) -> str:
  """The cost model's method name of a RunSpec ('ours_train_out' for ours with trained
  classifiers)."""
  if spec.method == 'ours' and getattr(spec, 'train_classifiers', False):
    return 'ours_train_out'
  return spec.method


def run_columns(spec, dataset, measured: bool = True) -> Dict:
  """All cost columns of one run for a summary file: `summary_columns` from a
  `methods.RunSpec` and a `DataSet` (n = pool minus test; classifier columns C_out of
  the run's head for the rule's methods), plus `measured_columns` (without compiling)
  when the method is 'ours' and `measured` is set. Methods without a cost model in the
  paper (e.g. 'ste') give {}."""
  method = cost_method(spec)
  if method not in METHODS:
    return {}
  import numpy as np
  from bnnjax import methods
  d, c = dataset.num_features, dataset.num_classes
  n_split = dataset.num_samples - dataset.num_test
  layers = tuple(spec.layers)
  if method == 'cp_r':
    layers = tuple(k for block in methods.cp_r_blocks(spec) for k in block)
    c = methods.cp_r_config(spec, dataset).num_outputs
  elif method in RULE_METHODS:
    c = methods.ours_config(spec, dataset).num_outputs
  used = None
  if method in ('sgd', 'adam'):  # the float baselines' own input width and subset
    d = methods.mlp_num_inputs(spec, dataset)
    if spec.input_mode == 'fp':
      used = n_split // methods.fp_train_divisor(dataset)
  weight_bits = None
  if method == 'flip':  # the counter of the first grid point
    weight_bits = flip_weight_bits(int(np.ravel(methods.flip_params(spec).counter_clip)[0]))
  cols = summary_columns(method, layers, d, c, spec.batch_size, n_split,
                         spec.num_epochs, getattr(spec, 'input_mode', 'bin'), used,
                         weight_bits)
  cols['model_method'] = method
  if method in RULE_METHODS:
    cols['model_classifier_columns'] = c
  if measured and spec.method == 'ours':
    cols.update(measured_columns(methods.ours_config(spec, dataset), dataset,
                                 methods.scalar_params(spec), xla=False))
  return cols


def synthetic_dataset(name: str):
  """An all-zero packed pool of the paper's shape for `name` (PAPER_DATASETS): what the
  measured side needs when the real data are not available offline."""
  import numpy as np
  from bnnjax import bits
  from bnnjax.data import DataSet
  p = paper_data(name)
  return DataSet(name=f'{name} (synthetic, paper shape)',
                 x=np.zeros((p.num_samples, bits.num_words(p.num_features)), np.uint32),
                 y=np.zeros((p.num_samples,), np.int32), num_features=p.num_features,
                 num_classes=p.num_classes, num_test=p.num_test)


# ----------------------------------------------------------------------------------
# Report (the entry point prints it)
# ----------------------------------------------------------------------------------

WHY_DIFFERENT = (
    'bnnjax keeps every hidden weight H as int32 where the model assumes 8 bits (the '
    'initial trunc(Normal(0, 64^2)) already leaves int8 for ~5% of weights, unclipped '
    'reinforcement and batch-summed updates grow |H| further, and an integer must never '
    'wrap), stores all local classifiers as int8 and pre-activations as int32, and holds '
    'the whole pool, test split included, padded to whole 32-bit words per sample, with '
    'int32 labels and split indices, where the model counts 1 bit per feature of the '
    'training split only.')


def _fmt_bytes(v) -> str:
  if v is None:
    return 'n/a'
  if isinstance(v, float) and not v.is_integer():
    return f'{v:,.2f} B'
  return f'{int(v):,} B'


def report(method: str, layers: Sequence[int], dataset, batch_size: int = 100,
           num_epochs: int = 50, input_mode: str = 'bin', group_size=None,
           semantics: str = 'reference', backend: str = 'packed',
           synthetic: bool = False, xla: bool = True) -> str:
  """Text table: the paper's cost model beside bnnjax's measured bytes (ours only)."""
  d, c = dataset.num_features, dataset.num_classes
  if method in RULE_METHODS and c == 2:
    c = 1  # the one-output ('sign') head of two-class tasks (Config head 'auto')
  n_split = dataset.num_samples - dataset.num_test
  cols = summary_columns(method, layers, d, c, batch_size, n_split, num_epochs,
                         input_mode)
  parts = {k: cols[f'model_memory_{k}_bits'] for k in
           ('data', 'weights', 'classifiers', 'activations', 'gradients')}
  ops = op_counts(method, layers, d, c, batch_size)
  layer_text = '-'.join(map(str, layers))
  label = method if method in RULE_METHODS else f'{method} {input_mode}'
  lines = [f'bnnjax.cost: {label}'
           f' on {dataset.name} ({dataset.num_samples:,} samples x {d:,} features, '
           f'{dataset.num_classes} classes, {c} classifier columns, test '
           f'{dataset.num_test:,}), layers {layer_text}, '
           f'B {batch_size}, n {cols["model_num_train"]:,}, {num_epochs} epochs']
  if synthetic:
    lines.append('  (data not available offline: an all-zero pool of the paper\'s shape '
                 'stands in for the measured side)')
  m = None
  if method in ('ours', 'ours_train_out'):
    from bnnjax.config import Config
    gs = group_size
    if gs is None:
      gs = tuple(_group_size_for(n) for n in layers)
    elif len(gs) == 1:
      gs = tuple(gs) * len(layers)
    config = Config(layers=tuple(layers), group_size=gs, num_inputs=d,
                    num_classes=dataset.num_classes, batch_size=batch_size,
                    num_epochs=num_epochs, num_test=dataset.num_test,
                    semantics=semantics, backend=backend,
                    train_classifiers=method == 'ours_train_out')
    m = measured_ours(config, dataset, xla=xla)
  w = 30
  row = lambda name, model_v, meas: f'  {name:<{w}}{model_v:>22}   {meas}'
  lines.append(row('memory', 'paper model', 'bnnjax measured (one run)'))
  model_bits_label = {'ours': '8-bit', 'ours_train_out': '8-bit', 'cp_r': '8-bit',
                      'flip': '1-bit',
                      'sgd': '32-bit',
                      'adam': '32-bit'}[method]
  lines.append(row('', f'({model_bits_label} weights)', ''))
  na = 'n/a (measured side of baselines not yet implemented)' if m is None else None
  if m is not None:
    meas_data = (f'{_fmt_bytes(m["data_train_x_bytes"])} train split packed '
                 f'({m["data_train_x_bytes"] // max(1, m["data_num_train"])} B/sample); '
                 f'pool with test {_fmt_bytes(m["data_x_bytes"])}')
    meas_w = (f'{_fmt_bytes(m["hidden_bytes"])} int32 H + '
              f'{_fmt_bytes(m["classifier_bytes"])} int8 P (+ int32 Q if trained; all '
              f'layers)')
    meas_cls = 'in the line above'
    meas_act = (f'{_fmt_bytes(m["activation_bytes"])} forward (int32 a, int8 s, int32 z)'
                f' + {_fmt_bytes(m["batch_bytes"])} batch')
    small = m['state_bytes'] - m['hidden_bytes'] - m['classifier_bytes']
    meas_other = (f'{_fmt_bytes(m["data_y_bytes"])} int32 labels + '
                  f'{_fmt_bytes(m["split_index_bytes"])} split indices + '
                  f'{_fmt_bytes(small)} key/accuracy/epoch')
    meas_total = (m['data_x_bytes'] + m['data_y_bytes'] + m['split_index_bytes'] +
                  m['state_bytes'] + m['activation_bytes'] + m['batch_bytes'])
  else:
    meas_data = meas_w = meas_cls = meas_act = meas_other = na
    meas_total = None
  by = lambda bits_: _fmt_bytes(bits_ / BITS_PER_BYTE)
  lines.append(row('data', by(parts['data']), meas_data))
  lines.append(row('weights', by(parts['weights']), meas_w))
  if method in ('ours', 'flip'):
    lines.append(row('local classifiers (max N_l*C)', by(parts['classifiers']), meas_cls))
  elif method == 'ours_train_out':
    lines.append(row('trained classifiers (8-bit)', by(parts['classifiers']), meas_cls))
  lines.append(row('activations (one step)', by(parts['activations']), meas_act))
  if method in ('sgd', 'adam'):
    lines.append(row('gradient buffer', by(parts['gradients']), na))
  if m is not None:
    lines.append(row('other', '-', meas_other))
  total = cols['model_memory_bits']
  lines.append(row('total', by(total),
                   'n/a' if meas_total is None else _fmt_bytes(meas_total)))
  meas_kb = 'n/a' if meas_total is None else f'{meas_total / BYTES_PER_KB:,.0f} KB'
  lines.append(row('total KB (1 KB = 1,000 B)', f'{bits_to_kb(total):,.0f} KB', meas_kb))
  if m is not None:
    x = m['xla']
    if x is None:
      lines.append(row('XLA memory_analysis(step)', '-', 'not provided by this backend'))
    else:
      lines.append(row('XLA memory_analysis(step)', '-',
                       ', '.join(f'{k.replace("_size_in_bytes", "")} {v:,}'
                                 for k, v in x.items()
                                 if k != 'peak_estimate_bytes')))
      lines.append(row('', '-', f'peak (args + out - alias + temp) '
                                f'{x["peak_estimate_bytes"]:,} B'))
    lines.append('  why they differ: ' + WHY_DIFFERENT)
  lines.append('gates (paper model)')
  op_text = ', '.join(f'{k} {v:,}' for k, v in ops.items() if v)
  lines.append(f'  per step   {cols["model_gates_per_step"]:.2e} '
               f'({cols["model_gates_per_step"]:,}; ops: {op_text})')
  lines.append(f'  per epoch  {cols["model_gates_per_epoch"]:.2e} '
               f'({-(-cols["model_num_train"] // batch_size):,} steps)')
  lines.append(f'  per run    {cols["model_gates_per_run"]:.2e} ({num_epochs} epochs)')
  return '\n'.join(lines)


def _group_size_for(width: int) -> int:
  """γ of the paper for a width, or the width itself (one neuron per group) otherwise.
  Only used for the measured side, where γ changes no array shape."""
  from bnnjax.config import PAPER_GROUP_SIZE
  return PAPER_GROUP_SIZE.get(width, width)


# ----------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------


def load_dataset(name: str, smoke: bool = False):
  """(DataSet, synthetic): the registered data set, or an all-zero pool of the paper's
  shape if the name is only in PAPER_DATASETS or its files are not available offline."""
  from bnnjax import data as data_lib
  known = DATASET_ALIASES.get(name, name) in PAPER_DATASETS
  if name in data_lib.DATASETS:
    try:
      return data_lib.load(name, smoke=smoke), False
    except (OSError, ImportError):  # files not prepared (no internet here)
      if not known:
        raise
  if known:
    return synthetic_dataset(name), True
  raise ValueError(f'unknown dataset {name!r} (--dataset); valid: '
                   f'{sorted(set(data_lib.DATASETS) | set(PAPER_DATASETS))}')


def main(argv):
  from absl import flags
  from absl import logging
  logging.set_verbosity(logging.WARNING)  # JAX's backend probing logs at INFO
  f = flags.FLAGS
  if len(argv) > 1:
    raise SystemExit(f'error: unexpected arguments: {argv[1:]}')
  try:
    # cp_r blocks may be written K1-K2,K1'-K2' as for bnnjax.train.
    layers = tuple(int(v) for v in f.layers.replace('-', ',').split(',') if v.strip())
    group_size = (None if f.group_size is None else
                  tuple(int(v) for v in f.group_size.split(',') if v.strip()))
  except ValueError:
    raise SystemExit('error: --layers and --group_size must be comma-separated integers')
  try:
    _check_method(f.method, f.input_mode)
    cost_layers(f.method, layers, 1, 2)
    ds, synthetic = load_dataset(f.dataset)
    print(report(f.method, layers, ds, batch_size=f.batch_size, num_epochs=f.epochs,
                 input_mode=f.input_mode, group_size=group_size,
                 semantics=f.semantics, backend=f.backend, synthetic=synthetic,
                 xla=f.xla))
  except ValueError as e:
    raise SystemExit(f'error: {e}')


def _define_flags():
  from absl import flags
  flags.DEFINE_string('method', 'ours', f'One of {list(METHODS)}.')
  flags.DEFINE_string('dataset', 'prototypes',
                      'Registered data set, or a paper data set name '
                      f'({sorted(PAPER_DATASETS)}; synthetic pool if not available).')
  flags.DEFINE_string('layers', '135,135', 'Hidden widths (cp_r: K1,K2 pairs).')
  flags.DEFINE_string('group_size', None,
                      'ours: γ (default: the paper\'s for each width).')
  flags.DEFINE_integer('batch_size', 100, 'Mini-batch size B.')
  flags.DEFINE_integer('epochs', 50, 'Epochs per run (for per-run gate totals).')
  flags.DEFINE_string('input_mode', 'bin', 'Float baselines: fp or bin.')
  flags.DEFINE_string('semantics', 'reference', 'ours: reference or binary.')
  flags.DEFINE_string('backend', 'packed', 'ours: packed or dense.')
  flags.DEFINE_bool('xla', True, 'ours: compile the step and print XLA memory analysis.')


if __name__ == '__main__':
  from absl import app
  _define_flags()
  app.run(main)
