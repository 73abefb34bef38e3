r"""The paper's cost model: memory in bits and Boolean gates per training step.

Pure formulas (docs/cost.md; the x-axes of the paper's plots), one `Formula` record per
method of the model: `ours`, `ours_train_out` (ours with trained local classifiers, the
paper's name), `cp_r`, `sgd` and `adam` (float inputs 'fp' or ±1 inputs 'bin'), and
`flip` (1-bit weights, `bnnjax.baselines.flip`; beyond the paper). Dimensions: D
inputs, N_l hidden widths, C classes, B batch, n training samples.

For the binary methods `num_classes` is the number of classifier columns C_out: C, or 1
for a two-class task with the one-output ('sign') head (`Config.num_outputs`), so every
formula counts the classifiers the network really has. The float MLPs keep C logits.

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
    flip:  ours with k-bit weights and no hidden integers: D·n + k·W + max_l(N_l·C) +
           8·Act, k = 1 bit, or the bits of its small counter (`flip_weight_bits`:
           log2(c' + 1) for the odd values ±1, ..., ±c'); the drive Δ of a weight is a
           popcount used at once, never stored for all weights
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
"""

import dataclasses
import math
from typing import Callable, Dict, List, Optional, Sequence

BITS_PER_BYTE = 8
BYTES_PER_KB = 1000  # the paper's KB
FLOAT_BITS = 32
FP_SUBSET = 32  # FP-input runs keep 1/32 of the training split
INPUT_MODES = ('bin', 'fp')

# Cost of one operation in Boolean gates (docs/cost.md).
GATE_WEIGHTS = {'xnor': 1, 'popcount': 10, 'increment': 10, 'fmul': 10_000,
                'fadd': 10_000}


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


# ----------------------------------------------------------------------------------
# Layer chains
# ----------------------------------------------------------------------------------


def _mlp_chain(layers, d, c) -> List[CostLayer]:
  out, fan_in = [], d
  for n in layers:
    out.append(CostLayer(fan_in, n, 'hidden'))
    fan_in = n
  return out + [CostLayer(fan_in, c, 'output')]


def _cp_r_chain(layers, d, c) -> List[CostLayer]:
  _check(len(layers) % 2 == 0,
         f'cp_r layers (--layers) are K1-K2 pairs (perceptrons, committees), got '
         f'{list(layers)}')
  blocks = list(zip(layers[::2], layers[1::2]))
  out, fan_in = [], d
  for i, (k1, k2) in enumerate(blocks):
    _check(k1 % k2 == 0, f'cp_r: K2 = {k2} committees must divide K1 = {k1} perceptrons')
    last = i == len(blocks) - 1
    out += [CostLayer(fan_in, k1, 'hidden'), CostLayer(k1, k2, 'grouping'),
            CostLayer(k2, c, 'output' if last else 'classifier')]
    fan_in = k1  # the next block reads the perceptron signs (bnnjax.baselines.cp_r)
  return out


# ----------------------------------------------------------------------------------
# Memory parts (bits): {data, weights, classifiers, activations, gradients}
# ----------------------------------------------------------------------------------


def _parts(data, weights=0, classifiers=0, activations=0, gradients=0) -> Dict[str, int]:
  return dict(data=data, weights=weights, classifiers=classifiers,
              activations=activations, gradients=gradients)


def _w(net) -> int:
  return sum(l.fan_in * l.fan_out for l in net)


def _act(net, b) -> int:
  return b * sum(l.fan_out for l in net)


def _local_classifiers(net, c) -> int:
  return max(l.fan_out * c for l in net if l.kind == 'hidden')


def _ours_memory(net, d, c, b, n, input_mode, weight_bits):
  return _parts(d * n, 8 * _w(net), _local_classifiers(net, c), 8 * _act(net, b))


def _flip_memory(net, d, c, b, n, input_mode, weight_bits):
  return _parts(d * n, int(weight_bits or 1) * _w(net), _local_classifiers(net, c),
                8 * _act(net, b))


