"""Float MLP baselines of arXiv 2412.00119 (`sgd`, `adam`), and `ste`, with optax.

algorithm.md, "Baselines of the paper": bias-free MLPs, ReLU, cross-entropy, B = 100,
50 epochs; SGD with lr 0.01 and no momentum, or Adam with lr 1e-3. Hidden widths
(N_1, ..., N_L), then a linear read-out N_L -> C. Weights are initialised like PyTorch's
`nn.Linear` (the paper's framework): U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

`ste` (beyond the paper) is the binary MLP most users would train otherwise: binary
weights sign(W) and binary hidden activations sign(a) in the forward pass, the
straight-through clipped-identity gradient (d sign(v)/dv := 1{|v| <= 1}), float latent
weights W clipped to [-1, 1] after every step (BinaryConnect), Adam (lr 1e-3). Without
batch norm, each binary layer's pre-activation is scaled by 1/sqrt(fan_in) so that the
clipped-identity window |v| <= 1 covers its typical range (a positive scale: the sign,
and so the binary network, is unchanged). sign(0) = +1.

Inputs (`input_mode`): 'bin' feeds the ±1 pool as packed bits (unpacked per batch),
'fp' feeds float features on a random 1/32 of the training split (the protocol's
`train_divisor`). Dimensions: B batch, D inputs, N hidden, C classes.

Conv blocks (`conv`, on images of `image_shape`; the float and STE references of
`bnnjax.conv`'s binary conv nets): each block is a k x k convolution (bias-free, zero
padding, stride), ReLU (or, for 'ste', the sign of the pre-activation scaled by
1/sqrt(k*k*C)), and a max pooling, before the dense layers; kernels are initialised like
PyTorch's `nn.Conv2d`, U(-1/sqrt(k*k*C), 1/sqrt(k*k*C)).
"""

import dataclasses
import math
from typing import Any, NamedTuple, Tuple

import jax
import jax.numpy as jnp
import optax

from bnnjax import bits
from bnnjax import config as config_lib
from bnnjax import engine
from bnnjax import model

KINDS = ('sgd', 'adam', 'ste')
# Float methods with their own model module that reuse MLPConfig, the inputs and the
# optimiser here (`bnnjax.baselines.mono_forward`).
LOCAL_KINDS = ('mono_forward',)
INPUT_MODES = ('fp', 'bin')
PAPER_LEARNING_RATE = {'sgd': 0.01, 'adam': 1e-3, 'ste': 1e-3, 'mono_forward': 1e-3}
FP_TRAIN_DIVISOR = 32  # "FP input": a random 1/32 of the training split, per seed


@config_lib.with_parts
@dataclasses.dataclass(frozen=True)
class MLPConfig:
  """Static configuration of a float / STE MLP and its run (hashable).

  kind: 'sgd', 'adam' or 'ste'. layers: hidden widths. input_mode: 'fp' or 'bin'.
  protocol: the run `Protocol`; with 'fp' its train_divisor keeps a random
  1/train_divisor of the training split (the paper's 32 for images: 32-bit floats of
  1/32 of the samples hold as many bits as the 1-bit pool; `bnnjax.methods` derives it
  from the data's widths). speed: only eval_batch_size and seed_chunk apply.
  The other fields mean what they mean in `bnnjax.config.Config`.
  """
  kind: str = 'adam'
  layers: Tuple[int, ...] = (22, 22)
  num_inputs: int = 1000
  num_classes: int = 10
  input_mode: str = 'bin'
  protocol: config_lib.Protocol = config_lib.Protocol()
  speed: config_lib.Speed = config_lib.Speed()
  conv: Tuple[config_lib.ConvBlock, ...] = ()
  image_shape: Tuple[int, ...] = ()

  def __post_init__(self):
    layers = (self.layers,) if isinstance(self.layers, int) else self.layers
    object.__setattr__(self, 'layers', tuple(int(n) for n in layers))
    object.__setattr__(self, 'conv', config_lib.parse_conv(self.conv))
    object.__setattr__(self, 'image_shape', tuple(int(v) for v in self.image_shape))
    validate(self)

  @property
  def conv_shapes(self) -> Tuple[config_lib.LayerShape, ...]:
    """The conv blocks' `LayerShape`s (empty without blocks)."""
    if not self.conv:
      return ()
    return config_lib.conv_net_shapes(self.image_shape, self.conv, ())

  @property
  def widths(self) -> Tuple[int, ...]:
    """(D, N_1, ..., N_L, C): fan-ins and fan-outs of every dense weight matrix (D:
    the flattened last conv map with blocks)."""
    d = self.conv_shapes[-1].units if self.conv else self.num_inputs
    return (d,) + self.layers + (self.num_classes,)


