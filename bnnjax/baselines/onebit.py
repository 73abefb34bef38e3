r"""1-bit learners: the rule's local errors with ONE bit per weight between batches.

Beyond the paper (its open question 3: training with no hidden integers). `flip`
(`bnnjax.baselines.flip`) turns the rule's integer step into random flips and learns
mnist5k only to ~61 % and Prototypes not at all. The designs here keep the same budget,
the sign W of each weight and nothing else per weight, and differ in how a step decides
which weights flip. Integer state per neuron or per layer is allowed and counted in the
cost model (`cost.formulas`, docs/onebit.md).

Every design runs the rule's steps 1-6 unchanged (`flip.drives`): forward pass, error
set with margin τ = floor(r·N_l), targets from the fixed random classifier, one neuron
per group, and the drive Δ_ij = Σ_{μ∈M_l} s_{l-1,i}^μ t_j^μ m_μj that the rule would add
to H. Let opp_ij = -W_ij·Δ_ij (|Δ_ij| where W_ij = 0, 'reference' only): the evidence
against the weight's sign. Then, per design (`DESIGNS`; `--method=flip_<design>`):

* `topk` (deterministic, integer-only): in every neuron (column j), the `k` weights
  with the largest opp_ij > 0 flip to sign(Δ_ij). Ties are broken by 16 keyed random
  bits (`rng.hash_bits`): the score (opp << 16) | (bits >> 16) is sorted per column and
  every weight at or above the k-th score moves, so equal random bits at the k-th
  score (rare) move one more weight. The evidence of a step is the whole batch, so the
  batch size (`--batch_size`) sets how many samples vote on a flip, and k how many flips
  a neuron may make per step.
* `threshold` (deterministic): every weight with opp_ij >= θ flips (θ = `k`): a
  threshold on |Δ| instead of a probability.
* `anneal`: `flip`'s random flips, probability min(1, q_t·|Δ|), with the rate annealed
  over epochs, q_t = q / (1 + a·t) (t = epochs done; a = `anneal`).
* `errscale`: `flip`'s random flips with the rate scaled by the layer's error rate in
  the batch, q_l = q·|M_l| / (valid samples): the flips slow down as the layer learns.
* `consolidate` (integer-only): `topk` gated by a per-neuron counter F_j of the flips
  the neuron has made (int32, saturating): neuron j moves at a step with probability
  2^-e_j, e_j = min(31, floor(F_j / s)), s = `anneal` (flips per halving). Plasticity
  leaves the neurons that have already changed much: a per-neuron, not per-weight,
  metaplasticity, for consolidation across tasks (experiments/onebit.py).

No reinforcement and no clip (there is nothing but the sign). Under 'reference' the
initial W = sign(trunc(G)) may hold zeros, as `flip`'s; a move sets sign(Δ) = ±1.
Dimensions: B batch, N_prev fan-in, N fan-out.
"""

from typing import NamedTuple, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from bnnjax import config as config_lib
from bnnjax import engine
from bnnjax import model
from bnnjax import rng
from bnnjax.baselines import flip

DESIGNS = ('topk', 'threshold', 'anneal', 'errscale', 'consolidate')
TOPK_DESIGNS = ('topk', 'consolidate')  # sort the evidence of each neuron
RANDOM_DESIGNS = ('anneal', 'errscale')  # flip's random flips, with a rate schedule
MAX_EVIDENCE = (1 << 16) - 1  # opp is stored in the upper 16 bits of a sort key
MAX_FLIPS = (1 << 30)  # the consolidation counter saturates here
DEFAULT_K = 4
DEFAULT_ANNEAL = {'anneal': 1.0, 'consolidate': 64}


class OneBitParams(NamedTuple):
  """Traced hyper-parameters (scalars, or 1-D arrays of a grid).

  robustness: r >= 0 (τ_l = floor(r·N_l), as the rule). flip_prob: q in [0, 1]
  (`anneal`, `errscale`). k: integer >= 1: flips per neuron and step (`topk`,
  `consolidate`) or the evidence threshold θ (`threshold`). anneal: a >= 0 of q / (1 +
  a·t) (`anneal`), or the integer s >= 1 of flips per halving (`consolidate`)."""
  robustness: float = 0.25
  flip_prob: float = flip.DEFAULT_FLIP_PROB
  k: int = DEFAULT_K
  anneal: float = 1.0


