r"""`flip`: the local binary error rule with 1-bit weights and no hidden integers.

Beyond the paper. The rule of arXiv 2412.00119 keeps an integer hidden weight H behind
every binary weight W = sign(H); with H clipped to ±1 (c = 1, "pure binary") every step
that points against a weight's sign flips it at once, and the network does not learn
(experiments/results/weight_bits: 9.7 % on mnist5k, 11.7 % on Prototypes). `flip` keeps
only W and turns the rule's integer step into a random flip:

Steps 1-5 of algorithm.md are the rule's, unchanged (`model.forward`, `error_set`,
`head_targets`, `select`). Step 6 computes the same local drive
Δ_ij = Σ_{μ∈M_l} s_{l-1,i}^μ t_j^μ m_μj (the rule would do H += 2Δ); then, instead of
steps 6-8, each weight whose drive points against its sign (Δ_ij · W_ij < 0, or W_ij = 0
with Δ_ij ≠ 0 under 'reference') is set to sign(Δ_ij) with probability

    p_ij = min(1, q · |Δ_ij|),

independently (q = `FlipParams.flip_prob`, one Bernoulli per weight and step from
`bnnjax.rng`). Each unit of drive is a chance q to flip, so q plays the part of 1 / (the
depth of a counter): a weight flips after about 1/q net pushes, as an integer weight
clipped near 2/q would, but nothing is stored between steps. There is no reinforcement
(step 7: nothing to grow) and no clip (step 8: W is ±1).

A small stochastic counter (`FlipParams.counter_clip` c > 1; `--weight_clip` of
`--method=flip`): H in [-c', c'] (c' as the rule's clip: the largest odd value <= c
under 'binary'), W = sign(H); each weight with Δ ≠ 0 moves by ONE step 2·sign(Δ) with
the same probability min(1, q|Δ|), then the clip. c = 1 is the 1-bit flip above. The
difference from the rule clipped to c is the step: the rule adds 2Δ at once, the counter
at most one level per step, with probability ∝ |Δ| (experiments/continual.py: at c = 15,
86.8 % on mnist5k where the rule clipped at the same c gives chance).

Exactness: with q = 1 every opposed weight flips, which is what H ← clip(H + 2Δ, ±1)
does, so `flip` with q = 1 trains bit for bit like `ours` with weight_clip = 1 (the
reinforcement of ±1 weights is undone by the clip); tests/test_continual.py checks
this, and checks a step against a NumPy reimplementation for q < 1.

Memory: one bit per weight, or with a counter log2(c' + 1) bits for the odd values of
'binary' (`cost.flip_weight_bits`; under 'reference' H may take every integer of
[-c, c], one bit more). Stored here as int8 in `model.State.hidden`. Δ_ij is a popcount computed and used per weight, never stored for
all weights. Dimensions: B batch, D inputs, N hidden, C classes.
"""

from typing import NamedTuple, Tuple

import jax
import jax.numpy as jnp

from bnnjax import bits
from bnnjax import config as config_lib
from bnnjax import engine
from bnnjax import model
from bnnjax import rng

MAX_COUNTER_CLIP = 127  # the counter is stored in int8
DEFAULT_FLIP_PROB = 1.0 / 256  # best of {1/4 .. 1/1024} on mnist5k, 10 epochs


class FlipParams(NamedTuple):
  """Traced hyper-parameters (scalars, or 1-D arrays of a grid).

  robustness: r >= 0, the margin τ_l = floor(r · N_l) of step 3 (as the rule).
  flip_prob: q in [0, 1], move probability per unit of local drive.
  counter_clip: c_f in [1, MAX_COUNTER_CLIP]: 1 keeps W only (1 bit per weight); c_f > 1
    keeps a small counter H in [-c_f, c_f] ('binary': odd values, log2(c_f + 1) bits)
    whose sign is W, moved by ±2 with the same probability (see the module docstring).
  """
  robustness: float = 0.25
  flip_prob: float = DEFAULT_FLIP_PROB
  counter_clip: int = 1


