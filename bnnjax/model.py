"""The local binary error rule of Colombo, Pittorino and Roveri (arXiv 2412.00119).

Pure functions of arrays: `init`, `forward`, `step`, `evaluate`, `predict`. Step numbers
in comments refer to algorithm.md, "One training step". Dimensions: B batch, D inputs,
N hidden width, C classes, W uint32 words.

Two arithmetic semantics (`Config.semantics`):
* 'reference' — the authors' code: integer weights from truncated Normal(0, 64^2) draws,
  sign(0) = 0 for weights, activations, classifier entries and targets; a zero is never
  wrong. Values are ternary and use two bit-planes.
* 'binary' — strictly one bit: odd hidden weights (never 0), sign(0) = +1 for
  activations, ±1 classifiers. One bit-plane.

Two backends (`Config.backend`) compute every integer product: 'packed' (XNOR/AND/
popcount on uint32 words, `bits.packed_dot`) and 'dense' (int8 matmul with int32
accumulation on CPU, exact float32 matmul elsewhere); 'auto' (the default) picks packed
on CPU and dense on GPU/TPU (`config.resolved_backend`). Results are identical, bit
for bit.
"""

import dataclasses
import functools
import inspect
import math
from typing import Callable, NamedTuple, Tuple

import jax
import jax.numpy as jnp
from jax import lax

from bnnjax import bits
from bnnjax import rng
from bnnjax.config import Config, HParams, MAX_WEIGHT, resolved_backend


def jit_config(fn: Callable) -> Callable:
  """fn(..., config, ...) jitted with `config` static, its 'auto' backend resolved first
  (the platform picks the program: a trace cached under one platform must not serve
  another). Called outside a run, fn is one compiled program instead of one per
  primitive; inside a run it is traced into the run's program as before."""
  jitted = jax.jit(fn, static_argnames='config')
  signature = inspect.signature(fn)

  @functools.wraps(fn)
  def call(*args, **kwargs):
    bound = signature.bind(*args, **kwargs)
    config = bound.arguments['config']
    if getattr(config, 'backend', None) == 'auto':
      bound.arguments['config'] = dataclasses.replace(config,
                                                      backend=resolved_backend(config))
    return jitted(*bound.args, **bound.kwargs)
  return call


INIT_SCALE = 64.0  # std of the Normal draws that initialise H and P (algorithm.md)


class State(NamedTuple):
  """Training state of one run; arrays only.

  hidden:      tuple of int32[N_{l-1}, N_l] — integer ("metaplastic") hidden weights H_l.
  classifiers: tuple of int8[N_l, C_out] — local classifiers P_l, in {-1,0,+1}
               (C_out = `Config.num_outputs`: C, or 1 for the two-class 'sign' head).
  key:         uint32[2] — PRNG key; consumed by every step and every epoch's shuffle.
  prev_acc:    float32[] — running train accuracy (fraction) of the previous epoch.
  epoch:       int32[] — epochs completed.
  classifier_hidden: tuple of int32[N_l, C_out] — integer weights Q_l behind trained
               classifiers (P_l = sign(Q_l)); () when classifiers are fixed (default).
  """
  hidden: Tuple[jax.Array, ...]
  classifiers: Tuple[jax.Array, ...]
  key: jax.Array
  prev_acc: jax.Array
  epoch: jax.Array
  classifier_hidden: Tuple[jax.Array, ...] = ()


class Batch(NamedTuple):
  """x: uint32[B, W] packed ±1 inputs; y: int32[B] labels; valid: bool[B] (False on
  padding rows of a partial last batch)."""
  x: jax.Array
  y: jax.Array
  valid: jax.Array


class Forward(NamedTuple):
  """pre: tuple of int32[B, N_l] pre-activations a_l; post: tuple of int8[B, N_l] signs
  s_l; scores: tuple of int32[B, C] local classifier scores z_l."""
  pre: Tuple[jax.Array, ...]
  post: Tuple[jax.Array, ...]
  scores: Tuple[jax.Array, ...]


# ----------------------------------------------------------------------------------
# Arithmetic helpers
# ----------------------------------------------------------------------------------


def sign(x: jax.Array, semantics: str) -> jax.Array:
  """int8 sign; sign(0) = 0 under 'reference', +1 under 'binary'."""
  if semantics == 'reference':
    return jnp.sign(x).astype(jnp.int8)
  return jnp.where(x >= 0, 1, -1).astype(jnp.int8)


