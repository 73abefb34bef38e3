"""Bit packing and packed products against literal NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bnnjax import bits


def _ternary(rng, shape, p_zero):
  v = rng.choice([-1, 1], size=shape)
  return np.where(rng.random(shape) < p_zero, 0, v).astype(np.int8)


def test_truth_table_and_layout():
  # Element e of n = 40 values lives at bit e // W of word e % W (W = 2).
  vals = np.zeros(40, np.int8)
  vals[[0, 1, 3]] = [1, -1, 1]  # e=0 -> word 0 bit 0; e=1 -> word 1 bit 0; e=3 -> word 1 bit 1
  p = bits.pack(jnp.asarray(vals)[:, None])
  assert p.sign.shape == (2, 1) and p.sign.dtype == jnp.uint32
  assert np.asarray(p.sign)[:, 0].tolist() == [0b1, 0b10]  # +1 bits only
  assert np.asarray(p.nz)[:, 0].tolist() == [0b1, 0b11]  # nonzero bits
  # -1 -> sign 0 nz 1; 0 -> sign 0 nz 0; padding (e >= 40) -> 0 in both planes.
  assert (np.asarray(p.sign)[:, 0] >> 8).tolist() == [0, 0]


@pytest.mark.parametrize('n', [1, 31, 32, 33, 100, 1000])
def test_pack_unpack_roundtrip(n):
  rng = np.random.default_rng(n)
  v = _ternary(rng, (n, 3), 0.2)
  pm1 = np.where(v >= 0, 1, -1).astype(np.int8)
  host = bits.pack_numpy(pm1.T)  # sample-major rows

  @jax.jit  # one program per n (eager, each primitive would compile on its own)
  def device(v, pm1, host):
    p = bits.pack(v)
    return (bits.unpack(p.sign, n, p.nz), bits.pack(pm1, False).sign,
            bits.unpack_rows(host, n))

  unpacked, packed_pm1, rows = device(jnp.asarray(v), jnp.asarray(pm1), jnp.asarray(host))
  np.testing.assert_array_equal(np.asarray(unpacked), v)
  np.testing.assert_array_equal(host.T, np.asarray(packed_pm1))
  np.testing.assert_array_equal(np.asarray(rows), pm1.T)


@pytest.mark.parametrize('n,word_chunk', [(5, 4), (64, 4), (100, 4), (1000, 4), (1000, 3),
                                          (300, 32), (150, 2)])
@pytest.mark.parametrize('a_ternary,b_ternary', [(False, False), (False, True),
                                                 (True, False), (True, True)])
def test_packed_dot_matches_integer_matmul(n, word_chunk, a_ternary, b_ternary):
  rng = np.random.default_rng(n + 7 * word_chunk)
  a = _ternary(rng, (n, 7), 0.3 if a_ternary else 0.0)
  b = _ternary(rng, (n, 5), 0.3 if b_ternary else 0.0)
  expect = a.astype(np.int64).T @ b.astype(np.int64)
  fn = lambda a, b: bits.packed_dot(bits.pack(a, a_ternary), bits.pack(b, b_ternary), n,
                                    word_chunk)
  np.testing.assert_array_equal(np.asarray(jax.jit(fn)(jnp.asarray(a), jnp.asarray(b))),
                                expect)
  if (n, word_chunk) == (100, 4):  # eager (op by op) too, for every operand kind: each
    # primitive compiles on its own, ~45 programs per shape, so one shape only
    np.testing.assert_array_equal(np.asarray(fn(jnp.asarray(a), jnp.asarray(b))), expect)


def test_packed_dot_extremes():
  n = 70
  ones = np.ones((n, 2), np.int8)
  for a, b, expect in [(ones, ones, n), (ones, -ones, -n), (0 * ones, ones, 0)]:
    out = bits.packed_dot(bits.pack(jnp.asarray(a)), bits.pack(jnp.asarray(b)), n)
    assert out.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(out), np.full((2, 2), expect))


def test_word_count_mismatch_raises():
  p = bits.pack(jnp.ones((40, 1), jnp.int8))
  with pytest.raises(ValueError, match='word counts'):
    bits.packed_dot(p, p, 100)


@pytest.mark.parametrize('n', [1, 31, 33, 100])
@pytest.mark.parametrize('ternary', [False, True])
def test_pack_rows_is_pack_of_the_transpose(n, ternary):
  rng = np.random.default_rng(n)
  v = _ternary(rng, (5, n), 0.3 if ternary else 0.0)  # 5 vectors as rows
  want = bits.pack(jnp.asarray(v.T), ternary)
  got = jax.jit(lambda x: bits.pack_rows(x, ternary))(jnp.asarray(v))
  np.testing.assert_array_equal(np.asarray(got.sign), np.asarray(want.sign))
  assert (got.nz is None) == (not ternary)
  if ternary:
    np.testing.assert_array_equal(np.asarray(got.nz), np.asarray(want.nz))


@pytest.mark.parametrize('w,word_chunk', [(2, 16), (5, 16), (17, 16), (32, 16), (33, 16),
                                          (72, 16), (100, 16), (40, 5)])
def test_packed_dot_scan_blocks(w, word_chunk):
  # Word counts that give one, two and many scan blocks, evenly divided or not (33 and
  # 100 words: chunks of 16 and the last words before the loop), for the both-ternary
  # and one-sided ternary forms.
  n = 32 * w - 7
  rng = np.random.default_rng(w)
  a = _ternary(rng, (n, 3), 0.1)
  b = _ternary(rng, (n, 4), 0.1)
  a_pm = np.where(a >= 0, 1, -1).astype(np.int8)
  for x, xt in [(a, True), (a_pm, False)]:
    expect = x.astype(np.int64).T @ b.astype(np.int64)
    out = jax.jit(lambda x, y: bits.packed_dot(bits.pack(x, xt), bits.pack(y, True), n,
                                                word_chunk))(jnp.asarray(x), jnp.asarray(b))
    np.testing.assert_array_equal(np.asarray(out), expect)


@pytest.mark.parametrize('n', [1, 8, 31, 33, 100, 1000])
def test_ternary_planes_are_numpy_packings_of_sign_and_nonzero(n):
  # Both planes come out of one pass (`_pack_pair`); each must equal the host packing
  # of its own bit (+1 where the bit is set), along both axes.
  rng = np.random.default_rng(n + 1)
  v = _ternary(rng, (n, 6), 0.4)
  want_sign = bits.pack_numpy(np.where(v.T > 0, 1, -1)).T
  want_nz = bits.pack_numpy(np.where(v.T != 0, 1, -1)).T
  p = jax.jit(bits.pack)(jnp.asarray(v))
  np.testing.assert_array_equal(np.asarray(p.sign), want_sign)
  np.testing.assert_array_equal(np.asarray(p.nz), want_nz)
  r = jax.jit(bits.pack_rows)(jnp.asarray(v.T))
  np.testing.assert_array_equal(np.asarray(r.sign), want_sign)
  np.testing.assert_array_equal(np.asarray(r.nz), want_nz)


# 1, 4, 32 words; 5 words in 2 chunks of 2 and 1 word before the loop (no padding copy)
@pytest.mark.parametrize('n,word_chunk', [(20, 16), (100, 16), (1000, 3), (150, 2)])
@pytest.mark.parametrize('a_ternary,b_ternary', [(False, False), (False, True),
                                                 (True, True)])
@pytest.mark.parametrize('scale', [2, -3])  # scale 1 without init: the tests above
def test_packed_dot_accumulates_into_init(n, word_chunk, a_ternary, b_ternary, scale):
  rng = np.random.default_rng(n + scale)
  a = _ternary(rng, (n, 7), 0.3 if a_ternary else 0.0)
  b = _ternary(rng, (n, 5), 0.3 if b_ternary else 0.0)
  init = rng.integers(-2**30 + 1, 2**30 - 1, (7, 5)).astype(np.int32)
  init[0, 0], init[1, 1] = 2**30 - 1, -(2**30 - 1)  # MAX_WEIGHT: partial sums fit int32
  product = a.astype(np.int64).T @ b.astype(np.int64)
  fn = jax.jit(lambda a, b, i: bits.packed_dot(bits.pack(a, a_ternary),
                                               bits.pack(b, b_ternary), n, word_chunk,
                                               init=i, scale=scale))
  got = fn(jnp.asarray(a), jnp.asarray(b), jnp.asarray(init))
  assert got.dtype == jnp.int32
  np.testing.assert_array_equal(np.asarray(got), init + scale * product)
  no_init = jax.jit(lambda a, b: bits.packed_dot(bits.pack(a, a_ternary),
                                                 bits.pack(b, b_ternary), n, word_chunk,
                                                 scale=scale))
  np.testing.assert_array_equal(np.asarray(no_init(jnp.asarray(a), jnp.asarray(b))),
                                scale * product)


@pytest.mark.parametrize('rows,n', [(100, 1000), (1, 7), (37, 33), (64, 45), (5, 300)])
def test_transpose_rows_is_pack_of_unpacked_rows(rows, n):
  rng = np.random.default_rng(rows * 1000 + n)
  x = rng.choice([-1, 1], (rows, n)).astype(np.int8)
  words = jnp.asarray(bits.pack_numpy(x))
  got = jax.jit(bits.transpose_rows, static_argnums=1)(words, n)
  assert got.nz is None
  want = bits.pack_numpy(x.T).T  # literal NumPy: the samples packed per feature
  np.testing.assert_array_equal(np.asarray(got.sign), want)
