"""Image data sets through tensorflow-datasets, read with `tfds.data_source`.

`tfds.data_source` reads prepared ArrayRecord files with NumPy and PIL only (no
TensorFlow). Preparing (downloading and converting) an official data set does need
TensorFlow: it is the optional extra ``bnnjax[tfds-prepare]``.

Nothing is downloaded unless ``download=True``. Before tfds is asked for anything, the
prepared files are looked for on disk (``<data_dir>/<name>/<version>/dataset_info.json``);
when they are missing, `MissingDataError` (a FileNotFoundError) is raised at once with the
data set, the directory and the command that prepares it, instead of letting tfds retry
network access.

Pools (algorithm.md, "Data protocol"): the paper draws its test set from the official
training data, so the default pool is the official training split only (FMNIST 60,000
with 10,000 test; CIFAR 50,000 with 10,000 test) or train + validation for Imagenette
(13,394 with 3,394 test). With ``official_split=True`` (a deviation from the paper) the
pool is the training split followed by the official test/validation split, which is then
the test set of every run.
"""

import dataclasses
import glob
import json
import os
import sys
from typing import Optional, Tuple

import numpy as np

from bnnjax.data import binarize


class MissingDataError(FileNotFoundError):
  """Prepared data is not on disk (and download was not requested)."""


@dataclasses.dataclass(frozen=True)
class ImageSource:
  """tfds_name: name[/config] for tfds. train_split, test_split: official splits.
  paper_pool: splits that form the paper's pool. paper_num_test, paper_pool_size: the
  paper's test size for its full pool (scaled down proportionally for smaller pools,
  e.g. smoke slices)."""
  tfds_name: str
  train_split: str
  test_split: str
  num_classes: int
  paper_pool: Tuple[str, ...]
  paper_num_test: int
  paper_pool_size: int


SOURCES = {
    'fashion_mnist': ImageSource('fashion_mnist', 'train', 'test', 10, ('train',),
                                 10_000, 60_000),
    'cifar10': ImageSource('cifar10', 'train', 'test', 10, ('train',), 10_000, 50_000),
    'cifar100': ImageSource('cifar100', 'train', 'test', 100, ('train',), 10_000,
                            50_000),
    'imagenette': ImageSource('imagenette/full-size-v2', 'train', 'validation', 10,
                              ('train', 'validation'), 3_394, 13_394),
}

# Smoke slices: at most this many images per split (same code path).
SMOKE_IMAGES = 600

# The paper's float input for Fashion-MNIST (its sgd_torch.py / adam_torch.py:
# transforms.ToTensor() then transforms.Normalize((0.1307,), (0.3081,))).
FASHION_MNIST_MEAN = 0.1307
FASHION_MNIST_STD = 0.3081


def fashion_mnist_float(images: np.ndarray) -> np.ndarray:
  """uint8[b, 28, 28, 1] -> float32[b, 784]: (pixels / 255 − 0.1307) / 0.3081, in float32
  as torchvision's ToTensor and Normalize compute it."""
  images = np.asarray(images)
  x = images.reshape(images.shape[0], -1).astype(np.float32) / np.float32(255)
  return (x - np.float32(FASHION_MNIST_MEAN)) / np.float32(FASHION_MNIST_STD)


def get_source(dataset: str) -> ImageSource:
  if dataset not in SOURCES:
    raise ValueError(f'unknown tfds image data set {dataset!r}; valid: {sorted(SOURCES)}')
  return SOURCES[dataset]


def paper_num_test(source: ImageSource, pool_size: int) -> int:
  """The paper's test size, scaled to the pool: exact for the full pool."""
  return max(1, pool_size * source.paper_num_test // source.paper_pool_size)


def prepare_command(dataset: str, data_dir: str) -> str:
  if dataset in ('cifar10', 'cifar100', 'imagenette'):  # (raw cifar10: prepare works too)
    cmd = f'python -m bnnjax.data.features --dataset={dataset} --download'
  else:
    cmd = f'python -m bnnjax.data.prepare --dataset={dataset}'
  return (f"pip install 'bnnjax[tfds-prepare]' && {cmd} --data_dir={data_dir}  "
          f'(needs internet and TensorFlow)')


def prepared_versions(tfds_name: str, data_dir: str):
  """Versions of `tfds_name` prepared under data_dir (folders with dataset_info.json)."""
  pattern = os.path.join(data_dir, *tfds_name.split('/'), '*', 'dataset_info.json')
  return sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(pattern))


