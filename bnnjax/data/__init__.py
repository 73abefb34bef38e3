"""Data sets through one registry: name -> loader returning a `DataSet`.

Every loader returns ±1 features packed on the host (bits.py convention) so the pool
costs one bit per feature on device.
"""

import dataclasses
from typing import Callable, Dict

import numpy as np

from bnnjax import bits


@dataclasses.dataclass(frozen=True)
class DataSet:
  """A binarised data pool.

  x: uint32[n, W] packed ±1 features. y: int32[n] labels.
  num_features: D. num_classes: C. num_test: size of the test split (the last samples of
  the per-run shuffle, or the official test set when `shuffle_split` is False).
  """
  name: str
  x: np.ndarray
  y: np.ndarray
  num_features: int
  num_classes: int
  num_test: int
  shuffle_split: bool = True

  @property
  def num_samples(self) -> int:
    return int(self.x.shape[0])

  @property
  def size_bits(self) -> int:
    """Bits of information in the binarised features (D per sample)."""
    return self.num_samples * self.num_features

  @property
  def packed_bytes(self) -> int:
    return int(self.x.nbytes)


def from_signs(name: str, x_pm1: np.ndarray, y: np.ndarray, num_classes: int,
               num_test: int, shuffle_split: bool = True) -> DataSet:
  """Validates ±1 features and packs them."""
  x_pm1 = np.asarray(x_pm1)
  y = np.asarray(y)
  if x_pm1.ndim != 2 or x_pm1.shape[0] == 0:
    raise ValueError(f'{name}: features must be a non-empty 2-D array, got shape '
                     f'{list(x_pm1.shape)}')
  if not np.all((x_pm1 == 1) | (x_pm1 == -1)):
    raise ValueError(f'{name}: features must be ±1 (binarise first)')
  if y.shape != (x_pm1.shape[0],) or not np.issubdtype(y.dtype, np.integer):
    raise ValueError(f'{name}: labels must be integers of shape [{x_pm1.shape[0]}]')
  if y.min() < 0 or y.max() >= num_classes:
    raise ValueError(f'{name}: labels must be in [0, {num_classes}), got '
                     f'[{y.min()}, {y.max()}]')
  return DataSet(name=name, x=bits.pack_numpy(x_pm1), y=y.astype(np.int32),
                 num_features=int(x_pm1.shape[1]), num_classes=int(num_classes),
                 num_test=int(num_test), shuffle_split=shuffle_split)


def _prototypes(smoke: bool = False, **unused) -> DataSet:
  from bnnjax.data import prototypes
  if smoke:  # same generator and code path, a tenth of the samples
    x, y = prototypes.generate(num_samples=prototypes.NUM_SAMPLES // 10)
    return from_signs('prototypes', x, y, prototypes.NUM_CLASSES,
                      prototypes.NUM_TEST // 10)
  x, y = prototypes.generate()
  return from_signs('prototypes', x, y, prototypes.NUM_CLASSES, prototypes.NUM_TEST)


DATASETS: Dict[str, Callable[..., DataSet]] = {
    'prototypes': _prototypes,
}


def load(name: str, **kwargs) -> DataSet:
  """Loads a registered data set; raises ValueError listing valid names."""
  if name not in DATASETS:
    raise ValueError(f'unknown dataset {name!r} (--dataset); valid: {sorted(DATASETS)}')
  return DATASETS[name](**kwargs)
