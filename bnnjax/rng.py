"""Fast keyed Bernoulli masks for the reinforcement step (algorithm.md step 7).

Reinforcement draws one Bernoulli(p_l) per hidden weight per step: 135,000 draws per
step for a 1000 -> 135 layer. Threefry (`jax.random.bits`) costs about 2 ms for that on a
2-core CPU, which alone would take ~20x the rest of the step (measured in
benchmarks/bench_train.py). bnnjax therefore draws two uint32 words per (step, layer)
from the JAX key and expands them with a counter-based integer hash (Wellons'
"lowbias32", applied twice with the two key words), at ~0.1 ms. The mask is a pure
function of (key, shape, p): the tests recompute it in NumPy bit for bit.

An entry is selected when hash(index) < floor(p * 2^32) (p is quantised to 2^-32).
"""

import jax
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
