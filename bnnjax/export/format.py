r"""The export file format: a trained network as real bits, in one versioned file.

For inference a network trained by the rule is its binary weights W_l = sign(H_l) and
its last local classifier P_L, the output layer (algorithm.md, steps 1-2). `save` writes
them as packed bits, 1 bit per weight; under 'reference' semantics a weight (or a
classifier entry) may be 0, and only the positions of those zeros are added, compressed
(about 2 + log2(weights / zeros) bits per zero). Every local classifier is kept (they
are needed to resume training), the config, the data set and its split, the input
binarisation (thresholds, so raw features can be fed where the data set has them), and
the versions; the integer hidden weights are optional (`include_hidden`: resume
training with `Export.state`). `load` checks everything and raises one `ExportError`
(a ValueError naming the file and what is wrong) for a truncated, corrupted, foreign or
newer file. `Predictor` predicts from packed or raw inputs, equal bit for bit to
`model.predict` of the trained state (`bnnjax.export.predictor`); `c_header` turns a
network into a C header for the reference C program in `bnnjax/csrc/`
(XNOR/AND/popcount, no floating point; `bnnjax.export.c`).

File format, version 1 (every integer little-endian)
----------------------------------------------------
=========  ======  =====================================================================
offset     size    field
=========  ======  =====================================================================
0          8       magic b'\x89BNNJAX\n' (a high byte and a newline, as PNG, so text-mode
                   transfers are caught)
8          4       format version, uint32 (1)
12         4       header length H, uint32
16         8       file length T in bytes, uint64 (the checksum included)
24         H       header: UTF-8 JSON, keys sorted (below)
24 + H     ...     zero bytes up to a multiple of 8: the data section starts there
...        ...     the arrays, each `offset` bytes after the data start (a multiple of 8)
T - 32     32      SHA-256 of bytes [0, T - 32)
=========  ======  =====================================================================

Header keys: "format" ("bnnjax-export"), "format_version" (1), "config" (every field of
`bnnjax.Config`; for a conv net every field of `bnnjax.conv.ConvConfig`, its blocks as
the --conv text, with "config_type": "ConvConfig", absent otherwise), "data" (the data set: name, smoke, official_split, num_samples,
num_test, shuffle_split, pool_sha256 of the packed pool and labels, and "binarisation"),
"networks" (one record per exported run: run index k, seed (run k of a call used seed +
k), grid_point, hparams, test_acc: final test accuracy in percent as training reported
it), "arrays" (the table: name, dtype, shape, offset, nbytes; zero sets also count,
universe and low_bits), "versions" (bnnjax, jax, numpy, python).

Arrays of network i, named "net{i}/<name>" (l = 0 .. L-1 is the layer):

* ``w{l}.sign`` uint32[N_l, W_{l-1}]: row j is the fan-in column W_l[:, j] packed in the
  bits.py layout (a conv layer: row f is filter f, its k*k*C entries in (di, dj, c)
  order; its classifier p{l} has D_l = Hp*Wp*F entries per class) (element e at bit e // W of word e % W; bit 1 for +1, 0 for −1 or 0,
  padding bits 0). Rows are neurons so a C loop reads one row per neuron.
* ``w{l}.zeros`` uint8: the sorted flat positions j * N_{l-1} + i of the weights that
  are 0, Elias-Fano coded (below). Only under 'reference', only when there is a zero.
* ``p{l}.sign`` uint32[C_out, W_l] and ``p{l}.zeros``: the local classifier P_l
  [N_l, C_out] the same way (row c is column c). ``p{L-1}`` is the output layer.
* optional (`include_hidden`): ``h{l}`` int32[N_{l-1}, N_l] hidden weights H_l, ``q{l}``
  int32[N_l, C_out] classifier weights Q_l (trained classifiers only), ``key``
  uint32[2], ``prev_acc`` float32[], ``epoch`` int32[]: the whole `model.State`.

Data arrays (only where raw features can be fed): ``input.source`` int32[D] and
``input.threshold`` float64[D]: input bit d is +1 where raw feature source[d] is
greater than (or, for "compare" ">=", at least) threshold[d], else −1.

Elias-Fano code of m sorted positions p_0 < ... < p_{m-1} in [0, U): with
l = floor(log2(U / m)) low bits, the bytes are the m low parts p_i mod 2^l (m * l bits),
then a bitmap of m + ((U - 1) >> l) + 1 bits with bit (p_i >> l) + i set for each i;
both parts start on a byte, bits fill each byte from its least significant bit.

Input binarisation ("data" -> "binarisation"): "kind" is 'median_global',
'median_channel', 'thermometer' or 'none', with "compare", "num_raw_features" and a
"note". The thresholds are computed at export from the data set's raw features
(`DataSet.x_float`) with the loader's rule (`DataSet.binarisation`), and kept only if
binarising x_float with them reproduces the data set's bits exactly on the whole pool;
otherwise (and for data sets without x_float or a rule: prototypes, uci/*) the kind is
'none' and only packed inputs can be fed. Raw inputs are the features as `DataSet.x_float` gives them (e.g. digits:
pixels / 16; fashion_mnist: normalised pixels; breast_cancer: the 30 raw columns).

Reference C inference: ``python -m bnnjax.predict --model=M.bnn --c_header=bnn_model.h
--network=0`` writes the header; `c_source_dir()` holds ``bnn_infer.c``, which reads
packed inputs in the 'BNNI' file format (`write_inputs`) and prints one prediction per
line.
"""

