r"""`bep`: Binary Error Propagation (Colombo et al., arXiv 2512.04189, ICLR 2026).

Beyond arXiv 2412.00119: a discrete analogue of backprop for the same binary MLPs, by
the same group, in bnnjax's engine (same data, splits, seeds, outputs as `ours`). The
full spec, with every choice the paper leaves open, is docs/bep.md; in short, per
mini-batch, from ONE forward pass with the pre-step weights (PDF §3, Eqs. 1-9):

1. Forward: z_l = a_{l-1}·W_l, a_l = sign(z_l), W_l = sign(H_l), **sign(0) = +1**
   everywhere (BEP §3.1); scores ŷ = a_L·P with ONE fixed ±1 output codebook P
   [K_L, C] (no per-layer classifiers). Prediction: argmax ŷ, lowest index on ties.
2. Trigger (Eq. 1): sample μ is in T iff ŷ_y − max_{c≠y} ŷ_c < r·K_L (one set, at the
   output, for every layer). T empty: nothing changes (no reinforcement either).
3. Backward (Eqs. 2-7): a*_L = P[:, y]; for l = L-1 .. 1, gate g_{l+1,i} = 1 iff
   |z_{l+1,i}| ≤ ν·K_l (K_l the fan-in of layer l+1), a*_l = sign(W_{l+1}ᵀ(g ⊙ a*_{l+1}))
   with sign(0) = +1 — an XNOR/AND/popcount product on packed words (`model.product`).
4. Selection (Eq. 8): neuron j of layer l is wrong on μ ∈ T when a*_{l,j} ≠ a_{l,j}; in
   each contiguous group of γ_l neurons the wrong one with the least |z_{l,j}| is chosen
   (lowest index on ties) — **2412's selector** (`model.select`'s order), one of the
   paper's two readings of "easiest to correct" (docs/bep.md).
5. Update (Eq. 9): H_l += 2·Σ_{μ∈T} m_μj a*_{l,j} a_{l-1,i} (one packed product per
   layer, accumulated into H as the rule's step 6).
6. Reinforcement (§3.3): each entry moves away from zero, H += 2·sign(H), with
   probability p_l = p_r · sqrt(2 / (π K_{l-1})) · sqrt(E), E the previous epoch's
   training error (1 in the first epoch), exactly as the rule's step 7.
7. Clip to the B-bit range: [−c', c'], c' = 2^15 − 1 = 32767 by default (16-bit
   hidden weights, stored as int16; `weight_clip` c ≥ 1 narrows it). Saturates, never
   wraps.

Integer-only. On the packed backend (the CPU default) `step` has no floating-point value
anywhere in its jaxpr (tested, sub-jaxprs included); the dense backend's ±1 products take
`model.dense_dot`, whose non-CPU branch is an exact float32 dot (sums of ±1 below 2^24;
XLA:GPU's int8 dot was wrong) and which is its only float. The traced hyper-parameters are fixed-point integers (`BEPParams`: ν, r and
p_r quantised to multiples of 2^-16 on the host, `hparams`), comparisons are
cross-multiplied (|z|·2^16 ≤ ν_q·K, m·2^16 < r_q·K_L), E is kept as integer counts of
the previous epoch's errors and samples (the step watches the engine's epoch counter),
and p_l·2^32 = ⌊p_r,q·κ_l / 2^16⌋ · ⌊sqrt(E)·2^16⌋ (κ_l = ⌊sqrt(2/(πK))·2^16⌋, a
Python constant of the layer; the square root by an integer digit-by-digit isqrt) is
compared with keyed uint32 hash bits (`rng.hash_bits`). The engine's own float32
bookkeeping (`State.prev_acc`, written between epochs) passes through untouched.

Choices the paper leaves open (docs/bep.md has the reasons):
* Semantics. BEP defines sign(0) = +1 for weights, activations and desired activations,
  so values are ±1 under both of bnnjax's semantics; they differ in the hidden integers:
  'reference' (BEP as written): H = trunc(G), so H = 0 occurs and reads as W = +1 (its
  reinforcement moves it to +2); 'binary': odd H = 2⌊G/2⌋ + 1 (never 0; parity kept,
  odd clip c'), as the rule's 'binary'. G ~ Normal(0, σ²), σ = `BEPConfig.init_scale`
  (default 64: the rule's initialisation, so the comparison isolates the learning rule;
  the brute port uses round(N(0, 4²))).
* Selector: least |z| (above). Ties: lowest index. Tie sign of a*: +1.
* Batch size: the harness's (100; `--batch_size`). γ: the rule's paper γ per width
  unless given (`--group_size`).
* Output codebook: a binary equiangular frame made on the host in NumPy
  (`codebook`): random ±1 rows from `numpy.random.default_rng(codebook_seed)`, then
  greedy single-coordinate flips — each iteration the flip that lowers
  J = Σ_{i<j}⟨ρ_i,ρ_j⟩ + α·Var_{i<j}⟨ρ_i,ρ_j⟩ (α = 1) most, lowest index on ties — until
  none lowers J or max(20·C·K_L, 5000) iterations (J in exact integers). It depends on
  (C, K_L, codebook_seed = 0) only: every run of a config shares it; runs differ in H and
  shuffles.
* Group-size schedule (§3.3; `BEPConfig.gamma_patience` P, `--bep_patience`; 0, the
  default, is off): γ_l starts at `group_size` and moves to the next larger divisor of
  K_l when the error has not improved for P epochs. The paper stalls on validation
  error; the engine has no validation split inside a run, so bnnjax uses the previous
  epoch's training error E (the one that scales the reinforcement), compared as
  ⌊E·2^16⌋. At the first step of each epoch: if E is below the best so far it becomes
  the best and the wait restarts, else the wait grows, and at P the level moves up
  (every layer to its next divisor, the last one kept) and the wait restarts. The
  divisors are static; the step picks the level's selection with `lax.switch`.

Dimensions: B batch, D inputs, N_l (= K_l) hidden widths, C classes, W uint32 words.
"""

