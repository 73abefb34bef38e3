r"""AlexNet convolutional features of CIFAR-10/100 and Imagenette, cached on disk.

  python -m bnnjax.data.features --dataset=cifar10 [--data_dir=DIR] [--download]

Protocol (algorithm.md, "Data protocol"): every image is resized to 224×224 (PIL
bilinear, as torchvision's `Resize` on PIL images), scaled to [0, 1], normalised with the
ImageNet mean/std, and passed through the convolutional part (`features`) of an
ImageNet-pretrained AlexNet (torchvision's IMAGENET1K_V1 weights, as the paper):
256×6×6 = 9216 features; for Imagenette the last max-pool has kernel 5, stride 3, giving
256×3×3 = 2304. The float features of every official split are cached as
``<data_dir>/bnnjax/features/<dataset>-<weights>-<split>.npy`` (float32 [n, 256, h, w],
written atomically; about 2.2 GB for the 60,000 CIFAR images) with the labels beside
them. The trainer (`load`) reads the cache,
forms the pool (paper: CIFAR train split, Imagenette train + validation; official_split:
train then test), binarises per channel with the median over the whole pool, and packs
the bits, chunk by chunk. The float features stay memory-mapped: `DataSet.x_float` reads
them (flattened C-order, as the bits; not normalised, as the paper's float baselines use
them) only when a float baseline asks.

The extractor needs torch (optional extra ``bnnjax[features]``); reading the cache does
not. The AlexNet `features` stack is written here in plain torch with torchvision's layer
layout, so torchvision's state_dict (keys ``features.<i>.weight``) loads into it;
torchvision's weights API is used when torchvision is installed, otherwise the same
checkpoint file is fetched (or read from the torch hub cache) with plain torch.
"""

import os
import sys
import time
from typing import Dict, Optional, Tuple

import numpy as np

from bnnjax import bits
from bnnjax.data import binarize
from bnnjax.data import tfds_data

IMAGE_SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# torchvision AlexNet_Weights.IMAGENET1K_V1 checkpoint (the hash prefix is checked).
ALEXNET_URL = 'https://download.pytorch.org/models/alexnet-owt-7be5be79.pth'

# Last max-pool (kernel, stride): torchvision's (3, 2) -> 6×6; Imagenette (5, 3) -> 3×3.
LAST_POOL = {'cifar10': (3, 2), 'cifar100': (3, 2), 'imagenette': (5, 3)}
WEIGHTS = ('imagenet', 'random')
SMOKE_IMAGES = 200  # per split, for --smoke extraction and smoke loading
BINARIZE_CHUNK = 2048  # samples binarised and packed at a time


def feature_shape(dataset: str) -> Tuple[int, int, int]:
  """(C, H, W) of the features for a 224×224 input."""
  k, s = LAST_POOL[dataset]
  side = (13 - k) // s + 1  # the last conv map is 13×13
  return (256, side, side)


def _check_dataset(dataset: str) -> None:
  if dataset not in LAST_POOL:
    raise ValueError(f'unknown feature data set {dataset!r} (--dataset); valid: '
                     f'{sorted(LAST_POOL)}')


# ----------------------------------------------------------------------------------
# The network (torch; imported lazily so the cache reader never needs it)
# ----------------------------------------------------------------------------------


def alexnet_features(last_pool: Tuple[int, int] = (3, 2)):
  """torch module whose `features` Sequential has torchvision AlexNet's layout (same
  indices, so ``features.<i>.weight/bias`` of torchvision's state_dict load into it)."""
  from torch import nn

  class AlexNetFeatures(nn.Module):

    def __init__(self):
      super().__init__()
      self.features = nn.Sequential(
          nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),     # 0
          nn.ReLU(inplace=True),                                     # 1
          nn.MaxPool2d(kernel_size=3, stride=2),                     # 2
          nn.Conv2d(64, 192, kernel_size=5, padding=2),              # 3
          nn.ReLU(inplace=True),                                     # 4
          nn.MaxPool2d(kernel_size=3, stride=2),                     # 5
          nn.Conv2d(192, 384, kernel_size=3, padding=1),             # 6
          nn.ReLU(inplace=True),                                     # 7
          nn.Conv2d(384, 256, kernel_size=3, padding=1),             # 8
          nn.ReLU(inplace=True),                                     # 9
          nn.Conv2d(256, 256, kernel_size=3, padding=1),             # 10
          nn.ReLU(inplace=True),                                     # 11
          nn.MaxPool2d(kernel_size=last_pool[0], stride=last_pool[1]),  # 12
      )

    def forward(self, x):  # float[B, 3, 224, 224] -> float[B, 256, h, w]
      return self.features(x)

  return AlexNetFeatures()


