"""Fast keyed Bernoulli masks for the reinforcement step (algorithm.md step 7).

Reinforcement draws one Bernoulli(p_l) per hidden weight per step: 135,000 draws per
step for a 1000 -> 135 layer. Threefry (`jax.random.bits`) costs about 2 ms for that on a
2-core CPU, which alone would take ~20x the rest of the step (measured in
benchmarks/bench_train.py). bnnjax therefore draws two uint32 words per (step, layer)
from the JAX key and expands them with a counter-based integer hash (Wellons'
"lowbias32", applied twice with the two key words), at ~0.1 ms. The mask is a pure
function of (key, shape, p): the tests recompute it in NumPy bit for bit.

An entry is selected when hash(index) < floor(p * 2^32) (p is quantised to 2^-32).

`permutation` is `jax.random.permutation` of a vector, bit for bit, with a faster sort
on CPU (the epoch shuffle of every run).
"""

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np


def _lowbias32(x):
  x = x ^ (x >> 16)
  x = x * jnp.uint32(0x7FEB352D)
  x = x ^ (x >> 15)
  x = x * jnp.uint32(0x846CA68B)
  return x ^ (x >> 16)


def hash_bits(key: jax.Array, shape) -> jax.Array:
  """uint32[shape] of keyed pseudo-random bits; a pure function of (key, shape)."""
  seed = jax.random.bits(key, (2,), jnp.uint32)
  size = int(np.prod(shape))
  idx = jnp.arange(size, dtype=jnp.uint32).reshape(shape)
  return _lowbias32(_lowbias32(idx ^ seed[0]) + seed[1])


def threshold(p: jax.Array) -> jax.Array:
  """floor(p * 2^32) as uint32 for p in [0, 1); p >= 1 gives 2^32 - 1.

  p is float32, so p * 2^32 is an exact power-of-two scaling and the conversion
  truncates toward zero (= floor)."""
  p = jnp.clip(jnp.asarray(p, jnp.float32), 0.0, 1.0)
  scaled = p * jnp.float32(4294967296.0)
  return jnp.where(p >= 1.0, jnp.uint32(0xFFFFFFFF),
                   jnp.minimum(scaled, jnp.float32(4294967040.0)).astype(jnp.uint32))


def bernoulli_mask(key: jax.Array, p: jax.Array, shape) -> jax.Array:
  """bool[shape], each entry independently True with probability p."""
  return hash_bits(key, shape) < threshold(p)


def permutation(key: jax.Array, x: jax.Array) -> jax.Array:
  """`jax.random.permutation(key, x)` of a 1-D array x, bit for bit (tested).

  The same rounds as JAX's shuffle (ceil(3 ln n / ln(2^32 - 1)) rounds, each a stable
  sort of x by fresh uint32 keys), each sort done by `stable_sort_by`."""
  x = jnp.asarray(x)
  if x.ndim != 1:
    raise ValueError(f'permutation: x must be 1-D, got shape {x.shape}')
  n = x.shape[0]
  num_rounds = int(np.ceil(3 * np.log(max(1, n)) / np.log(np.iinfo(np.uint32).max)))
  for _ in range(num_rounds):
    key, subkey = jax.random.split(key)
    x = stable_sort_by(jax.random.bits(subkey, (n,), jnp.uint32), x)
  return x


def stable_sort_by(keys: jax.Array, values: jax.Array) -> jax.Array:
  """values (1-D) in the order of a stable ascending sort of keys: uint32[n]; equal to
  `lax.sort_key_val(keys, values)[1]`.

  A stable sort by key is the sort of the distinct uint64 numbers key * 2^32 + index,
  one array with the default order, which XLA:CPU sorts without calling a compiled
  comparator per comparison: 4.5x faster than the key-value sort at 5 x 10,000
  entries. The uint64 arithmetic is traced with 64-bit types enabled locally. TPUs
  (64-bit integers emulated there, unmeasured) keep the key-value sort."""
  n = keys.shape[0]
  if n >= 2**32:
    return lax.sort_key_val(keys, values)[1]

  def by_uint64(keys, values):
    with jax.enable_x64(True):
      both = (keys.astype(jnp.uint64) << jnp.uint64(32)) | lax.iota(jnp.uint64, n)
      order = (lax.sort(both) & jnp.uint64(0xFFFFFFFF)).astype(jnp.int32)
    return jnp.take(values, order, unique_indices=True, mode='clip')

  return lax.platform_dependent(keys, values, tpu=lambda k, v: lax.sort_key_val(k, v)[1],
                                default=by_uint64)