def weight_signs(h: jax.Array) -> jax.Array:
  """Binary weights W = sign(H) with sign(0) = 0 (only 'reference' has H = 0)."""
  return jnp.sign(h).astype(jnp.int8)


def effective_clip(params: HParams, semantics: str) -> jax.Array:
  """c' of step 8 as int32: c, or MAX_WEIGHT when unbounded; 'binary' rounds c down to
  the largest odd value so parity (and so a nonzero weight) is kept."""
  c = jnp.asarray(params.weight_clip, jnp.int32)
  c = jnp.where(c <= 0, MAX_WEIGHT, jnp.minimum(c, MAX_WEIGHT))
  if semantics == 'binary':
    c = c - (1 - c % 2)
  return c


def product(a, b: jax.Array, n: int, config: Config, a_ternary: bool,
            b_ternary: bool, init=None, scale: int = 1) -> jax.Array:
  """Exact a.T @ b for a: int8[n, M] (or `bits.Packed` planes [W, M]) and b: int8[n, K]
  -> int32[M, K]. `*_ternary` says whether zeros may occur (extra bit-plane). The
  backend is `resolved_backend(config)` ('auto' picks per platform). With init
  (int32[M, K]): init + scale * a.T @ b, accumulated into init by the packed backend."""
  if resolved_backend(config) == 'dense':
    if isinstance(a, bits.Packed):
      a = bits.unpack(a.sign, n, a.nz)
    out = dense_dot(a, b, n)
    out = out if scale == 1 else jnp.int32(scale) * out
    return out if init is None else init + out
  if not isinstance(a, bits.Packed):
    a = bits.pack(a, ternary=a_ternary)
  return bits.packed_dot(a, bits.pack(b, ternary=b_ternary), n, config.word_chunk,
                         init=init, scale=scale)


MAX_DENSE_SUM = 2**24  # float32 represents every integer of magnitude <= 2^24


def dense_dot(a: jax.Array, b: jax.Array, n: int) -> jax.Array:
  """int32[M, K] = a.T @ b for a: int8[n, M], b: int8[n, K] with entries in {-1, 0, 1}.

  On CPU an int8 x int8 -> int32 dot. Elsewhere (GPU, TPU) a float32 dot at HIGHEST
  precision, cast back: XLA:GPU's int8 dot returned twice the right value at small
  shapes on an H200 (jax 0.11.2; benchmarks/gpu_diag.py), while float32 sums of ±1 are
  exact up to 2^24 terms. The choice is made per lowering platform
  (`lax.platform_dependent`), so one program is exact on every backend."""
  if n > MAX_DENSE_SUM:
    raise ValueError(f'dense backend: a product over {n} terms could leave float32\'s '
                     f'exact integers (at most {MAX_DENSE_SUM}); use backend packed')
  return lax.platform_dependent(a, b, cpu=_int_dot, default=_float_dot)


_DIMS = (((0,), (0,)), ((), ()))


def _int_dot(a: jax.Array, b: jax.Array) -> jax.Array:
  return lax.dot_general(a, b, _DIMS, preferred_element_type=jnp.int32)


def _float_dot(a: jax.Array, b: jax.Array) -> jax.Array:
  out = lax.dot_general(a.astype(jnp.float32), b.astype(jnp.float32), _DIMS,
                        precision=lax.Precision.HIGHEST, preferred_element_type=jnp.float32)
  return out.astype(jnp.int32)


# ----------------------------------------------------------------------------------
# init / forward / predict / evaluate
# ----------------------------------------------------------------------------------


@jit_config
def init(key: jax.Array, config: Config, params: HParams = HParams()) -> State:
  """Initial state of one run (algorithm.md, "Two arithmetic semantics").

  'reference': H = trunc(G), P = sign(trunc(G')), G, G' ~ Normal(0, 64^2).
  'binary':    H = 2 * floor(G / 2) + 1 (odd), P uniform ±1.
  H is then clipped to the weight clip of `params` (step 8).
  With `config.train_classifiers`, each classifier has integer weights Q initialised and
  clipped like H (from the G' draw: Q = trunc(G') or 2 * floor(G' / 2) + 1), and
  P = sign(Q); under 'reference' that P equals the fixed classifier of the same key.

  Key schedule: key -> (state key, k_h, k_p). One Normal draw from k_h, of all layers'
  H entries in order (each layer row-major), gives every H; one draw from k_p gives every
  P (Normal under 'reference' or for trained classifiers, fair coins under 'binary').
  One draw per kind keeps the compiled program small (each threefry draw costs ~0.4 s of
  compilation).
  """
  widths = config.widths
  num_layers = len(config.layers)
  hidden, classifiers, classifier_hidden, key = init_weights(
      key, [(widths[l], widths[l + 1]) for l in range(num_layers)],
      [(widths[l + 1], config.num_outputs) for l in range(num_layers)],
      config.semantics, config.train_classifiers, effective_clip(params, config.semantics))
  return State(hidden=hidden, classifiers=classifiers, key=key,
               prev_acc=jnp.zeros((), jnp.float32), epoch=jnp.zeros((), jnp.int32),
               classifier_hidden=classifier_hidden)