def load_feature_weights(module, state_dict: Dict) -> None:
  """Loads the `features.*` entries of a (full torchvision AlexNet) state_dict."""
  feats = {k: v for k, v in state_dict.items() if k.startswith('features.')}
  missing, unexpected = module.load_state_dict(feats, strict=False)
  if missing or unexpected:
    raise ValueError(f'AlexNet weights do not match the features layout: missing '
                     f'{missing}, unexpected {unexpected}')


def imagenet_state_dict(weights_path: Optional[str] = None) -> Dict:
  """torchvision's IMAGENET1K_V1 AlexNet state_dict."""
  import torch
  if weights_path:
    return torch.load(weights_path, map_location='cpu', weights_only=True)
  try:
    from torchvision.models import AlexNet_Weights
  except ImportError:
    AlexNet_Weights = None
  try:
    if AlexNet_Weights is not None:
      return AlexNet_Weights.IMAGENET1K_V1.get_state_dict(progress=True)
    return torch.hub.load_state_dict_from_url(ALEXNET_URL, map_location='cpu',
                                              progress=True, check_hash=True)
  except Exception as e:  # no network, no cached checkpoint
    cache = os.path.join(torch.hub.get_dir(), 'checkpoints')
    raise FileNotFoundError(
        f'could not get the ImageNet AlexNet weights ({e}). Put {ALEXNET_URL} in {cache} '
        f'or pass --weights_path=FILE') from e


def build_model(dataset: str, weights: str = 'imagenet', weights_path: Optional[str] = None,
                seed: int = 0):
  import torch
  _check_dataset(dataset)
  if weights not in WEIGHTS:
    raise ValueError(f'weights (--weights) must be one of {list(WEIGHTS)}, got {weights!r}')
  torch.manual_seed(seed)  # 'random': torch's default initialisation, seeded
  model = alexnet_features(LAST_POOL[dataset])
  if weights == 'imagenet':
    load_feature_weights(model, imagenet_state_dict(weights_path))
  return model.eval()


def preprocess(images) -> np.ndarray:
  """uint8 images [H, W, ch] (any size, ch 1 or 3) -> float32[B, 3, 224, 224]."""
  from PIL import Image
  out = np.empty((len(images), 3, IMAGE_SIZE, IMAGE_SIZE), np.float32)
  mean = np.asarray(IMAGENET_MEAN, np.float32)[:, None, None]
  std = np.asarray(IMAGENET_STD, np.float32)[:, None, None]
  for i, image in enumerate(images):
    image = np.asarray(image, np.uint8)
    if image.ndim == 3 and image.shape[2] == 1:
      image = image[:, :, 0]
    pil = Image.fromarray(image).convert('RGB')
    pil = pil.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
    arr = np.asarray(pil, np.float32).transpose(2, 0, 1) / 255.0
    out[i] = (arr - mean) / std
  return out


def extract(model, examples, num_images: int, batch_size: int = 64,
            desc: str = 'features'):
  """Runs (index, image, label) examples through the model in batches.

  Yields (start, float32[b, 256, h, w], int32[b] labels) per batch, with a progress bar."""
  import torch
  try:
    from tqdm import tqdm
    bar = tqdm(total=num_images, desc=desc, unit='img', file=sys.stderr)
  except ImportError:
    bar = None
  images, labels, start = [], [], 0
  with torch.inference_mode():
    for _, image, label in examples:
      images.append(image)
      labels.append(label)
      if len(images) == batch_size:
        feats = model(torch.from_numpy(preprocess(images))).numpy()
        yield start, feats, np.asarray(labels, np.int32)
        start += len(images)
        if bar is not None:
          bar.update(len(images))
        images, labels = [], []
    if images:
      feats = model(torch.from_numpy(preprocess(images))).numpy()
      yield start, feats, np.asarray(labels, np.int32)
      if bar is not None:
        bar.update(len(images))
  if bar is not None:
    bar.close()


# ----------------------------------------------------------------------------------
# Cache
# ----------------------------------------------------------------------------------


def cache_paths(dataset: str, split: str, weights: str, data_dir: Optional[str] = None,
                smoke: bool = False) -> Tuple[str, str]:
  """(features .npy, labels .npy) of one split."""
  from bnnjax.data import cache_dir
  tag = f'{dataset}-{weights}-{split}' + ('-smoke' if smoke else '')
  folder = os.path.join(cache_dir(data_dir), 'features')
  return (os.path.join(folder, f'{tag}.npy'), os.path.join(folder, f'{tag}-labels.npy'))