import dataclasses
import functools
import math
from typing import NamedTuple, Tuple

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np

from bnnjax import bits
from bnnjax import config as config_lib
from bnnjax import engine
from bnnjax import model
from bnnjax import rng
from bnnjax.config import resolved_backend

MAX_CLIP = 2**15 - 1  # the 16-bit signed range of the paper's cost table (B = 16)
FIXED_ONE = 2**16  # ν, r, p_r are multiples of 1 / FIXED_ONE
MAX_WIDTH = 2**14 - 1  # |z|·2^16 and r_q·K (r ≤ 2) stay inside int32
MAX_ROBUSTNESS = 2.0  # the margin is at most 2·K_L: r > 2 triggers every sample anyway
DEFAULT_NU = 0.1  # the middle of the paper's best range, 0.05-0.25 (tuned per table)
CODEBOOK_ALPHA = 1
INIT_SCALE = 64.0


@config_lib.with_parts
@dataclasses.dataclass(frozen=True)
class BEPConfig:
  """Static configuration of a BEP network and its run (hashable).

  layers: hidden widths (K_1, ..., K_L), each at most MAX_WIDTH. group_size: γ per
  layer (must divide its width). init_scale: σ of the Normal draws behind H.
  codebook_seed: seed of the output codebook (`codebook`). The other fields mean what
  they mean in `bnnjax.config.Config` (no head: BEP's output is argmax over C ≥ 2
  codewords).
  """
  layers: Tuple[int, ...] = (135, 135)
  group_size: Tuple[int, ...] = (45, 45)
  num_inputs: int = 1000
  num_classes: int = 10
  protocol: config_lib.Protocol = config_lib.Protocol()
  semantics: str = 'reference'
  speed: config_lib.Speed = config_lib.Speed()
  init_scale: float = INIT_SCALE
  codebook_seed: int = 0
  gamma_patience: int = 0  # group-size schedule: epochs without progress (0: off)

  def __post_init__(self):
    layers = (self.layers,) if isinstance(self.layers, int) else self.layers
    object.__setattr__(self, 'layers', tuple(int(n) for n in layers))
    gs = self.group_size
    gs = (gs,) * len(self.layers) if isinstance(gs, int) else tuple(int(g) for g in gs)
    object.__setattr__(self, 'group_size', gs * len(self.layers) if len(gs) == 1 else gs)
    validate(self)

  @property
  def widths(self) -> Tuple[int, ...]:
    """(D, K_1, ..., K_L)."""
    return (self.num_inputs,) + self.layers

  @property
  def head(self) -> str:
    return 'argmax'

  @property
  def num_outputs(self) -> int:
    return self.num_classes


