"""CP+R committee machines ("Baldassi et al." in arXiv 2412.00119) trained by the rule.

algorithm.md, "Baselines of the paper". A block `K1-K2` has K1 trainable binary
perceptrons (integer hidden weights H, shape (N_in, K1), binary weights sign(H)) in K2
committees of g = K1 / K2 consecutive units. A committee outputs the sign of its members'
sum; a fixed random classifier P (K2, C) reads the committee outputs. Blocks stack
(`880-80,880-80`): the next block reads the K1 perceptron signs of the previous one.
Dimensions: B batch, D inputs, K1 perceptrons, K2 committees, g committee size,
C classes.

Per block, with the notation of algorithm.md "One training step":
1. a = s_in·W (int32[B, K1]), s = sign(a), c = per-committee sum of s (int32[B, K2]),
   u = sign(c), z = u·P (int32[B, C]). The prediction is argmax z of the last block.
3. Error set M: `bnnjax.model.error_set` on z with τ = ⌊r·K2⌋.
4. Target of committee k on μ ∈ M: t_k = P[k, y]; the committee is wrong when
   c_k·t_k < 0 (a zero is never wrong).
5. A wrong committee passes t_k to its members; only its wrong member (a_j·t_k < 0) with
   the smallest |a_j| is selected (`bnnjax.model.select` with γ = g, lowest index on
   ties). Correct committees select nobody.
6-8. The update, reinforcement and clip of the rule (`bnnjax.model`, steps 6-8).

An even committee size is allowed (`validate` warns): a tied vote gives c = 0, so
u = 0 under 'reference' semantics and u = +1 under 'binary'.

Both arithmetic semantics and both backends of `bnnjax.model` apply unchanged: every
product goes through `bnnjax.model.product` (packed XNOR/AND/popcount, or dense int8).
"""

import dataclasses
import warnings
from typing import NamedTuple, Tuple

import jax
import jax.numpy as jnp

from bnnjax import bits
from bnnjax import config as config_lib
from bnnjax import engine
from bnnjax import model
from bnnjax import rng
from bnnjax.config import HParams


def parse_layers(text: str) -> Tuple[Tuple[int, int], ...]:
  """'330-30' -> ((330, 30),); '880-80,880-80' -> ((880, 80), (880, 80)).

  Without any '-', the text is read as a flat list of pairs ('330,30' -> ((330, 30),)),
  which is also how a `RunSpec.layers` tuple of ints is read. Raises ValueError naming
  --layers."""
  text = text.strip()
  try:
    if '-' in text:
      blocks = []
      for part in text.split(','):
        k1, k2 = part.split('-')
        blocks.append((int(k1), int(k2)))
    else:
      flat = [int(v) for v in text.split(',') if v.strip()]
      if len(flat) % 2:
        raise ValueError
      blocks = list(zip(flat[0::2], flat[1::2]))
  except ValueError:
    raise ValueError(f'layers (--layers) for cp_r must be K1-K2 blocks, comma-separated '
                     f'(e.g. 330-30 or 880-80,880-80), got {text!r}') from None
  if not blocks:
    raise ValueError('layers (--layers) for cp_r must list at least one K1-K2 block')
  return tuple(blocks)