import dataclasses
import hashlib
import json
import math
import platform
import struct
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from bnnjax import bits
from bnnjax import config as config_lib
from bnnjax import model
from bnnjax.checkpoint import atomic_write
from bnnjax.config import Config

MAGIC = b'\x89BNNJAX\n'
FORMAT_VERSION = 1
FORMAT_NAME = 'bnnjax-export'
_PREAMBLE = struct.Struct('<8sIIQ')  # magic, version, header length, file length
CHECKSUM_BYTES = 32
ALIGN = 8
_DTYPES = ('uint8', 'uint32', 'int32', 'float32', 'float64')


_MEDIAN_BLOCK_BYTES = 256 * 2**20  # float values gathered at once for channel medians


class ExportError(ValueError):
  """A file that `load` cannot use: message '<path>: <what is wrong>'."""

  def __init__(self, path: str, what: str):
    super().__init__(f'{path}: {what}')
    self.path = path
    self.what = what


# ----------------------------------------------------------------------------------
# Elias-Fano sets and packed rows (host-side NumPy)
# ----------------------------------------------------------------------------------


def _low_bits(count: int, universe: int) -> int:
  return max(0, int(math.floor(math.log2(universe / count)))) if count else 0


def encode_positions(positions: np.ndarray, universe: int) -> Tuple[np.ndarray, int]:
  """Elias-Fano code of sorted distinct positions in [0, universe) -> (uint8[...],
  low_bits). See the module docstring."""
  p = np.asarray(positions, np.int64).reshape(-1)
  m = p.size
  if m == 0:
    return np.zeros(0, np.uint8), 0
  if np.any(np.diff(p) <= 0) or p[0] < 0 or p[-1] >= universe:
    raise ValueError('positions must be sorted, distinct and in [0, universe)')
  l = _low_bits(m, universe)
  low = (p[:, None] >> np.arange(l)) & 1  # [m, l], bit 0 first
  high = np.zeros(m + ((universe - 1) >> l) + 1, np.uint8)
  high[(p >> l) + np.arange(m)] = 1
  return np.concatenate([np.packbits(low.reshape(-1).astype(np.uint8), bitorder='little'),
                         np.packbits(high, bitorder='little')]), l


