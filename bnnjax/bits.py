"""Bit packing and exact XNOR/AND/popcount products of ±1 and {-1, 0, +1} matrices.

This module is the one place where the bit convention of bnnjax is written down.

Convention
----------
A value v in {-1, 0, +1} is stored in two bit-planes, packed along one axis into uint32
words (element ``32 * k + i`` of that axis is bit ``i`` of word ``k``, least significant
first):

=====  ========  ==========
value  sign bit  nonzero bit
=====  ========  ==========
 +1       1          1
 -1       0          1
  0       0          0
 pad      0          0
=====  ========  ==========

Strictly binary data (``binary`` semantics, and the ±1 input data under both semantics)
needs only the sign plane; its nonzero plane is then ``None`` and padding bits are 0 in
the sign plane of *both* operands, so they agree and are subtracted away below.

Products (M, K rows of n values each, W = ceil(n / 32) words):

* both binary:  a·b = n − 2·popcount(a_s XOR b_s)
* ternary:      a·b = popcount(nz) − 2·popcount(nz AND (a_s XOR b_s)),
  nz = a_nz AND b_nz (or the one nonzero plane that exists).

The second form equals 2·popcount(nz AND XNOR(a_s, b_s)) − popcount(nz) of algorithm.md;
only XOR, AND and popcount are used. ``jnp.bitwise_count`` returns uint8, so counts are
widened to int32 before they are summed; words are unsigned so popcount never sees a sign.
"""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np

WORD_BITS = 32

# Words handled per scan iteration of `packed_dot`. On CPU, XLA materialises the
# broadcast XOR of shape (M, K, W) when W is large; scanning over chunks of a few words
# with an int32 (M, K) carry keeps the working set in cache (see benchmarks/).
WORD_CHUNK = 4


class Packed(NamedTuple):
  """A matrix of {-1, 0, +1} values packed along its last axis.

  sign: uint32[..., W] — bit set where the value is +1.
  nz:   uint32[..., W] or None — bit set where the value is nonzero; None means every
        real (non-padding) element is ±1.
  """
  sign: jax.Array
  nz: Optional[jax.Array]


def num_words(n: int) -> int:
  """Number of uint32 words holding n bits."""
  return -(-int(n) // WORD_BITS)


def _pack_bool(bits: jax.Array) -> jax.Array:
  """bool[..., n] -> uint32[..., ceil(n/32)], element 32k+i at bit i of word k."""
  n = bits.shape[-1]
  w = num_words(n)
  pad = w * WORD_BITS - n
  if pad:
    bits = jnp.pad(bits, [(0, 0)] * (bits.ndim - 1) + [(0, pad)])
  bits = bits.reshape(bits.shape[:-1] + (w, WORD_BITS)).astype(jnp.uint32)
  shifts = jnp.arange(WORD_BITS, dtype=jnp.uint32)
  # Bits are disjoint, so a sum is an OR.
  return jnp.sum(bits << shifts, axis=-1, dtype=jnp.uint32)


def pack(values: jax.Array, ternary: bool = True) -> Packed:
  """Packs an int array of {-1, 0, +1} (or ±1) values along its last axis.

  Args:
    values: integer or float array [..., n]; only the sign of each entry is read.
    ternary: whether zeros may occur. If False the nonzero plane is omitted and every
      entry must be ±1 (a 0 would be read as −1).
  """
  sign = _pack_bool(values > 0)
  nz = _pack_bool(values != 0) if ternary else None
  return Packed(sign, nz)


def unpack(words: jax.Array, n: int, nz: Optional[jax.Array] = None) -> jax.Array:
  """Inverse of `pack`: uint32[..., W] planes -> int8[..., n] in {-1, 0, +1}."""
  shifts = jnp.arange(WORD_BITS, dtype=jnp.uint32)
  bits = (words[..., None] >> shifts) & jnp.uint32(1)
  bits = bits.reshape(words.shape[:-1] + (-1,))[..., :n].astype(jnp.int8)
  vals = 2 * bits - 1
  if nz is not None:
    nzb = (nz[..., None] >> shifts) & jnp.uint32(1)
    vals = vals * nzb.reshape(nz.shape[:-1] + (-1,))[..., :n].astype(jnp.int8)
  return vals


def pack_numpy(values: np.ndarray) -> np.ndarray:
  """Host-side packing of a ±1 array [..., n] into uint32[..., W] (sign plane only).

  Used to pack data sets once on the host; same convention as `pack`.
  """
  values = np.asarray(values)
  n = values.shape[-1]
  w = num_words(n)
  bits = np.zeros(values.shape[:-1] + (w * WORD_BITS,), dtype=np.uint8)
  bits[..., :n] = values > 0
  bits = bits.reshape(values.shape[:-1] + (w, WORD_BITS)).astype(np.uint32)
  return np.bitwise_or.reduce(bits << np.arange(WORD_BITS, dtype=np.uint32), axis=-1)


def _popcount(x: jax.Array) -> jax.Array:
  return jnp.bitwise_count(x).astype(jnp.int32)


def _dot_words(a: Packed, b: Packed, n: int) -> jax.Array:
  """Unchunked product over all words: (M, W) x (K, W) -> (M, K) int32."""
  xor = a.sign[:, None, :] ^ b.sign[None, :, :]
  if a.nz is None and b.nz is None:
    return n - 2 * jnp.sum(_popcount(xor), axis=-1)
  if a.nz is None:
    nz = jnp.broadcast_to(b.nz[None, :, :], xor.shape)
  elif b.nz is None:
    nz = jnp.broadcast_to(a.nz[:, None, :], xor.shape)
  else:
    nz = a.nz[:, None, :] & b.nz[None, :, :]
  return jnp.sum(_popcount(nz) - 2 * _popcount(nz & xor), axis=-1)


def packed_dot(a: Packed, b: Packed, n: int, word_chunk: int = WORD_CHUNK) -> jax.Array:
  """Exact integer product a @ b.T of packed {-1, 0, +1} matrices.

  Args:
    a: Packed with planes uint32[M, W].
    b: Packed with planes uint32[K, W].
    n: number of real (non-padding) elements per row.
    word_chunk: words per scan iteration (a CPU cache-locality knob; any value gives
      the same result).

  Returns:
    int32[M, K] with entry (m, k) = sum_i a[m, i] * b[k, i].
  """
  w = a.sign.shape[-1]
  if w != b.sign.shape[-1]:
    raise ValueError(f'word counts differ: {w} vs {b.sign.shape[-1]}')
  if w <= word_chunk:
    return _dot_words(a, b, n)
  # Split words into chunks and scan; the binary formula's `n` is applied once at the end.
  num_chunks = -(-w // word_chunk)
  pad = num_chunks * word_chunk - w

  def chunks(x):
    if x is None:
      return None
    x = jnp.pad(x, ((0, 0), (0, pad)))  # zero words: sign 0 on both sides, nz 0
    return x.reshape(x.shape[0], num_chunks, word_chunk).transpose(1, 0, 2)

  binary = a.nz is None and b.nz is None
  xs = (chunks(a.sign), chunks(a.nz), chunks(b.sign), chunks(b.nz))

  def body(acc, x):
    a_s, a_nz, b_s, b_nz = x
    part = _dot_words(Packed(a_s, a_nz), Packed(b_s, b_nz), 0)
    return acc + part, None

  init = jnp.zeros((a.sign.shape[0], b.sign.shape[0]), jnp.int32)
  acc, _ = lax.scan(body, init, xs)
  return acc + n if binary else acc