@config_lib.with_parts
@dataclasses.dataclass(frozen=True)
class CPConfig:
  """Static configuration of a committee machine and its run (hashable).

  blocks: ((K1, K2), ...) per block. The other fields mean what they mean in
  `bnnjax.config.Config` (its `protocol` and `speed` parts, with the same keyword
  shortcuts; head 'auto' gives one ±1 output column for two classes, as for `ours`).
  """
  blocks: Tuple[Tuple[int, int], ...] = ((330, 30),)
  num_inputs: int = 1000
  num_classes: int = 10
  protocol: config_lib.Protocol = config_lib.Protocol()
  semantics: str = 'reference'
  speed: config_lib.Speed = config_lib.Speed()
  head: str = 'auto'

  def __post_init__(self):
    object.__setattr__(self, 'head', config_lib.resolve_head(self.head,
                                                             self.num_classes))
    object.__setattr__(self, 'blocks',
                       tuple((int(k1), int(k2)) for k1, k2 in self.blocks))
    validate(self)

  @property
  def perceptrons(self) -> Tuple[int, ...]:
    """(K1 per block)."""
    return tuple(k1 for k1, _ in self.blocks)

  @property
  def num_outputs(self) -> int:
    """Columns of each block's classifier: 1 for the 'sign' head, else C."""
    return config_lib.num_outputs(self)

  @property
  def committee_sizes(self) -> Tuple[int, ...]:
    """(g = K1 / K2 per block)."""
    return tuple(k1 // k2 for k1, k2 in self.blocks)

  @property
  def fan_ins(self) -> Tuple[int, ...]:
    """(N_in per block): D, then the K1 of the previous block."""
    return (self.num_inputs,) + self.perceptrons[:-1]


def validate(c: CPConfig) -> None:
  """Raises ValueError naming the flag of the first bad field; warns on an even g."""
  if not c.blocks:
    raise ValueError('layers (--layers) for cp_r must list at least one K1-K2 block')
  for k1, k2 in c.blocks:
    if k1 < 1 or k2 < 1 or k1 % k2:
      raise ValueError(f'layers (--layers) for cp_r: K2 must divide K1 in every K1-K2 '
                       f'block (K1, K2 >= 1), got {k1}-{k2}')
  for fan_in, g in zip(c.fan_ins, c.committee_sizes):
    if (fan_in + 1) * g >= 2**31:  # model.select packs |a| * g + index into int32
      raise ValueError(f'layers (--layers): fan-in {fan_in} times committee size {g} '
                       f'too large')
  even = [f'{k1}-{k2}' for k1, k2 in c.blocks if (k1 // k2) % 2 == 0]
  if even:
    warnings.warn(f'cp_r: even committee size in block(s) {", ".join(even)}: tied votes '
                  f'give a committee output of sign(0)', stacklevel=3)
  config_lib.validate_common(c)
  config_lib.validate_arithmetic(c)
  config_lib.validate_head(c)


class Forward(NamedTuple):
  """Per block: pre int32[B, K1] (a), post int8[B, K1] (s), votes int32[B, K2] (c),
  scores int32[B, C] (z)."""
  pre: Tuple[jax.Array, ...]
  post: Tuple[jax.Array, ...]
  votes: Tuple[jax.Array, ...]
  scores: Tuple[jax.Array, ...]


@model.jit_config
def init(key: jax.Array, config: CPConfig, params: HParams = HParams()) -> model.State:
  """Initial state; a `bnnjax.model.State` whose classifiers are int8[K2, C].

  Hidden weights (N_in, K1) and classifier entries are drawn as in `bnnjax.model.init`
  for the semantics ('reference': truncated Normal(0, 64^2), sign(0) = 0; 'binary': odd
  weights, ±1 classifier), with the same key schedule (one (H, P) key pair per block)."""
  key, *block_keys = jax.random.split(key, 2 * len(config.blocks) + 1)
  clip = model.effective_clip(params, config.semantics)
  hidden, classifiers = [], []
  for l, ((k1, k2), fan_in) in enumerate(zip(config.blocks, config.fan_ins)):
    kh, kp = block_keys[2 * l], block_keys[2 * l + 1]
    g = model.INIT_SCALE * jax.random.normal(kh, (fan_in, k1), jnp.float32)
    if config.semantics == 'reference':
      h = jnp.trunc(g).astype(jnp.int32)
      p = jnp.sign(jnp.trunc(model.INIT_SCALE * jax.random.normal(
          kp, (k2, config.num_outputs), jnp.float32)))
    else:
      h = (2 * jnp.floor(g / 2) + 1).astype(jnp.int32)
      p = jnp.where(jax.random.bernoulli(kp, 0.5, (k2, config.num_outputs)), 1, -1)
    hidden.append(jnp.clip(h, -clip, clip))
    classifiers.append(p.astype(jnp.int8))
  return model.State(hidden=tuple(hidden), classifiers=tuple(classifiers), key=key,
                     prev_acc=jnp.zeros((), jnp.float32), epoch=jnp.zeros((), jnp.int32))


@model.jit_config
def forward(state: model.State, x: jax.Array, config: CPConfig) -> Forward:
  """Step 1 for committee blocks. x: uint32[B, W] packed ±1 inputs (bits.py layout)."""
  ternary = config.semantics == 'reference'
  s_t, s_ternary, n_in = bits.Packed(x.T, None), False, config.num_inputs
  pre, post, votes, scores = [], [], [], []
  for h, p, g in zip(state.hidden, state.classifiers, config.committee_sizes):
    a = model.product(s_t, model.weight_signs(h), n_in, config, s_ternary, ternary)
    s = model.sign(a, config.semantics)  # int8[B, K1]
    c = jnp.sum(s.reshape(s.shape[0], -1, g), axis=-1, dtype=jnp.int32)  # [B, K2]
    u = model.sign(c, config.semantics)
    z = model.product(u.T, p, u.shape[1], config, ternary, ternary)  # [B, C]
    s_t, s_ternary, n_in = s.T, ternary, s.shape[1]
    pre.append(a)
    post.append(s)
    votes.append(c)
    scores.append(z)
  return Forward(tuple(pre), tuple(post), tuple(votes), tuple(scores))


@model.jit_config
def predict(state: model.State, x: jax.Array, config: CPConfig) -> jax.Array:
  """int32[B]: the class the last block's scores predict (`model.head_predict`)."""
  return model.head_predict(forward(state, x, config).scores[-1], config.head,
                            config.semantics)


@model.jit_config
def evaluate(state: model.State, x: jax.Array, y: jax.Array,
             config: CPConfig) -> jax.Array:
  """Number of correct predictions (int32[]), in chunks of `config.eval_batch_size`."""
  return model.count_correct(lambda xc: predict(state, xc, config), x, y,
                             config.eval_batch_size)


def step(state: model.State, batch: model.Batch, params: HParams, config: CPConfig,
         train=True) -> Tuple[model.State, model.StepMetrics]:
  """One training step of every block (in parallel, from the pre-step forward pass).
  train: True, or a traced bool[]: where False only the batch's correct predictions are
  counted and the state is left as it was (as `bnnjax.model.step`)."""
  fwd = forward(state, batch.x, config)
  y = batch.y.astype(jnp.int32)
  pred = model.head_predict(fwd.scores[-1], config.head, config.semantics)
  correct = jnp.sum((pred == y) & batch.valid, dtype=jnp.int32)
  return model.update_or_count(
      train, lambda: _update(state, batch, params, config, fwd, correct), state,
      correct, len(config.blocks))


def _update(state, batch, params, config, fwd, correct):
  """Steps 3-8 of `step` from its forward pass."""
  ternary = config.semantics == 'reference'
  key, step_key = jax.random.split(state.key)
  block_keys = jax.random.split(step_key, len(config.blocks))
  y = batch.y.astype(jnp.int32)
  clip = model.effective_clip(params, config.semantics)
  b = batch.x.shape[0]
  inputs = (bits.unpack_rows(batch.x, config.num_inputs),) + fwd.post[:-1]
  input_ternary = (False,) + (ternary,) * (len(config.blocks) - 1)

  new_hidden, errors, updated = [], [], []
  for l, (h, p) in enumerate(zip(state.hidden, state.classifiers)):
    k2 = config.blocks[l][1]
    g = config.committee_sizes[l]
    # --- Step 3: error set on the committee scores, τ = floor(r * K2).
    tau = jnp.floor(jnp.asarray(params.robustness, jnp.float32) * k2).astype(jnp.int32)
    err = model.error_set(fwd.scores[l], y, batch.valid, tau, config.head,
                          config.semantics)
    # --- Step 4: committee targets; a committee is wrong when c * t < 0.
    target = model.head_targets(p, y, config.head)  # int8[B, K2]
    wrong = fwd.votes[l] * target.astype(jnp.int32) < 0
    # --- Step 5: a wrong committee passes its target to its members; the wrong member
    # with the smallest |a| is selected (select's groups are the committees).
    member_target = jnp.repeat(jnp.where(wrong, target, 0).astype(jnp.int8), g, axis=1)
    mask = model.select(fwd.pre[l], member_target, err, g)
    delta_in = jnp.where(mask, member_target, 0).astype(jnp.int8)  # m * t, [B, K1]
    # --- Step 6: H += 2 * S^T G.
    delta = model.product(inputs[l], delta_in, b, config, input_ternary[l], True)
    h_new = h + 2 * delta
    # --- Step 7: reinforcement, away from zero, with probability p_l per entry.
    prob = model.reinforce_prob(params, state.prev_acc, h.shape[0])
    grow = rng.bernoulli_mask(block_keys[l], prob, h.shape)
    h_new = h_new + 2 * jnp.sign(h_new) * grow.astype(jnp.int32)
    # --- Step 8: clip.
    h_new = jnp.clip(h_new, -clip, clip)
    new_hidden.append(jnp.where(jnp.any(err), h_new, h))
    errors.append(jnp.sum(err, dtype=jnp.int32))
    updated.append(jnp.sum(jnp.any(mask, axis=0), dtype=jnp.int32))

  new_state = state._replace(hidden=tuple(new_hidden), key=key)
  return new_state, model.StepMetrics(correct, jnp.stack(errors), jnp.stack(updated))


def make_model(config: CPConfig, diagnostics: bool = True) -> engine.Model:
  """The functions of the run engine (`bnnjax.diagnostics` per epoch unless
  diagnostics is False)."""
  from bnnjax import diagnostics as diag_lib
  return engine.Model(init_fn=lambda key, params: init(key, config, params),
                      step_fn=lambda state, batch, params: step(state, batch, params,
                                                                config),
                      evaluate_fn=lambda state, x, y: evaluate(state, x, y, config),
                      epoch_metrics_fn=diag_lib.rule_epoch_metrics if diagnostics
                      else None,
                      step_eval_fn=lambda state, batch, params, train: step(
                          state, batch, params, config, train))