def _train_out_memory(net, d, c, b, n, input_mode, weight_bits):
  hidden = [l for l in net if l.kind == 'hidden']
  return _parts(d * n, 8 * _w(net), 8 * sum(l.fan_out * c for l in hidden[:-1]),
                8 * _act(net, b))


def _cp_r_memory(net, d, c, b, n, input_mode, weight_bits):
  w_group = sum(l.fan_in * l.fan_out for l in net if l.kind == 'grouping')
  return _parts(d * n, 8 * (_w(net) - w_group) + w_group, 0, 8 * _act(net, b))


def _float_memory(moments: int):
  def memory(net, d, c, b, n, input_mode, weight_bits):
    return _parts((FLOAT_BITS if input_mode == 'fp' else 1) * d * n,
                  (1 + moments) * FLOAT_BITS * _w(net), 0, FLOAT_BITS * _act(net, b),
                  FLOAT_BITS * max(l.fan_in * l.fan_out for l in net))
  return memory


# ----------------------------------------------------------------------------------
# Operations per step (unweighted counts, keys of GATE_WEIGHTS)
# ----------------------------------------------------------------------------------


def _binary_ops(local_classifiers: bool, trained_classifiers: bool):
  def ops_fn(net, c, b_):
    ops = dict.fromkeys(GATE_WEIGHTS, 0)
    for layer in net:
      a, b = layer.fan_in, layer.fan_out
      ops['xnor'] += b_ * a * b  # forward
      ops['popcount'] += b_ * a * b
      if local_classifiers:  # the local classifier of every layer, the last included
        ops['xnor'] += b_ * b * c
        ops['popcount'] += b_ * b * c
      trained = [(a, b)] if layer.kind == 'hidden' else []  # not the last layer
      if trained_classifiers and layer.kind == 'hidden':
        trained.append((b, c))  # its local classifier N_l -> C is trained too
      for fan_in, fan_out in trained:
        ops['xnor'] += 9 * b_ * fan_out  # selection
        ops['xnor'] += 2 * fan_in * fan_out  # update
        ops['popcount'] += fan_in * fan_out
        ops['increment'] += 4 * fan_in * fan_out
    return ops
  return ops_fn


def _float_ops(update_mul: int, update_add: int):
  def ops_fn(net, c, b_):
    ops = dict.fromkeys(GATE_WEIGHTS, 0)
    for i, layer in enumerate(net):
      a, b = layer.fan_in, layer.fan_out
      ops['fmul'] += 2 * b_ * a * b  # forward and weight gradient
      ops['fadd'] += 2 * b_ * (a - 1) * b
      if i > 0:  # input gradient
        ops['fmul'] += b_ * a * b
        ops['fadd'] += b_ * (b - 1) * a
      ops['fmul'] += update_mul * a * b
      ops['fadd'] += update_add * a * b
    return ops
  return ops_fn


@dataclasses.dataclass(frozen=True)
class Formula:
  """One method of the cost model. chain_fn(layers, D, C) -> [CostLayer];
  memory_fn(net, D, C, B, n, input_mode, weight_bits) -> bits per part;
  ops_fn(net, C, B) -> operations per step. weights: how the model stores a weight
  (for the report). binary: a binary network (its classifiers may have one column);
  float MLPs hold 1/32 of the split with 'fp' input."""
  name: str
  chain_fn: Callable
  memory_fn: Callable
  ops_fn: Callable
  weights: str
  binary: bool


