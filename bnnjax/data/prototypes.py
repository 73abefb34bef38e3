"""Random Prototypes (algorithm.md, "Data protocol of the paper").

12,000 samples of 1,000 ±1 features in 10 classes: one uniform ±1 prototype per class and
1,200 samples per class, each a copy of its prototype with every bit flipped
independently with probability 0.44. Duplicates are rejected across the whole set. The
generator is seeded once (42), so the data set is the same for every run; runs differ by
their split (the last 2,000 samples of the run's shuffle are the test set).
"""

import numpy as np

NUM_SAMPLES = 12_000
NUM_FEATURES = 1_000
NUM_CLASSES = 10
FLIP_PROB = 0.44
NUM_TEST = 2_000
SEED = 42
# BEP's protocol (arXiv 2512.04189 §4.1): 20,000 train / 3,000 test, flip probability 0.46.
BEP_NUM_SAMPLES = 23_000
BEP_NUM_TEST = 3_000
BEP_FLIP_PROB = 0.46


def generate(num_samples: int = NUM_SAMPLES, num_features: int = NUM_FEATURES,
             num_classes: int = NUM_CLASSES, flip_prob: float = FLIP_PROB,
             seed: int = SEED):
  """Returns (x: int8[n, D] in ±1, y: int32[n]), classes in blocks of n / C samples."""
  if num_samples % num_classes:
    raise ValueError(f'num_samples ({num_samples}) must be a multiple of num_classes '
                     f'({num_classes})')
  if not 0.0 <= flip_prob <= 1.0:
    raise ValueError(f'flip_prob must be in [0, 1], got {flip_prob}')
  per_class = num_samples // num_classes
  if num_features < 64 and per_class * num_classes > 2**num_features:
    raise ValueError('too few features for that many distinct samples')
  rng = np.random.default_rng(seed)
  protos = np.where(rng.random((num_classes, num_features)) < 0.5, 1, -1).astype(np.int8)
  x = np.empty((num_samples, num_features), np.int8)
  y = np.repeat(np.arange(num_classes, dtype=np.int32), per_class)
  seen = set()
  i = 0
  for c in range(num_classes):
    made = 0
    while made < per_class:
      flips = rng.random(num_features) < flip_prob
      sample = np.where(flips, -protos[c], protos[c]).astype(np.int8)
      key = sample.tobytes()
      if key in seen:  # reject duplicates across the whole set
        continue
      seen.add(key)
      x[i] = sample
      i += 1
      made += 1
  return x, y