def validate(c: BEPConfig) -> None:
  """Raises ValueError naming the flag of the first bad field."""
  def check(ok, msg):
    if not ok:
      raise ValueError(msg)
  check(len(c.layers) >= 1, 'layers (--layers) must list at least one hidden width')
  check(all(1 <= n <= MAX_WIDTH for n in c.layers),
        f'layers (--layers) widths must be in [1, {MAX_WIDTH}] for --method=bep, got '
        f'{list(c.layers)}')
  check(len(c.group_size) == len(c.layers),
        f'group_size (--group_size) needs one value or one per layer '
        f'({len(c.layers)}), got {list(c.group_size)}')
  for n, g in zip(c.layers, c.group_size):
    check(1 <= g <= n and n % g == 0,
          f'group_size (--group_size) must divide every width: {g} does not divide {n}')
  for fan_in, g in zip(c.widths[:-1], c.group_size):
    check((fan_in + 1) * g < 2**31, f'fan-in {fan_in} times group_size {g} too large')
  check(math.isfinite(c.init_scale) and c.init_scale > 0,
        f'init_scale must be finite and > 0, got {c.init_scale}')
  check(isinstance(c.gamma_patience, int) and 0 <= c.gamma_patience <= 1000,
        f'bep_patience (--bep_patience) must be an integer in [0, 1000] (0: no '
        f'group-size schedule), got {c.gamma_patience!r}')
  check(isinstance(c.codebook_seed, int) and c.codebook_seed >= 0,
        f'codebook_seed must be an integer >= 0, got {c.codebook_seed!r}')
  config_lib.validate_common(c)
  config_lib.validate_arithmetic(c)


# ----------------------------------------------------------------------------------
# Hyper-parameters: fixed-point integers, traced
# ----------------------------------------------------------------------------------


class BEPParams(NamedTuple):
  """Traced hyper-parameters, all integers (scalars, or 1-D arrays of a grid).

  nu_q: ν·2^16 rounded (ν in [0, 1]): gate |z| ≤ ν·K. robustness_q: r·2^16 rounded
  (r in [0, 2]): trigger margin < r·K_L. p_reinforce_q: p_r·2^16 rounded (p_r in
  [0, 1]). weight_clip: c ≥ 1 keeps H in [−c, c] ('binary': the largest odd c' ≤ c);
  0 is the 16-bit default c' = MAX_CLIP. Made from real values by `hparams`.
  """
  nu_q: int = round(DEFAULT_NU * FIXED_ONE)
  robustness_q: int = round(0.5 * FIXED_ONE)
  p_reinforce_q: int = round(0.5 * FIXED_ONE)
  weight_clip: int = 0


def _real(name, flag, v, lo, hi):
  a = np.asarray(v)
  if a.dtype.kind not in 'iuf' or a.dtype == np.bool_:
    raise ValueError(f'{name} (--{flag}) must be a number, got {v!r}')
  a = a.astype(np.float64)
  if not (np.all(np.isfinite(a)) and np.all((a >= lo) & (a <= hi))):
    raise ValueError(f'{name} (--{flag}) must be in [{lo}, {hi}] for --method=bep, got '
                     f'{a.tolist()}')
  return a


def quantise(v) -> np.ndarray:
  """Real values -> int64 multiples of 2^-16 (round half to even), as BEPParams holds."""
  return np.round(np.asarray(v, np.float64) * FIXED_ONE).astype(np.int64)