def validate(c: MLPConfig) -> None:
  """Raises ValueError naming the flag of the first bad field."""
  checks = [
      (c.kind in KINDS + LOCAL_KINDS,
       f'method (--method) must be one of {list(KINDS + LOCAL_KINDS)}, got {c.kind!r}'),
      (len(c.layers) >= 1 and all(n >= 1 for n in c.layers),
       f'layers (--layers) must list hidden widths >= 1, got {list(c.layers)}'),
      (c.input_mode in INPUT_MODES,
       f'input_mode (--input_mode) must be one of {list(INPUT_MODES)}, got '
       f'{c.input_mode!r}'),
  ]
  for ok, msg in checks:
    if not ok:
      raise ValueError(msg)
  if c.conv:
    if len(c.image_shape) != 3 or math.prod(c.image_shape) != c.num_inputs:
      raise ValueError(f'conv (--conv) needs images: image_shape {c.image_shape} does not '
                       f'hold the {c.num_inputs} inputs')
    c.conv_shapes  # raises when a block does not fit
  config_lib.validate_common(c)


class MLPParams(NamedTuple):
  """Traced hyper-parameters: learning_rate (float32[])."""
  learning_rate: float = 1e-3


def validate_params(p: MLPParams) -> None:
  lr = float(p.learning_rate)
  if not (math.isfinite(lr) and lr > 0):
    raise ValueError(f'learning_rate (--learning_rate) must be finite and > 0, got {lr}')


class State(NamedTuple):
  """Training state of one run; arrays only.

  weights:   tuple of float32[N_{l-1}, N_l], l = 1..L+1 (the last maps N_L -> C); for
             'ste', the float latent weights.
  opt_state: the optax state of `optimizer(kind)` over `weights`.
  key:       uint32[2] — PRNG key (each epoch's shuffle).
  prev_acc:  float32[] — running train accuracy of the previous epoch (fraction).
  epoch:     int32[] — epochs completed.
  """
  weights: Tuple[jax.Array, ...]
  opt_state: Any
  key: jax.Array
  prev_acc: jax.Array
  epoch: jax.Array


def optimizer(kind: str) -> optax.GradientTransformation:
  """The optimiser's direction without the learning rate (traced, applied in `step`):
  `optax.sgd(lr)` = identity then scale(-lr); `optax.adam(lr)` = scale_by_adam then
  scale(-lr), with optax's defaults (b1 0.9, b2 0.999, eps 1e-8, as PyTorch's)."""
  return optax.identity() if kind == 'sgd' else optax.scale_by_adam()  # mono_forward: Adam


@model.jit_config
def init(key: jax.Array, config: MLPConfig) -> State:
  """PyTorch nn.Linear initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), bias-free."""
  widths = config.widths
  blocks = config.conv_shapes
  keys = jax.random.split(key, len(widths) + len(blocks))
  key, layer_keys = keys[0], keys[1:]
  weights = []
  for i, b in enumerate(blocks):  # kernels [k, k, C, F]
    bound = 1.0 / math.sqrt(b.fan_in)
    weights.append(jax.random.uniform(
        layer_keys[len(widths) - 1 + i], (b.kernel, b.kernel, b.image[2], b.filters),
        jnp.float32, -bound, bound))
  for l in range(len(widths) - 1):
    bound = 1.0 / math.sqrt(widths[l])
    weights.append(jax.random.uniform(layer_keys[l], (widths[l], widths[l + 1]),
                                      jnp.float32, -bound, bound))
  weights = tuple(weights)
  return State(weights=weights, opt_state=optimizer(config.kind).init(weights), key=key,
               prev_acc=jnp.zeros((), jnp.float32), epoch=jnp.zeros((), jnp.int32))


@jax.custom_jvp
def ste_sign(v: jax.Array) -> jax.Array:
  """sign(v) (sign(0) = +1) forward; gradient 1{|v| <= 1} (clipped identity, exact:
  a custom JVP, so the forward value is exactly ±1 and the window includes |v| = 1)."""
  return jnp.where(v >= 0, 1.0, -1.0).astype(v.dtype)


