"""Binary conv nets trained by the local rule, integer-only (docs/conv.md, the spec).

A conv net is conv blocks on the image (k x k binary filters W = sign(H), stride,
padding, a max pooling) followed by binary dense layers. A dense layer is the same
layer on a 1 x 1 map with kernel 1, so one code path serves both, and on a dense layer
the rule below is the MLP rule of `bnnjax.model` (steps 1-8 of docs/algorithm.md).
Every layer has a fixed random ±1 classifier on its pooled, flattened map.

The training step uses integers only (a test walks its jaxpr): the error margin
τ_l = floor(r * D_l) and the reinforcement probability are computed from fixed-point
hyper-parameters (`ConvParams`: r and p_r in units of 2^-16) and an integer running
accuracy (`prev_acc` = floor(accuracy * 2^30), kept by the engine).

Dimensions: B batch, H x W x C a layer's input map, k kernel, F filters, Ho x Wo conv
output, P = Ho * Wo positions, Hp x Wp pooled map, D = Hp * Wp * F units, n = k*k*C
fan-in.

Padding: under 'reference' a padded pixel is 0 (no contribution; the authors'
arithmetic has zeros); under 'binary' it is +1 (strictly one bit: sign(0) = +1).
Pooling: max over non-overlapping pool x pool windows (rows and columns past the last
whole window are dropped), on the signs (max of signs = sign of the max).
"""

import dataclasses
import math
from typing import NamedTuple, Tuple, Union

import jax
import jax.numpy as jnp
from jax import lax

from bnnjax import bits
from bnnjax import config as config_lib
from bnnjax import engine
from bnnjax import model
from bnnjax import rng
from bnnjax.config import ConvBlock, LayerShape, MAX_WEIGHT, Protocol, Speed
from bnnjax.model import Batch, State, StepMetrics

# How the update of a layer picks what to move (docs/conv.md, "Selection"):
# 'filter': per (sample, filter) the candidate position of least |a|, then per group of
#   γ filters the filter whose chosen position has least |a|: at most one patch per
#   sample and group.
# 'unit': per pooled unit the candidate position of least |a| in its window, then per
#   pooled location and group of γ filters one filter: up to Hp*Wp patches per sample
#   and group.
# 'all': every candidate position of every filter.
SELECTIONS = ('filter', 'unit', 'all')
FRAC_BITS = 16  # r and p_r are fixed-point integers in units of 2^-16
ACC_BITS = engine.ACC_BITS