def decode_positions(code: np.ndarray, count: int, universe: int,
                     low_bits: int) -> np.ndarray:
  """Inverse of `encode_positions`: int64[count]. Raises ValueError if inconsistent."""
  if count == 0:
    if code.size:
      raise ValueError('an empty zero set has data')
    return np.zeros(0, np.int64)
  l = low_bits
  if l != _low_bits(count, universe):
    raise ValueError(f'low_bits {l} does not match {count} zeros of {universe}')
  n_low = -(-count * l // 8)
  n_high_bits = count + ((universe - 1) >> l) + 1
  if code.size != n_low + -(-n_high_bits // 8):
    raise ValueError('zero set has the wrong size')
  low_bits_arr = np.unpackbits(code[:n_low], bitorder='little')[:count * l]
  low = (low_bits_arr.reshape(count, l).astype(np.int64) << np.arange(l)).sum(axis=1)
  high_bits = np.unpackbits(code[n_low:], bitorder='little')
  ones = np.flatnonzero(high_bits)
  if ones.size != count or ones[-1] >= n_high_bits:
    raise ValueError('zero set bitmap does not hold its count')
  p = ((ones - np.arange(count)) << l) | low
  if np.any(np.diff(p) <= 0) or p[-1] >= universe:
    raise ValueError('zero positions are not sorted or out of range')
  return p


def unpack_rows_numpy(words: np.ndarray, n: int) -> np.ndarray:
  """uint32[K, W] rows (bits.py layout) -> int8[K, n] with 1 where the bit is set."""
  words = np.asarray(words, np.uint32)
  shifts = np.arange(bits.WORD_BITS, dtype=np.uint32)[None, :, None]
  b = (words[:, None, :] >> shifts) & np.uint32(1)  # [K, 32, W]: element bit * W + word
  return b.reshape(words.shape[0], -1)[:, :n].astype(np.int8)


def padding_ok(words: np.ndarray, n: int) -> bool:
  """True when every bit beyond the n real elements of each uint32[K, W] row is 0."""
  full = bits.pack_numpy(np.ones((1, n), np.int8))[0]
  return not np.any(np.asarray(words) & ~full)


class PackedRows(NamedTuple):
  """K vectors of n values in {-1, 0, +1}, one per row (bits.py layout).

  sign: uint32[K, W] bit set where the value is +1. nz: uint32[K, W] bit set where the
  value is nonzero, or None when no value is 0. n: values per row."""
  sign: np.ndarray
  nz: Optional[np.ndarray]
  n: int

  def values(self) -> np.ndarray:
    """int8[K, n] in {-1, 0, +1}."""
    v = 2 * unpack_rows_numpy(self.sign, self.n) - 1
    if self.nz is not None:
      v = v * unpack_rows_numpy(self.nz, self.n)
    return v.astype(np.int8)


def pack_rows(values: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """int[K, n] in {-1, 0, +1} -> (sign uint32[K, W], zero positions int64[m], flat
  row-major in [0, K * n))."""
  values = np.asarray(values)
  return bits.pack_numpy(values), np.flatnonzero(values.reshape(-1) == 0)


def _rows_from(sign: np.ndarray, zeros: np.ndarray, n: int) -> PackedRows:
  if zeros.size == 0:
    return PackedRows(sign, None, n)
  nz = np.ones(sign.shape[0] * n, np.int8)
  nz[zeros] = 0
  return PackedRows(sign, bits.pack_numpy(nz.reshape(sign.shape[0], n)), n)


# ----------------------------------------------------------------------------------
# Input binarisation (thresholds for raw features)
# ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Binarisation:
  """How raw features become the D input bits.

  kind: 'median_global' | 'median_channel' | 'thermometer' | 'none' (packed inputs only).
  compare: '>' or '>=': bit d is +1 where x[source[d]] compare threshold[d].
  source: int32[D] raw feature index of each bit, or None. threshold: float64[D] or None.
  num_raw_features: D' (0 for 'none'). note: provenance, or why there is none."""
  kind: str = 'none'
  compare: str = '>'
  source: Optional[np.ndarray] = None
  threshold: Optional[np.ndarray] = None
  num_raw_features: int = 0
  note: str = ''

  @property
  def available(self) -> bool:
    return self.kind != 'none'

  def apply(self, x_raw: np.ndarray) -> np.ndarray:
    """float[B, D'] raw features -> uint32[B, W] packed ±1 inputs."""
    x = np.asarray(x_raw)
    if x.ndim != 2 or x.shape[1] != self.num_raw_features:
      raise ValueError(f'raw inputs must have shape [B, {self.num_raw_features}], got '
                       f'{list(x.shape)}')
    if not np.issubdtype(x.dtype, np.number) or not np.all(np.isfinite(x)):
      raise ValueError('raw inputs must be finite numbers')
    vals = x[:, self.source].astype(np.float64)
    hit = vals > self.threshold if self.compare == '>' else vals >= self.threshold
    return bits.pack_numpy(np.where(hit, 1, -1).astype(np.int8))


def _no_raw(note: str) -> Binarisation:
  return Binarisation(kind='none', note=note)


def _row_chunks(x_float, chunk: int = 4096):
  for lo in range(0, x_float.shape[0], chunk):
    yield lo, np.asarray(x_float[lo:lo + chunk], np.float32)


def _channel_medians(x_float, num_channels: int) -> np.ndarray:
  """float32[C] medians of each channel's block of D'/C consecutive columns, over all
  rows, gathering a block of channels at a time (the CIFAR feature pool is 1.8 GB)."""
  n, d = x_float.shape
  per = d // num_channels
  block = max(1, _MEDIAN_BLOCK_BYTES // max(1, n * per * 4))
  out = np.empty(num_channels, np.float32)
  for c0 in range(0, num_channels, block):
    c1 = min(num_channels, c0 + block)
    vals = np.empty((n, (c1 - c0) * per), np.float32)
    for lo, rows in _row_chunks(x_float):
      vals[lo:lo + rows.shape[0]] = rows[:, c0 * per:c1 * per]
    out[c0:c1] = np.median(vals.reshape(n, c1 - c0, per), axis=(0, 2))
  return out


def input_thresholds(ds) -> Binarisation:
  """Recomputes the binarisation of a `bnnjax.data.DataSet` from its raw features.

  The rule is the data set's own (`DataSet.binarisation`, set by its loader); the
  thresholds are computed from `ds.x_float` and kept only if they reproduce `ds.x` bit
  for bit on the whole pool."""
  rule = getattr(ds, 'binarisation', None)
  x_float = getattr(ds, 'x_float', None)
  if x_float is None:
    return _no_raw(f'{ds.name} provides no raw features (DataSet.x_float): feed packed '
                   f'inputs')
  if rule is None:
    return _no_raw(f'no known binarisation rule for {ds.name} (DataSet.binarisation): '
                   f'feed packed inputs')
  d, d_raw = ds.num_features, int(x_float.shape[1])
  if rule.kind == 'median_global':
    if d_raw != d:
      return _no_raw(f'{ds.name}: {d_raw} raw features for {d} bits')
    t = np.median(np.asarray(x_float, np.float32))
    source, threshold, compare = np.arange(d), np.full(d, t, np.float64), '>'
    what = 'one global median over the pool'
  elif rule.kind == 'median_channel':
    c = rule.channels
    if d_raw != d or c < 1 or d % c:
      return _no_raw(f'{ds.name}: {d_raw} raw features for {d} bits and {c} channels')
    med = _channel_medians(x_float, c)
    source, threshold, compare = np.arange(d), np.repeat(med, d // c).astype(
        np.float64), '>'
    what = f'per-channel medians over the pool ({c} channels)'
  else:  # thermometer: every raw column numeric, in order, levels bits each
    from bnnjax.data import binarize
    levels = rule.levels
    if levels < 1 or d != d_raw * levels:
      return _no_raw(f'{ds.name}: {d} bits are not {levels} thermometer bits for each of '
                     f'{d_raw} raw columns')
    cols = np.asarray(x_float, np.float32)
    threshold = np.concatenate([binarize.thermometer_thresholds(cols[:, j], levels)
                                for j in range(d_raw)]).astype(np.float64)
    source, compare = np.repeat(np.arange(d_raw), levels), '>='
    what = f'{levels}-level quantile thermometer per raw column'
  b = Binarisation(kind=rule.kind, compare=compare, source=source.astype(np.int32),
                   threshold=threshold, num_raw_features=d_raw,
                   note=f'{what}, recomputed from DataSet.x_float and checked to '
                        f'reproduce the pool\'s bits')
  x = np.asarray(ds.x)
  bad = 0
  for lo, rows in _row_chunks(x_float):
    bad += int(np.sum(np.any(b.apply(rows) != x[lo:lo + rows.shape[0]], axis=1)))
  if bad:
    return _no_raw(f'{ds.name}: recomputing the {rule} binarisation from DataSet.x_float '
                   f'did not reproduce the data set\'s bits on {bad} of {x.shape[0]} '
                   f'samples, so raw input is disabled: feed packed inputs')
  return b


def pool_hash(x: np.ndarray, y: np.ndarray) -> str:
  """SHA-256 of a packed pool and its labels (identifies the data a split was drawn
  from)."""
  h = hashlib.sha256()
  h.update(np.ascontiguousarray(np.asarray(x, np.uint32)).tobytes())
  h.update(np.ascontiguousarray(np.asarray(y, np.int32)).tobytes())
  return h.hexdigest()


# ----------------------------------------------------------------------------------
# The loaded file
# ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Network:
  """One exported run.

  weights: per layer PackedRows of W_l^T: [N_l rows of N_{l-1}] (row j = neuron j).
  classifiers: per layer PackedRows of P_l^T: [C_out rows of N_l]; the last is the
    output layer.
  run: index k in its call; seed: the seed of run k (the call's seed + k), which also
    drew its train/test split; grid_point: index in a hyper-parameter grid or None;
    hparams: {robustness, p_reinforce, weight_clip}; test_acc: the final test accuracy
    (percent) training reported, or None.
  hidden, classifier_hidden, key, prev_acc, epoch: the rest of `model.State` when
    exported with hidden weights (else None).
  """
  weights: Tuple[PackedRows, ...]
  classifiers: Tuple[PackedRows, ...]
  run: int
  seed: int
  grid_point: Optional[int] = None
  hparams: Dict = dataclasses.field(default_factory=dict)
  test_acc: Optional[float] = None
  hidden: Optional[Tuple[np.ndarray, ...]] = None
  classifier_hidden: Optional[Tuple[np.ndarray, ...]] = None
  key: Optional[np.ndarray] = None
  prev_acc: Optional[np.ndarray] = None
  epoch: Optional[np.ndarray] = None


@dataclasses.dataclass(frozen=True)
class Export:
  """A loaded export file (`load`). data: the header's data record ({} without one)."""
  path: str
  config: Config
  networks: Tuple[Network, ...]
  binarisation: Binarisation
  data: Dict
  versions: Dict
  header: Dict
  file_bytes: int

  def network(self, index: int) -> Network:
    if not 0 <= index < len(self.networks):
      raise ValueError(f'{self.path}: network {index} does not exist (the file holds '
                       f'{len(self.networks)}: 0 to {len(self.networks) - 1})')
    return self.networks[index]

  def predictor(self, index: int = 0, batch_size: int = 1024):
    """A `predictor.Predictor` of network `index`."""
    from bnnjax.export.predictor import Predictor
    return Predictor(self.network(index), self.config, self.binarisation, batch_size)

  def state(self, index: int = 0) -> model.State:
    """The full `model.State` of network `index` (exported with hidden weights)."""
    net = self.network(index)
    if net.hidden is None:
      raise ValueError(f'{self.path}: exported without hidden weights '
                       f'(include_hidden / --export_hidden); cannot resume training')
    return model.State(
        hidden=tuple(jnp.asarray(h) for h in net.hidden),
        classifiers=tuple(jnp.asarray(p.values().T) for p in net.classifiers),
        key=jnp.asarray(net.key), prev_acc=jnp.asarray(net.prev_acc),
        epoch=jnp.asarray(net.epoch),
        classifier_hidden=tuple(jnp.asarray(q) for q in (net.classifier_hidden or ())))

  def split_indices(self, index: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """(train_idx, test_idx) of network `index`'s run over the exported pool: run k's key
    PRNGKey(seed) is split into (split key, init key) as `run.make_runner` does."""
    from bnnjax import engine
    if not self.data:
      raise ValueError(f'{self.path}: exported without its data set; its split is '
                       f'unknown')
    net = self.network(index)
    split_key, _ = jax.random.split(jax.random.PRNGKey(net.seed))
    protocol = config_lib.Protocol(num_test=self.data['num_test'],
                                   shuffle_split=self.data['shuffle_split'])
    train_idx, test_idx = engine.split_indices(split_key, self.data['num_samples'],
                                               protocol)
    return np.asarray(train_idx), np.asarray(test_idx)

  def check_dataset(self, ds) -> None:
    """Raises ValueError unless `ds` has this network's input width and at most its
    number of classes. (`same_pool` tells whether `ds` is the pool trained on, so that
    `split_indices` gives the run's split.)"""
    c = self.config
    if ds.num_features != c.num_inputs:
      raise ValueError(f'{ds.name} has {ds.num_features} features but {self.path} '
                       f'expects {c.num_inputs} inputs')
    if ds.num_classes > c.num_classes:
      raise ValueError(f'{ds.name} has {ds.num_classes} classes but {self.path} has '
                       f'{c.num_classes}')

  def same_pool(self, ds) -> bool:
    """True when `ds` is the exported pool (same packed bits and labels, by SHA-256)."""
    return bool(self.data) and self.data.get('pool_sha256') == pool_hash(ds.x, ds.y)


# ----------------------------------------------------------------------------------
# save
# ----------------------------------------------------------------------------------


def _versions() -> Dict:
  import bnnjax
  return {'bnnjax': bnnjax.__version__, 'jax': jax.__version__, 'numpy': np.__version__,
          'python': platform.python_version()}


def _leaf(a) -> np.ndarray:
  return np.asarray(a)


def layer_shapes(config) -> List[Tuple[Tuple[int, int], Tuple[int, int]]]:
  """Per layer (shape of H_l, shape of P_l): ((N_{l-1}, N_l), (N_l, C_out)) for the
  rule's `Config`; ((k*k*C, F), (Hp*Wp*F, C_out)) for a conv net (`conv.ConvConfig`)."""
  if isinstance(config, Config):
    w = config.widths
    return [((w[l], w[l + 1]), (w[l + 1], config.num_outputs))
            for l in range(len(config.layers))]
  return [((s.fan_in, s.filters), (s.units, config.num_outputs)) for s in config.shapes]


def config_record(config) -> Tuple[Dict, Optional[str]]:
  """(the header's "config" record, its "config_type": None for `Config`, whose
  files have no such key, 'ConvConfig' for a conv net with its blocks as text)."""
  record = config_lib.flat_dict(config)
  if isinstance(config, Config):
    return record, None
  record['conv'] = ','.join(b.text() for b in config.conv)
  return record, type(config).__name__


def _num_networks(states: model.State) -> int:
  return int(np.shape(states.hidden[0])[0])


def save(path: str, config: Config, states: model.State, seeds: Sequence[int], *,
         runs: Optional[Sequence[int]] = None,
         grid_points: Optional[Sequence[Optional[int]]] = None,
         hparams: Optional[Sequence[Dict]] = None,
         test_acc: Optional[Sequence[Optional[float]]] = None,
         dataset=None, smoke: bool = False, official_split: bool = False,
         include_hidden: bool = False) -> int:
  """Writes networks to `path` atomically; returns the file size in bytes.

  Args:
    config: the networks' `Config`.
    states: a `model.State` of one network, or stacked with a leading [M] axis.
    seeds: [M] the seed of each network's run (it drew the split and the init key).
    runs, grid_points, hparams, test_acc: [M] optional per-network records.
    dataset: the `bnnjax.data.DataSet` trained on (its name, split protocol, pool hash
      and raw-input thresholds are stored), or None.
    smoke, official_split: the loader arguments, so `python -m bnnjax.predict` reloads
      the same pool.
    include_hidden: also store the integer hidden weights and the rest of the state.
  """
  if np.ndim(states.hidden[0]) == 2:  # one network: add the [M] axis
    states = jax.tree_util.tree_map(lambda a: np.asarray(a)[None], states)
  states = jax.tree_util.tree_map(_leaf, states)
  m = _num_networks(states)
  seeds = [int(s) for s in np.atleast_1d(seeds)]
  if len(seeds) != m:
    raise ValueError(f'{len(seeds)} seeds for {m} networks')
  shapes = layer_shapes(config)
  if len(states.hidden) != len(shapes):
    raise ValueError(f'the state has {len(states.hidden)} layers, the config '
                     f'{len(shapes)}')
  for name, values in (('runs', runs), ('grid_points', grid_points),
                       ('hparams', hparams), ('test_acc', test_acc)):
    if values is not None and len(values) != m:
      raise ValueError(f'{len(values)} {name} for {m} networks')
  if test_acc is not None and not all(
      a is None or (isinstance(a, (int, float, np.number)) and math.isfinite(float(a)))
      for a in test_acc):
    raise ValueError(f'test_acc must be finite accuracies in percent (or None), got '
                     f'{list(test_acc)}')
  ternary = config.semantics == 'reference'
  arrays: List[Tuple[str, np.ndarray, Dict]] = []

  def add_rows(name, values):  # values int[K, n]
    if not ternary and np.any(values == 0):
      raise ValueError(f'{name}: a zero under binary semantics (binary weights and '
                       f'classifier entries are never 0)')
    sign, zeros = pack_rows(values)
    arrays.append((f'{name}.sign', sign, {}))
    if zeros.size:
      code, low = encode_positions(zeros, values.size)
      arrays.append((f'{name}.zeros', code,
                     {'count': int(zeros.size), 'universe': int(values.size),
                      'low_bits': low}))

  records = []
  for i in range(m):
    pre = f'net{i}/'
    for l, (h, p) in enumerate(zip(states.hidden, states.classifiers)):
      if h[i].shape != shapes[l][0] or p[i].shape != shapes[l][1]:
        raise ValueError(f'layer {l}: state shapes {h[i].shape}, {p[i].shape} do not '
                         f'match the config {shapes[l][0]}, {shapes[l][1]}')
      add_rows(f'{pre}w{l}', np.sign(h[i]).astype(np.int8).T)
      add_rows(f'{pre}p{l}', np.asarray(p[i], np.int8).T)
      if include_hidden:
        arrays.append((f'{pre}h{l}', np.asarray(h[i], np.int32), {}))
        if getattr(config, 'train_classifiers', False):
          arrays.append((f'{pre}q{l}', np.asarray(states.classifier_hidden[l][i],
                                                  np.int32), {}))
    if include_hidden:
      arrays.append((f'{pre}key', np.asarray(states.key[i], np.uint32), {}))
      prev = np.asarray(states.prev_acc[i])  # float32, or int32 (integer-only conv)
      arrays.append((f'{pre}prev_acc', prev.astype(
          np.int32 if np.issubdtype(prev.dtype, np.integer) else np.float32), {}))
      arrays.append((f'{pre}epoch', np.asarray(states.epoch[i], np.int32), {}))
    records.append({
        'run': int(runs[i]) if runs is not None else i, 'seed': seeds[i],
        'grid_point': None if grid_points is None or grid_points[i] is None
        else int(grid_points[i]),
        'hparams': {k: (v.item() if hasattr(v, 'item') else v)
                    for k, v in (hparams[i] if hparams is not None else {}).items()},
        'test_acc': None if test_acc is None or test_acc[i] is None
        else float(test_acc[i]),
        'hidden': bool(include_hidden)})

  data = {}
  if dataset is not None:
    b = input_thresholds(dataset)
    data = {'name': dataset.name, 'smoke': bool(smoke),
            'official_split': bool(official_split),
            'num_samples': int(dataset.num_samples), 'num_features': dataset.num_features,
            'num_classes': dataset.num_classes, 'num_test': int(dataset.num_test),
            'shuffle_split': bool(dataset.shuffle_split),
            'pool_sha256': pool_hash(dataset.x, dataset.y), 'notes': dataset.notes,
            'binarisation': {'kind': b.kind, 'compare': b.compare,
                             'num_raw_features': b.num_raw_features, 'note': b.note}}
    if b.available:
      arrays.append(('input.source', b.source.astype(np.int32), {}))
      arrays.append(('input.threshold', b.threshold.astype(np.float64), {}))

  table, chunks, offset = [], [], 0
  for name, a, extra in arrays:
    a = np.ascontiguousarray(a)
    raw = a.astype(a.dtype.newbyteorder('<'), copy=False).tobytes()
    pad = -len(raw) % ALIGN
    table.append(dict(name=name, dtype=str(a.dtype), shape=list(a.shape), offset=offset,
                      nbytes=len(raw), **extra))
    chunks.append(raw + b'\0' * pad)
    offset += len(raw) + pad
  record, config_type = config_record(config)
  header = {'format': FORMAT_NAME, 'format_version': FORMAT_VERSION,
            'config': record, 'data': data, 'networks': records,
            'arrays': table, 'versions': _versions()}
  if config_type is not None:
    header['config_type'] = config_type
  head = json.dumps(header, sort_keys=True, separators=(',', ':')).encode('utf-8')
  data_start = _PREAMBLE.size + len(head)
  data_start += -data_start % ALIGN
  total = data_start + offset + CHECKSUM_BYTES
  body = (_PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(head), total) + head +
          b'\0' * (data_start - _PREAMBLE.size - len(head)) + b''.join(chunks))
  blob = body + hashlib.sha256(body).digest()
  assert len(blob) == total
  try:
    atomic_write(path, lambda f: f.write(blob))
  except OSError as e:  # e.g. a full disk: name the file; the previous one is intact
    raise OSError(e.errno, f'cannot write the export {path}: {e.strerror or e}; any '
                           f'previous file there is unchanged', path) from e
  return total


def save_run(path: str, config: Config, states: model.State, dataset, seed: int, *,
             hparams: Optional[Dict] = None, grid: Optional[Dict[str, list]] = None,
             test_acc: Optional[np.ndarray] = None, export_run: Optional[int] = None,
             include_hidden: bool = False, smoke: bool = False,
             official_split: bool = False) -> Tuple[int, int]:
  """Saves the final states of a `make_train` call; returns (networks, bytes).

  states: leading axes [P, S] (a grid of P points) or [S]; run k used seed + k.
  hparams: the scalar hyper-parameters (no grid); grid: {field: [P values]}.
  test_acc: float[..., E] of `Results` (the last epoch is recorded per network).
  export_run: only run k (of every grid point), else all."""
  states = jax.tree_util.tree_map(np.asarray, states)
  lead = 2 if grid else 1
  shape = np.shape(states.hidden[0])[:lead]
  num_points, num_seeds = (shape if grid else (1,) + shape)
  if export_run is not None and not 0 <= export_run < num_seeds:
    raise ValueError(f'export_seed (--export_seed) must be a run index in [0, '
                     f'{num_seeds - 1}], got {export_run}')
  picks = [(p, s) for p in range(num_points) for s in range(num_seeds)
           if export_run is None or s == export_run]
  flat = jax.tree_util.tree_map(
      lambda a: a.reshape((num_points * num_seeds,) + a.shape[lead:]), states)
  index = [p * num_seeds + s for p, s in picks]
  picked = jax.tree_util.tree_map(lambda a: a[index], flat)
  acc = None
  if test_acc is not None:
    final = np.asarray(test_acc)[..., -1].reshape(num_points * num_seeds)
    acc = [float(final[i]) for i in index]
  hp = [({k: v[p] for k, v in grid.items()} if grid else dict(hparams or {}))
        for p, _ in picks]
  size = save(path, config, picked, [seed + s for _, s in picks],
              runs=[s for _, s in picks],
              grid_points=[p if grid else None for p, _ in picks], hparams=hp,
              test_acc=acc, dataset=dataset, smoke=smoke, official_split=official_split,
              include_hidden=include_hidden)
  return len(picks), size


# ----------------------------------------------------------------------------------
# load
# ----------------------------------------------------------------------------------


def _config_from(d: Dict, config_type: Optional[str] = None):
  if config_type not in (None, 'ConvConfig'):
    raise ValueError(f'unknown config_type {config_type!r}')
  if config_type is None:
    cls = Config
  else:
    from bnnjax.conv import ConvConfig
    cls = ConvConfig
  fields = set(config_lib.flat_dict(cls()))
  unknown = sorted(set(d) - fields)
  if unknown:
    raise ValueError(f'unknown config fields {unknown}')
  return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def load(path: str) -> Export:
  """Reads and checks an export file; raises `ExportError` naming the file and the
  problem (not an export, truncated, corrupted, newer format version, inconsistent)."""
  try:
    with open(path, 'rb') as f:
      blob = f.read()
  except OSError as e:
    raise ExportError(path, f'cannot read: {e.strerror or e}') from None
  size = len(blob)
  head = blob[:len(MAGIC)]
  if not size:
    raise ExportError(path, 'empty file (0 bytes), not a bnnjax export')
  if head != MAGIC:
    if size < len(MAGIC) and MAGIC.startswith(head):
      raise ExportError(path, f'truncated: {size} bytes, not even the {len(MAGIC)}-byte '
                              f'magic of a bnnjax export')
    raise ExportError(path, 'not a bnnjax export file (it does not start with the '
                            'bnnjax magic bytes)')
  if size < _PREAMBLE.size:
    raise ExportError(path, f'truncated: {size} bytes, shorter than the '
                            f'{_PREAMBLE.size}-byte preamble')
  _, version, head_len, total = _PREAMBLE.unpack_from(blob)
  if version != FORMAT_VERSION:
    raise ExportError(path, f'format version {version} is not supported (this bnnjax '
                            f'reads version {FORMAT_VERSION}; a newer bnnjax wrote it, '
                            f'or the file is corrupted)')
  if size != total:
    what = 'truncated' if size < total else 'has trailing bytes'
    raise ExportError(path, f'{what} (or corrupted): the preamble says {total} bytes, '
                            f'the file has {size}')
  if _PREAMBLE.size + head_len + CHECKSUM_BYTES > total:
    raise ExportError(path, f'corrupted: header length {head_len} does not fit in '
                            f'{total} bytes')
  if hashlib.sha256(blob[:-CHECKSUM_BYTES]).digest() != blob[-CHECKSUM_BYTES:]:
    raise ExportError(path, 'corrupted: SHA-256 checksum mismatch (the bytes changed '
                            'after the file was written)')
  try:
    return _parse(path, blob, head_len)
  except ExportError:
    raise
  except (ValueError, KeyError, TypeError, IndexError) as e:  # a writer bug, not damage
    raise ExportError(path, f'inconsistent content: {e}') from None


def _parse(path: str, blob: bytes, head_len: int) -> Export:
  header = json.loads(blob[_PREAMBLE.size:_PREAMBLE.size + head_len].decode('utf-8'))
  if (header.get('format') != FORMAT_NAME or
      header.get('format_version') != FORMAT_VERSION):
    raise ValueError(f'header format {header.get("format")!r} version '
                     f'{header.get("format_version")!r}')
  config = _config_from(header['config'], header.get('config_type'))
  shapes = layer_shapes(config)
  data_start = _PREAMBLE.size + head_len
  data_start += -data_start % ALIGN
  data_end = len(blob) - CHECKSUM_BYTES
  table = {}
  for e in header['arrays']:
    if e['dtype'] not in _DTYPES:
      raise ValueError(f'array {e["name"]}: dtype {e["dtype"]}')
    dtype = np.dtype(e['dtype']).newbyteorder('<')
    shape = tuple(int(s) for s in e['shape'])
    lo = data_start + int(e['offset'])
    if (e['offset'] < 0 or lo + e['nbytes'] > data_end or
        e['nbytes'] != math.prod(shape) * dtype.itemsize):
      raise ValueError(f'array {e["name"]} does not fit its table entry')
    a = np.frombuffer(blob, dtype, math.prod(shape), lo).reshape(shape)
    table[e['name']] = (a.astype(dtype.newbyteorder('='), copy=True), e)

  def rows(name, k, n):
    sign, _ = table[f'{name}.sign']
    if sign.shape != (k, bits.num_words(n)) or sign.dtype != np.uint32:
      raise ValueError(f'{name}.sign has shape {sign.shape}, expected '
                       f'({k}, {bits.num_words(n)})')
    if not padding_ok(sign, n):
      raise ValueError(f'{name}.sign has padding bits set')
    zeros = np.zeros(0, np.int64)
    if f'{name}.zeros' in table:
      if config.semantics != 'reference':
        raise ValueError(f'{name}: zeros under binary semantics')
      code, e = table[f'{name}.zeros']
      if e['universe'] != k * n:
        raise ValueError(f'{name}.zeros universe {e["universe"]} != {k * n}')
      zeros = decode_positions(code, e['count'], e['universe'], e['low_bits'])
      if np.any(unpack_rows_numpy(sign, n).reshape(-1)[zeros]):
        raise ValueError(f'{name}: a zero has its sign bit set')
    return _rows_from(sign, zeros, n)

  networks = []
  for i, rec in enumerate(header['networks']):
    pre = f'net{i}/'
    weights = tuple(rows(f'{pre}w{l}', h[1], h[0]) for l, (h, _) in enumerate(shapes))
    classifiers = tuple(rows(f'{pre}p{l}', p[1], p[0])
                        for l, (_, p) in enumerate(shapes))
    extra = {}
    if rec.get('hidden'):
      hidden = tuple(table[f'{pre}h{l}'][0] for l in range(len(shapes)))
      for l, h in enumerate(hidden):
        if h.shape != shapes[l][0] or np.any(np.sign(h).T != weights[l].values()):
          raise ValueError(f'{pre}h{l} does not match the binary weights')
      extra = dict(hidden=hidden, key=table[f'{pre}key'][0],
                   prev_acc=table[f'{pre}prev_acc'][0], epoch=table[f'{pre}epoch'][0])
      if getattr(config, 'train_classifiers', False):
        extra['classifier_hidden'] = tuple(table[f'{pre}q{l}'][0]
                                           for l in range(len(shapes)))
    networks.append(Network(weights=weights, classifiers=classifiers, run=rec['run'],
                            seed=rec['seed'], grid_point=rec['grid_point'],
                            hparams=rec['hparams'], test_acc=rec['test_acc'], **extra))
  data = header['data']
  binarisation = _no_raw('exported without a data set: feed packed inputs')
  if data:
    b = data['binarisation']
    if b['kind'] != 'none':
      source, threshold = table['input.source'][0], table['input.threshold'][0]
      if (source.shape != (config.num_inputs,) or threshold.shape != source.shape or
          np.any(source < 0) or np.any(source >= b['num_raw_features']) or
          b['compare'] not in ('>', '>=')):
        raise ValueError('input binarisation arrays do not match the config')
      binarisation = Binarisation(kind=b['kind'], compare=b['compare'], source=source,
                                  threshold=threshold,
                                  num_raw_features=b['num_raw_features'], note=b['note'])
    else:
      binarisation = _no_raw(b['note'])
  if not networks:
    raise ValueError('no network')
  return Export(path=path, config=config, networks=tuple(networks),
                binarisation=binarisation, data=data, versions=header['versions'],
                header=header, file_bytes=len(blob))