def extract_split(dataset: str, split: str, model, weights: str,
                  data_dir: Optional[str] = None, download: bool = False,
                  smoke: bool = False, batch_size: int = 64, overwrite: bool = False) -> str:
  """Extracts one split into the cache (atomically: temporary file, then rename)."""
  feat_path, label_path = cache_paths(dataset, split, weights, data_dir, smoke)
  if os.path.exists(feat_path) and os.path.exists(label_path) and not overwrite:
    print(f'{feat_path} exists; skipping (use --overwrite to redo)', file=sys.stderr)
    return feat_path
  os.makedirs(os.path.dirname(feat_path), exist_ok=True)
  source = tfds_data.open_split(dataset, split, data_dir, download)
  n = min(len(source), SMOKE_IMAGES) if smoke else len(source)
  if n == 0:
    raise ValueError(f'{dataset}: split {split!r} is empty')
  tmp_feat = feat_path + '.tmp.npy'
  tmp_label = label_path + '.tmp.npy'
  feats = np.lib.format.open_memmap(tmp_feat, mode='w+', dtype=np.float32,
                                    shape=(n,) + feature_shape(dataset))
  labels = np.empty(n, np.int32)
  examples = tfds_data.read_examples(source, n, f'{dataset}/{split}')
  for start, f, y in extract(model, examples, n, batch_size, f'{dataset}/{split}'):
    feats[start:start + len(y)] = f
    labels[start:start + len(y)] = y
  feats.flush()
  del feats
  np.save(tmp_label, labels)
  os.replace(tmp_label, label_path)
  os.replace(tmp_feat, feat_path)  # the features last: their presence marks completion
  return feat_path


def _open_cached(dataset: str, split: str, weights: str, data_dir: Optional[str],
                 smoke: bool):
  """(features memmap [n, C, H, W], labels [n]) of one split; smoke prefers a slice of
  the full cache and falls back to the smoke cache."""
  candidates = [False, True] if smoke else [False]
  for smoke_file in candidates:
    feat_path, label_path = cache_paths(dataset, split, weights, data_dir, smoke_file)
    if os.path.exists(feat_path) and os.path.exists(label_path):
      feats = np.load(feat_path, mmap_mode='r')
      labels = np.load(label_path)
      if feats.shape[1:] != feature_shape(dataset) or feats.shape[0] != labels.shape[0]:
        raise ValueError(f'{dataset}: corrupt feature cache {feat_path}: shape '
                         f'{list(feats.shape)} with {labels.shape[0]} labels; expected '
                         f'[n, {", ".join(map(str, feature_shape(dataset)))}]; delete it '
                         f'and re-extract')
      if smoke:
        feats, labels = feats[:SMOKE_IMAGES], labels[:SMOKE_IMAGES]
      return feats, labels
  from bnnjax.data import default_data_dir
  flag = f' --weights={weights}' if weights != 'imagenet' else ''
  raise tfds_data.MissingDataError(
      f'{dataset}_features: no cached AlexNet features for split {split!r} in '
      f'{os.path.dirname(cache_paths(dataset, split, weights, data_dir)[0])} (data '
      f"directory {default_data_dir(data_dir)}). Extract them with: pip install "
      f"'bnnjax[features]' && python -m bnnjax.data.features --dataset={dataset} "
      f'--data_dir={default_data_dir(data_dir)}{flag}' + (' --smoke' if smoke else '') +
      ' (add --download if the images are not prepared; needs internet and TensorFlow)')