def validate_params(p: FlipParams) -> None:
  """Host-side check of every value (scalars or grids); ValueError names the flag."""
  import numpy as np
  r = np.asarray(p.robustness, np.float64)
  q = np.asarray(p.flip_prob, np.float64)
  c = np.asarray(p.counter_clip)
  if not (np.all(np.mod(c, 1) == 0) and np.all((c >= 1) & (c <= MAX_COUNTER_CLIP))):
    raise ValueError(f'counter clip (--weight_clip for --method=flip) must be an integer '
                     f'in [1, {MAX_COUNTER_CLIP}] (0 means 1: no counter), got '
                     f'{c.tolist()}')
  if not (np.all(np.isfinite(r)) and np.all(r >= 0)):
    raise ValueError(f'robustness (--robustness) must be finite and >= 0, got '
                     f'{r.tolist()}')
  if not (np.all(np.isfinite(q)) and np.all((q >= 0) & (q <= 1))):
    raise ValueError(f'flip probability q (--flip_prob) must be in '
                     f'[0, 1], got {q.tolist()}')


def validate_config(config: config_lib.Config) -> None:
  if config.train_classifiers:
    raise ValueError('train_classifiers (--train_classifiers) does not apply to '
                     '--method=flip (its classifiers are fixed)')


def counter_hparams(params: FlipParams) -> config_lib.HParams:
  """The rule's HParams whose clip is the counter's (for `model.init` and
  `model.effective_clip`)."""
  return config_lib.HParams(weight_clip=params.counter_clip)


@model.jit_config
def init(key: jax.Array, config: config_lib.Config,
         params: FlipParams = FlipParams()) -> model.State:
  """The rule's initial state clipped to the counter (`model.init`: same key
  schedule). With c_f = 1, W = sign(H_0): ±1 ('binary') or {-1, 0, +1} ('reference',
  where H_0 = trunc(G) = 0). Stored as int8."""
  state = model.init(key, config, counter_hparams(params))
  return state._replace(hidden=tuple(h.astype(jnp.int8) for h in state.hidden))


def flip_probability(delta: jax.Array, flip_prob) -> jax.Array:
  """float32[...] p = min(1, q · |Δ|) (float32 product: exact IEEE rounding, so NumPy
  reproduces it bit for bit)."""
  q = jnp.asarray(flip_prob, jnp.float32)
  return jnp.minimum(q * jnp.abs(delta).astype(jnp.float32), jnp.float32(1.0))


def flip_update(w: jax.Array, delta: jax.Array, key: jax.Array, flip_prob,
                clip=1) -> Tuple[jax.Array, jax.Array]:
  """(new H int8[a, b], moved bool[a, b]) from H int8[a, b] (W = sign(H); H = W for
  c_f = 1) and the drive Δ int32[a, b]; clip: c' of the counter (int, or int32[]).

  Each weight with Δ ≠ 0 moves, with probability min(1, q|Δ|) (always when that is 1),
  by 2·sign(Δ), then H is clipped to [-c', c']. With c' = 1 only a move against W
  changes anything: W becomes sign(Δ) (a flip)."""
  d = delta.astype(jnp.int32)
  p = flip_probability(d, flip_prob)
  moved = (rng.bernoulli_mask(key, p, w.shape) | (p >= 1.0)) & (d != 0)
  c = jnp.asarray(clip, jnp.int32)
  h = jnp.clip(w.astype(jnp.int32) + 2 * jnp.sign(d) * moved.astype(jnp.int32), -c, c)
  return h.astype(jnp.int8), moved


class LayerDrive(NamedTuple):
  """One layer's part of a step (the rule's steps 3-6): err bool[B] (the error set),
  mask bool[B, N] (the selected neurons), delta int32[N_prev, N] (the drive S^T G)."""
  err: jax.Array
  mask: jax.Array
  delta: jax.Array