FORMULAS: Dict[str, Formula] = {f.name: f for f in (
    Formula('ours', _mlp_chain, _ours_memory, _binary_ops(True, False), '8-bit', True),
    Formula('ours_train_out', _mlp_chain, _train_out_memory, _binary_ops(True, True),
            '8-bit', True),
    Formula('cp_r', _cp_r_chain, _cp_r_memory, _binary_ops(False, False), '8-bit', True),
    Formula('sgd', _mlp_chain, _float_memory(0), _float_ops(1, 1), '32-bit', False),
    Formula('adam', _mlp_chain, _float_memory(2), _float_ops(10, 4), '32-bit', False),
    Formula('flip', _mlp_chain, _flip_memory, _binary_ops(True, False), '1-bit', True),
)}
METHODS = tuple(FORMULAS)
RULE_METHODS = tuple(m for m, f in FORMULAS.items() if f.binary)


def formula(method: str, input_mode: str = 'bin') -> Formula:
  _check(method in FORMULAS,
         f'unknown method {method!r} (--method); valid: {list(METHODS)}')
  _check(input_mode in INPUT_MODES,
         f'input_mode (--input_mode) must be one of {list(INPUT_MODES)}, '
         f'got {input_mode!r}')
  return FORMULAS[method]


def cost_layers(method: str, layers: Sequence[int], num_inputs: int,
                num_classes: int) -> List[CostLayer]:
  """The chain of layers the model counts (see the module docstring)."""
  f = formula(method)
  layers = tuple(int(n) for n in layers)
  _check(len(layers) >= 1 and all(n >= 1 for n in layers),
         f'layers (--layers) must be positive widths, got {list(layers)}')
  min_classes = 1 if f.binary else 2
  _check(num_inputs >= 1 and num_classes >= min_classes,
         f'need num_inputs >= 1 and num_classes >= {min_classes}, got {num_inputs}, '
         f'{num_classes}')
  return f.chain_fn(layers, int(num_inputs), int(num_classes))


def fp_subset_size(num_train: int) -> int:
  """Samples an FP-input float baseline keeps: 1/32 of the training split (rounded down;
  the paper quotes 1,560 for FMNIST's 50,000, 1,250 for 40,000, 312 for 10,000)."""
  return int(num_train) // FP_SUBSET


def samples_held(method: str, num_train: int, input_mode: str = 'bin',
                 num_train_used: Optional[int] = None) -> int:
  """n of the cost model: the training split, or its FP subset for FP-input baselines."""
  if num_train_used is not None:
    return int(num_train_used)
  if not formula(method).binary and input_mode == 'fp':
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
  f = formula(method, input_mode)
  _check(batch_size >= 1 and num_train >= 0,
         f'need batch_size >= 1 and num_train >= 0, got {batch_size}, {num_train}')
  net = cost_layers(method, layers, num_inputs, num_classes)
  n = samples_held(method, num_train, input_mode, num_train_used)
  return f.memory_fn(net, int(num_inputs), int(num_classes), int(batch_size), n,
                     input_mode, weight_bits)


def memory_bits(*args, **kwargs) -> int:
  """Total memory demand in bits (arguments of `memory_bits_breakdown`)."""
  return sum(memory_bits_breakdown(*args, **kwargs).values())


def bits_to_kb(num_bits: int) -> float:
  """Bits -> the paper's KB (1,000 bytes)."""
  return num_bits / BITS_PER_BYTE / BYTES_PER_KB


def op_counts(method: str, layers: Sequence[int], num_inputs: int, num_classes: int,
              batch_size: int) -> Dict[str, int]:
  """Operations of one training step of `batch_size` samples, by kind (unweighted):
  keys of GATE_WEIGHTS."""
  f = formula(method)
  _check(batch_size >= 1, f'batch_size must be >= 1, got {batch_size}')
  return f.ops_fn(cost_layers(method, layers, num_inputs, num_classes),
                  int(num_classes), int(batch_size))


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