def hparams(nu=DEFAULT_NU, robustness=0.5, p_reinforce=0.5, weight_clip=0) -> BEPParams:
  """BEPParams from real values (scalars or 1-D grids of equal length), checked on the
  host: ValueError naming the flag for ν outside [0, 1], r outside [0, 2], p_r outside
  [0, 1] or a clip that is not an integer in [0, MAX_CLIP]."""
  nu = _real('nu', 'nu', nu, 0.0, 1.0)
  r = _real('robustness', 'robustness', robustness, 0.0, MAX_ROBUSTNESS)
  pr = _real('p_reinforce', 'p_reinforce', p_reinforce, 0.0, 1.0)
  wc = np.asarray(weight_clip)
  if wc.dtype.kind not in 'iuf' or wc.dtype == np.bool_ or not (
      np.all(np.isfinite(wc)) and np.all(np.mod(wc, 1) == 0)
      and np.all((wc >= 0) & (wc <= MAX_CLIP))):
    raise ValueError(f'weight_clip (--weight_clip) must be an integer in [0, {MAX_CLIP}] '
                     f'for --method=bep (0: the 16-bit range), got {wc.tolist()}')
  return BEPParams(nu_q=quantise(nu), robustness_q=quantise(r),
                   p_reinforce_q=quantise(pr), weight_clip=wc.astype(np.int64))


def validate_params(p: BEPParams) -> None:
  """Host-side check of integer BEPParams (scalars or grids)."""
  for name, flag, hi in (('nu_q', 'nu', FIXED_ONE),
                         ('robustness_q', 'robustness', MAX_ROBUSTNESS * FIXED_ONE),
                         ('p_reinforce_q', 'p_reinforce', FIXED_ONE),
                         ('weight_clip', 'weight_clip', MAX_CLIP)):
    a = np.asarray(getattr(p, name))
    if a.dtype.kind not in 'iu' or not np.all((a >= 0) & (a <= hi)):
      raise ValueError(f'{flag} (--{flag}): BEPParams.{name} must be an integer in '
                       f'[0, {int(hi)}] (use bep.hparams for real values), got '
                       f'{a.tolist()}')


# ----------------------------------------------------------------------------------
# The output codebook (host, NumPy)
# ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def codebook(num_classes: int, width: int, seed: int = 0) -> np.ndarray:
  """int8[K, C] ±1: a binary equiangular frame, column c the codeword ρ_c of class c.

  Greedy coordinate flips from random ±1 rows (`numpy.random.default_rng(seed)`): each
  iteration applies the single flip that lowers J = Σ_{i<j} G_ij + α·Var_{i<j}(G_ij)
  (G = ρρᵀ, α = CODEBOOK_ALPHA) the most (lowest flat index (c, k) on ties), until no
  flip lowers J or after max(20·C·K, 5000) iterations. J is compared in exact integers
  (M²·J = M²·S + α(M·Q − S²), S and Q the sum and sum of squares of the M pairs)."""
  c, k = int(num_classes), int(width)
  rho = np.where(np.random.default_rng(seed).random((c, k)) < 0.5, 1, -1).astype(np.int64)
  m = c * (c - 1) // 2
  if m == 0:
    return rho.T.astype(np.int8)
  off = ~np.eye(c, dtype=bool)

  def scaled_j(s, q):
    return m * m * s + CODEBOOK_ALPHA * (m * q - s * s)

  for _ in range(max(20 * c * k, 5000)):
    g = rho @ rho.T
    s = int(np.sum(np.triu(g, 1)))
    q = int(np.sum(np.triu(g, 1) ** 2))
    # Flipping (i, t) changes G_ij by δ_j = −2 ρ_it ρ_jt for every j ≠ i.
    delta = -2 * rho[:, None, :] * rho[None, :, :]  # [i, j, t]
    delta = np.where(off[:, :, None], delta, 0)
    s_new = s + delta.sum(axis=1)  # [i, t]
    q_new = q + (2 * g[:, :, None] * delta + delta * delta).sum(axis=1)
    gain = scaled_j(s_new, q_new) - scaled_j(s, q)  # [i, t]
    best = int(np.argmin(gain))
    if gain.flat[best] >= 0:
      break
    i, t = divmod(best, k)
    rho[i, t] = -rho[i, t]
  return rho.T.astype(np.int8)