@config_lib.with_parts
@dataclasses.dataclass(frozen=True)
class ConvConfig:
  """Static configuration of a binary conv net and its run (hashable).

  image_shape: (H, W, C) of the input images (features in row-major (h, w, c) order).
  conv: the conv blocks (`config.ConvBlock`; text '16:3:2,32:3:2' is parsed).
  layers: the widths of the dense layers after the last block (may be empty).
  group_size: γ per layer, conv blocks first (an int applies to every layer); a
    divisor of the layer's filters or width.
  select: 'filter', 'unit' or 'all' (`SELECTIONS`). margin: m >= 0; besides the
    wrong positions of wrong units, positions whose stability a*t is in [0, m) are
    candidates (0: only the wrong ones).
  freeze_conv: the conv blocks keep their random initial filters (the control); only
    the dense layers learn.
  regions: R >= 1 ties each conv block's classifier over R x R regions of its pooled
    map: one ±1 entry per (region, filter, class), so a filter's target is the same at
    every position of a region (R = 1: the same everywhere, the weight sharing's own
    target). 0: one entry per unit (no tying).
  semantics, head, num_classes, protocol, speed: as in `bnnjax.config.Config`.
  """
  image_shape: Tuple[int, int, int] = (28, 28, 1)
  conv: Tuple[ConvBlock, ...] = (ConvBlock(16, 3, 2),)
  layers: Tuple[int, ...] = (135,)
  group_size: Union[int, Tuple[int, ...]] = 1
  num_classes: int = 10
  protocol: Protocol = Protocol()
  semantics: str = 'reference'
  speed: Speed = Speed()
  head: str = 'auto'
  select: str = 'filter'
  margin: int = 0
  freeze_conv: bool = False
  regions: int = 0

  def __post_init__(self):
    object.__setattr__(self, 'image_shape', config_lib._integers(
        'image_shape', self.image_shape))
    object.__setattr__(self, 'conv', config_lib.parse_conv(self.conv))
    layers = (self.layers,) if config_lib._is_integer(self.layers) else self.layers
    object.__setattr__(self, 'layers', config_lib._integers('layers', layers))
    object.__setattr__(self, 'num_classes',
                       config_lib._integer('num_classes', self.num_classes))
    object.__setattr__(self, 'margin', config_lib._integer('margin', self.margin))
    object.__setattr__(self, 'regions', config_lib._integer('regions', self.regions))
    object.__setattr__(self, 'head',
                       config_lib.resolve_head(self.head, self.num_classes))
    gs = self.group_size
    num = len(self.conv) + len(self.layers)
    gs = (gs,) * num if config_lib._is_integer(gs) else gs
    object.__setattr__(self, 'group_size', config_lib._integers('group_size', gs))
    validate_config(self)

  @property
  def shapes(self) -> Tuple[LayerShape, ...]:
    return config_lib.conv_net_shapes(self.image_shape, self.conv, self.layers)

  @property
  def num_inputs(self) -> int:
    return math.prod(self.image_shape)

  @property
  def widths(self) -> Tuple[int, ...]:
    """(D, D_1, ..., D_L): the input bits and each layer's output units."""
    return (self.num_inputs,) + tuple(s.units for s in self.shapes)

  @property
  def num_outputs(self) -> int:
    return config_lib.num_outputs(self)

  @property
  def num_conv(self) -> int:
    return len(self.conv)


def validate_config(c: ConvConfig) -> None:
  """ValueError naming the flag of the first bad field."""
  check = config_lib._check
  check(len(c.image_shape) == 3 and all(v >= 1 for v in c.image_shape),
        f'image_shape must be (H, W, C) of positive sizes, got {c.image_shape}')
  check(len(c.conv) + len(c.layers) >= 1,
        'conv (--conv) and layers (--layers) list no layer')
  for n in c.layers:
    check(n >= 1, f'layers (--layers) widths must be >= 1, got {list(c.layers)}')
  shapes = c.shapes  # raises when a block does not fit
  check(len(c.group_size) == len(shapes),
        f'group_size (--group_size) needs one value or one per layer ({len(shapes)}: '
        f'the conv blocks, then the dense layers), got {list(c.group_size)}')
  for s, g in zip(shapes, c.group_size):
    check(1 <= g <= s.filters and s.filters % g == 0,
          f'group_size (--group_size) must divide every layer\'s filters or width: {g} '
          f'does not divide {s.filters}')
    # Selection packs |a| * P + position and |a| * γ + index into int32.
    check((s.fan_in + 1) * max(s.positions, s.pool * s.pool, g) < 2**31,
          f'a layer with fan-in {s.fan_in} and {s.positions} positions is too large')
    # τ = floor(r * D) for r <= MAX_ROBUSTNESS must fit int32 (margin_tau).
    check(s.units * MAX_ROBUSTNESS < 2**31,
          f'a layer of {s.units} units is too large for the int32 margin τ')
    # |2 * sum over B*P terms| + MAX_WEIGHT must stay inside int32.
    check(2 * c.batch_size * s.positions < 2**31 - MAX_WEIGHT,
          f'batch_size (--batch_size) {c.batch_size} times {s.positions} positions is too '
          f'large for the int32 update')
  check(c.select in SELECTIONS,
        f'conv_select (--conv_select) must be one of {list(SELECTIONS)}, got {c.select!r}')
  check(c.margin >= 0, f'conv_margin (--conv_margin) must be >= 0, got {c.margin}')
  check(c.regions >= 0, f'conv_regions (--conv_regions) must be >= 0, got {c.regions}')
  for s in shapes[:c.num_conv]:
    check(c.regions <= min(s.pooled),
          f'conv_regions (--conv_regions) {c.regions} exceeds a pooled map of '
          f'{s.pooled[0]}x{s.pooled[1]}')
  check(isinstance(c.freeze_conv, bool),
        f'freeze_conv (--freeze_conv) must be a bool, got {c.freeze_conv!r}')
  config_lib.validate_common(c)
  config_lib.validate_arithmetic(c)
  config_lib.validate_head(c)