class OneBitState(NamedTuple):
  """A run's state: hidden: tuple of int8[N_prev, N], the signs W (all that is kept per
  weight); classifiers, key, prev_acc, epoch as `model.State`; flips: tuple of
  int32[N], the flips each neuron has made (`consolidate`; zeros and unused
  otherwise)."""
  hidden: Tuple[jax.Array, ...]
  classifiers: Tuple[jax.Array, ...]
  key: jax.Array
  prev_acc: jax.Array
  epoch: jax.Array
  flips: Tuple[jax.Array, ...]


def check_design(design: str) -> None:
  if design not in DESIGNS:
    raise ValueError(f'unknown 1-bit design {design!r}; valid: {list(DESIGNS)}')


def validate_params(p: OneBitParams, design: str) -> None:
  """Host-side check of every value (scalars or grids); ValueError names the flag."""
  check_design(design)
  r = np.asarray(p.robustness, np.float64)
  q = np.asarray(p.flip_prob, np.float64)
  k = np.asarray(p.k, np.float64)
  a = np.asarray(p.anneal, np.float64)
  if not (np.all(np.isfinite(r)) and np.all(r >= 0)):
    raise ValueError(f'robustness (--robustness) must be finite and >= 0, got '
                     f'{r.tolist()}')
  if not (np.all(np.isfinite(q)) and np.all((q >= 0) & (q <= 1))):
    raise ValueError(f'flip probability q (--flip_prob) must be in [0, 1], got '
                     f'{q.tolist()}')
  if not (np.all(np.isfinite(k)) and np.all(np.mod(k, 1) == 0) and
          np.all((k >= 1) & (k <= MAX_EVIDENCE))):
    raise ValueError(f'flips per neuron / threshold k (--flip_k) must be an integer in '
                     f'[1, {MAX_EVIDENCE}], got {k.tolist()}')
  if not (np.all(np.isfinite(a)) and np.all(a >= 0)):
    raise ValueError(f'anneal (--flip_anneal) must be finite and >= 0, got {a.tolist()}')
  if design == 'consolidate' and not (np.all(np.mod(a, 1) == 0) and np.all(a >= 1)):
    raise ValueError(f'anneal (--flip_anneal) of --method=flip_consolidate is the '
                     f'integer number of flips per halving of a neuron\'s plasticity, '
                     f'>= 1; got {a.tolist()}')


def validate_config(config: config_lib.Config, design: str) -> None:
  check_design(design)
  if config.train_classifiers:
    raise ValueError(f'train_classifiers (--train_classifiers) does not apply to '
                     f'--method=flip_{design} (its classifiers are fixed)')
  if design in TOPK_DESIGNS and config.protocol.batch_size > MAX_EVIDENCE:
    raise ValueError(f'batch_size (--batch_size) of --method=flip_{design} must be at '
                     f'most {MAX_EVIDENCE} (the evidence of a weight is kept in 16 bits '
                     f'of its sort key), got {config.protocol.batch_size}')


@model.jit_config
def init(key: jax.Array, config: config_lib.Config) -> OneBitState:
  """`flip`'s initial state (the rule's key schedule, W = sign(H_0), int8) and zero
  flip counters."""
  s = flip.init(key, config, flip.FlipParams())
  return OneBitState(s.hidden, s.classifiers, s.key, s.prev_acc, s.epoch,
                     tuple(jnp.zeros((n,), jnp.int32) for n in config.layers))


def opposition(w: jax.Array, delta: jax.Array) -> jax.Array:
  """int32 opp = -W·Δ, or |Δ| where W = 0: the evidence against each weight's sign."""
  w = w.astype(jnp.int32)
  return jnp.where(w == 0, jnp.abs(delta), -w * delta)