def init_weights(key: jax.Array, shapes_h, shapes_p, semantics: str,
                 train_classifiers: bool, clip: jax.Array):
  """(hidden, classifiers, classifier_hidden, state key) of `init` for any shapes of
  the hidden weights (shapes_h) and of the classifiers (shapes_p), one per layer."""
  key, k_h, k_p = jax.random.split(key, 3)
  g_h = INIT_SCALE * jax.random.normal(k_h, (sum(math.prod(s) for s in shapes_h),),
                                       jnp.float32)
  size_p = sum(math.prod(s) for s in shapes_p)
  h_all = integer_init(g_h, semantics)
  if train_classifiers:
    q_all = integer_init(INIT_SCALE * jax.random.normal(k_p, (size_p,), jnp.float32),
                         semantics)
    q_all = jnp.clip(q_all, -clip, clip)
    p_all = weight_signs(q_all)
  elif semantics == 'reference':
    p_all = jnp.sign(jnp.trunc(INIT_SCALE * jax.random.normal(k_p, (size_p,),
                                                              jnp.float32)))
  else:
    p_all = jnp.where(jax.random.bernoulli(k_p, 0.5, (size_p,)), 1, -1)
  hidden, classifiers, classifier_hidden = [], [], []
  off_h = off_p = 0
  for shape_h, shape_p in zip(shapes_h, shapes_p):
    h = h_all[off_h:off_h + math.prod(shape_h)].reshape(shape_h)
    p = p_all[off_p:off_p + math.prod(shape_p)].reshape(shape_p)
    if train_classifiers:
      classifier_hidden.append(q_all[off_p:off_p + math.prod(shape_p)].reshape(shape_p))
    off_h += math.prod(shape_h)
    off_p += math.prod(shape_p)
    hidden.append(jnp.clip(h, -clip, clip))
    classifiers.append(p.astype(jnp.int8))
  return tuple(hidden), tuple(classifiers), tuple(classifier_hidden), key


def integer_init(g: jax.Array, semantics: str) -> jax.Array:
  """int32 integer weights from Normal draws g: trunc(g) under 'reference' (may be 0),
  2 * floor(g / 2) + 1 (odd, never 0) under 'binary'."""
  if semantics == 'reference':
    return jnp.trunc(g).astype(jnp.int32)
  return (2 * jnp.floor(g / 2) + 1).astype(jnp.int32)


@jit_config
def forward(state: State, x: jax.Array, config: Config) -> Forward:
  """Step 1: a_l = s_{l-1} W_l, s_l = sign(a_l), z_l = s_l P_l.

  x: uint32[B, W] packed ±1 inputs (one row per sample, bits.py layout)."""
  ternary = config.semantics == 'reference'
  s_t = bits.Packed(x.T, None)  # [W, B]; data are ±1 under both semantics
  s_ternary = False
  n_in = config.num_inputs
  pre, post, scores = [], [], []
  for h, p in zip(state.hidden, state.classifiers):
    a = product(s_t, weight_signs(h), n_in, config, s_ternary, ternary)  # [B, N]
    s = sign(a, config.semantics)
    s_ternary, n_in = ternary, s.shape[1]
    # The packed backend packs s once, along its contiguous axis (no [N, B] transpose),
    # for this layer's classifier and the next layer.
    s_t = bits.pack_rows(s, ternary) if resolved_backend(config) == 'packed' else s.T
    z = product(s_t, p, n_in, config, ternary, ternary)  # [B, C]
    pre.append(a)
    post.append(s)
    scores.append(z)
  return Forward(tuple(pre), tuple(post), tuple(scores))


@jit_config
def predict(state: State, x: jax.Array, config: Config) -> jax.Array:
  """Step 2: int32[B] predicted class from the last layer's scores (`head_predict`)."""
  return head_predict(forward(state, x, config).scores[-1], config.head,
                      config.semantics)