class ConvParams(NamedTuple):
  """Traced hyper-parameters, integers (scalars, or arrays with a leading grid axis).

  robustness_q: round(r * 2^16); τ_l = floor(robustness_q * D_l / 2^16).
  p_reinforce_q: round(p_r * 2^16), p_r in [0, 1].
  weight_clip: as `config.HParams.weight_clip` (0: unbounded)."""
  robustness_q: int = 16384
  p_reinforce_q: int = 32768
  weight_clip: int = 0


MAX_ROBUSTNESS = 1024  # r above it would leave int32 in the fixed-point margin


def params_from(hp: config_lib.HParams) -> ConvParams:
  """`ConvParams` from float `HParams` (host side: r and p_r rounded to 2^-16)."""
  import numpy as np
  config_lib.validate_hparams(hp)
  r = np.asarray(hp.robustness, np.float64)
  config_lib._check(np.all(r <= MAX_ROBUSTNESS),
                    f'robustness (--robustness) must be <= {MAX_ROBUSTNESS} for '
                    f'--method=conv, got {r.tolist()}')
  scale = float(2**FRAC_BITS)
  rq = np.rint(r * scale).astype(np.int32)
  pq = np.rint(np.asarray(hp.p_reinforce, np.float64) * scale).astype(np.int32)
  wc = np.asarray(hp.weight_clip).astype(np.int32)
  as_param = lambda a: a.item() if a.ndim == 0 else a
  return ConvParams(as_param(rq), as_param(pq), as_param(wc))


def validate_params(p: ConvParams) -> None:
  import numpy as np
  rq, pq = np.asarray(p.robustness_q), np.asarray(p.p_reinforce_q)
  config_lib._check(rq.dtype.kind in 'iu' and np.all((rq >= 0) &
                                                     (rq <= MAX_ROBUSTNESS * 2**16)),
                    f'robustness_q must be integers in [0, {MAX_ROBUSTNESS} * 2^16]')
  config_lib._check(pq.dtype.kind in 'iu' and np.all((pq >= 0) & (pq <= 2**16)),
                    'p_reinforce_q must be integers in [0, 2^16]')
  config_lib.validate_hparams(config_lib.HParams(weight_clip=p.weight_clip))


class ConvForward(NamedTuple):
  """Per layer: patches int8[B*P, n] (the im2col of its input), pre int32[B, Ho, Wo, F],
  pooled int8[B, Hp, Wp, F] (its output map), scores int32[B, C_out]."""
  patches: Tuple[jax.Array, ...]
  pre: Tuple[jax.Array, ...]
  pooled: Tuple[jax.Array, ...]
  scores: Tuple[jax.Array, ...]


# ----------------------------------------------------------------------------------
# Layer primitives
# ----------------------------------------------------------------------------------


def pad_value(semantics: str) -> int:
  """A padded pixel: 0 under 'reference', +1 under 'binary'."""
  return 0 if semantics == 'reference' else 1


def im2col(m: jax.Array, s: LayerShape, semantics: str) -> jax.Array:
  """int8[B * Ho * Wo, k*k*C] patches of the maps m: int8[B, H, W, C]; row b*P + i*Wo + j
  is the window at output (i, j), in (di, dj, c) order (the rows of H)."""
  if s.padding:
    p = s.padding
    m = jnp.pad(m, ((0, 0), (p, p), (p, p), (0, 0)),
                constant_values=pad_value(semantics))
  b = m.shape[0]
  (ho, wo), k, st = s.out, s.kernel, s.stride
  if k == 1 and st == 1:
    return m.reshape(b * ho * wo, -1)
  cols = [m[:, di:di + st * (ho - 1) + 1:st, dj:dj + st * (wo - 1) + 1:st, :]
          for di in range(k) for dj in range(k)]
  return jnp.stack(cols, axis=3).reshape(b * ho * wo, s.fan_in)


