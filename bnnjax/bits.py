"""Bit packing and exact XNOR/AND/popcount products of ±1 and {-1, 0, +1} matrices.

This module is the one place where the bit convention of bnnjax is written down.

Values
------
A value v in {-1, 0, +1} is stored in two bit-planes of uint32 words:

=====  ========  ==========
value  sign bit  nonzero bit
=====  ========  ==========
 +1       1          1
 -1       0          1
  0       0          0
 pad      0          0
=====  ========  ==========

Strictly binary data (``binary`` semantics, and the ±1 input data under both semantics)
needs only the sign plane; its nonzero plane is then ``None``. Padding bits are 0 in
every plane of *both* operands, so they always agree and are subtracted away below.

Layout (word-major, "strided")
------------------------------
A vector of n values uses W = ceil(n / 32) words; element ``e`` is bit ``e // W`` of word
``e % W``. Packing along axis 0 of an [n, K] array gives planes of shape [W, K]: the 32
bit positions are a leading axis, so packing, unpacking and the products below vectorise
over the K columns (the contiguous axis) instead of over 32 bits inside one word. Host
data pools are stored sample-major, uint32[num_samples, W], with the same in-row layout.

Products (a: [W, M], b: [W, K] planes over the same n elements)
----------------------------------------------------------------
* both binary:  a·b = n − 2·popcount(a_s XOR b_s)
* ternary:      a·b = popcount(nz AND NOT x) − popcount(nz AND x), x = a_s XOR b_s,
  nz = a_nz AND b_nz (or the one nonzero plane that exists).
* one side ternary, nz its plane: a·b = popcount(nz) − 2·popcount(nz AND x), with
  popcount(nz) summed per vector of that side only (one popcount per word and pair).

The second form equals 2·popcount(nz AND XNOR(a_s, b_s)) − popcount(nz) of algorithm.md
(the two popcounts sum to popcount(nz)); only XOR, AND, NOT and popcount are used.
``jnp.bitwise_count`` returns uint8, so counts are
widened to int32 before they are summed; words are unsigned so popcount never sees a sign.
"""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np

WORD_BITS = 32

# Words per scan iteration of `packed_dot` (at least; see there). Words inside an
# iteration are unrolled into one elementwise fusion over [M, K] (nothing of shape
# [M, K, W] is materialised). The scan keeps XLA on CPU from fusing (and so duplicating)
# the operands' packing into the product: operands read inside a loop body are
# materialised once. XLA:CPU (jax 0.10) vectorised the body well for iterations of 16
# words, but for 4-12 words it fused the loop's dynamic slice of the operands into the
# body and the forward product ran 3-8x slower: 400-500 G bit-MACs/s on one Sapphire
# Rapids core against 60-70 G (benchmarks/bench_perf.py).
WORD_CHUNK = 16
# Iterations of 3 to WORD_CHUNK - 1 words were the slow case above (with 512-bit
# vectors even 9 words: 5x slower than 1 word per iteration at W = 17), so products
# whose iterations would fall in that range take one word per iteration instead; up to
# 2 words (the update's batch axis of 100 samples) stay as they are.
SMALL_CHUNK_MIN = 2


class Packed(NamedTuple):
  """A matrix of {-1, 0, +1} values packed along axis 0.

  sign: uint32[W, ...] — bit set where the value is +1.
  nz:   uint32[W, ...] or None — bit set where the value is nonzero; None means every
        real (non-padding) element is ±1.
  """
  sign: jax.Array
  nz: Optional[jax.Array]