def check_prepared(dataset: str, data_dir: str) -> None:
  """Raises MissingDataError unless prepared ArrayRecord files of `dataset` are on disk."""
  source = get_source(dataset)
  versions = prepared_versions(source.tfds_name, data_dir)
  where = os.path.join(data_dir, *source.tfds_name.split('/'))
  if not versions:
    raise MissingDataError(
        f'{dataset}: no prepared tfds data {source.tfds_name!r} in data directory '
        f'{data_dir} (looked for {where}/<version>/dataset_info.json). Prepare it with: '
        f'{prepare_command(dataset, data_dir)}; or point --data_dir (or $TFDS_DATA_DIR) '
        f'at a prepared copy.')
  info_path = os.path.join(where, versions[-1], 'dataset_info.json')
  try:
    with open(info_path) as f:
      file_format = json.load(f).get('fileFormat', 'array_record')
  except (OSError, ValueError):
    file_format = 'array_record'
  if file_format and 'array_record' not in str(file_format).lower():
    raise MissingDataError(
        f'{dataset}: the copy in {where}/{versions[-1]} is in {file_format} format; '
        f'tfds.data_source needs ArrayRecord. Re-prepare it with --file_format='
        f'array_record, e.g.: {prepare_command(dataset, data_dir)}')


def _import_tfds():
  try:
    import tensorflow_datasets as tfds
  except ImportError as e:
    raise ImportError(f'reading tfds data sets needs tensorflow-datasets (and pillow, '
                      f'importlib_resources): pip install bnnjax  ({e})') from e
  return tfds


def open_split(dataset: str, split: str, data_dir: Optional[str] = None,
               download: bool = False):
  """A random-access source of the examples of one split (dicts of NumPy arrays)."""
  from bnnjax.data import default_data_dir
  source = get_source(dataset)
  data_dir = default_data_dir(data_dir)
  tfds = _import_tfds()
  if download:
    import importlib.util
    if importlib.util.find_spec('tensorflow') is None:  # before any network access
      raise ImportError(
          f"{dataset}: preparing a tfds data set needs TensorFlow: pip install "
          f"'bnnjax[tfds-prepare]' (or copy a prepared {source.tfds_name} into "
          f'{data_dir})')
    try:
      tfds.data_source(source.tfds_name, split=split, data_dir=data_dir, download=True,
                       builder_kwargs={'file_format': 'array_record'})
    except ImportError as e:
      raise ImportError(
          f'{dataset}: preparing a tfds data set needs TensorFlow: pip install '
          f"'bnnjax[tfds-prepare]'  ({e})") from e
  check_prepared(dataset, data_dir)
  return tfds.data_source(source.tfds_name, split=split, data_dir=data_dir,
                          download=False)


def _progress(iterable, total, desc):
  try:
    from tqdm import tqdm
    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, leave=False,
                disable=total < 2000)
  except ImportError:
    return iterable


def read_examples(data_source, limit: Optional[int] = None, desc: str = 'reading'):
  """Yields (index, image uint8[H, W, ch], label int) for the first `limit` examples."""
  n = len(data_source) if limit is None else min(limit, len(data_source))
  for i in _progress(range(n), n, desc):
    ex = data_source[i]
    yield i, np.asarray(ex['image']), int(ex['label'])


def read_split(dataset: str, split: str, data_dir: Optional[str] = None,
               download: bool = False, limit: Optional[int] = None):
  """Returns (images uint8[n, H, W, ch], labels int32[n]) of one split; images of one
  split must share a shape (true for FMNIST and CIFAR; use `read_examples` otherwise)."""
  src = open_split(dataset, split, data_dir, download)
  images, labels = [], []
  for _, image, label in read_examples(src, limit, f'{dataset}/{split}'):
    images.append(image)
    labels.append(label)
  if not images:
    raise ValueError(f'{dataset}: split {split!r} is empty')
  return np.stack(images), np.asarray(labels, np.int32)


def pool_splits(dataset: str, official_split: bool) -> Tuple[str, ...]:
  """The splits that form the pool, in order (official: train, then test)."""
  source = get_source(dataset)
  if official_split:
    return (source.train_split, source.test_split)
  return source.paper_pool