# ----------------------------------------------------------------------------------
# State, init
# ----------------------------------------------------------------------------------


class State(NamedTuple):
  """Training state of one run; arrays only.

  hidden:   tuple of int16[N_{l-1}, N_l] — integer hidden weights H_l (W_l = sign(H_l),
            sign(0) = +1), in [−c', c'].
  codebook: int8[K_L, C] — the fixed output codebook P (±1; the same for every run).
  key:      uint32[2] — PRNG key.
  prev_acc: float32[] — the engine's running train accuracy of the previous epoch;
            written by the engine between epochs, never read by `step` (E comes from
            `counts`).
  epoch:    int32[] — epochs completed (the engine's counter).
  counts:   int32[5] — (epoch the counts below belong to, errors of the previous epoch,
            its samples, errors so far this epoch, its samples so far): pre-update
            training errors of valid rows; E = errors / samples of the previous epoch
            (the first epoch starts from (1, 1): E = 1).
  schedule: int32[3] — the group-size schedule's (level, best ⌊E·2^16⌋ so far, epochs
            without improvement); level 0 is `group_size` (stays 0 with the schedule
            off).
  """
  hidden: Tuple[jax.Array, ...]
  codebook: jax.Array
  key: jax.Array
  prev_acc: jax.Array
  epoch: jax.Array
  counts: jax.Array
  schedule: jax.Array


def gamma_levels(config: BEPConfig) -> Tuple[Tuple[int, ...], ...]:
  """Per layer, the γ of each schedule level: the divisors of K_l from group_size up
  (one level, group_size, with the schedule off)."""
  out = []
  for n, g in zip(config.layers, config.group_size):
    out.append(tuple(d for d in range(g, n + 1) if n % d == 0)
               if config.gamma_patience else (g,))
  return tuple(out)


def next_schedule(schedule: jax.Array, counts: jax.Array, roll: jax.Array,
                  patience: int, num_levels: int) -> jax.Array:
  """The schedule after the first step of an epoch (roll True) reads the previous
  epoch's errors counts[1] / counts[2] (module docstring); unchanged otherwise and in
  the first epoch (no previous epoch)."""
  e16 = fraction_16(counts[1], counts[2]).astype(jnp.int32)
  level, best, wait = schedule[0], schedule[1], schedule[2]
  improved = e16 < best
  wait = jnp.where(improved, 0, wait + 1)
  move = wait >= patience
  new = jnp.stack([jnp.where(move, jnp.minimum(level + 1, num_levels - 1), level),
                   jnp.minimum(best, e16), jnp.where(move, 0, wait)])
  return jnp.where(roll & (counts[0] > 0), new, schedule)


def effective_clip(weight_clip, semantics: str):
  """c' (int32): c, or MAX_CLIP for 0; 'binary' rounds down to odd (parity kept)."""
  c = jnp.asarray(weight_clip, jnp.int32)
  c = jnp.where(c <= 0, MAX_CLIP, jnp.minimum(c, MAX_CLIP))
  if semantics == 'binary':
    c = c - (1 - c % 2)
  return c


@model.jit_config
def init(key: jax.Array, config: BEPConfig, params: BEPParams,
         codebook_: jax.Array) -> State:
  """Initial state: H_l = trunc(G) ('reference') or 2⌊G/2⌋ + 1 ('binary'), G ~
  Normal(0, init_scale²) (one draw of every layer's entries, row-major per layer, from
  a key split off `key`), clipped to c' and stored as int16. codebook_: int8[K_L, C]."""
  key, k_h = jax.random.split(key)
  shapes = [(config.widths[l], config.widths[l + 1]) for l in range(len(config.layers))]
  g = jnp.float32(config.init_scale) * jax.random.normal(
      k_h, (sum(math.prod(s) for s in shapes),), jnp.float32)
  h_all = model.integer_init(g, config.semantics)
  clip = effective_clip(params.weight_clip, config.semantics)
  hidden, off = [], 0
  for s in shapes:
    h = h_all[off:off + math.prod(s)].reshape(s)
    off += math.prod(s)
    hidden.append(jnp.clip(h, -clip, clip).astype(jnp.int16))
  return State(hidden=tuple(hidden), codebook=jnp.asarray(codebook_, jnp.int8), key=key,
               prev_acc=jnp.zeros((), jnp.float32), epoch=jnp.zeros((), jnp.int32),
               counts=jnp.array([0, 1, 1, 0, 0], jnp.int32),
               schedule=jnp.array([0, FIXED_ONE + 1, 0], jnp.int32))