def num_words(n: int) -> int:
  """Number of uint32 words holding n bits."""
  return -(-int(n) // WORD_BITS)


def _fold_bytes(code: jax.Array, axis: int, group: int = 8):
  """Unsigned code[..., n (at `axis`), ...] (one bit per value in every field of `group`
  bits) -> [..., 32 / group, W, ...]: field k of entry j of word w holds bits
  group * j + k of the word (row (group * j + k) * W + w), for every field of the code's
  dtype at once (group 8: every byte; group 4: both nibbles of a byte)."""
  n = code.shape[axis]
  w = num_words(n)
  pad = w * WORD_BITS - n
  if pad:
    widths = [(0, 0)] * code.ndim
    widths[axis] = (0, pad)
    code = jnp.pad(code, widths)
  lead = (slice(None),) * axis
  # Fold halves of the `group` bit positions (after the fold of width h, entry k holds
  # bits k, k + h, ... already shifted to their places; shifts by at most group - 1 keep
  # the fields apart). Each step is an elementwise fusion with few HLO ops; the
  # intermediates are bytes, 4x less memory traffic than folding in uint32 (3-10x faster
  # on CPU).
  b = code.reshape(code.shape[:axis] + (WORD_BITS // group, group, w)
                   + code.shape[axis + 1:])
  half = group // 2
  while half >= 1:
    b = (b[lead + (slice(None), slice(0, half))]
         | (b[lead + (slice(None), slice(half, 2 * half))] << half))
    half //= 2
  return b[lead + (slice(None), 0)]


def _join_bytes(b: jax.Array, axis: int, group: int = 8) -> jax.Array:
  """[..., 32 / group fields (at `axis`), W, ...] (values < 2**group) -> uint32 words
  [..., W, ...]: field j gives bits group * j ... group * j + group - 1."""
  lead = (slice(None),) * axis
  b = b.astype(jnp.uint32)
  word = b[lead + (0,)]
  for j in range(1, WORD_BITS // group):
    word = word | (b[lead + (j,)] << (group * j))
  return word


def _pack_bool(bits: jax.Array, axis: int = 0) -> jax.Array:
  """bool[..., n (at `axis`), ...] -> uint32 with W words at `axis`: element e at bit
  e // W of word e % W."""
  axis = axis % bits.ndim
  return _join_bytes(_fold_bytes(bits.astype(jnp.uint8), axis), axis)


def _pack_pair(lo: jax.Array, hi: jax.Array, axis: int = 0):
  """(_pack_bool(lo, axis), _pack_bool(hi, axis)) in one pass over the values: the two
  bits of an entry travel in one byte (lo in bit 0, hi in bit 4) through folds of 4 bit
  positions per byte (`_fold_bytes` with nibbles), so the values are read once and the
  intermediates are as small as those of one plane. Whole runs under `reference` on CPU,
  A/B against the former uint16 code (bits 0 and 8, folds of 8): 1035 x 5 net 6-9%
  faster, 9,216-input 1035-1035 net 9%, 525-525 3%, 135-135 the same."""
  axis = axis % lo.ndim
  b = _fold_bytes(lo.astype(jnp.uint8) | (hi.astype(jnp.uint8) << 4), axis, group=4)
  return (_join_bytes(b & jnp.uint8(0xF), axis, group=4),
          _join_bytes(b >> 4, axis, group=4))


def pack(values: jax.Array, ternary: bool = True) -> Packed:
  """Packs {-1, 0, +1} (or ±1) values along axis 0: [n, ...] -> planes uint32[W, ...].

  Args:
    values: integer or float array [n, ...]; only the sign of each entry is read.
    ternary: whether zeros may occur. If False the nonzero plane is omitted and every
      entry must be ±1 (a 0 would be read as −1).
  """
  if ternary:
    return Packed(*_pack_pair(values > 0, values != 0))
  return Packed(_pack_bool(values > 0), None)


def pack_rows(values: jax.Array, ternary: bool = True) -> Packed:
  """`pack(values.T)` for values [K, n] (K vectors as rows), without transposing the
  [K, n] array: it is packed along its contiguous axis, and only the packed words
  [K, W] (32x fewer) are transposed to planes [W, K]."""
  if ternary:
    sign, nz = _pack_pair(values > 0, values != 0, axis=1)
    return Packed(sign.T, nz.T)
  return Packed(_pack_bool(values > 0, axis=1).T, None)


def _unpack_bits(words: jax.Array, n: int) -> jax.Array:
  shifts = jnp.arange(WORD_BITS, dtype=jnp.uint32).reshape((WORD_BITS,) + (1,) * words.ndim)
  b = (words[None] >> shifts) & jnp.uint32(1)  # [32, W, ...]
  return b.reshape((-1,) + words.shape[1:])[:n].astype(jnp.int8)


def unpack(words: jax.Array, n: int, nz: Optional[jax.Array] = None) -> jax.Array:
  """Inverse of `pack`: planes uint32[W, ...] -> int8[n, ...] in {-1, 0, +1}."""
  vals = 2 * _unpack_bits(words, n) - 1
  if nz is not None:
    vals = vals * _unpack_bits(nz, n)
  return vals


def unpack_rows(words: jax.Array, n: int) -> jax.Array:
  """Sample-major unpacking of ±1 rows: uint32[R, W] -> int8[R, n] (bits.py layout)."""
  shifts = jnp.arange(WORD_BITS, dtype=jnp.uint32)[None, :, None]
  b = (words[:, None, :] >> shifts) & jnp.uint32(1)  # [R, 32, W]: element i * W + k
  return (2 * b.reshape(words.shape[0], -1)[:, :n].astype(jnp.int8) - 1)


def transpose_rows(words: jax.Array, n: int) -> Packed:
  """`pack(unpack_rows(words, n))` for sample-major ±1 rows uint32[R, W]: the sign plane
  [ceil(R / 32), n] of the R samples packed along the sample axis (the update's
  batch-axis operand), taken from the packed rows without unpacking them to one byte
  per value first. Sample r of column f is bit f // W of row word f % W; it goes to bit
  r // V of word r % V, V = ceil(R / 32)."""
  r, w = words.shape
  v = num_words(r)
  rows = jnp.pad(words, ((0, v * WORD_BITS - r), (0, 0)))  # padding samples: 0 bits
  rows = rows.reshape(WORD_BITS, v, 1, w)  # [j, word u, 1, row word]: sample j * V + u
  q = jnp.arange(WORD_BITS, dtype=jnp.uint32).reshape(1, 1, WORD_BITS, 1)
  bit = ((rows >> q) & jnp.uint32(1)).astype(jnp.uint8)  # [j, u, q, p]: f = q * W + p
  planes = _pack_bool(bit.astype(bool), axis=0)[0]  # [V, 32, W]: words over j
  return Packed(planes.reshape(v, WORD_BITS * w)[:, :n], None)


def pack_numpy(values: np.ndarray) -> np.ndarray:
  """Host-side packing of ±1 rows: [num_samples, n] -> uint32[num_samples, W].

  The in-row layout is the one of `pack` (element e at bit e // W of word e % W), so
  ``pack_numpy(x)[i] == pack(x[i])`` and ``pack_numpy(x).T == pack(x.T).sign``."""
  values = np.asarray(values)
  rows, n = values.shape
  w = num_words(n)
  bits = np.zeros((rows, w * WORD_BITS), dtype=np.uint32)
  bits[:, :n] = values > 0
  bits = bits.reshape(rows, WORD_BITS, w)
  shifts = np.arange(WORD_BITS, dtype=np.uint32)[None, :, None]
  return np.bitwise_or.reduce(bits << shifts, axis=1)


def _popcount(x: jax.Array) -> jax.Array:
  return jnp.bitwise_count(x).astype(jnp.int32)


def _word_terms(a: Packed, b: Packed, lo: int, hi: int, acc, mult: int = 1,
                count=None):
  """Adds words lo..hi-1 of the product to the accumulator acc: int32[M, K].

  Each word is an [M, K] outer operation, so XLA vectorises along K (the contiguous
  axis). With a nonzero plane (either operand ternary) the accumulator holds the
  product itself: per word popcount(nz AND NOT x) - popcount(nz AND x), x = a_s XOR b_s,
  nz the AND of the nonzero planes that exist. One accumulator means one fusion and one
  [M, K] array per loop iteration, and no separate nonzero count (whose reduction XLA
  fused with the packing, redoing it). Both binary: it holds popcount(x). Each word's
  term is multiplied by `mult` (a Python int) before it is added.

  count (one operand ternary, `packed_dot` without init): a second carry, [1, K] or
  [M, 1], of the popcounts of the one nonzero plane; acc then holds popcount(nz AND x)
  only (one popcount per word instead of two) and the product is count - 2 acc. The
  count is summed inside the loop, from the words the loop reads, so XLA does not fuse
  the operand's packing into it. Returns (acc, count) then, else acc."""
  for w in range(lo, hi):
    d = a.sign[w][:, None] ^ b.sign[w][None, :]
    if a.nz is None and b.nz is None:
      acc = acc + _times(_popcount(d), mult)
      continue
    if count is not None:
      nz = a.nz[w][:, None] if a.nz is not None else b.nz[w][None, :]
      acc = acc + _popcount(nz & d)
      count = count + _popcount(nz)
      continue
    if a.nz is not None and b.nz is not None:
      nz = a.nz[w][:, None] & b.nz[w][None, :]
    elif a.nz is not None:
      nz = a.nz[w][:, None]
    else:
      nz = b.nz[w][None, :]
    acc = acc + _times(_popcount(nz & ~d) - _popcount(nz & d), mult)
  return acc if count is None else (acc, count)


def _times(x: jax.Array, mult: int) -> jax.Array:
  return x if mult == 1 else x * jnp.int32(mult)


def packed_dot(a: Packed, b: Packed, n: int, word_chunk: int = WORD_CHUNK,
               init: Optional[jax.Array] = None, scale: int = 1) -> jax.Array:
  """Exact integer product a.T @ b of packed {-1, 0, +1} matrices.

  Args:
    a: Packed with planes uint32[W, M] (M vectors of n values, packed along axis 0).
    b: Packed with planes uint32[W, K].
    n: number of real (non-padding) elements per vector.
    word_chunk: words per scan iteration, at least (a CPU speed knob, see WORD_CHUNK;
      any value gives the same result).
    init: optional int32[M, K] the product is added to, `scale` times (a Python int):
      the loop accumulates into it, so no zero-filled accumulator and no separate sum
      pass (the update H + 2 S^T G of the rule). The caller keeps the sum in int32.

  Returns:
    int32[M, K] with entry (m, k) = init[m, k] + scale * sum_i a[i, m] * b[i, k]
    (init = 0 when not given).
  """
  w = a.sign.shape[0]
  if w != b.sign.shape[0] or w != num_words(n):
    raise ValueError(f'word counts differ: {w} vs {b.sign.shape[0]} for n = {n}')
  m, k = a.sign.shape[1], b.sign.shape[1]
  binary = a.nz is None and b.nz is None
  counted = init is None and (a.nz is None) != (b.nz is None)
  if init is None:
    acc, mult = jnp.zeros((m, k), jnp.int32), 1
  elif binary:  # the words give popcounts d of the product n - 2 d
    acc, mult = init.astype(jnp.int32) + jnp.int32(scale * n), -2 * scale
  else:
    acc, mult = init.astype(jnp.int32), scale
  if counted:  # carry (acc, count), see _word_terms
    acc = (acc, jnp.zeros((1, k) if b.nz is not None else (m, 1), jnp.int32))
  if w == 1:
    return _finish(_word_terms(a, b, 0, 1, *_carry(acc, mult)), n, binary, init, scale)
  # Always at least two loop iterations (XLA inlines single-trip loops), each of at
  # least word_chunk words when there are enough (floor division, see WORD_CHUNK).
  num_chunks = max(2, w // word_chunk)
  chunk = -(-w // num_chunks)
  if SMALL_CHUNK_MIN < chunk < word_chunk:  # see SMALL_CHUNK_MIN
    num_chunks, chunk = w, 1
  if num_chunks * chunk > w and w // num_chunks >= word_chunk:
    # The chunks would need padding words (e.g. 33 words in 2 chunks), that is a padded
    # copy of every operand per product. Instead the loop takes chunks of floor(w /
    # num_chunks) words straight from the operands (a dynamic slice per iteration) and
    # the last w mod num_chunks words start the accumulator: 1-3% of whole runs with
    # 1035-wide layers (33 words), the same bits.
    chunk = w // num_chunks
    acc = _word_terms(a, b, num_chunks * chunk, w, *_carry(acc, mult))

    def body(i, carry):
      part = lambda x: None if x is None else lax.dynamic_slice_in_dim(
          x, i * chunk, chunk, 0)
      return _word_terms(Packed(part(a.sign), part(a.nz)),
                         Packed(part(b.sign), part(b.nz)), 0, chunk,
                         *_carry(carry, mult))

    return _finish(lax.fori_loop(0, num_chunks, body, acc), n, binary, init, scale)
  pad = num_chunks * chunk - w  # zero words: sign 0 on both sides, nz 0

  def chunks(x):
    if x is None:
      return None
    x = jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1)) if pad else x
    return x.reshape((num_chunks, chunk) + x.shape[1:])

  def body(carry, xs):
    return _word_terms(Packed(xs[0], xs[1]), Packed(xs[2], xs[3]), 0, chunk,
                       *_carry(carry, mult)), None

  acc, _ = lax.scan(
      body, acc, (chunks(a.sign), chunks(a.nz), chunks(b.sign), chunks(b.nz)))
  return _finish(acc, n, binary, init, scale)


def _carry(acc, mult):
  """The (acc, mult, count) arguments of `_word_terms` from a loop carry: acc, or the
  pair (acc, count)."""
  return (acc[0], mult, acc[1]) if isinstance(acc, tuple) else (acc, mult, None)


def _finish(acc, n, binary, init, scale):
  if isinstance(acc, tuple):  # one-sided ternary: the product is count - 2 popcounts
    count, acc = acc[1], acc[0]
    return _times(count - 2 * acc, scale)
  if init is not None:  # acc already holds init + scale * product
    return acc
  return _times(n - 2 * acc if binary else acc, scale)


# ----------------------------------------------------------------------------------
# Integer-only scalar arithmetic (the conv rule's training step has no float: docs/conv.md)
# ----------------------------------------------------------------------------------


def fixed_fraction(num: jax.Array, den, frac_bits: int) -> jax.Array:
  """int32 floor(num * 2^frac_bits / den) for integers 0 <= num <= den < 2^30 (den a
  Python int or a traced integer; a traced 0 is read as 1), frac_bits <= 30, by binary
  long division in uint32 (no product can leave 32 bits: the remainder stays below
  den)."""
  if not 0 <= frac_bits <= 30 or (isinstance(den, int) and not 1 <= den < 2**30):
    raise ValueError(f'fixed_fraction needs 1 <= den < 2^30 and frac_bits <= 30, got '
                     f'{den}, {frac_bits}')
  num = jnp.asarray(num).astype(jnp.uint32)
  d = jnp.maximum(jnp.asarray(den), 1).astype(jnp.uint32)
  q = (num // d) << jnp.uint32(frac_bits)  # 0 or 2^frac_bits: num <= den
  r = num % d
  frac = jnp.zeros_like(r)
  for _ in range(frac_bits):
    r = r * jnp.uint32(2)
    bit = r >= d
    r = jnp.where(bit, r - d, r)
    frac = frac * jnp.uint32(2) + bit.astype(jnp.uint32)
  return (q + frac).astype(jnp.int32)


def isqrt(x: jax.Array) -> jax.Array:
  """uint32 floor(sqrt(x)) of uint32 x (digit-by-digit, 16 fixed rounds)."""
  x = jnp.asarray(x).astype(jnp.uint32)
  res = jnp.zeros_like(x)
  bit = jnp.uint32(1 << 30)
  for _ in range(16):
    t = res + bit
    ge = x >= t
    x = jnp.where(ge, x - t, x)
    res = jnp.where(ge, (res >> jnp.uint32(1)) + bit, res >> jnp.uint32(1))
    bit = bit >> jnp.uint32(2)
  return res


def mul_frac16(r_q: jax.Array, d: int) -> jax.Array:
  """int32 floor(r_q * d / 2^16) for an int32 r_q >= 0 and a Python int d >= 0, exact
  without 64-bit products: r_q = rh * 2^16 + rl, d = dh * 2^16 + dl gives
  rh * d + rl * dh + floor(rl * dl / 2^16), with rl * dl < 2^32 in uint32. The caller
  keeps the result below 2^31."""
  r = jnp.asarray(r_q).astype(jnp.uint32)
  rh, rl = r >> jnp.uint32(16), r & jnp.uint32(0xFFFF)
  dh, dl = jnp.uint32(d >> 16), jnp.uint32(d & 0xFFFF)
  return (rh * jnp.uint32(d) + rl * dh + ((rl * dl) >> jnp.uint32(16))).astype(jnp.int32)