def count_correct(predict_fn, x: jax.Array, y: jax.Array, chunk_size: int) -> jax.Array:
  """int32[] number of samples with predict_fn(x_chunk) == y, over chunks of at most
  `chunk_size` rows (padding rows get label -1, which no prediction matches)."""
  n = x.shape[0]
  bsz = min(chunk_size, n)
  num_chunks = -(-n // bsz)
  pad = num_chunks * bsz - n
  xs = jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1)).reshape(
      (num_chunks, bsz) + x.shape[1:])
  ys = jnp.pad(y, (0, pad), constant_values=-1).reshape(num_chunks, bsz)
  return jnp.sum(lax.map(
      lambda a: jnp.sum(predict_fn(a[0]) == a[1], dtype=jnp.int32), (xs, ys)))


@jit_config
def evaluate(state: State, x: jax.Array, y: jax.Array, config: Config) -> jax.Array:
  """Number of correct predictions (int32[]) on x: uint32[n, W], y: int32[n], in chunks
  of `config.eval_batch_size` samples to bound memory."""
  return count_correct(lambda xc: predict(state, xc, config), x, y,
                       config.eval_batch_size)


# ----------------------------------------------------------------------------------
# The training step
# ----------------------------------------------------------------------------------


def _is_first_argmax(z: jax.Array, y: jax.Array) -> jax.Array:
  """bool[B]: y is argmax z with the lowest index winning ties (no variadic reduce)."""
  top1 = jnp.max(z, axis=-1, keepdims=True)
  at_max = z == top1
  cols = jnp.arange(z.shape[-1])
  hit_y = jnp.any(at_max & (cols == y[:, None]), axis=-1)
  before_y = jnp.any(at_max & (cols < y[:, None]), axis=-1)
  return hit_y & ~before_y


# ----------------------------------------------------------------------------------
# Output heads: what a score vector z means (steps 2-4). 'argmax': C columns, the
# prediction is argmax z. 'sign' (two classes): one column, labels y in {0, 1} read as
# y± = 2y - 1 (the authors' code: class 0 -> -1), the prediction is sign(z).
# ----------------------------------------------------------------------------------


def signed_labels(y: jax.Array) -> jax.Array:
  """int32[B] y± = 2y - 1 for labels y in {0, 1} (the 'sign' head)."""
  return 2 * y.astype(jnp.int32) - 1