def drives(state, batch: model.Batch, robustness,
           config: config_lib.Config) -> Tuple[jax.Array, Tuple[LayerDrive, ...]]:
  """(correct int32[], the LayerDrive of every layer): the rule's forward pass and its
  steps 3-6 on W (state.hidden, any integer dtype), up to the drive Δ that the rule
  would add to H. Shared by `flip` and the 1-bit learners of `bnnjax.baselines.onebit`."""
  ternary = config.semantics == 'reference'
  fwd = model.forward(state, batch.x, config)
  y = batch.y.astype(jnp.int32)
  correct = jnp.sum(model.head_correct(fwd.scores[-1], y, config.head, config.semantics)
                    & batch.valid, dtype=jnp.int32)
  b = batch.x.shape[0]
  x_vals = bits.unpack_rows(batch.x, config.num_inputs)  # int8[B, D], ±1
  inputs = (x_vals,) + fwd.post[:-1]
  input_ternary = (False,) + (ternary,) * (len(config.layers) - 1)
  out = []
  for l, p in enumerate(state.classifiers):
    # --- Steps 3-5: error set, targets and group selection, as the rule.
    tau = jnp.floor(jnp.asarray(robustness, jnp.float32)
                    * config.layers[l]).astype(jnp.int32)
    err = model.error_set(fwd.scores[l], y, batch.valid, tau, config.head,
                          config.semantics)
    target = model.head_targets(p, y, config.head)
    mask = model.select(fwd.pre[l], target, err, config.group_size[l])
    g = jnp.where(mask, target, 0).astype(jnp.int8)
    # --- Step 6's drive Δ = S^T G.
    delta = model.product(inputs[l], g, b, config, input_ternary[l], True)
    out.append(LayerDrive(err, mask, delta.astype(jnp.int32)))
  return correct, tuple(out)


def step_metrics(correct, layer_drives) -> model.StepMetrics:
  return model.StepMetrics(
      correct, jnp.stack([jnp.sum(d.err, dtype=jnp.int32) for d in layer_drives]),
      jnp.stack([jnp.sum(jnp.any(d.mask, axis=0), dtype=jnp.int32)
                 for d in layer_drives]))


def step(state: model.State, batch: model.Batch, params: FlipParams,
         config: config_lib.Config) -> Tuple[model.State, model.StepMetrics]:
  """One step: the rule's steps 1-6 (drive Δ), then the random flips. Keys are used as
  `model.step` uses them (one per layer), so q = 1 reproduces ours at weight_clip 1."""
  key, step_key = jax.random.split(state.key)
  layer_keys = jax.random.split(step_key, len(config.layers))
  correct, layer_drives = drives(state, batch, params.robustness, config)
  clip = model.effective_clip(counter_hparams(params), config.semantics)
  # A flip where Δ opposes W, with probability min(1, q|Δ|).
  new_hidden = tuple(flip_update(w, d.delta, k, params.flip_prob, clip)[0]
                     for w, d, k in zip(state.hidden, layer_drives, layer_keys))
  return (state._replace(hidden=new_hidden, key=key),
          step_metrics(correct, layer_drives))


@model.jit_config
def evaluate(state: model.State, x: jax.Array, y: jax.Array,
             config: config_lib.Config) -> jax.Array:
  """Correct predictions (int32[]): the rule's forward pass on W."""
  return model.evaluate(state, x, y, config)


def make_model(config: config_lib.Config, diagnostics: bool = False) -> engine.Model:
  """The functions of the run engine (no per-epoch diagnostics: `flip` has no hidden
  integers to describe)."""
  del diagnostics
  validate_config(config)
  return engine.Model(
      init_fn=lambda key, params: init(key, config, params),
      step_fn=lambda state, batch, params: step(state, batch, params, config),
      evaluate_fn=lambda state, x, y: evaluate(state, x, y, config))
