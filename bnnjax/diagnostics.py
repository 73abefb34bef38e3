"""A view inside the network while it learns: per-epoch diagnostics computed in the jit.

For the rule (`ours`) and CP+R, per epoch and hidden layer l (arrays [..., E, L]):

* `error_fraction`: training samples in the error set M_l (step 3), over the epoch,
  divided by the training-set size.
* `update_fraction`: mean over the epoch's steps of the fraction of the layer's neurons
  whose weights the supervised update (steps 5-6) moved, i.e. that were selected for at
  least one sample of the batch.
* `flip_rate`: fraction of binary weights W_l = sign(H_l) whose value at the end of the
  epoch differs from the start.
* `abs_h_mean`, `abs_h_std`: mean and standard deviation of |H_l| at the end of the
  epoch.
* `int8_overflow`: number of hidden weights outside [-128, 127] at the end of the epoch
  (the paper's cost model stores them in 8 bits; bnnjax keeps int32).
* `error_count`, `updated_count`, `flip_count`: the integer counts behind the three
  fractions (error-set memberships summed over the epoch's steps, selected neurons
  summed over the steps, flipped binary weights).
* `hidden_hist`: [..., E, L, K] counts of H_l per bin of `HIST_EDGES` (K + 1 signed
  powers of two: bin k holds HIST_EDGES[k] <= H < HIST_EDGES[k + 1]).

Counts come from the step's `model.StepMetrics` (summed over the batches by the epoch
scan of `bnnjax.run`) and from the states before and after the epoch; they cost a few
reductions per epoch. `bnnjax.run.make_train(config, diagnostics=False)` turns them off.
"""

from typing import Dict

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np

MAX_POWER = 12
# -inf, -2^12, ..., -2, -1, 0, 1, 2, ..., 2^12, +inf (29 edges, 28 bins).
HIST_EDGES = np.concatenate([[-np.inf], -(2.0 ** np.arange(MAX_POWER, -1, -1)), [0.0],
                             2.0 ** np.arange(0, MAX_POWER + 1), [np.inf]])
INT8_MIN, INT8_MAX = -128, 127
NAMES = ('error_fraction', 'update_fraction', 'flip_rate', 'abs_h_mean', 'abs_h_std',
         'int8_overflow', 'hidden_hist', 'error_count', 'updated_count', 'flip_count')


def bin_index(h: jax.Array) -> jax.Array:
  """int32 bin of HIST_EDGES of each entry of the integer array h: the number of finite
  edges <= h (`np.searchsorted(HIST_EDGES[1:-1], h, side='right')`), from the leading
  zero count of |h| instead of a search (exact for every int32):

    h >= 1:  14 + min(floor(log2 h) + 1, 13)     floor(log2 m) + 1 = 32 - clz(m)
    h == 0:  14
    h <= -1: max(0, 13 - ceil(log2 |h|))         ceil(log2 m) = 32 - clz(m - 1)
  """
  h = h.astype(jnp.int32)
  m = jnp.where(h < 0, jnp.uint32(0) - h.astype(jnp.uint32), h.astype(jnp.uint32))
  p = MAX_POWER + 1  # 13 edges on each side of 0
  above = p + 1 + jnp.minimum(32 - lax.clz(m).astype(jnp.int32), p)
  below = jnp.maximum(0, p - (32 - lax.clz(m - 1).astype(jnp.int32)))
  return jnp.where(h > 0, above, jnp.where(h == 0, p + 1, below))


# Bins below INT8_MIN and from INT8_MAX + 1 on (both are edges): the int8 overflow count
# is a sum of histogram bins, no reduction of its own.
_BELOW_INT8 = int(np.flatnonzero(HIST_EDGES == INT8_MIN)[0])
_ABOVE_INT8 = int(np.flatnonzero(HIST_EDGES == INT8_MAX + 1)[0])


def histogram_and_flips(h0: jax.Array, h1: jax.Array):
  """(int32[K] counts of the entries of h1 per bin of HIST_EDGES, number of entries whose
  sign differs between h0 and h1), from one scatter-add over (bin, flipped) pairs: one
  kernel instead of a histogram and a reduction (diagnostics compile 0.26 -> 0.18 s at
  the default job's shapes). Bins come from `bin_index` (a float searchsorted cost 4% of
  a Prototypes 135-135 run on CPU)."""
  flipped = (jnp.sign(h0) != jnp.sign(h1)).ravel().astype(jnp.int32)
  k = len(HIST_EDGES) - 1
  counts = jnp.zeros(2 * k, jnp.int32).at[2 * bin_index(h1.ravel()) + flipped].add(1)
  counts = counts.reshape(k, 2)
  return jnp.sum(counts, axis=1), jnp.sum(counts[:, 1])


def fraction(count: jax.Array, total) -> jax.Array:
  """float32 count / total for integer counts and totals, the same bits in every
  program.

  XLA may turn a division by a constant into a multiplication by its reciprocal; in
  float32 that gave fractions one ulp apart between programs of different seed chunks
  and process counts. The quotient is therefore taken in float64 (exact operands) and
  rounded once to float32: an ulp of float64 cannot move it across a float32 rounding
  boundary unless count / total lies within about 1e-16 of one. TPUs (no native
  float64) divide in float32.

  total enters the branches as an int32 operand and is widened inside them: every
  branch is traced on every platform, and a float64 array constant made in the default
  branch would be hoisted out of it into the TPU program too."""
  total = np.asarray(total)
  if not np.all((total >= 0) & (total < 2**31)):
    raise ValueError(f'fraction: totals must lie in [0, 2^31), got {total}')

  def in_float64(count, total):
    with jax.enable_x64(True):
      return (count.astype(jnp.float64) / total.astype(jnp.float64)).astype(jnp.float32)

  return lax.platform_dependent(
      count, jnp.asarray(total, jnp.int32),
      tpu=lambda c, t: c.astype(jnp.float32) / t.astype(jnp.float32),
      default=in_float64)


def rule_epoch_metrics(old_state, new_state, sums, num_steps: int,
                       n_train: int) -> Dict[str, jax.Array]:
  """Diagnostics of one epoch of the rule (see the module docstring).

  old_state, new_state: `model.State` before and after the epoch. sums: the epoch's
  `model.StepMetrics` summed over its num_steps steps."""
  slots = np.asarray([num_steps * h.shape[1] for h in new_state.hidden])
  out = {'error_count': sums.errors, 'updated_count': sums.updated,
         'error_fraction': fraction(sums.errors, n_train),
         'update_fraction': fraction(sums.updated, slots)}
  flip, flip_count, mean, std, over, hist = [], [], [], [], [], []
  for h0, h1 in zip(old_state.hidden, new_state.hidden):
    counts, flips = histogram_and_flips(h0, h1)
    flip_count.append(flips)
    flip.append(fraction(flips, h1.size))
    a = jnp.abs(h1).astype(jnp.float32)
    mean.append(jnp.mean(a))
    std.append(jnp.std(a))
    over.append(jnp.sum(counts[:_BELOW_INT8]) + jnp.sum(counts[_ABOVE_INT8:]))
    hist.append(counts)
  out.update(flip_rate=jnp.stack(flip), flip_count=jnp.stack(flip_count),
             abs_h_mean=jnp.stack(mean),
             abs_h_std=jnp.stack(std), int8_overflow=jnp.stack(over),
             hidden_hist=jnp.stack(hist))
  return out