def summary_columns(method: str, layers: Sequence[int], num_inputs: int,
                    num_classes: int, batch_size: int, num_train: int,
                    num_epochs: int = 50, input_mode: str = 'bin',
                    num_train_used: Optional[int] = None,
                    weight_bits: Optional[int] = None) -> Dict[str, float]:
  """Memory and gate columns of the paper's cost model for one configuration.

  Args:
    method: a key of FORMULAS.
    layers: hidden widths (cp_r: K1, K2 pairs).
    num_inputs, num_classes: D and C (C_out for the binary methods).
    batch_size: B.
    num_train: training-split size (pool minus test).
    num_epochs: epochs of a run.
    input_mode: float baselines: 'fp' (1/32 of the split, 32-bit features) or 'bin'.
    num_train_used: samples actually trained on, if not the convention above.
    weight_bits: `flip`: bits per weight.

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
# Beyond the paper: BEP (arXiv 2512.04189) and Mono-Forward (arXiv 2501.09238). Both
# are bnnjax's extensions of the model (no paper check value); docs/cost.md.
# ----------------------------------------------------------------------------------

BEP_WEIGHT_BITS = 16  # BEP's hidden-weight range (its cost table's B = 16)


def _bep_memory(net, d, c, b, n, input_mode, weight_bits):
  """D·n + 16·W_hidden + K_L·C (the fixed ±1 codebook, 1 bit) + 8·Act + the backward
  pass: 8·B·Σ_l N_l desired activations a*_l and B·Σ_{l≥2} N_l gate bits."""
  hidden = [l for l in net if l.kind == 'hidden']
  backward = 8 * b * sum(l.fan_out for l in hidden) + b * sum(
      l.fan_out for l in hidden[1:])
  return _parts(d * n, BEP_WEIGHT_BITS * _w(hidden), net[-1].fan_in * net[-1].fan_out,
                8 * _act(net, b), backward)


def _bep_ops(net, c, b_):
  """Forward (every layer, the codebook included) and the rule's selection and update
  terms per hidden layer, the increment counted twice (16-bit integers); plus, for each
  hidden layer l ≥ 2 (fan-in a = N_{l-1}, fan-out b = N_l), the gate comparison 9·B·b
  XNOR and the backward product W_lᵀ(g ⊙ a*): XNOR B·a·b, AND B·a·b (counted as XNOR)
  and popcount B·a·b."""
  ops = dict.fromkeys(GATE_WEIGHTS, 0)
  hidden = [l for l in net if l.kind == 'hidden']
  for layer in net:
    a, b = layer.fan_in, layer.fan_out
    ops['xnor'] += b_ * a * b
    ops['popcount'] += b_ * a * b
  for i, layer in enumerate(hidden):
    a, b = layer.fan_in, layer.fan_out
    ops['xnor'] += 9 * b_ * b + 2 * a * b
    ops['popcount'] += a * b
    ops['increment'] += 2 * 4 * a * b
    if i > 0:
      ops['xnor'] += 9 * b_ * b + 2 * b_ * a * b
      ops['popcount'] += b_ * a * b
  return ops


def _mono_forward_chain(layers, d, c) -> List[CostLayer]:
  """Hidden layers D -> N_1 -> ... -> N_L, each followed by its learned projection
  N_l -> C ('projection'; the last one is the output)."""
  out, fan_in = [], d
  for i, n in enumerate(layers):
    out.append(CostLayer(fan_in, n, 'hidden'))
    out.append(CostLayer(n, c, 'output' if i == len(layers) - 1 else 'projection'))
    fan_in = n
  return out


def _mono_forward_memory(net, d, c, b, n, input_mode, weight_bits):
  """As `adam` (weights and two moments at 32 bits, 32-bit activations, one gradient
  buffer) over every layer and projection, plus the biases of the hidden layers."""
  biases = sum(l.fan_out for l in net if l.kind == 'hidden')
  return _parts((FLOAT_BITS if input_mode == 'fp' else 1) * d * n,
                3 * FLOAT_BITS * (_w(net) + biases), 0, FLOAT_BITS * _act(net, b),
                FLOAT_BITS * max(l.fan_in * l.fan_out for l in net))


def _mono_forward_ops(net, c, b_):
  """Float forward and weight gradient of every layer and projection; the input
  gradient of each projection only (into its own layer's output: the layers' inputs are
  detached); bias adds (forward B·b, gradient B·b); Adam's update of every weight."""
  ops = dict.fromkeys(GATE_WEIGHTS, 0)
  for layer in net:
    a, b = layer.fan_in, layer.fan_out
    ops['fmul'] += 2 * b_ * a * b + 10 * a * b
    ops['fadd'] += 2 * b_ * (a - 1) * b + 4 * a * b
    if layer.kind == 'hidden':
      ops['fadd'] += 2 * b_ * b
      ops['fmul'] += 10 * b
      ops['fadd'] += 4 * b
    else:  # the projection's input gradient, into its layer's activations
      ops['fmul'] += b_ * a * b
      ops['fadd'] += b_ * (b - 1) * a
  return ops