def max_pool(s_map: jax.Array, pool: int) -> jax.Array:
  """int8[B, Hp, Wp, F]: max over non-overlapping pool x pool windows."""
  if pool == 1:
    return s_map
  b, ho, wo, f = s_map.shape
  hp, wp = ho // pool, wo // pool
  x = s_map[:, :hp * pool, :wp * pool, :].reshape(b, hp, pool, wp, pool, f)
  return jnp.max(x, axis=(2, 4))


def unpool(u: jax.Array, s: LayerShape) -> jax.Array:
  """[B, Hp, Wp, F] -> [B, Ho, Wo, F]: each unit's value on every position of its
  window; positions past the last whole window get 0 (False)."""
  p = s.pool
  if p == 1:
    return u
  v = jnp.repeat(jnp.repeat(u, p, axis=1), p, axis=2)
  ho, wo = s.out
  return jnp.pad(v, ((0, 0), (0, ho - v.shape[1]), (0, wo - v.shape[2]), (0, 0)))


def _operand_rows(rows: jax.Array, config, ternary: bool):
  """A [M, n] matrix as the first operand of `model.product` contracting over n."""
  if config_lib.resolved_backend(config) == 'packed':
    return bits.pack_rows(rows, ternary)
  return rows.T


def layer_ternary(config, layer: int) -> bool:
  """Whether layer `layer`'s input may hold zeros (reference: after the first layer,
  or padded)."""
  if config.semantics != 'reference':
    return False
  return layer > 0 or config.shapes[0].padding > 0


# ----------------------------------------------------------------------------------
# init / forward / predict / evaluate
# ----------------------------------------------------------------------------------


@model.jit_config
def init(key: jax.Array, config: ConvConfig, params: ConvParams = ConvParams()) -> State:
  """Initial state (the rule's `model.init` scheme): H [n, F] per layer from one Normal
  draw (trunc under 'reference', odd under 'binary'), P [D, C_out] per layer; the
  running accuracy `prev_acc` is an int32 (units of 2^-30)."""
  shapes = config.shapes
  drawn = [classifier_entries(s, config, l) for l, s in enumerate(shapes)]
  hidden, classifiers, _, key = model.init_weights(
      key, [(s.fan_in, s.filters) for s in shapes],
      [(d, config.num_outputs) for d in drawn], config.semantics, False,
      clip_of(params, config.semantics))
  classifiers = tuple(tie_classifier(p, s, config, l)
                      for l, (p, s) in enumerate(zip(classifiers, shapes)))
  return State(hidden=hidden, classifiers=classifiers, key=key,
               prev_acc=jnp.zeros((), jnp.int32), epoch=jnp.zeros((), jnp.int32))


def classifier_entries(s: LayerShape, config: ConvConfig, layer: int) -> int:
  """Rows of layer `layer`'s drawn classifier: R*R*F for a tied conv block, else D."""
  if layer < config.num_conv and config.regions:
    return config.regions * config.regions * s.filters
  return s.units


