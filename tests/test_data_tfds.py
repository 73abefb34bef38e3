"""tfds paths (fashion_mnist, cifar10, cifar100) under tfds.testing.mock_data, and the
fast, explicit error when prepared data is missing."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

tfds = pytest.importorskip('tensorflow_datasets')

from bnnjax import data  # noqa: E402
from bnnjax.data import tfds_data  # noqa: E402

def unpack_rows_reference(words: np.ndarray, n: int) -> np.ndarray:
  """Literal bits.py layout: element e is bit e // W of word e % W; bit 1 = +1."""
  w = words.shape[1]
  return np.stack([np.where((words[:, e % w] >> np.uint32(e // w)) & np.uint32(1), 1, -1)
                   for e in range(n)], axis=1)


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fake_prepared(data_dir, tfds_name, version='1.0.0', file_format='array_record'):
  """The on-disk marker `check_prepared` looks for (mock_data supplies the examples)."""
  folder = os.path.join(str(data_dir), *tfds_name.split('/'), version)
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, 'dataset_info.json'), 'w') as f:
    json.dump({'name': tfds_name, 'fileFormat': file_format}, f)


def mock_split(name, split):
  src = tfds.data_source(name, split=split, download=False)
  images = np.stack([np.asarray(src[i]['image']) for i in range(len(src))])
  labels = np.asarray([int(src[i]['label']) for i in range(len(src))])
  return images, labels


def test_missing_data_raises_naming_dataset_dir_and_command(tmp_path):
  with pytest.raises(FileNotFoundError) as err:
    data.load('fashion_mnist', data_dir=str(tmp_path))
  msg = str(err.value)
  assert 'fashion_mnist' in msg and str(tmp_path) in msg
  assert 'python -m bnnjax.data.prepare --dataset=fashion_mnist' in msg
  assert 'tfds-prepare' in msg  # the optional extra that brings TensorFlow


@pytest.mark.slow
def test_train_cli_exits_nonzero_with_the_message(tmp_path):
  env = dict(os.environ, BNNJAX_DATA_DIR=str(tmp_path), PYTHONPATH=REPO)
  proc = subprocess.run([sys.executable, '-m', 'bnnjax.train', '--dataset=fashion_mnist',
                         '--smoke', f'--workdir={tmp_path / "run"}'], env=env, cwd=REPO,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode != 0
  assert 'no prepared tfds data' in proc.stderr and str(tmp_path) in proc.stderr
  assert not (tmp_path / 'run').exists()


def test_wrong_file_format_is_explained(tmp_path):
  fake_prepared(tmp_path, 'fashion_mnist', '3.0.1', file_format='tfrecord')
  with pytest.raises(FileNotFoundError, match='array_record'):
    data.load('fashion_mnist', data_dir=str(tmp_path))


def test_fashion_mnist_paper_split_under_mock(tmp_path):
  fake_prepared(tmp_path, 'fashion_mnist', '3.0.1')
  with tfds.testing.mock_data(num_examples=60):
    ds = data.load('fashion_mnist', data_dir=str(tmp_path))
    images, labels = mock_split('fashion_mnist', 'train')
  assert images.shape == (60, 28, 28, 1)
  assert (ds.num_samples, ds.num_features, ds.num_classes) == (60, 784, 10)
  assert ds.num_test == 60 * 10_000 // 60_000 and ds.shuffle_split
  ref = np.where(images.reshape(60, -1) > np.median(images), 1, -1)  # one global median
  np.testing.assert_array_equal(unpack_rows_reference(ds.x, 784), ref)
  np.testing.assert_array_equal(ds.y, labels)
  check_float_features(ds, images)


def check_float_features(ds, images):
  """x_float: the paper's float input, (pixels / 255 - 0.1307) / 0.3081 in float32 as
  torchvision's ToTensor + Normalize compute it, row i = sample i; one global median over
  it gives back x exactly."""
  from bnnjax.data import binarize
  n = ds.num_samples
  assert ds.x_float.shape == (n, 784) and ds.x_float.dtype == np.float32
  pixels = images.reshape(n, 784).astype(np.float32) / np.float32(255)
  want = (pixels - np.float32(0.1307)) / np.float32(0.3081)
  got = np.asarray(ds.x_float)
  np.testing.assert_array_equal(got, want)
  np.testing.assert_array_equal(ds.x_float[[n - 1, 0, 3]], want[[n - 1, 0, 3]])
  np.testing.assert_array_equal(binarize.median_binarize(got, 'global'),
                                unpack_rows_reference(ds.x, 784))


def test_fashion_mnist_official_split_under_mock(tmp_path):
  fake_prepared(tmp_path, 'fashion_mnist', '3.0.1')
  with tfds.testing.mock_data(num_examples=30):
    ds = data.load('fashion_mnist', data_dir=str(tmp_path), official_split=True)
    train, train_y = mock_split('fashion_mnist', 'train')
    test, test_y = mock_split('fashion_mnist', 'test')
  pool = np.concatenate([train, test]).reshape(60, -1)
  assert ds.num_samples == 60 and ds.num_test == 30 and not ds.shuffle_split
  assert 'DEVIATION' in ds.notes
  np.testing.assert_array_equal(unpack_rows_reference(ds.x, 784),
                                np.where(pool > np.median(pool), 1, -1))
  np.testing.assert_array_equal(ds.y, np.concatenate([train_y, test_y]))
  check_float_features(ds, np.concatenate([train, test]))


def test_fashion_mnist_smoke_reads_a_slice(tmp_path):
  fake_prepared(tmp_path, 'fashion_mnist', '3.0.1')
  with tfds.testing.mock_data(num_examples=tfds_data.SMOKE_IMAGES + 50):
    ds = data.load('fashion_mnist', data_dir=str(tmp_path), smoke=True)
  assert ds.num_samples == tfds_data.SMOKE_IMAGES
  assert ds.num_test == tfds_data.SMOKE_IMAGES // 6


@pytest.mark.parametrize('name, num_classes', [('cifar10', 10), ('cifar100', 100)])
def test_cifar_images_under_mock(tmp_path, name, num_classes):
  fake_prepared(tmp_path, name, '3.0.2')
  with tfds.testing.mock_data(num_examples=12):
    images, labels = tfds_data.read_split(name, 'train', data_dir=str(tmp_path))
    ref_images, ref_labels = mock_split(name, 'train')
  assert images.shape == (12, 32, 32, 3) and images.dtype == np.uint8
  np.testing.assert_array_equal(images, ref_images)
  np.testing.assert_array_equal(labels, ref_labels)
  assert labels.min() >= 0 and labels.max() < num_classes
  assert tfds_data.pool_splits(name, False) == ('train',)
  assert tfds_data.pool_splits(name, True) == ('train', 'test')
  assert tfds_data.paper_num_test(tfds_data.get_source(name), 50_000) == 10_000


def test_cifar_missing_data_points_to_the_feature_extractor(tmp_path):
  with pytest.raises(FileNotFoundError, match='python -m bnnjax.data.features '
                     '--dataset=cifar100 --download'):
    tfds_data.open_split('cifar100', 'train', data_dir=str(tmp_path))


def test_download_without_tensorflow_fails_before_any_network_access(tmp_path,
                                                                     monkeypatch):
  import importlib.util
  real_find_spec = importlib.util.find_spec
  monkeypatch.setattr(importlib.util, 'find_spec',
                      lambda name, *a: None if name == 'tensorflow'
                      else real_find_spec(name, *a))
  with pytest.raises(ImportError, match=r"bnnjax\[tfds-prepare\]"):
    data.load('fashion_mnist', data_dir=str(tmp_path), download=True)


def test_prepare_cli(tmp_path, capsys):
  from bnnjax.data import prepare
  assert prepare.main(['--dataset=mnist5k']) == 0
  assert 'nothing to prepare' in capsys.readouterr().out
  assert prepare.main(['--dataset=nope']) == 2
  assert "unknown dataset 'nope'" in capsys.readouterr().err


def test_cifar10_raw_images_under_mock(tmp_path):
  """Raw CIFAR-10 for conv nets: 32x32x3 bits in (h, w, c) order from one median per
  channel over the pool, the paper's CIFAR-10 test size, x_float = pixels / 255."""
  fake_prepared(tmp_path, 'cifar10', '3.0.2')
  with tfds.testing.mock_data(num_examples=40):
    ds = data.load('cifar10', data_dir=str(tmp_path))
    images, labels = mock_split('cifar10', 'train')
  assert images.shape == (40, 32, 32, 3) and ds.image_shape == (32, 32, 3)
  assert (ds.num_samples, ds.num_features, ds.num_classes) == (40, 3072, 10)
  assert ds.num_test == 40 * 10_000 // 50_000 and ds.shuffle_split
  med = np.median(images.reshape(-1, 3), axis=0)
  ref = np.where(images > med[None, None, None, :], 1, -1).reshape(40, -1)
  np.testing.assert_array_equal(unpack_rows_reference(ds.x, 3072), ref)
  np.testing.assert_array_equal(ds.y, labels)
  np.testing.assert_array_equal(np.asarray(ds.x_float),
                                images.reshape(40, -1).astype(np.float32) / 255)
