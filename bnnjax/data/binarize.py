"""Binarisation of real-valued data into ±1 features (algorithm.md, "Data protocol").

Every function here works on the whole loaded pool *before* the train/test split, as the
paper does (the split is made per run inside `bnnjax.run`).

Median binarisation: +1 where x > median, else −1 (a value equal to the median is −1).
`np.median` averages the two middle values of an even count.

============  ==========================  ======================================
mode          input                       median taken over
============  ==========================  ======================================
'global'      grey images [n, ...]        every value of the pool (one number)
'channel'     conv features [n, C, H, W]  axes (n, H, W): one value per channel
'feature'     tables [n, D]               axis n: one value per feature
============  ==========================  ======================================

Thermometer ("distributive", i.e. quantile) code of a numeric column with L levels, exactly
as the paper's code computes it (its `DistributiveThermometer`, after torch_dwn's): sort
the n values of the column (the whole pool), take thresholds t_k = sorted[i_k] for
k = 1..L with i_k = int(k / (L + 1) · (n − 1)), and emit L bits, bit k = +1 if x ≥ t_k
else −1. The index is computed as the authors compute it, in float64 — first k / (L + 1),
then times (n − 1), then truncated — which is one less than the exact ⌊k·(n − 1) / (L + 1)⌋
where the exact product is an integer but its float64 value falls just below it (e.g.
n = 56, k = 9: 9/33 · 55 = 14.999…, i_9 = 14, not 15; see `thermometer_indices`).
For n ≤ 33, i_1 = 0: t_1 is the column's minimum and bit 1 is +1 for every sample. A
constant column gives L bits of +1; repeated values give repeated thresholds (identical
bits).
Example (L = 3, column [1, 2, 3, 4, 5]): i_k = int(k/4 · 4) = 1, 2, 3, thresholds 2, 3, 4,
so 1 -> (−1, −1, −1), 3 -> (+1, +1, −1), 5 -> (+1, +1, +1).

One-hot in ±1 of a categorical column with K categories (sorted unique values): K bits,
+1 at the value's category and −1 elsewhere.
"""

import dataclasses
from typing import Sequence, Tuple

import numpy as np

MEDIAN_MODES = ('global', 'channel', 'feature')
THERMOMETER_LEVELS = 32
RULE_KINDS = ('median_global', 'median_channel', 'thermometer')


@dataclasses.dataclass(frozen=True)
class Rule:
  """How a loader made a data set's bits from its raw features (`DataSet.x_float`),
  carried by the `DataSet` so that an exported network can take raw features
  (`bnnjax.export`, which recomputes the thresholds from x_float and checks them).

  kind: 'median_global' (one median over every value of the pool), 'median_channel'
  (one median per channel: `channels` blocks of D / channels consecutive features) or
  'thermometer' (`levels` quantile bits per raw column, x >= t_k)."""
  kind: str
  channels: int = 0
  levels: int = 0

  def __post_init__(self):
    if self.kind not in RULE_KINDS:
      raise ValueError(f'binarisation kind must be one of {list(RULE_KINDS)}, got '
                       f'{self.kind!r}')


def check_finite(x: np.ndarray, name: str = 'data') -> np.ndarray:
  """Returns x as a float array; raises ValueError naming the first non-finite entry."""
  x = np.asarray(x)
  if x.size == 0:
    raise ValueError(f'{name}: empty feature array of shape {list(x.shape)}')
  if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
    raise ValueError(f'{name}: features must be numeric, got dtype {x.dtype}')
  if np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.complexfloating):
    bad = ~np.isfinite(x)
    if bad.any():
      idx = tuple(int(i) for i in np.argwhere(bad)[0])
      raise ValueError(f'{name}: {int(bad.sum())} non-finite feature value(s) (NaN or '
                       f'inf), first at index {idx}: {x[idx]}')
  return x


def medians(x: np.ndarray, mode: str) -> np.ndarray:
  """The median(s) used by `median_binarize`: shape () global, [C] channel, [D] feature."""
  x = check_finite(x)
  if mode == 'global':
    return np.median(x)
  if mode == 'channel':
    if x.ndim != 4:
      raise ValueError(f'channel medians need conv features [n, C, H, W], got shape '
                       f'{list(x.shape)}')
    return np.median(x, axis=(0, 2, 3))
  if mode == 'feature':
    if x.ndim != 2:
      raise ValueError(f'feature medians need a table [n, D], got shape {list(x.shape)}')
    return np.median(x, axis=0)
  raise ValueError(f'median mode must be one of {list(MEDIAN_MODES)}, got {mode!r}')


def median_binarize(x: np.ndarray, mode: str, name: str = 'data') -> np.ndarray:
  """x: float[n, ...] -> int8[n, D] in ±1 (+1 where x > median), flattened per sample.

  mode: 'global' (grey images), 'channel' (x: [n, C, H, W]), 'feature' (x: [n, D]).
  The flattened order is C-order (channel-major for conv features)."""
  x = check_finite(x, name)
  m = medians(x, mode)
  if mode == 'channel':
    m = m[None, :, None, None]
  out = np.where(x > m, 1, -1).astype(np.int8)
  return out.reshape(x.shape[0], -1)


def thermometer_indices(n: int, levels: int = THERMOMETER_LEVELS) -> np.ndarray:
  """int[L]: i_k = int(k / (L + 1) · (n − 1)), k = 1..L, in float64 as the paper's code.

  Python's float division and product round exactly as NumPy's float64 ones, so this
  equals the authors' `(np.arange(1, L + 1) / (L + 1) * (n - 1)).astype(int)`."""
  if levels < 1:
    raise ValueError(f'thermometer levels must be >= 1, got {levels}')
  if n < 1:
    raise ValueError(f'thermometer of an empty column (n = {n})')
  return np.asarray([int(k / (levels + 1) * (n - 1)) for k in range(1, levels + 1)],
                    np.int64)


def thermometer_thresholds(column: np.ndarray,
                           levels: int = THERMOMETER_LEVELS) -> np.ndarray:
  """float[n] -> float[L]: t_k = sorted[i_k] (see `thermometer_indices`), k = 1..L."""
  column = check_finite(np.asarray(column, dtype=np.float64).reshape(-1), 'column')
  return np.sort(column)[thermometer_indices(column.shape[0], levels)]


def thermometer(column: np.ndarray, levels: int = THERMOMETER_LEVELS) -> np.ndarray:
  """float[n] -> int8[n, L] in ±1: bit k is +1 where x ≥ t_k (see module docstring)."""
  column = np.asarray(column, dtype=np.float64).reshape(-1)
  t = thermometer_thresholds(column, levels)
  return np.where(column[:, None] >= t[None, :], 1, -1).astype(np.int8)


def one_hot_pm1(column: Sequence) -> Tuple[np.ndarray, np.ndarray]:
  """[n] values -> (int8[n, K] ±1 one-hot, categories[K] sorted)."""
  column = np.asarray(column)
  if column.size == 0:
    raise ValueError('one_hot_pm1: empty column')
  cats, codes = np.unique(column, return_inverse=True)
  out = -np.ones((column.shape[0], cats.shape[0]), np.int8)
  out[np.arange(column.shape[0]), codes.reshape(-1)] = 1
  return out, cats