FORMULAS.update({f.name: f for f in (
    Formula('bep', _mlp_chain, _bep_memory, _bep_ops, '16-bit', True),
    Formula('mono_forward', _mono_forward_chain, _mono_forward_memory, _mono_forward_ops,
            '32-bit', False),
)})
METHODS = tuple(FORMULAS)
RULE_METHODS = tuple(m for m, f in FORMULAS.items() if f.binary)

# ----------------------------------------------------------------------------------
# Beyond the paper: the 1-bit learners (bnnjax.baselines.onebit; docs/onebit.md). One
# bit per weight; what a design keeps per neuron is counted with the classifiers.
# ----------------------------------------------------------------------------------

ONEBIT_DESIGNS = ('topk', 'threshold', 'anneal', 'errscale', 'consolidate')
ONEBIT_METHODS = tuple(f'flip_{d}' for d in ONEBIT_DESIGNS)
ONEBIT_COUNTER_BITS = 32  # consolidate's per-neuron flip counter (int32)


def _onebit_memory(neuron_bits: int):
  """flip's memory at 1 bit per weight, plus `neuron_bits` per hidden neuron."""
  def memory(net, d, c, b, n, input_mode, weight_bits):
    neurons = sum(l.fan_out for l in net if l.kind == 'hidden')
    return _parts(d * n, _w(net), _local_classifiers(net, c) + neuron_bits * neurons,
                  8 * _act(net, b))
  return memory


def _onebit_ops(select_k: bool):
  """ours' gates (the drive Δ by XNOR and popcount; the flip decision counted as the
  increments it replaces), plus for the top-k designs, per trained layer (a, b), the
  choice of the k largest of a 32-bit keys per neuron by a sorting network: a·⌈log2 a⌉²
  / 2 compare-and-swaps per column, each counted as one increment (a 32-bit compare)."""
  base = _binary_ops(True, False)

  def ops_fn(net, c, b_):
    ops = base(net, c, b_)
    if select_k:
      for layer in net:
        if layer.kind == 'hidden':
          a, b = layer.fan_in, layer.fan_out
          ops['increment'] += b * (a * math.ceil(math.log2(max(a, 2))) ** 2 // 2)
    return ops
  return ops_fn


FORMULAS.update({f.name: f for f in (
    Formula('flip_topk', _mlp_chain, _onebit_memory(0), _onebit_ops(True), '1-bit', True),
    Formula('flip_threshold', _mlp_chain, _onebit_memory(0), _onebit_ops(False), '1-bit',
            True),
    Formula('flip_anneal', _mlp_chain, _onebit_memory(0), _onebit_ops(False), '1-bit',
            True),
    Formula('flip_errscale', _mlp_chain, _onebit_memory(0), _onebit_ops(False), '1-bit',
            True),
    Formula('flip_consolidate', _mlp_chain, _onebit_memory(ONEBIT_COUNTER_BITS),
            _onebit_ops(True), '1-bit', True),
)})
METHODS = tuple(FORMULAS)
RULE_METHODS = tuple(m for m, f in FORMULAS.items() if f.binary)