def head_predict(z: jax.Array, head: str, semantics: str) -> jax.Array:
  """int32[B] predicted class from scores z: int32[B, C_out].

  'argmax': lowest index wins ties. 'sign': 1 where sign(z) = +1, 0 where -1; under
  'reference' sign(0) = 0 predicts no class (-1, never correct), as the authors' code
  compares sign(z) with the ±1 label; under 'binary' sign(0) = +1."""
  if head == 'argmax':
    return jnp.argmax(z, axis=-1).astype(jnp.int32)
  s = sign(z[:, 0], semantics).astype(jnp.int32)
  return jnp.where(s == 0, -1, (s + 1) // 2).astype(jnp.int32)


def head_correct(z: jax.Array, y: jax.Array, head: str, semantics: str) -> jax.Array:
  """bool[B]: the prediction from z equals y."""
  if head == 'argmax':
    return _is_first_argmax(z, y)
  return sign(z[:, 0], semantics).astype(jnp.int32) == signed_labels(y)


def error_set(z: jax.Array, y: jax.Array, valid: jax.Array, tau: jax.Array,
              head: str = 'argmax', semantics: str = 'reference') -> jax.Array:
  """Step 3: bool[B]. 'argmax': argmax z != y or top-1 minus top-2 score below τ.
  'sign': sign(z) != y± or |z| < τ."""
  if head == 'sign':
    z0 = z[:, 0]
    wrong = sign(z0, semantics).astype(jnp.int32) != signed_labels(y)
    return (wrong | (jnp.abs(z0) < tau)) & valid
  if z.shape[-1] < 2:  # top-2 of one column would be INT32_MIN and overflow
    raise ValueError(f"head 'argmax' needs at least 2 score columns, got {z.shape[-1]}; "
                     f"a one-column classifier uses head 'sign'")
  top1 = jnp.max(z, axis=-1)
  at_max = z == top1[:, None]
  # top-2 counts multiplicity: a tie for the maximum gives top1 - top2 = 0.
  below = jnp.max(jnp.where(at_max, jnp.iinfo(jnp.int32).min, z), axis=-1)
  top2 = jnp.where(jnp.sum(at_max, axis=-1) > 1, top1, below)
  return (~_is_first_argmax(z, y) | (top1 - top2 < tau)) & valid


def head_targets(p: jax.Array, y: jax.Array, head: str) -> jax.Array:
  """Step 4: int8[B, N] target signs from a classifier p: int8[N, C_out]:
  'argmax': t = P[:, y]; 'sign': t = y± · P[:, 0]."""
  if head == 'sign':
    return (signed_labels(y)[:, None] * p[:, 0][None, :].astype(jnp.int32)).astype(
        jnp.int8)
  return p.T[y]


def classifier_moves(z: jax.Array, y: jax.Array, err: jax.Array, head: str,
                     semantics: str) -> jax.Array:
  """int8[B, C_out] of the trained-classifier update (algorithm.md, "Variant: trained
  local classifiers"): for μ in M, 'argmax' moves the true-class column by +1 where its
  score z_y < 0; 'sign' moves the single column by y± where sign(z)·y± < 0 (a zero
  score is never wrong under 'reference', as in the authors' code). Q += 2 S^T G."""
  if head == 'sign':
    y_pm = signed_labels(y)
    move = err & (sign(z[:, 0], semantics).astype(jnp.int32) * y_pm < 0)
    return jnp.where(move, y_pm, 0).astype(jnp.int8)[:, None]
  onehot = jnp.arange(z.shape[-1])[None, :] == y[:, None]
  z_true = jnp.sum(jnp.where(onehot, z, 0), axis=-1)
  move = err & (z_true < 0)
  return (onehot & move[:, None]).astype(jnp.int8)


def select(pre: jax.Array, target: jax.Array, err: jax.Array, group_size: int) -> jax.Array:
  """Steps 4-5: bool[B, N] mask m of the neurons to update.

  A neuron is wrong when a * t < 0; in each contiguous group of γ neurons, at most one
  per sample in the error set is chosen: the wrong one with the smallest |a| (lowest
  index on ties). The choice is one min-reduce of |a| * γ + (index in group), which is
  unique per group (config validation keeps it inside int32)."""
  b, n = pre.shape
  wrong = (pre.astype(jnp.int32) * target.astype(jnp.int32) < 0) & err[:, None]
  pos = jnp.arange(n, dtype=jnp.int32) % group_size
  cost = jnp.where(wrong, jnp.abs(pre) * group_size + pos, jnp.iinfo(jnp.int32).max)
  cost = cost.reshape(b, n // group_size, group_size)
  best = jnp.min(cost, axis=-1, keepdims=True)
  return ((cost == best) & wrong.reshape(cost.shape)).reshape(b, n)


def reinforce_prob(params: HParams, prev_acc: jax.Array, fan_in: int) -> jax.Array:
  """Step 7: p_l = p_r * sqrt(1 - A_prev) * sqrt(2 / (pi * N_{l-1})), float32."""
  const = jnp.float32(math.sqrt(2.0 / (math.pi * fan_in)))
  one_minus = jnp.maximum(jnp.float32(1.0) - prev_acc.astype(jnp.float32), 0.0)
  return jnp.asarray(params.p_reinforce, jnp.float32) * jnp.sqrt(one_minus) * const


class StepMetrics(NamedTuple):
  """correct: int32[] correct pre-update predictions in the batch; errors: int32[L]
  size of each layer's error set M_l; updated: int32[L] neurons of each layer selected
  for at least one sample (whose weights the supervised update moves)."""
  correct: jax.Array
  errors: jax.Array
  updated: jax.Array


def reinforce_and_clip(h_new: jax.Array, key: jax.Array, params: HParams,
                       prev_acc: jax.Array, clip: jax.Array) -> jax.Array:
  """Steps 7-8 on updated integer weights h_new: int32[fan_in, fan_out]."""
  prob = reinforce_prob(params, prev_acc, h_new.shape[0])
  grow = rng.bernoulli_mask(key, prob, h_new.shape)
  h_new = h_new + 2 * jnp.sign(h_new) * grow.astype(jnp.int32)
  return jnp.clip(h_new, -clip, clip)


def step(state: State, batch: Batch, params: HParams, config: Config,
         train=True) -> Tuple[State, StepMetrics]:
  """One training step on a mini-batch (steps 1-8), all layers updated in parallel.

  train: True, or a traced bool[]: where False the step only counts the batch's correct
  predictions (the state and its key are left as they are; errors and updates 0), so
  that one compiled step serves the training batches and the test batches of an epoch
  (`bnnjax.run`)."""
  fwd = forward(state, batch.x, config)
  y = batch.y.astype(jnp.int32)
  correct = jnp.sum(head_correct(fwd.scores[-1], y, config.head, config.semantics)
                    & batch.valid, dtype=jnp.int32)
  return update_or_count(train, lambda: _update(state, batch, params, config, fwd,
                                                correct),
                         state, correct, len(config.layers))


def update_or_count(train, update: Callable, state, correct: jax.Array,
                    num_layers: int):
  """update() -> (state, StepMetrics) where train is True (a Python True: no
  conditional); else, for a traced bool[] train, (state, StepMetrics(correct, 0, 0))
  where it is False: a step that only counts its batch's correct predictions."""
  if train is True:
    return update()
  zeros = jnp.zeros(num_layers, jnp.int32)
  return lax.cond(train, update, lambda: (state, StepMetrics(correct, zeros, zeros)))


def _update(state, batch, params, config, fwd, correct):
  """Steps 3-8 of `step` from its forward pass."""
  ternary = config.semantics == 'reference'
  key, step_key = jax.random.split(state.key)
  layer_keys = jax.random.split(step_key, len(config.layers))
  y = batch.y.astype(jnp.int32)
  clip = effective_clip(params, config.semantics)
  b = batch.x.shape[0]

  # Layer inputs along the batch axis, for the update product (step 6).
  if resolved_backend(config) == 'packed':  # sign plane [W_B, D], straight from rows
    x_vals = bits.transpose_rows(batch.x, config.num_inputs)
  else:
    x_vals = bits.unpack_rows(batch.x, config.num_inputs)  # int8[B, D], ±1
  inputs = (x_vals,) + fwd.post[:-1]
  input_ternary = (False,) + (ternary,) * (len(config.layers) - 1)

  new_hidden, new_classifiers, new_q, errors, updated = [], [], [], [], []
  for l, (h, p) in enumerate(zip(state.hidden, state.classifiers)):
    width = config.layers[l]
    # --- Step 3: error set M_l.
    tau = jnp.floor(jnp.asarray(params.robustness, jnp.float32) * width).astype(jnp.int32)
    err = error_set(fwd.scores[l], y, batch.valid, tau, config.head, config.semantics)
    any_err = jnp.any(err)
    if config.train_classifiers:
      # --- Trained classifier: Q += 2 S_l^T G, reinforcement (fan-in N_l), clip; the
      # targets below read the updated P = sign(Q).
      q = state.classifier_hidden[l]
      moves = classifier_moves(fwd.scores[l], y, err, config.head, config.semantics)
      q_new = q + 2 * product(fwd.post[l], moves, b, config, ternary, True)
      q_new = reinforce_and_clip(q_new, jax.random.fold_in(layer_keys[l], 1), params,
                                 state.prev_acc, clip)
      q_new = jnp.where(any_err, q_new, q)
      p = weight_signs(q_new)
      new_q.append(q_new)
    new_classifiers.append(p)
    # --- Steps 4-5: targets from P_l and the group selection mask.
    target = head_targets(p, y, config.head)  # int8[B, N]
    mask = select(fwd.pre[l], target, err, config.group_size[l])
    g = jnp.where(mask, target, 0).astype(jnp.int8)  # m * t, int8[B, N]
    # --- Step 6: H + 2 * S^T G (sum over the batch), accumulated into H
    # (|H| <= MAX_WEIGHT and |2 S^T G| <= 2B keep every partial sum inside int32).
    h_sum = product(inputs[l], g, b, config, input_ternary[l], True, init=h,
                    scale=2)  # [N_{l-1}, N]
    # --- Steps 7-8: reinforcement away from zero with probability p_l per entry, then
    # the clip (saturation at MAX_WEIGHT when unbounded; never wraps). Without an error
    # G = 0, so h_sum = H and the layer is left as it was.
    h_new = reinforce_and_clip(h_sum, layer_keys[l], params, state.prev_acc, clip)
    new_hidden.append(jnp.where(any_err, h_new, h_sum))
    errors.append(jnp.sum(err, dtype=jnp.int32))
    updated.append(jnp.sum(jnp.any(mask, axis=0), dtype=jnp.int32))

  new_state = state._replace(hidden=tuple(new_hidden), key=key)
  if config.train_classifiers:
    new_state = new_state._replace(classifiers=tuple(new_classifiers),
                                   classifier_hidden=tuple(new_q))
  return new_state, StepMetrics(correct, jnp.stack(errors), jnp.stack(updated))
