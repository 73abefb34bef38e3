"""Registry, DataSet validation, binarisation conventions and the bundled data sets."""

import inspect

import numpy as np
import pytest

from bnnjax import bits
from bnnjax import data
from bnnjax.data import binarize
from bnnjax.data import bundled


def unpack_rows_reference(words: np.ndarray, n: int) -> np.ndarray:
  """Literal bits.py layout: element e is bit e // W of word e % W; bit 1 = +1."""
  w = words.shape[1]
  out = np.empty((words.shape[0], n), np.int8)
  for e in range(n):
    bit = (words[:, e % w] >> np.uint32(e // w)) & np.uint32(1)
    out[:, e] = np.where(bit == 1, 1, -1)
  return out


# ----------------------------------------------------------------------------------
# Binarisation conventions against hand-computed values
# ----------------------------------------------------------------------------------


def test_global_median_hand_computed():
  x = np.array([[1, 5], [3, 7]], np.float32)  # median of {1, 3, 5, 7} = 4
  np.testing.assert_array_equal(binarize.median_binarize(x, 'global'),
                                [[-1, 1], [-1, 1]])


def test_value_equal_to_median_is_minus_one():
  x = np.array([[1, 2, 3]], np.float32)  # median 2: 2 > 2 is false
  np.testing.assert_array_equal(binarize.median_binarize(x, 'global'), [[-1, -1, 1]])


def test_global_median_of_images_flattens_per_sample():
  x = np.arange(2 * 2 * 2).reshape(2, 2, 2)  # values 0..7, median 3.5
  np.testing.assert_array_equal(binarize.median_binarize(x, 'global'),
                                [[-1, -1, -1, -1], [1, 1, 1, 1]])


def test_feature_median_hand_computed():
  x = np.array([[1, 10], [2, 30], [3, 20]], np.float64)  # medians 2 and 20
  np.testing.assert_array_equal(binarize.median_binarize(x, 'feature'),
                                [[-1, -1], [-1, 1], [1, -1]])


def test_channel_median_hand_computed():
  # [n=2, C=2, H=1, W=2]; channel 0 values {0, 4, 2, 6} -> median 3;
  # channel 1 values {10, 10, 10, 11} -> median 10.
  x = np.array([[[[0, 4]], [[10, 10]]],
                [[[2, 6]], [[10, 11]]]], np.float32)
  np.testing.assert_array_equal(binarize.medians(x, 'channel'), [3, 10])
  # C-order flattening: (c0 w0, c0 w1, c1 w0, c1 w1)
  np.testing.assert_array_equal(binarize.median_binarize(x, 'channel'),
                                [[-1, 1, -1, -1], [-1, 1, -1, 1]])


def test_channel_median_matches_loop_reference():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(5, 3, 2, 2)).astype(np.float32)
  ref = np.empty((5, 3, 2, 2), np.int8)
  for c in range(3):
    m = np.median(x[:, c].ravel())
    for i in range(5):
      for h in range(2):
        for w in range(2):
          ref[i, c, h, w] = 1 if x[i, c, h, w] > m else -1
  np.testing.assert_array_equal(binarize.median_binarize(x, 'channel'), ref.reshape(5, -1))


def test_thermometer_hand_computed():
  # n = 5, L = 3: i_k = int(k/4 · 4) = 1, 2, 3, thresholds sorted[1..3] = 2, 3, 4;
  # bit k is +1 where x >= t_k.
  col = np.array([3, 1, 5, 4, 2], np.float64)
  np.testing.assert_array_equal(binarize.thermometer_thresholds(col, 3), [2, 3, 4])
  np.testing.assert_array_equal(binarize.thermometer(col, 3),
                                [[1, 1, -1], [-1, -1, -1], [1, 1, 1], [1, 1, 1],
                                 [1, -1, -1]])


def test_thermometer_indices_are_the_papers_float64_formula():
  """i_k = int(k / 33 * (n - 1)) in float64, as the paper's DistributiveThermometer
  computes `(np.arange(1, L + 1) / (L + 1) * (n - 1)).astype(int)`; for some n this is
  one less than the exact floor(k (n - 1) / 33) (first at n = 56, k = 9 and 18)."""
  for n in range(1, 3000):
    want = (np.arange(1, 33) / 33 * (n - 1)).astype(int)
    np.testing.assert_array_equal(binarize.thermometer_indices(n), want, err_msg=str(n))
  idx = binarize.thermometer_indices(56)
  assert 9 * 55 // 33 == 15 and idx[8] == 14  # 9/33 * 55 = 14.999... in float64
  assert 18 * 55 // 33 == 30 and idx[17] == 29
  assert [int(i) for i in binarize.thermometer_indices(569)] == [
      int(k / 33 * 568) for k in range(1, 33)]
  with pytest.raises(ValueError, match='levels'):
    binarize.thermometer_indices(5, 0)


def thermometer_reference(column, levels=32):
  """Literal rule (algorithm.md, "Data protocol", as the paper's code computes it)."""
  n = len(column)
  srt = sorted(float(v) for v in column)
  out = []
  for v in column:
    row = []
    for k in range(1, levels + 1):
      t = srt[int(k / (levels + 1) * (n - 1))]
      row.append(1 if float(v) >= t else -1)
    out.append(row)
  return np.array(out, np.int8)


@pytest.mark.parametrize('n', [5, 50, 56, 100])
def test_thermometer_32_levels_matches_loop_reference(n):
  rng = np.random.default_rng(n)
  col = rng.normal(size=n).round(1)  # ties included
  out = binarize.thermometer(col)
  assert out.shape == (n, 32) and out.dtype == np.int8
  np.testing.assert_array_equal(out, thermometer_reference(col))


def test_thermometer_constant_column_is_all_plus_one():
  # Every threshold equals the value, and x >= t.
  np.testing.assert_array_equal(binarize.thermometer(np.full(7, 2.5)), np.ones((7, 32)))


def test_one_hot_pm1_hand_computed():
  out, cats = binarize.one_hot_pm1(['b', 'a', 'c', 'a'])
  assert list(cats) == ['a', 'b', 'c']
  np.testing.assert_array_equal(out, [[-1, 1, -1], [1, -1, -1], [-1, -1, 1], [1, -1, -1]])


@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_non_finite_features_are_rejected(bad):
  x = np.zeros((3, 4), np.float32)
  x[1, 2] = bad
  with pytest.raises(ValueError, match=r'non-finite.*\(1, 2\)'):
    binarize.median_binarize(x, 'feature', 'toy')
  with pytest.raises(ValueError, match='non-finite'):
    binarize.thermometer(x[:, 2])


def test_binarize_rejects_empty_and_bad_modes():
  with pytest.raises(ValueError, match='empty'):
    binarize.median_binarize(np.zeros((0, 3)), 'feature')
  with pytest.raises(ValueError, match='median mode'):
    binarize.median_binarize(np.zeros((2, 3)), 'row')
  with pytest.raises(ValueError, match=r'\[n, C, H, W\]'):
    binarize.median_binarize(np.zeros((2, 3)), 'channel')


# ----------------------------------------------------------------------------------
# DataSet validation
# ----------------------------------------------------------------------------------


def test_from_signs_packs_with_the_bits_convention():
  rng = np.random.default_rng(2)
  x = np.where(rng.random((6, 37)) < 0.5, 1, -1).astype(np.int8)
  y = np.array([0, 1, 2, 0, 1, 2])
  ds = data.from_signs('toy', x, y, 3, 2)
  assert ds.x.dtype == np.uint32 and ds.x.shape == (6, bits.num_words(37))
  np.testing.assert_array_equal(unpack_rows_reference(ds.x, 37), x)
  assert ds.size_bits == 6 * 37 and ds.train_size_bits == 4 * 37
  assert ds.y.dtype == np.int32


@pytest.mark.parametrize('labels, match', [
    ([0, 1, 3], r'labels must be in \[0, 3\)'),
    ([0, -1, 2], r'labels must be in \[0, 3\)'),
    ([0.0, 1.0, 2.0], 'labels must be integers'),
    ([0, 1], 'shape'),
])
def test_bad_labels_are_rejected(labels, match):
  with pytest.raises(ValueError, match=match):
    data.from_signs('toy', np.ones((3, 4)), np.asarray(labels), 3, 1)


def test_empty_set_and_non_sign_features_are_rejected():
  with pytest.raises(ValueError, match='non-empty'):
    data.from_signs('toy', np.ones((0, 4)), np.zeros(0, np.int32), 2, 1)
  with pytest.raises(ValueError, match='±1'):
    data.from_signs('toy', np.zeros((3, 4)), np.zeros(3, np.int32), 2, 1)
  with pytest.raises(ValueError, match='num_test'):
    data.from_signs('toy', np.ones((3, 4)), np.zeros(3, np.int32), 2, 3)


def test_feature_count_that_does_not_match_the_network():
  ds = data.from_signs('toy', np.ones((4, 40)), np.array([0, 1, 0, 1]), 2, 1)
  ds.check_network(40, 2)
  with pytest.raises(ValueError, match='40 features but the network expects 39'):
    ds.check_network(39, 2)
  with pytest.raises(ValueError, match='2 classes'):
    ds.check_network(40, 1)
  # The trainer's own check also refuses a pool with another word count.
  from bnnjax import config as config_lib
  from bnnjax import checks
  from bnnjax import run
  cfg = config_lib.Config(layers=(5,), group_size=5, num_inputs=100, num_classes=2,
                          num_test=1)
  with pytest.raises(ValueError, match='network expects 100 inputs'):
    checks.check_packed_data(run.Data(ds.x, ds.y), cfg)


# ----------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------


def test_registry_names():
  names = set(data.DATASETS)
  expected = {'prototypes', 'prototypes_bep', 'fashion_mnist', 'cifar10_features',
              'cifar100_features', 'imagenette_features', 'digits', 'mnist5k',
              'breast_cancer', 'cifar10'}
  assert expected <= names
  uci = {n for n in names if n.startswith('uci/')}
  assert len(uci) == 30 and names == expected | uci
  assert data.UCI_IDS['aids'] == 890 and data.UCI_IDS['webphishing'] == 379


def test_unknown_name_and_argument_are_rejected():
  with pytest.raises(ValueError, match=r"unknown dataset 'nope'.*mnist5k"):
    data.load('nope')
  with pytest.raises(ValueError, match='unknown data loader argument'):
    data.load('digits', smoke=True, shuffle=True)


def test_every_loader_takes_the_common_arguments():
  for name, fn in data.DATASETS.items():
    params = inspect.signature(fn).parameters
    accepts_any = any(p.kind == p.VAR_KEYWORD for p in params.values())
    assert accepts_any or set(data.LOADER_KWARGS) <= set(params), name


def test_every_registered_name_loads_or_names_its_missing_data(tmp_path):
  """The shared battery: with an empty data dir every entry either gives a valid pool
  or raises FileNotFoundError naming the data set, the directory and a command."""
  from bnnjax import config as config_lib
  from bnnjax import checks
  from bnnjax import run
  loaded = []
  for name in sorted(data.DATASETS):
    try:
      ds = data.load(name, smoke=True, data_dir=str(tmp_path))
    except FileNotFoundError as e:
      msg = str(e)
      short = name.replace('_features', '')
      assert short in msg and str(tmp_path) in msg and 'python -m bnnjax.data.' in msg, msg
      continue
    loaded.append(name)
    assert ds.name == name
    cfg = config_lib.Config(layers=(5,), group_size=5, num_inputs=ds.num_features,
                            num_classes=ds.num_classes, num_test=ds.num_test,
                            shuffle_split=ds.shuffle_split)
    checks.check_packed_data(run.Data(ds.x, ds.y), cfg)  # packing, padding, labels, split
    if ds.x_float is not None:  # float features: one row per sample, floating point
      assert ds.x_float.ndim == 2 and ds.x_float.shape[0] == ds.num_samples
      assert np.issubdtype(ds.x_float.dtype, np.floating)
      assert ds.binarisation is not None  # raw features: the loader's rule comes along
  assert set(loaded) == {'prototypes', 'prototypes_bep', 'digits', 'mnist5k',
                         'breast_cancer'}


def test_no_official_split_for_pool_only_sets():
  for name in ('prototypes', 'digits', 'mnist5k', 'breast_cancer', 'uci/blood'):
    with pytest.raises(ValueError, match='no official test split'):
      data.load(name, smoke=True, official_split=True)


# ----------------------------------------------------------------------------------
# Bundled real data
# ----------------------------------------------------------------------------------


def test_mnist5k_file_and_preprocessing():
  images, labels = bundled.read_mnist5k()
  assert images.shape == (5000, 784) and images.dtype == np.uint8
  np.testing.assert_array_equal(np.bincount(labels), [500] * 10)
  ds = data.load('mnist5k')
  assert (ds.num_samples, ds.num_features, ds.num_classes, ds.num_test) == (5000, 784, 10,
                                                                            1000)
  assert ds.shuffle_split  # the file is sorted by class
  ref = np.where(images > np.median(images), 1, -1)
  np.testing.assert_array_equal(unpack_rows_reference(ds.x, 784), ref)
  np.testing.assert_array_equal(ds.y, labels)


def test_digits_preprocessing_and_smoke_slice():
  images, labels = bundled.read_digits()
  ds = data.load('digits')
  assert (ds.num_samples, ds.num_features, ds.num_test) == (1797, 64, 360)
  np.testing.assert_array_equal(unpack_rows_reference(ds.x, 64),
                                np.where(images > np.median(images), 1, -1))
  small = data.load('digits', smoke=True)
  sub = images[::10]
  assert small.num_samples == sub.shape[0] and small.num_test == 36
  np.testing.assert_array_equal(unpack_rows_reference(small.x, 64),
                                np.where(sub > np.median(sub), 1, -1))
  np.testing.assert_array_equal(small.y, labels[::10])


@pytest.mark.parametrize('name, max_level', [('digits', 16), ('mnist5k', 255)])
def test_bundled_float_features(name, max_level):
  """x_float = pixels / max_level in [0, 1], float32, in the order of x (smoke too); one
  global median over x_float gives back x exactly."""
  images, _ = bundled.read_digits() if name == 'digits' else bundled.read_mnist5k()
  for smoke, rows in ((False, slice(None)), (True, slice(None, None, 10))):
    ds = data.load(name, smoke=smoke)
    sub = np.asarray(images)[rows].reshape(ds.num_samples, -1)
    assert ds.x_float.shape == (ds.num_samples, ds.num_features)
    assert ds.x_float.dtype == np.float32
    np.testing.assert_array_equal(ds.x_float, sub.astype(np.float32) / max_level)
    assert ds.x_float.min() == 0 and ds.x_float.max() == 1
    np.testing.assert_array_equal(
        binarize.median_binarize(ds.x_float, 'global'),
        unpack_rows_reference(ds.x, ds.num_features))


def test_x_float_is_optional_and_validated():
  x = np.ones((4, 40))
  y = np.array([0, 1, 0, 1])
  assert data.from_signs('toy', x, y, 2, 1).x_float is None
  ds = data.from_signs('toy', x, y, 2, 1, x_float=np.zeros((4, 3), np.float32))
  assert ds.x_float.shape == (4, 3)
  with pytest.raises(ValueError, match=r'toy: float features .* shape \[4, D'):
    data.from_signs('toy', x, y, 2, 1, x_float=np.zeros((3, 40), np.float32))
  with pytest.raises(ValueError, match='shape'):
    data.from_signs('toy', x, y, 2, 1, x_float=np.zeros(4, np.float32))
  with pytest.raises(ValueError, match='floating point'):
    data.from_signs('toy', x, y, 2, 1, x_float=np.zeros((4, 40), np.int32))


def test_prototypes_have_no_float_features():
  assert data.load('prototypes', smoke=True).x_float is None


def test_lazy_rows_match_the_concatenated_array():
  from bnnjax.data import lazy
  a = np.arange(5 * 2 * 3, dtype=np.float32).reshape(5, 2, 3)
  b = -np.arange(3 * 2 * 3, dtype=np.float32).reshape(3, 2, 3)
  rows = lazy.LazyRows([a, b], lambda blk: 2 * blk.reshape(len(blk), -1), 6)
  full = 2 * np.concatenate([a, b]).reshape(8, 6)
  assert rows.shape == (8, 6) and rows.dtype == np.float32 and len(rows) == 8
  assert rows.ndim == 2 and rows.nbytes == full.nbytes
  np.testing.assert_array_equal(np.asarray(rows), full)
  np.testing.assert_array_equal(np.asarray(rows, np.float64), full)
  for key in (3, -1, slice(2, 7), slice(None, None, -3), [7, 0, 5, 5],
              np.arange(8) % 2 == 0, (slice(1, 6), 4), (np.array([6, 1]), slice(2, 4))):
    np.testing.assert_array_equal(rows[key], full[key], err_msg=str(key))
  with pytest.raises(IndexError):
    rows.take([8])
  with pytest.raises(IndexError):
    rows[1, 2, 3]
  with pytest.raises(ValueError, match='computed on demand'):
    np.asarray(rows, copy=False)


@pytest.mark.slow
def test_a_bundled_set_trains_through_the_method_interface():
  from bnnjax import methods
  ds = data.load('digits', smoke=True)
  spec = methods.RunSpec(layers=(15,), group_size=(15,), num_epochs=2, num_seeds=1,
                         batch_size=50)
  methods.validate(spec, ds)
  res = methods.run(spec, ds)
  assert res.test_acc.shape == (1, 2) and res.train_acc.shape == (1, 2)
  # Accuracies are multiples of 1 / num_test (in percent) and inside [0, 100].
  counts = res.test_acc * ds.num_test / 100
  np.testing.assert_allclose(counts, np.round(counts), atol=1e-3)
  assert np.all((res.test_acc >= 0) & (res.test_acc <= 100))
