"""A read-only float matrix [n, D] whose rows are computed on demand from stored blocks.

`DataSet.x_float` of the large pools (Fashion-MNIST pixels, AlexNet features) is one of
these, so a run that only uses the packed bits (ours, CP+R) never materialises the float
pool: the blocks stay uint8 images in memory or memory-mapped feature caches on disk.
`np.asarray(rows)` builds the whole float32 array; `rows[i]`, `rows[a:b]` and
`rows[index_array]` read and transform only the rows asked for.
"""

from typing import Callable, Sequence

import numpy as np

READ_CHUNK = 2048  # rows transformed at a time by np.asarray


class LazyRows:
  """Rows of `parts` concatenated (part 0 first), each block mapped by `transform_fn`.

  parts: arrays [n_i, ...] (e.g. np.memmap of float32[n_i, C, H, W], or uint8 images).
  transform_fn: raw block [b, ...] -> float[b, D]; must act row by row (row i of the
  output depends only on row i of the input)."""

  def __init__(self, parts: Sequence[np.ndarray],
               transform_fn: Callable[[np.ndarray], np.ndarray], num_features: int,
               dtype=np.float32):
    self._parts = list(parts)
    self._transform_fn = transform_fn
    sizes = [int(p.shape[0]) for p in self._parts]
    self._starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    self.shape = (int(self._starts[-1]), int(num_features))
    self.dtype = np.dtype(dtype)
    self.ndim = 2

  @property
  def parts(self):
    """The stored blocks, as given (e.g. memory-mapped cache files)."""
    return list(self._parts)

  @property
  def size(self) -> int:
    return self.shape[0] * self.shape[1]

  @property
  def nbytes(self) -> int:
    """Bytes of the materialised array (what np.asarray would allocate)."""
    return self.size * self.dtype.itemsize

  def __len__(self) -> int:
    return self.shape[0]

  def __repr__(self) -> str:
    return (f'LazyRows(shape={self.shape}, dtype={self.dtype}, '
            f'parts={[int(p.shape[0]) for p in self._parts]})')

  def _block(self, part: int, rows) -> np.ndarray:
    raw = np.asarray(self._parts[part][rows])
    out = np.asarray(self._transform_fn(raw), self.dtype)
    return out.reshape(raw.shape[0], self.shape[1])

  def take(self, index) -> np.ndarray:
    """float[len(index), D]: the rows `index` (int array, any order, repeats allowed)."""
    index = np.asarray(index, np.int64).reshape(-1)
    if index.size and (index.min() < 0 or index.max() >= self.shape[0]):
      raise IndexError(f'row index out of range for {self.shape[0]} rows')
    out = np.empty((index.size, self.shape[1]), self.dtype)
    part_of = np.searchsorted(self._starts, index, side='right') - 1
    for part in np.unique(part_of):
      where = np.nonzero(part_of == part)[0]
      local = index[where] - self._starts[part]
      order = np.argsort(local, kind='stable')  # memmaps read fastest in order
      out[where[order]] = self._block(int(part), local[order])
    return out

  def __getitem__(self, key):
    """rows[i] -> float[D]; rows[a:b], rows[index], rows[mask] -> float[k, D]; a second
    index selects columns (rows[a:b, j])."""
    if isinstance(key, tuple):
      if len(key) != 2:
        raise IndexError(f'LazyRows takes at most 2 indices, got {len(key)}')
      rows, cols = key
    else:
      rows, cols = key, slice(None)
    index = np.arange(self.shape[0])[rows]
    out = self.take(np.atleast_1d(index))
    if np.ndim(index) == 0:
      out = out[0]
    return out[..., cols]

  def __array__(self, dtype=None, copy=None):
    if copy is False:
      raise ValueError('LazyRows has no array to view: its rows are computed on demand '
                       '(use np.asarray, which copies)')
    out = np.empty(self.shape, self.dtype)
    for lo in range(0, self.shape[0], READ_CHUNK):
      hi = min(lo + READ_CHUNK, self.shape[0])
      out[lo:hi] = self.take(np.arange(lo, hi))
    return out if dtype is None else out.astype(dtype, copy=False)
