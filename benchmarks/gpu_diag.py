"""Which integer paths are exact on this backend? Compares, on random inputs at the test
shapes: the dense int8 product against an int64 NumPy product, the packed product against
it, and the float32 reinforcement probability and Bernoulli mask against the NumPy
reference (tests/reference_impl.py). Prints one line per check."""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'tests'))
import reference_impl as ref  # noqa: E402
from bnnjax import bits, model, rng  # noqa: E402
from bnnjax.config import Config, HParams  # noqa: E402

print('backend', jax.default_backend(), jax.devices())
r = np.random.default_rng(0)
for (n, m, k) in [(45, 9, 12), (9, 45, 12), (9, 12, 6), (100, 1000, 135), (100, 135, 10)]:
  a = r.integers(-1, 2, (n, m)).astype(np.int8)
  b = r.integers(-1, 2, (n, k)).astype(np.int8)
  want = a.astype(np.int64).T @ b.astype(np.int64)
  for backend in ('dense', 'packed'):
    cfg = Config(layers=(12,), group_size=1, num_inputs=45, num_classes=3,
                 backend=backend)
    for jit in (False, True):
      f = (jax.jit(lambda x, y: model.product(x, y, n, cfg, True, True)) if jit else
           (lambda x, y: model.product(x, y, n, cfg, True, True)))
      got = np.asarray(f(jnp.asarray(a), jnp.asarray(b)))
      bad = int(np.sum(got != want))
      print(f'product {backend:6s} jit={jit!s:5s} n={n} {m}x{k}: {bad} wrong of {want.size}'
            + (f' (e.g. got {got[got != want][:3]} want {want[got != want][:3]})' if bad
               else ''))
key = jax.random.PRNGKey(11)
for prev in (0.0, 0.3, 0.77):
  for fan_in in (45, 12, 1000):
    host = np.float32(np.float32(np.float32(0.9) * np.sqrt(np.float32(1 - np.float32(prev)))
                                 ) * np.float32(np.sqrt(2.0 / (np.pi * fan_in))))
    for jit in (False, True):
      f = jax.jit(model.reinforce_prob, static_argnums=2) if jit else model.reinforce_prob
      p = np.float32(f(HParams(p_reinforce=0.9), jnp.float32(prev), fan_in))
      m_dev = np.asarray(rng.bernoulli_mask(key, jnp.float32(p), (45, 12)))
      m_ref = ref.bernoulli_mask(key, host, (45, 12))
      print(f'reinforce_prob jit={jit!s:5s} prev={prev} fan_in={fan_in}: device {p!r} host '
            f'{host!r} equal={p == host}; mask diffs {int(np.sum(m_dev != m_ref))}')