def region_index(s: LayerShape, regions: int):
  """(rows, cols): the region of each pooled row and column (i * R // Hp)."""
  hp, wp = s.pooled
  return ([i * regions // hp for i in range(hp)], [j * regions // wp for j in range(wp)])


def tie_classifier(p: jax.Array, s: LayerShape, config: ConvConfig,
                   layer: int) -> jax.Array:
  """The [D, C_out] classifier of a layer from its drawn entries (tied conv blocks:
  entry (region(i, j), f) for unit (i, j, f))."""
  if p.shape[0] == s.units:
    return p
  r = config.regions
  rows, cols = region_index(s, r)
  drawn = p.reshape(r, r, s.filters, p.shape[-1])
  return drawn[jnp.asarray(rows)][:, jnp.asarray(cols)].reshape(s.units, p.shape[-1])


def clip_of(params: ConvParams, semantics: str) -> jax.Array:
  return model.effective_clip(config_lib.HParams(weight_clip=params.weight_clip),
                              semantics)


def input_map(x: jax.Array, config: ConvConfig) -> jax.Array:
  """int8[B, H, W, C] ±1 images from packed rows uint32[B, W]."""
  return bits.unpack_rows(x, config.num_inputs).reshape((x.shape[0],) +
                                                        config.image_shape)


@model.jit_config
def forward(state: State, x: jax.Array, config: ConvConfig) -> ConvForward:
  """Step 1 for every layer: patches, pre-activations, pooled map, classifier scores."""
  return forward_layers(state, x, config, 0)


def forward_layers(state: State, x: jax.Array, config: ConvConfig,
                   scores_from: int) -> ConvForward:
  """`forward`, unjitted, with the classifier scores of the layers before the static
  `scores_from` left out (zeros): the frozen blocks' and, for a prediction, all but the
  last layer's."""
  m = input_map(x, config)
  b = x.shape[0]
  ternary_w = config.semantics == 'reference'
  patches, pre, pooled, scores = [], [], [], []
  for l, (s, h, p) in enumerate(zip(config.shapes, state.hidden, state.classifiers)):
    tern = layer_ternary(config, l)
    cols = im2col(m, s, config.semantics)  # [B*P, n]
    a = model.product(_operand_rows(cols, config, tern), model.weight_signs(h), s.fan_in,
                      config, tern, ternary_w)  # [B*P, F]
    a = a.reshape((b,) + s.out + (s.filters,))
    m = max_pool(model.sign(a, config.semantics), s.pool)
    flat = m.reshape(b, s.units)
    if l >= scores_from:
      z = model.product(_operand_rows(flat, config, ternary_w), p, s.units, config,
                        ternary_w, ternary_w)
    else:
      z = jnp.zeros((b, config.num_outputs), jnp.int32)
    patches.append(cols)
    pre.append(a)
    pooled.append(m)
    scores.append(z)
  return ConvForward(tuple(patches), tuple(pre), tuple(pooled), tuple(scores))


@model.jit_config
def predict(state: State, x: jax.Array, config: ConvConfig) -> jax.Array:
  """int32[B] predicted class from the last layer's classifier scores."""
  last = len(config.shapes) - 1
  return model.head_predict(forward_layers(state, x, config, last).scores[-1], config.head,
                            config.semantics)


@model.jit_config
def evaluate(state: State, x: jax.Array, y: jax.Array, config: ConvConfig) -> jax.Array:
  """int32[] correct predictions on x: uint32[n, W], in chunks of eval_batch_size."""
  return model.count_correct(lambda xc: predict(state, xc, config), x, y,
                             config.eval_batch_size)


# ----------------------------------------------------------------------------------
# The training step
# ----------------------------------------------------------------------------------


def margin_tau(params: ConvParams, units: int) -> jax.Array:
  """Step 3's τ_l = floor(r * D_l) in fixed point: floor(robustness_q * D_l / 2^16)."""
  return bits.mul_frac16(jnp.asarray(params.robustness_q, jnp.int32), units)


def reinforce_threshold(params: ConvParams, prev_acc: jax.Array, fan_in: int) -> jax.Array:
  """uint32 T ~ 2^32 * p_r * sqrt(1 - A_prev) * sqrt(2 / (pi * n)) in integers: an
  entry is reinforced when its hash bits are below T (docs/conv.md, step 7).

  e = 2^30 - prev_acc (error in units of 2^-30); s = isqrt(e) = floor(sqrt(err) * 2^15);
  c = round(sqrt(2 / (pi n)) * 2^16) (a constant); T = p_q * ((s * c) >> 15), where
  s * c < 2^31 and T < 0.8 * 2^32."""
  c = int(round(math.sqrt(2.0 / (math.pi * fan_in)) * 2**16))
  err = jnp.uint32(2**ACC_BITS) - jnp.clip(prev_acc, 0, 2**ACC_BITS).astype(jnp.uint32)
  s = bits.isqrt(err)
  t1 = (s * jnp.uint32(c)) >> jnp.uint32(15)
  return jnp.asarray(params.p_reinforce_q, jnp.int32).astype(jnp.uint32) * t1


def candidates(pre: jax.Array, pooled: jax.Array, t_units: jax.Array, err: jax.Array,
               s: LayerShape, margin: int) -> Tuple[jax.Array, jax.Array]:
  """(t_map int8[B, Ho, Wo, F], cand bool[B, Ho, Wo, F]): the target of each position
  (its pooled unit's) and the candidate positions of the samples in the error set:
  wrong positions (a * t < 0) of wrong units (pooled * t < 0), and positions with
  stability a * t in [0, margin)."""
  t_pool = t_units.reshape(pooled.shape)
  unit_wrong = pooled.astype(jnp.int32) * t_pool.astype(jnp.int32) < 0
  t_map = unpool(t_pool, s)
  stab = pre * t_map.astype(jnp.int32)
  cand = (stab < 0) & unpool(unit_wrong, s)
  if margin > 0:
    cand = cand | ((stab >= 0) & (stab < margin))
  cand = cand & (t_map != 0) & err[:, None, None, None]
  return t_map, cand


def _least(cost_valid: jax.Array, value: jax.Array, scale: int, axis: int):
  """(best int32, has bool) of the least value * scale + index along `axis` where
  cost_valid; index = position along axis."""
  n = value.shape[axis]
  idx = lax.broadcasted_iota(jnp.int32, value.shape, axis)
  big = jnp.iinfo(jnp.int32).max
  cost = jnp.where(cost_valid, value * scale + idx, big)
  best = jnp.min(cost, axis=axis, keepdims=True)
  return cost, best, best < big, n


def select_moves(pre: jax.Array, t_map: jax.Array, cand: jax.Array, s: LayerShape,
                 group: int, how: str) -> jax.Array:
  """int8[B, Ho, Wo, F] moves G (a target sign where a patch moves its filter, else 0)."""
  b, ho, wo, f = pre.shape
  absa = jnp.abs(pre)
  if how == 'all':
    return jnp.where(cand, t_map, 0).astype(jnp.int8)
  if how == 'filter':
    # Per (sample, filter): the candidate position of least |a| (lowest index on ties).
    pos_cost, best, has, num_pos = _least(cand.reshape(b, ho * wo, f),
                                          absa.reshape(b, ho * wo, f), ho * wo, 1)
    chosen = (pos_cost == best) & cand.reshape(b, ho * wo, f)  # one per (b, f)
    a_best = jnp.where(has, best // num_pos, 0)  # [B, 1, F] |a| of the chosen position
    # Per group of γ filters: the filter whose chosen |a| is least.
    grp_cost, gbest, _, _ = _least(has.reshape(b, f // group, group),
                                   a_best.reshape(b, f // group, group), group, 2)
    keep = ((grp_cost == gbest) & has.reshape(b, f // group, group)).reshape(b, 1, f)
    g = jnp.where(chosen & keep, t_map.reshape(b, ho * wo, f), 0)
    return g.reshape(b, ho, wo, f).astype(jnp.int8)
  # 'unit': per pooled unit the candidate of least |a| in its window, then per pooled
  # location one filter per group of γ.
  p = s.pool
  hp, wp = s.pooled
  crop = lambda v: v[:, :hp * p, :wp * p, :].reshape(b, hp, p, wp, p, f).transpose(
      0, 1, 3, 5, 2, 4).reshape(b, hp, wp, f, p * p)
  c_w, a_w = crop(cand), crop(absa)
  win_cost, best, has, num_pos = _least(c_w, a_w, p * p, 4)
  chosen = (win_cost == best) & c_w  # [B, Hp, Wp, F, p*p]
  a_best = jnp.where(has, best // num_pos, 0)[..., 0]  # [B, Hp, Wp, F]
  has = has[..., 0]
  grp_cost, gbest, _, _ = _least(has.reshape(b, hp, wp, f // group, group),
                                 a_best.reshape(b, hp, wp, f // group, group), group, 4)
  keep = ((grp_cost == gbest) & has.reshape(grp_cost.shape)).reshape(b, hp, wp, f)
  moves = chosen & keep[..., None]
  moves = moves.reshape(b, hp, wp, f, p, p).transpose(0, 1, 4, 2, 5, 3).reshape(
      b, hp * p, wp * p, f)
  moves = jnp.pad(moves, ((0, 0), (0, ho - hp * p), (0, wo - wp * p), (0, 0)))
  return jnp.where(moves, t_map, 0).astype(jnp.int8)


def step(state: State, batch: Batch, params: ConvParams, config: ConvConfig,
         train=True) -> Tuple[State, StepMetrics]:
  """One training step (docs/conv.md), every layer updated in parallel from one
  forward pass. train: as in `model.step` (False: only count the correct
  predictions)."""
  first = config.num_conv if config.freeze_conv else 0
  fwd = forward_layers(state, batch.x, config, first)
  y = batch.y.astype(jnp.int32)
  correct = jnp.sum(model.head_correct(fwd.scores[-1], y, config.head, config.semantics)
                    & batch.valid, dtype=jnp.int32)
  return model.update_or_count(
      train, lambda: _update(state, batch, params, config, fwd, correct, first), state,
      correct, len(config.shapes))


def _update(state, batch, params, config, fwd, correct, first):
  key, step_key = jax.random.split(state.key)
  layer_keys = jax.random.split(step_key, len(config.shapes))
  y = batch.y.astype(jnp.int32)
  clip = clip_of(params, config.semantics)
  b = batch.x.shape[0]
  zero = jnp.zeros((), jnp.int32)
  new_hidden, errors, updated = list(state.hidden), [], []
  for l, (s, h, p) in enumerate(zip(config.shapes, state.hidden, state.classifiers)):
    if l < first:  # frozen conv block
      errors.append(zero)
      updated.append(zero)
      continue
    # Step 3: the error set from this layer's classifier.
    err = model.error_set(fwd.scores[l], y, batch.valid, margin_tau(params, s.units),
                          config.head, config.semantics)
    # Steps 4-5: targets per unit, broadcast to positions; candidates; selection.
    t_units = model.head_targets(p, y, config.head)  # int8[B, D]
    t_map, cand = candidates(fwd.pre[l], fwd.pooled[l], t_units, err, s, config.margin)
    g = select_moves(fwd.pre[l], t_map, cand, s, config.group_size[l], config.select)
    # Step 6: H + 2 * patches^T G, summed over samples and positions.
    h_sum = model.product(fwd.patches[l], g.reshape(b * s.positions, s.filters),
                          b * s.positions, config, layer_ternary(config, l), True,
                          init=h, scale=2)
    # Steps 7-8: reinforcement (integer threshold), clip.
    grow = rng_mask(layer_keys[l], reinforce_threshold(params, state.prev_acc, s.fan_in),
                    h.shape)
    h_new = jnp.clip(h_sum + 2 * jnp.sign(h_sum) * grow.astype(jnp.int32), -clip, clip)
    new_hidden[l] = jnp.where(jnp.any(err), h_new, h_sum)
    errors.append(jnp.sum(err, dtype=jnp.int32))
    updated.append(jnp.sum(jnp.any(g != 0, axis=(0, 1, 2)), dtype=jnp.int32))
  new_state = state._replace(hidden=tuple(new_hidden), key=key)
  return new_state, StepMetrics(correct, jnp.stack(errors), jnp.stack(updated))


def rng_mask(key: jax.Array, threshold: jax.Array, shape) -> jax.Array:
  """bool[shape]: keyed hash bits below an integer threshold (`rng.hash_bits`)."""
  return rng.hash_bits(key, shape) < threshold


def make_model(config: ConvConfig, diagnostics: bool = True) -> engine.Model:
  """The conv net's functions for the engine (the rule's diagnostics per epoch)."""
  from bnnjax import diagnostics as diag_lib
  return engine.Model(
      init_fn=lambda key, params: init(key, config, params),
      step_fn=lambda state, batch, params: step(state, batch, params, config),
      evaluate_fn=lambda state, x, y: evaluate(state, x, y, config),
      epoch_metrics_fn=diag_lib.rule_epoch_metrics if diagnostics else None,
      step_eval_fn=lambda state, batch, params, train: step(state, batch, params, config,
                                                            train))