def image_pool(dataset: str, smoke: bool, data_dir: Optional[str], download: bool,
               official_split: bool):
  """(images uint8[n, H, W, C], labels, num_test, notes) of a tfds image set's pool: the
  paper's (the official training split, its test size scaled to the pool) or, with
  official_split, train + the official test set as the test split."""
  source = get_source(dataset)
  limit = SMOKE_IMAGES if smoke else None
  parts = [read_split(dataset, s, data_dir, download, limit)
           for s in pool_splits(dataset, official_split)]
  images = np.concatenate([p[0] for p in parts])
  labels = np.concatenate([p[1] for p in parts])
  if official_split:
    return images, labels, parts[-1][0].shape[0], (
        'DEVIATION: official test split (pool = train + test, test = the official '
        'test set); the paper draws its test set from the training split')
  return images, labels, paper_num_test(source, images.shape[0]), (
      'paper protocol: pool = official training split, seeded shuffle split')


def load_fashion_mnist(smoke: bool = False, data_dir: Optional[str] = None,
                       download: bool = False, official_split: bool = False):
  """Fashion-MNIST with the paper's preprocessing: one global median over the pool's
  pixels, +1 above it; the paper's pool is the official 60k training split with 10,000
  test samples per run's shuffle (official_split: train + the official 10k test set).

  x_float: `fashion_mnist_float` of the same images, computed on demand (`LazyRows`: the
  uint8 pool is kept, 47 MB, not the float32 one, 188 MB)."""
  from bnnjax.data import from_signs
  from bnnjax.data import lazy
  dataset = 'fashion_mnist'
  source = get_source(dataset)
  images, labels, num_test, notes = image_pool(dataset, smoke, data_dir, download,
                                               official_split)
  x = binarize.median_binarize(images, 'global', dataset)
  notes += '; x_float = (pixels / 255 - 0.1307) / 0.3081, the paper\'s float input'
  x_float = lazy.LazyRows([images], fashion_mnist_float, x.shape[1])
  return from_signs(dataset, x, labels, source.num_classes, num_test,
                    shuffle_split=not official_split, notes=notes, x_float=x_float,
                    binarisation=binarize.Rule('median_global'), image_shape=(28, 28, 1))


def cifar10_float(images: np.ndarray) -> np.ndarray:
  """uint8[b, 32, 32, 3] -> float32[b, 3072]: pixels / 255, in (h, w, c) order."""
  images = np.asarray(images)
  return images.reshape(images.shape[0], -1).astype(np.float32) / np.float32(255)


def load_cifar10_images(smoke: bool = False, data_dir: Optional[str] = None,
                        download: bool = False, official_split: bool = False):
  """Raw CIFAR-10 images for conv nets (`bnnjax.conv`; not a paper data set: the paper
  used AlexNet features, `cifar10_features`): 32 x 32 x 3 bits in (h, w, c) order, +1
  where a pixel's value in a channel exceeds that channel's median over the pool. The
  pool and test size follow the paper's CIFAR-10 protocol (the 50k training split, 10k
  test per run's shuffle; official_split: train + the official test set).

  x_float: pixels / 255 in the same order, computed on demand (`LazyRows`); no
  binarisation rule is recorded (`DataSet.binarisation` None: an export takes packed
  inputs only, as the per-channel rule of the AlexNet features is channel-major)."""
  from bnnjax.data import from_signs
  from bnnjax.data import lazy
  dataset = 'cifar10'
  source = get_source(dataset)
  images, labels, num_test, notes = image_pool(dataset, smoke, data_dir, download,
                                               official_split)
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f'{dataset}: expected images [n, H, W, 3], got {images.shape}')
  med = np.median(images.reshape(-1, 3), axis=0)  # one median per channel
  x = np.where(images > med, 1, -1).astype(np.int8).reshape(images.shape[0], -1)
  notes += ('; raw images, per-channel median binarisation, (h, w, c) order; '
            'x_float = pixels / 255; not a paper data set (the paper used AlexNet '
            'features)')
  x_float = lazy.LazyRows([images], cifar10_float, x.shape[1])
  return from_signs(dataset, x, labels, source.num_classes, num_test,
                    shuffle_split=not official_split, notes=notes, x_float=x_float,
                    image_shape=tuple(int(v) for v in images.shape[1:]))
