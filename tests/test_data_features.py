"""AlexNet feature extraction (torch, random weights, mock images) and the cache reader
(NumPy only)."""

import json
import os

import numpy as np
import pytest

from bnnjax import data
from bnnjax.data import features


def unpack_rows_reference(words: np.ndarray, n: int) -> np.ndarray:
  """Literal bits.py layout: element e is bit e // W of word e % W; bit 1 = +1."""
  w = words.shape[1]
  return np.stack([np.where((words[:, e % w] >> np.uint32(e // w)) & np.uint32(1), 1, -1)
                   for e in range(n)], axis=1)


def channel_reference(pool: np.ndarray) -> np.ndarray:
  """+1 where a feature exceeds its channel's median over (samples, H, W)."""
  med = np.array([np.median(pool[:, c]) for c in range(pool.shape[1])])
  return np.where(pool > med[None, :, None, None], 1, -1).reshape(pool.shape[0], -1)


def write_fake_cache(data_dir, dataset, split, n, weights='random', seed=0):
  """A cache as the extractor writes it: float32 [n, 256, h, w] and int32 labels."""
  feat_path, label_path = features.cache_paths(dataset, split, weights, str(data_dir))
  os.makedirs(os.path.dirname(feat_path), exist_ok=True)
  rng = np.random.default_rng(seed)
  feats = np.maximum(rng.normal(size=(n,) + features.feature_shape(dataset)), 0)
  feats = feats.astype(np.float32)
  labels = rng.integers(0, 100 if dataset == 'cifar100' else 10, n).astype(np.int32)
  np.save(feat_path, feats)
  np.save(label_path, labels)
  return feats, labels


def test_feature_shapes():
  assert features.feature_shape('cifar10') == (256, 6, 6)  # 9216
  assert features.feature_shape('imagenette') == (256, 3, 3)  # 2304: pool 5, stride 3


# ----------------------------------------------------------------------------------
# The cache reader (what the trainer runs): no torch needed
# ----------------------------------------------------------------------------------


def test_cache_reader_paper_split(tmp_path):
  pool, labels = write_fake_cache(tmp_path, 'cifar10', 'train', 12)
  write_fake_cache(tmp_path, 'cifar10', 'test', 5, seed=1)  # not in the paper's pool
  ds = features.load('cifar10', data_dir=str(tmp_path), weights='random')
  assert (ds.num_samples, ds.num_features, ds.num_classes) == (12, 9216, 10)
  assert ds.shuffle_split and ds.num_test == 12 * 10_000 // 50_000
  np.testing.assert_array_equal(unpack_rows_reference(ds.x, 9216), channel_reference(pool))
  np.testing.assert_array_equal(ds.y, labels)
  check_float_features(ds, pool)


def check_float_features(ds, pool):
  """x_float: the cached features, flattened C-order like the bits, read lazily from the
  memory-mapped cache; per-channel medians over it give back x exactly."""
  from bnnjax.data import binarize
  from bnnjax.data import lazy
  n = pool.shape[0]
  assert isinstance(ds.x_float, lazy.LazyRows)
  assert all(isinstance(p, np.memmap) for p in ds.x_float.parts)  # nothing read yet
  assert ds.x_float.shape == (n, ds.num_features) and ds.x_float.dtype == np.float32
  flat = pool.reshape(n, -1)
  got = np.asarray(ds.x_float)
  np.testing.assert_array_equal(got, flat)
  np.testing.assert_array_equal(ds.x_float[[n - 1, 0, n // 2]], flat[[n - 1, 0, n // 2]])
  np.testing.assert_array_equal(
      binarize.median_binarize(got.reshape(pool.shape), 'channel'),
      unpack_rows_reference(ds.x, ds.num_features))


def test_cache_reader_official_split_chunked(tmp_path, monkeypatch):
  from bnnjax.data import lazy
  monkeypatch.setattr(features, 'BINARIZE_CHUNK', 3)  # several chunks per split
  monkeypatch.setattr(lazy, 'READ_CHUNK', 3)  # x_float read in chunks too
  train, ytr = write_fake_cache(tmp_path, 'imagenette', 'train', 7)
  val, yva = write_fake_cache(tmp_path, 'imagenette', 'validation', 4, seed=1)
  ds = features.load('imagenette', data_dir=str(tmp_path), weights='random',
                     official_split=True)
  pool = np.concatenate([train, val])  # one median over the whole pool
  assert ds.num_features == 2304 and ds.num_test == 4 and not ds.shuffle_split
  np.testing.assert_array_equal(unpack_rows_reference(ds.x, 2304), channel_reference(pool))
  np.testing.assert_array_equal(ds.y, np.concatenate([ytr, yva]))
  check_float_features(ds, pool)  # rows from two cache files, chunks across them
  paper = features.load('imagenette', data_dir=str(tmp_path), weights='random')
  assert paper.num_samples == 11 and paper.num_test == 11 * 3_394 // 13_394
  assert paper.shuffle_split
  check_float_features(paper, pool)  # Imagenette's paper pool is train + validation


def test_cache_reader_smoke_slice_keeps_float_features_in_order(tmp_path):
  pool, _ = write_fake_cache(tmp_path, 'cifar10', 'train', features.SMOKE_IMAGES + 7)
  ds = features.load('cifar10', data_dir=str(tmp_path), weights='random', smoke=True)
  assert ds.num_samples == features.SMOKE_IMAGES
  check_float_features(ds, pool[:features.SMOKE_IMAGES])


def test_cache_reader_rejects_non_finite_and_corrupt_caches(tmp_path):
  feats, _ = write_fake_cache(tmp_path, 'cifar100', 'train', 6)
  feats[2, 3, 1, 1] = np.nan
  np.save(features.cache_paths('cifar100', 'train', 'random', str(tmp_path))[0], feats)
  with pytest.raises(ValueError, match='non-finite'):
    features.load('cifar100', data_dir=str(tmp_path), weights='random')
  np.save(features.cache_paths('cifar100', 'train', 'random', str(tmp_path))[0],
          np.zeros((6, 256, 3, 3), np.float32))
  with pytest.raises(ValueError, match='corrupt feature cache'):
    features.load('cifar100', data_dir=str(tmp_path), weights='random')


def test_missing_cache_names_the_extractor_command(tmp_path):
  with pytest.raises(FileNotFoundError) as err:
    data.load('cifar100_features', data_dir=str(tmp_path))
  msg = str(err.value)
  assert 'cifar100_features' in msg and str(tmp_path) in msg
  assert 'python -m bnnjax.data.features --dataset=cifar100' in msg


# ----------------------------------------------------------------------------------
# The extractor (torch)
# ----------------------------------------------------------------------------------

# torchvision's AlexNet `features` parameters (torchvision/models/alexnet.py).
TORCHVISION_FEATURE_PARAMS = {
    'features.0.weight': (64, 3, 11, 11), 'features.0.bias': (64,),
    'features.3.weight': (192, 64, 5, 5), 'features.3.bias': (192,),
    'features.6.weight': (384, 192, 3, 3), 'features.6.bias': (384,),
    'features.8.weight': (256, 384, 3, 3), 'features.8.bias': (256,),
    'features.10.weight': (256, 256, 3, 3), 'features.10.bias': (256,),
}


def test_module_matches_torchvision_layout_and_loads_its_state_dict():
  torch = pytest.importorskip('torch')
  model = features.alexnet_features()
  got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
  assert got == TORCHVISION_FEATURE_PARAMS
  # A full torchvision-style state_dict (classifier included) loads its feature part.
  full = {k: torch.randn(s) for k, s in TORCHVISION_FEATURE_PARAMS.items()}
  full['classifier.1.weight'] = torch.randn(4, 4)  # ignored: not a features key
  features.load_feature_weights(model, full)
  for k, v in model.state_dict().items():
    assert torch.equal(v, full[k])
  with pytest.raises(ValueError, match='do not match'):
    features.load_feature_weights(model, {'features.0.weight': torch.randn(64, 3, 11, 11)})


def test_module_output_shapes():
  torch = pytest.importorskip('torch')
  x = torch.zeros(1, 3, 224, 224)
  with torch.inference_mode():
    assert tuple(features.build_model('cifar10', 'random')(x).shape) == (1, 256, 6, 6)
    assert tuple(features.build_model('imagenette', 'random')(x).shape) == (1, 256, 3, 3)


def test_preprocess_resizes_and_normalises():
  image = np.full((32, 32, 3), 51, np.uint8)  # 51 / 255 = 0.2 in every channel
  grey = np.full((20, 30, 1), 51, np.uint8)
  out = features.preprocess([image, grey])
  assert out.shape == (2, 3, 224, 224) and out.dtype == np.float32
  for c in range(3):
    want = (0.2 - features.IMAGENET_MEAN[c]) / features.IMAGENET_STD[c]
    np.testing.assert_allclose(out[:, c], want, rtol=1e-5, atol=1e-5)


def test_extractor_end_to_end_on_mock_images(tmp_path):
  torch = pytest.importorskip('torch')
  tfds = pytest.importorskip('tensorflow_datasets')
  folder = tmp_path / 'cifar10' / '3.0.2'
  folder.mkdir(parents=True)
  (folder / 'dataset_info.json').write_text(json.dumps({'fileFormat': 'array_record'}))
  with tfds.testing.mock_data(num_examples=5):
    rc = features.main(['--dataset=cifar10', f'--data_dir={tmp_path}', '--weights=random',
                        '--batch_size=2'])
    assert rc == 0
    src = tfds.data_source('cifar10', split='train', download=False)
    images = [np.asarray(src[i]['image']) for i in range(5)]
    labels = [int(src[i]['label']) for i in range(5)]
  feat_path, label_path = features.cache_paths('cifar10', 'train', 'random', str(tmp_path))
  cached = np.load(feat_path)
  np.testing.assert_array_equal(np.load(label_path), labels)
  model = features.build_model('cifar10', 'random')  # same seed -> same weights
  with torch.inference_mode():
    direct = model(torch.from_numpy(features.preprocess(images))).numpy()
  np.testing.assert_allclose(cached, direct, rtol=1e-4, atol=1e-4)
  ds = features.load('cifar10', data_dir=str(tmp_path), weights='random')
  np.testing.assert_array_equal(unpack_rows_reference(ds.x, 9216), channel_reference(cached))
  official = features.load('cifar10', data_dir=str(tmp_path), weights='random',
                           official_split=True)
  assert official.num_samples == 10 and official.num_test == 5


def test_extractor_fails_fast_without_images(tmp_path, capsys):
  pytest.importorskip('torch')
  assert features.main(['--dataset=imagenette', f'--data_dir={tmp_path}',
                        '--weights=random']) == 2
  err = capsys.readouterr().err
  assert 'imagenette' in err and str(tmp_path) in err and '--download' in err