def load(dataset: str, smoke: bool = False, data_dir: Optional[str] = None,
         official_split: bool = False, weights: str = 'imagenet'):
  """DataSet of median-binarised (per channel, over the whole pool) cached features.

  x_float: the cached float32 features flattened to [n, C·H·W] in the order of the bits,
  a `LazyRows` over the memory-mapped cache files (nothing is read until asked)."""
  from bnnjax.data import from_packed
  from bnnjax.data import lazy
  _check_dataset(dataset)
  source = tfds_data.get_source(dataset)
  splits = tfds_data.pool_splits(dataset, official_split)
  parts = [_open_cached(dataset, s, weights, data_dir, smoke) for s in splits]
  sizes = [p[0].shape[0] for p in parts]
  n = sum(sizes)
  c, h, w = feature_shape(dataset)
  num_features = c * h * w

  def chunks():  # float32[b, C, H, W] chunks of the pool, in pool order
    for feats, _ in parts:
      for lo in range(0, feats.shape[0], BINARIZE_CHUNK):
        yield np.asarray(feats[lo:lo + BINARIZE_CHUNK], np.float32)

  # Per-channel medians over the whole pool, a block of channels at a time (the float
  # pool of CIFAR, 60k x 9216 float32 = 2.2 GB, is never resident at once).
  med = np.empty(c, np.float64)
  block = 32
  for lo in range(0, c, block):
    vals = np.concatenate([np.asarray(f[:, lo:lo + block], np.float32)
                           for f, _ in parts])
    med[lo:lo + block] = binarize.medians(vals, 'channel')
  packed = np.empty((n, bits.num_words(num_features)), np.uint32)
  start = 0
  for chunk in chunks():
    signs = np.where(chunk > med[None, :, None, None], 1, -1).astype(np.int8)
    packed[start:start + len(chunk)] = bits.pack_numpy(signs.reshape(len(chunk), -1))
    start += len(chunk)
  labels = np.concatenate([p[1] for p in parts])
  name = f'{dataset}_features'
  if official_split:
    num_test = sizes[-1]
    notes = (f'DEVIATION: official {source.test_split} split as the test set (pool = '
             f'{" + ".join(splits)}); the paper draws its test set from its pool')
  else:
    num_test = tfds_data.paper_num_test(source, n)
    notes = f'paper protocol: pool = {" + ".join(splits)}, seeded shuffle split'
  notes += f'; AlexNet weights: {weights}'
  notes += '; x_float: the float features as cached (not normalised)'
  x_float = lazy.LazyRows([f for f, _ in parts], _flatten_features, num_features)
  return from_packed(name, packed, labels, num_features, source.num_classes, num_test,
                     shuffle_split=not official_split, notes=notes, x_float=x_float,
                     binarisation=binarize.Rule('median_channel',
                                                channels=feature_shape(dataset)[0]))


def _flatten_features(block: np.ndarray) -> np.ndarray:
  """float32[b, C, H, W] -> float32[b, C·H·W], C-order (the order of the packed bits)."""
  return np.asarray(block, np.float32).reshape(block.shape[0], -1)


# ----------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------


def main(argv=None) -> int:
  import argparse
  parser = argparse.ArgumentParser(
      prog='python -m bnnjax.data.features',
      description='Extract and cache AlexNet conv features (all official splits).')
  parser.add_argument('--dataset', required=True, choices=sorted(LAST_POOL))
  parser.add_argument('--data_dir', default=None,
                      help='tfds data dir; the cache goes to <data_dir>/bnnjax/features')
  parser.add_argument('--download', action='store_true',
                      help='prepare missing tfds images (needs internet and TensorFlow)')
  parser.add_argument('--weights', default='imagenet', choices=WEIGHTS,
                      help="'imagenet' (the paper) or 'random' (seeded, for tests)")
  parser.add_argument('--weights_path', default=None,
                      help='a local copy of alexnet-owt-7be5be79.pth')
  parser.add_argument('--batch_size', type=int, default=64)
  parser.add_argument('--splits', default=None,
                      help='comma-separated splits (default: train and the test split)')
  parser.add_argument('--smoke', action='store_true',
                      help=f'only the first {SMOKE_IMAGES} images of each split')
  parser.add_argument('--overwrite', action='store_true')
  args = parser.parse_args(argv)
  if args.batch_size < 1:
    parser.error(f'--batch_size must be >= 1, got {args.batch_size}')
  try:
    import torch  # noqa: F401
  except ImportError:
    print("error: feature extraction needs torch: pip install 'bnnjax[features]'",
          file=sys.stderr)
    return 2
  source = tfds_data.get_source(args.dataset)
  splits = (args.splits.split(',') if args.splits
            else [source.train_split, source.test_split])
  try:
    if not args.download:  # fail fast on missing images, before loading any weights
      from bnnjax.data import default_data_dir
      tfds_data.check_prepared(args.dataset, default_data_dir(args.data_dir))
    model = build_model(args.dataset, args.weights, args.weights_path)
    for split in splits:
      t0 = time.time()
      path = extract_split(args.dataset, split, model, args.weights, args.data_dir,
                           args.download, args.smoke, args.batch_size, args.overwrite)
      print(f'{args.dataset}/{split}: {path} ({time.time() - t0:.1f}s)')
  except (FileNotFoundError, ValueError, ImportError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  return 0


if __name__ == '__main__':
  sys.exit(main())