# ----------------------------------------------------------------------------------
# Forward, predict, evaluate
# ----------------------------------------------------------------------------------


def sign_plus(x: jax.Array) -> jax.Array:
  """int8 ±1 sign with sign(0) = +1 (BEP's convention, both semantics)."""
  return jnp.where(x >= 0, 1, -1).astype(jnp.int8)


class Forward(NamedTuple):
  """pre: tuple of int32[B, N_l] (z_l); post: tuple of int8[B, N_l] (a_l, ±1);
  scores: int32[B, C] (ŷ = a_L·P)."""
  pre: Tuple[jax.Array, ...]
  post: Tuple[jax.Array, ...]
  scores: jax.Array


@model.jit_config
def forward(state: State, x: jax.Array, config: BEPConfig) -> Forward:
  """Step 1. x: uint32[B, W] packed ±1 inputs (bits.py layout)."""
  s_t, n_in = bits.Packed(x.T, None), config.num_inputs
  pre, post = [], []
  for h in state.hidden:
    z = model.product(s_t, sign_plus(h), n_in, config, False, False)  # [B, N]
    a = sign_plus(z)
    s_t = bits.pack_rows(a, False) if resolved_backend(config) == 'packed' else a.T
    n_in = a.shape[1]
    pre.append(z)
    post.append(a)
  scores = model.product(s_t, state.codebook, n_in, config, False, False)  # [B, C]
  return Forward(tuple(pre), tuple(post), scores)


@model.jit_config
def predict(state: State, x: jax.Array, config: BEPConfig) -> jax.Array:
  """int32[B]: argmax of the codebook scores (lowest index on ties)."""
  return jnp.argmax(forward(state, x, config).scores, axis=-1).astype(jnp.int32)


@model.jit_config
def evaluate(state: State, x: jax.Array, y: jax.Array, config: BEPConfig) -> jax.Array:
  """Number of correct predictions (int32[]), in chunks of `config.eval_batch_size`."""
  return model.count_correct(lambda xc: predict(state, xc, config), x, y,
                             config.eval_batch_size)


# ----------------------------------------------------------------------------------
# Integer helpers of the reinforcement probability
# ----------------------------------------------------------------------------------


def fan_in_constant(fan_in: int) -> int:
  """κ = ⌊sqrt(2 / (π·fan_in))·2^16⌋, a Python int (host float64, at trace time)."""
  return int(math.floor(math.sqrt(2.0 / (math.pi * fan_in)) * FIXED_ONE))


def fraction_16(num: jax.Array, den: jax.Array) -> jax.Array:
  """uint32 ⌊num·2^16 / den⌋ for 0 ≤ num ≤ den < 2^30 (binary long division,
  `bits.fixed_fraction`; a den of 0 is read as 1)."""
  return bits.fixed_fraction(num, den, 16).astype(jnp.uint32)


isqrt_u32 = bits.isqrt  # uint32 ⌊sqrt(x)⌋, digit by digit


def reinforce_threshold(p_reinforce_q, counts, fan_in: int) -> jax.Array:
  """uint32 p_l·2^32 = ⌊p_r,q·κ_l / 2^16⌋ · ⌊sqrt(E)·2^16⌋, E = counts[1] / counts[2]
  (the previous epoch's training error)."""
  e16 = fraction_16(counts[1], counts[2])  # ⌊E·2^16⌋ in [0, 2^16]
  s16 = jnp.where(e16 >= FIXED_ONE, jnp.uint32(FIXED_ONE),
                  isqrt_u32(jnp.minimum(e16, FIXED_ONE - 1) << 16))
  scale = (jnp.asarray(p_reinforce_q).astype(jnp.uint32)
           * jnp.uint32(fan_in_constant(fan_in))) >> 16
  return scale * s16


