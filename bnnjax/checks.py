"""Host-side checks of a call's inputs, run before anything is compiled: seeds and PRNG
keys, data pools (features and labels) and packed ±1 data against a network's config.

Every check raises ValueError with one line that names the argument (and its flag)."""

import jax
import numpy as np

from bnnjax import bits
from bnnjax.engine import Data


MAX_SEED = 2**32 - 1  # PRNGKey keeps 32 bits without x64: larger seeds would alias


def seed_keys(seed: int, num_seeds: int) -> jax.Array:
  """uint32[S, 2]: run k gets PRNGKey(seed + k) (the paper's runs use 42 + k).

  Seeds must lie in [0, MAX_SEED]: without x64 mode PRNGKey keeps 32 bits, so -1 or
  2^32 would silently train with another seed than the one recorded."""
  check_seeds(seed, num_seeds)
  if jax.config.jax_default_prng_impl == 'threefry2x32':
    # A threefry PRNGKey(s) is the pair (s >> 32, s & 0xFFFFFFFF), here (0, s): built on
    # the host (tested equal), without the small programs jax.random.PRNGKey, jnp.stack
    # and jnp.asarray compile first (0.1 s of the default job's start).
    s = np.arange(seed, seed + num_seeds, dtype=np.uint64)
    return jax.device_put(np.stack([s >> np.uint64(32), s & np.uint64(0xFFFFFFFF)],
                                   axis=1).astype(np.uint32))
  import jax.numpy as jnp
  return jnp.stack([jax.random.PRNGKey(seed + k) for k in range(num_seeds)])


def check_seeds(seed, num_seeds) -> None:
  """ValueError unless seed, ..., seed + num_seeds - 1 are integers in [0, MAX_SEED]."""
  for name, v in (('seed', seed), ('num_seeds', num_seeds)):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
      raise ValueError(f'{name} (--{name}) must be an integer, got {v!r}')
  if num_seeds < 1:
    raise ValueError(f'num_seeds (--num_seeds) must be >= 1, got {num_seeds}')
  if not 0 <= seed or seed + num_seeds - 1 > MAX_SEED:
    raise ValueError(f'seed (--seed) must be in [0, {MAX_SEED - num_seeds + 1}] so that '
                     f'seeds seed .. seed + {num_seeds - 1} fit PRNGKey\'s 32 bits, got '
                     f'{seed}')


def check_keys(keys) -> np.ndarray:
  """uint32[S, 2] (or [2]) PRNG keys as from `seed_keys`; ValueError otherwise."""
  a = np.asarray(keys)
  if a.dtype.kind not in 'iu' or a.ndim not in (1, 2) or a.shape[-1] != 2 or (
      a.ndim == 2 and a.shape[0] < 1):
    raise ValueError(f'keys must be uint32[S, 2] or uint32[2] PRNG keys (see '
                     f'bnnjax.seed_keys), got {a.dtype}{list(a.shape)}')
  if a.size and (a.min() < 0 or a.max() > MAX_SEED):
    raise ValueError('keys must hold uint32 values (see bnnjax.seed_keys)')
  return a.astype(np.uint32)


def _check_labels(y: np.ndarray) -> None:
  if y.dtype.kind not in 'iu':
    raise ValueError(f'labels (data.y) must be integers, got {y.dtype} (float labels '
                     f'would be truncated silently)')


def check_pool(x: np.ndarray, y: np.ndarray, num_test: int,
               train_divisor: int = 1) -> None:
  """Host-side validation of any pool (x: [n, ...] features, y: int[n] labels)."""
  _check_labels(y)
  if x.ndim != 2:
    raise ValueError(f'data.x must be 2-D [n, features], got shape {list(x.shape)}')
  if y.shape != (x.shape[0],):
    raise ValueError(f'data.y must have shape [{x.shape[0]}], got {list(y.shape)}')
  if y.size and y.min() < 0:
    raise ValueError(f'labels must be >= 0, got {y.min()}')
  if not 1 <= num_test < x.shape[0]:
    raise ValueError(f'num_test must be in [1, {x.shape[0] - 1}] for a pool of '
                     f'{x.shape[0]} samples, got {num_test}')
  if (x.shape[0] - num_test) // train_divisor < 1:
    raise ValueError(f'a 1/{train_divisor} subset of {x.shape[0] - num_test} training '
                     f'samples is empty')


def check_packed_data(data: Data, config) -> None:
  """Host-side validation of a packed ±1 pool against a binary network's config
  (num_inputs, num_classes, num_test), before any compile."""
  x, y = np.asarray(data.x), np.asarray(data.y)
  _check_labels(y)
  if x.ndim != 2 or x.dtype != np.uint32:
    raise ValueError(f'data.x must be uint32[n, W] packed bits, got {x.dtype}{list(x.shape)}')
  if x.shape[1] != bits.num_words(config.num_inputs):
    raise ValueError(
        f'data has {x.shape[1]} words per sample but the network expects '
        f'{config.num_inputs} inputs ({bits.num_words(config.num_inputs)} words)')
  if y.shape != (x.shape[0],):
    raise ValueError(f'data.y must have shape [{x.shape[0]}], got {list(y.shape)}')
  if y.size and (y.min() < 0 or y.max() >= config.num_classes):
    raise ValueError(f'labels must be in [0, {config.num_classes}), got range '
                     f'[{y.min()}, {y.max()}]')
  if not 1 <= config.num_test < x.shape[0]:
    raise ValueError(f'num_test must be in [1, {x.shape[0] - 1}] for a pool of '
                     f'{x.shape[0]} samples, got {config.num_test}')
  if x.shape[0] and bits.num_words(config.num_inputs) * bits.WORD_BITS > config.num_inputs:
    full = bits.pack_numpy(np.ones((1, config.num_inputs), np.int8))[0]
    if np.any(x & ~full):
      raise ValueError('data.x has padding bits set (bits beyond num_inputs must be 0)')