@ste_sign.defjvp
def _ste_sign_jvp(primals, tangents):
  (v,), (dv,) = primals, tangents
  return ste_sign(v), jnp.where(jnp.abs(v) <= 1.0, dv, jnp.zeros_like(dv))


def features(x: jax.Array, config: MLPConfig) -> jax.Array:
  """float32[B, D]: packed ±1 rows (uint32[B, W]) are unpacked; floats pass through."""
  if x.dtype == jnp.uint32:
    return bits.unpack_rows(x, config.num_inputs).astype(jnp.float32)
  return x.astype(jnp.float32)


def conv_features(weights, x: jax.Array, config: MLPConfig) -> jax.Array:
  """float32[B, D'] the flattened last map of the conv blocks (x itself without)."""
  shapes = config.conv_shapes
  if not shapes:
    return x
  h = x.reshape((x.shape[0],) + config.image_shape)
  for w, s in zip(weights, shapes):
    kernel = ste_sign(w) if config.kind == 'ste' else w
    a = jax.lax.conv_general_dilated(
        h, kernel, (s.stride, s.stride), [(s.padding, s.padding)] * 2,
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    if config.kind == 'ste':
      h = ste_sign(a * (1.0 / math.sqrt(s.fan_in)))
    else:
      h = jax.nn.relu(a)
    if s.pool > 1:
      hp, wp = s.pooled
      h = h[:, :hp * s.pool, :wp * s.pool, :].reshape(
          h.shape[0], hp, s.pool, wp, s.pool, s.filters).max(axis=(2, 4))
  return h.reshape(h.shape[0], -1)


def logits(weights, x: jax.Array, config: MLPConfig) -> jax.Array:
  """float32[B, C]. x: float32[B, D]."""
  num_conv = len(config.conv)
  h = conv_features(weights[:num_conv], x, config)
  weights = weights[num_conv:]
  last = len(weights) - 1
  for l, w in enumerate(weights):
    if config.kind == 'ste':
      a = (h @ ste_sign(w)) * (1.0 / math.sqrt(w.shape[0]))
      h = a if l == last else ste_sign(a)
    else:
      a = h @ w
      h = a if l == last else jax.nn.relu(a)
  return h


def step(state: State, batch, params: MLPParams, config: MLPConfig):
  """One optimiser step on a mini-batch; returns (state, correct int32[]).

  The loss is the mean cross-entropy over the valid rows (a partial last batch averages
  over its real samples, as PyTorch's DataLoader does). `correct` counts the pre-update
  predictions, like the running train accuracy of the rule."""
  x = features(batch.x, config)
  valid = batch.valid.astype(jnp.float32)

  def loss_fn(weights):
    out = logits(weights, x, config)
    ce = optax.softmax_cross_entropy_with_integer_labels(out, batch.y)
    return jnp.sum(ce * valid) / jnp.maximum(jnp.sum(valid), 1.0), out

  (_, out), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.weights)
  correct = jnp.sum((jnp.argmax(out, axis=-1) == batch.y) & batch.valid, dtype=jnp.int32)
  direction, opt_state = optimizer(config.kind).update(grads, state.opt_state,
                                                       state.weights)
  lr = jnp.asarray(params.learning_rate, jnp.float32)
  weights = optax.apply_updates(state.weights,
                                jax.tree_util.tree_map(lambda u: -lr * u, direction))
  if config.kind == 'ste':
    weights = tuple(jnp.clip(w, -1.0, 1.0) for w in weights)
  return state._replace(weights=weights, opt_state=opt_state), correct


@model.jit_config
def evaluate(state: State, x: jax.Array, y: jax.Array, config: MLPConfig) -> jax.Array:
  """Number of correct predictions (int32[]), in chunks of `config.eval_batch_size`."""
  return model.count_correct(
      lambda xc: jnp.argmax(logits(state.weights, features(xc, config), config), axis=-1),
      x, y, config.eval_batch_size)


def make_model(config: MLPConfig, diagnostics: bool = False) -> engine.Model:
  """The functions of the run engine (no per-epoch diagnostics)."""
  del diagnostics
  return engine.Model(
      init_fn=lambda key, params: init(key, config),
      step_fn=lambda state, batch, params: step(state, batch, params, config),
      evaluate_fn=lambda state, x, y: evaluate(state, x, y, config))