def topk_moves(opp: jax.Array, key: jax.Array, k) -> jax.Array:
  """bool[N_prev, N]: in each column the k weights with the largest opp > 0 (ties by 16
  keyed random bits; weights whose score equals the k-th all move)."""
  low = rng.hash_bits(key, opp.shape) >> 16
  score = jnp.where(opp > 0, (jnp.minimum(opp, MAX_EVIDENCE).astype(jnp.uint32) << 16)
                    | low, jnp.uint32(0))
  n = opp.shape[0]
  idx = jnp.clip(n - jnp.asarray(k, jnp.int32), 0, n - 1)
  kth = jnp.take(jnp.sort(score, axis=0), idx, axis=0)
  return (score >= kth[None, :]) & (score > 0)


def neuron_gate(flips: jax.Array, key: jax.Array, per_halving) -> jax.Array:
  """bool[N]: neuron j may move with probability 2^-e_j, e_j = min(31, F_j // s)."""
  s = jnp.asarray(per_halving, jnp.float32).astype(jnp.int32)
  e = jnp.minimum(flips // jnp.maximum(s, 1), 31).astype(jnp.uint32)
  return rng.hash_bits(key, flips.shape) <= (jnp.uint32(0xFFFFFFFF) >> e)


def rate(params: OneBitParams, design: str, epoch, err, valid) -> jax.Array:
  """float32 q of the random designs: q / (1 + a·t), or q·|M_l| / (valid samples)."""
  q = jnp.asarray(params.flip_prob, jnp.float32)
  if design == 'anneal':
    return q / (jnp.float32(1.0) + jnp.asarray(params.anneal, jnp.float32)
                * epoch.astype(jnp.float32))
  n_err = jnp.sum(err, dtype=jnp.int32).astype(jnp.float32)
  n_valid = jnp.maximum(jnp.sum(valid, dtype=jnp.int32), 1).astype(jnp.float32)
  return q * (n_err / n_valid)


def step(state: OneBitState, batch: model.Batch, params: OneBitParams,
         config: config_lib.Config, design: str) -> Tuple[OneBitState, model.StepMetrics]:
  """One step of `design`: the rule's steps 1-6 (`flip.drives`), then the design's
  flips (module docstring). Keys: state key -> (next key, step key); step key -> one
  key per layer (as `flip`); a layer's neuron gate uses fold_in(layer key, 1)."""
  key, step_key = jax.random.split(state.key)
  layer_keys = jax.random.split(step_key, len(config.layers))
  correct, layer_drives = flip.drives(state, batch, params.robustness, config)
  new_hidden, new_flips = [], []
  for w, f, d, lk in zip(state.hidden, state.flips, layer_drives, layer_keys):
    if design in RANDOM_DESIGNS:
      q = rate(params, design, state.epoch, d.err, batch.valid)
      w_new, _ = flip.flip_update(w, d.delta, lk, q, 1)
      new_hidden.append(w_new)
      new_flips.append(f)
      continue
    opp = opposition(w, d.delta)
    k = jnp.asarray(params.k, jnp.float32).astype(jnp.int32)
    if design == 'threshold':
      move = (opp >= k) & (opp > 0)
    else:
      move = topk_moves(opp, lk, k)
      if design == 'consolidate':
        move = move & neuron_gate(f, jax.random.fold_in(lk, 1), params.anneal)[None, :]
    new_hidden.append(jnp.where(move, jnp.sign(d.delta), w.astype(jnp.int32))
                      .astype(jnp.int8))
    if design == 'consolidate':
      moved = jnp.sum(move, axis=0, dtype=jnp.int32)
      f = jnp.minimum(f, MAX_FLIPS - moved) + moved  # saturates at MAX_FLIPS
    new_flips.append(f)
  new_state = state._replace(hidden=tuple(new_hidden), flips=tuple(new_flips), key=key)
  return new_state, flip.step_metrics(correct, layer_drives)


@model.jit_config
def evaluate(state, x: jax.Array, y: jax.Array, config: config_lib.Config) -> jax.Array:
  """Correct predictions (int32[]): the rule's forward pass on W."""
  return model.evaluate(state, x, y, config)


def make_model(config: config_lib.Config, design: str) -> engine.Model:
  """The functions of the run engine for `design` (no per-epoch diagnostics)."""
  validate_config(config, design)
  return engine.Model(
      init_fn=lambda key, params: init(key, config),
      step_fn=lambda state, batch, params: step(state, batch, params, config, design),
      evaluate_fn=lambda state, x, y: evaluate(state, x, y, config))