# ----------------------------------------------------------------------------------
# The training step
# ----------------------------------------------------------------------------------


def trigger(scores: jax.Array, y: jax.Array, valid: jax.Array, robustness_q,
            width: int) -> jax.Array:
  """Eq. 1: bool[B], ŷ_y − max_{c≠y} ŷ_c < r·K_L, as (margin)·2^16 < r_q·K_L."""
  onehot = jnp.arange(scores.shape[-1])[None, :] == y[:, None]
  true = jnp.sum(jnp.where(onehot, scores, 0), axis=-1)
  other = jnp.max(jnp.where(onehot, -(width + 1), scores), axis=-1)
  margin = true - other
  return (margin * FIXED_ONE < jnp.asarray(robustness_q, jnp.int32) * width) & valid


def select_wrong(pre: jax.Array, wrong: jax.Array, group_size: int) -> jax.Array:
  """bool[B, N]: in each contiguous group of γ neurons, the wrong one with the least
  |z| (lowest index on ties), as `model.select` orders them."""
  b, n = pre.shape
  pos = jnp.arange(n, dtype=jnp.int32) % group_size
  cost = jnp.where(wrong, jnp.abs(pre) * group_size + pos, jnp.iinfo(jnp.int32).max)
  cost = cost.reshape(b, n // group_size, group_size)
  best = jnp.min(cost, axis=-1, keepdims=True)
  return ((cost == best) & wrong.reshape(cost.shape)).reshape(b, n)


def desired(fwd: Forward, state: State, y: jax.Array, nu_q,
            config: BEPConfig) -> Tuple[jax.Array, ...]:
  """Eqs. 2-7: (a*_1, ..., a*_L), int8[B, N_l] ±1. a*_L = P[:, y]; a*_l =
  sign(W_{l+1}ᵀ (g_{l+1} ⊙ a*_{l+1})), g_{l+1} = |z_{l+1}| ≤ ν·N_l, sign(0) = +1."""
  num_layers = len(config.layers)
  out = [None] * num_layers
  out[-1] = state.codebook.T[y]
  nu_q = jnp.asarray(nu_q, jnp.int32)
  for l in range(num_layers - 2, -1, -1):
    n_next, n_here = config.layers[l + 1], config.layers[l]
    gate = jnp.abs(fwd.pre[l + 1]) * FIXED_ONE <= nu_q * n_here  # [B, N_{l+1}]
    gated = jnp.where(gate, out[l + 1], 0).astype(jnp.int8)  # {-1, 0, +1}
    w_next_t = sign_plus(state.hidden[l + 1]).T  # [N_{l+1}, N_l]
    if resolved_backend(config) == 'packed':  # pack along N_{l+1} without a transpose
      a = bits.pack_rows(gated, True)  # planes [W, B]
    else:
      a = gated.T
    back = model.product(a, w_next_t, n_next, config, True, False)  # [B, N_l]
    out[l] = sign_plus(back)
  return tuple(out)


def step(state: State, batch: model.Batch, params: BEPParams, config: BEPConfig,
         train=True) -> Tuple[State, model.StepMetrics]:
  """One BEP step on a mini-batch (module docstring, steps 1-7), every layer from the
  pre-step forward pass. train: True, or a traced bool[] (False: only count the batch's
  correct predictions; the state is left as it was), as `model.step`."""
  fwd = forward(state, batch.x, config)
  y = batch.y.astype(jnp.int32)
  correct_rows = (jnp.argmax(fwd.scores, axis=-1).astype(jnp.int32) == y) & batch.valid
  correct = jnp.sum(correct_rows, dtype=jnp.int32)
  return model.update_or_count(
      train, lambda: _update(state, batch, params, config, fwd, correct_rows, correct),
      state, correct, len(config.layers))


def _update(state, batch, params, config, fwd, correct_rows, correct):
  """Steps 2-7 of `step` from its forward pass."""
  key, step_key = jax.random.split(state.key)
  layer_keys = jax.random.split(step_key, len(config.layers))
  y = batch.y.astype(jnp.int32)
  b = batch.x.shape[0]
  # --- E of the previous epoch: roll the counts over when the engine's epoch moved.
  c = state.counts
  roll = state.epoch != c[0]
  prev = jnp.where(roll, c[3:5], c[1:3])
  cur = jnp.where(roll, 0, c[3:5])
  counts = jnp.concatenate([state.epoch[None], prev, cur])
  levels = gamma_levels(config)
  schedule = state.schedule
  if config.gamma_patience:
    schedule = next_schedule(schedule, counts, roll, config.gamma_patience,
                             max(len(g) for g in levels))
  # --- Step 2: the trigger set, shared by every layer.
  trig = trigger(fwd.scores, y, batch.valid, params.robustness_q, config.layers[-1])
  any_trig = jnp.any(trig)
  # --- Step 3: desired activations, top-down.
  targets = desired(fwd, state, y, params.nu_q, config)
  # Layer inputs along the batch axis, for the update product.
  if resolved_backend(config) == 'packed':
    x_vals = bits.transpose_rows(batch.x, config.num_inputs)
  else:
    x_vals = bits.unpack_rows(batch.x, config.num_inputs)
  inputs = (x_vals,) + fwd.post[:-1]
  clip = effective_clip(params.weight_clip, config.semantics)
  new_hidden, updated = [], []
  for l, h in enumerate(state.hidden):
    # --- Step 4: wrong neurons of triggered samples; one per group by least |z|.
    wrong = (targets[l] != fwd.post[l]) & trig[:, None]
    if len(levels[l]) == 1:
      mask = select_wrong(fwd.pre[l], wrong, levels[l][0])
    else:
      branches = [functools.partial(select_wrong, group_size=g) for g in levels[l]]
      mask = lax.switch(jnp.minimum(schedule[0], len(levels[l]) - 1), branches,
                        fwd.pre[l], wrong)
    g = jnp.where(mask, targets[l], 0).astype(jnp.int8)
    # --- Step 5: H + 2 Σ_μ a_{l-1} (m ⊙ a*), accumulated in int32.
    h_sum = model.product(inputs[l], g, b, config, False, True,
                          init=h.astype(jnp.int32), scale=2)
    # --- Steps 6-7: reinforcement away from zero (sign(0) = +1), then the clip.
    thr = reinforce_threshold(params.p_reinforce_q, counts, h.shape[0])
    grow = rng.hash_bits(layer_keys[l], h.shape) < thr
    h_new = h_sum + 2 * sign_plus(h_sum).astype(jnp.int32) * grow.astype(jnp.int32)
    h_new = jnp.clip(h_new, -clip, clip).astype(jnp.int16)
    new_hidden.append(jnp.where(any_trig, h_new, h))
    updated.append(jnp.sum(jnp.any(mask, axis=0), dtype=jnp.int32))
  valid = batch.valid
  counts = counts.at[3].add(jnp.sum(valid & ~correct_rows, dtype=jnp.int32))
  counts = counts.at[4].add(jnp.sum(valid, dtype=jnp.int32))
  num_trig = jnp.sum(trig, dtype=jnp.int32)
  new_state = state._replace(hidden=tuple(new_hidden), key=key, counts=counts,
                             schedule=schedule)
  return new_state, model.StepMetrics(
      correct, jnp.full((len(config.layers),), num_trig), jnp.stack(updated))


def make_model(config: BEPConfig, diagnostics: bool = False) -> engine.Model:
  """The functions of the run engine (no per-epoch diagnostics). The codebook is made
  here, on the host, once per config."""
  del diagnostics
  cb = codebook(config.num_classes, config.layers[-1], config.codebook_seed)
  return engine.Model(
      init_fn=lambda key, params: init(key, config, params, cb),
      step_fn=lambda state, batch, params: step(state, batch, params, config),
      evaluate_fn=lambda state, x, y: evaluate(state, x, y, config),
      step_eval_fn=lambda state, batch, params, train: step(state, batch, params,
                                                            config, train))
