"""Configuration: the run `Protocol`, the `Speed` knobs, the rule's `Config`, `HParams`.

Three kinds of settings, never mixed (docs/algorithm.md, "Schedule of a run"):

* `Protocol` — how a run trains and is measured, the same for every method: batch size,
  epochs, test size, the seeded split, the training subset of the float baselines. It is
  declared once here and composed into every method's config (`Config`,
  `baselines.cp_r.CPConfig`, `baselines.mlp.MLPConfig`) as its `protocol` field.
* `Speed` — knobs that change speed or memory but no result bit (backend, seed chunk,
  word chunk, evaluation batch; tested): composed as the `speed` field and left out of
  checkpoint fingerprints (`bnnjax.checkpoint`), so a run resumes with other values.
* a method's own static fields (widths, γ, semantics, ...), and its traced
  hyper-parameters (`HParams`: r, p_r, weight clip; swept without recompiling, so a
  grid is a `vmap`).

A config with composed parts takes their fields as keyword shortcuts and reads them as
attributes: `Config(batch_size=9)`, `config.batch_size`, `dataclasses.replace(config,
num_epochs=1)` (`with_parts`). `flat_dict` gives every field flat: the form written to
results, exports and checkpoint fingerprints.

Everything is validated on the host, before anything is compiled, with one-line
`ValueError`s that name the command-line flag and the valid range.
"""

import dataclasses
from typing import Dict, NamedTuple, Optional, Tuple, Union

SEMANTICS = ('reference', 'binary')
BACKENDS = ('auto', 'packed', 'dense')
# What backend 'auto' runs on each JAX platform (`resolved_backend`): on CPU the packed
# XNOR/popcount product beat int8 and float32 dots of the unpacked values at every
# paper shape (benchmarks/RESULTS.md: 3-20x); GPUs and TPUs have matmul units for
# which popcount is no match, and the dense backend's float32 HIGHEST dot is exact.
AUTO_BACKEND = {'cpu': 'packed'}
AUTO_BACKEND_DEFAULT = 'dense'
# Output heads (docs/algorithm.md, step 3): 'argmax' has one classifier column per class
# and predicts the argmax; 'sign' (two-class tasks, the authors' code) has a single ±1
# output column and predicts sign(z), class 1 for +1 and class 0 for -1. 'auto' picks
# 'sign' for two classes and 'argmax' otherwise.
HEADS = ('auto', 'argmax', 'sign')

# Saturation bound of the integer hidden weights when no clip is set: |H| <= 2^30 - 1
# (odd, so `binary` parity is kept). A step changes H by at most 2 * batch_size + 2, so
# the int32 sum before clipping can never wrap.
MAX_WEIGHT = 2**30 - 1
MAX_BATCH_SIZE = 2**20

# γ the paper used for each width (docs/algorithm.md, "The paper's hyper-parameters";
# Prototypes / FMNIST column; CIFAR-10 and Imagenette use γ = 135 at width 135).
PAPER_GROUP_SIZE = {15: 15, 35: 35, 55: 55, 75: 75, 135: 45, 255: 85, 525: 105,
                    1035: 115}

# seed_chunk=None: runs vmapped together per platform. On CPU one run at a time keeps a
# run's hidden weights in cache through the epoch. Whole runs at 10 seeds on this
# project's 2-core machine, chunks of 1 vs 5 through the CPU call plan (runs alternating
# over 3 rounds, `benchmarks/bench_perf.time_alternating`, 2026-11-26 15:15 UTC): a 1035x5
# net 140 vs 192 ms per seed-epoch, a 9,216-input 1035-1035 net 237 vs 317 ms, Prototypes
# 525-525 98.5 vs 103 ms, 135-135 the same (22.7 ms). Other platforms keep 5 (unmeasured
# there).
AUTO_SEED_CHUNK = {'cpu': 1}
DEFAULT_SEED_CHUNK = 5

# Command-line flags of the fields that have one.
_FLAGS = {'num_epochs': 'epochs', 'batch_size': 'batch_size', 'seed_chunk': 'seed_chunk'}


def _check(ok: bool, msg: str):
  if not ok:
    raise ValueError(msg)


def _is_integer(v) -> bool:
  import numpy as np  # local: keep module import light
  return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _integer(name: str, v) -> int:
  """v as an int; ValueError naming the field for fractions, text, NaN or bools."""
  if _is_integer(v):
    return int(v)
  flag = _FLAGS.get(name)
  raise ValueError(f'{name}{f" (--{flag})" if flag else ""} must be an integer, got '
                   f'{v!r}')


def _integers(name: str, values) -> Tuple[int, ...]:
  try:
    values = tuple(values)
  except TypeError:
    raise ValueError(f'{name} (--{name}) must be an integer or a sequence of integers, '
                     f'got {values!r}') from None
  for v in values:
    if not _is_integer(v):
      raise ValueError(f'{name} (--{name}) must hold integers, got {list(values)!r}')
  return tuple(int(v) for v in values)


# ----------------------------------------------------------------------------------
# The composed parts: Protocol and Speed
# ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Protocol:
  """The run protocol of every method (docs/algorithm.md, "Schedule of a run").

  batch_size: B, mini-batch size (the last batch of an epoch may be partial).
  num_epochs: E, epochs per run.
  num_test: size of the test split, the last samples of the run's permutation of the
    pool (`bnnjax.engine.split_indices`).
  shuffle_split: shuffle the pool with the run's key before splitting (the paper's
    protocol). If False the last `num_test` samples of the pool are the test set (an
    official test split).
  train_divisor: keep a random 1/train_divisor of the training split, drawn per run
    (the float baselines' "FP input"; 1 for every other method).
  """
  batch_size: int = 100
  num_epochs: int = 50
  num_test: int = 2000
  shuffle_split: bool = True
  train_divisor: int = 1

  def __post_init__(self):
    for name in ('batch_size', 'num_epochs', 'num_test', 'train_divisor'):
      object.__setattr__(self, name, _integer(name, getattr(self, name)))
    _check(isinstance(self.shuffle_split, bool),
           f'shuffle_split must be a bool, got {self.shuffle_split!r}')
    _check(1 <= self.batch_size <= MAX_BATCH_SIZE,
           f'batch_size (--batch_size) must be in [1, {MAX_BATCH_SIZE}], got '
           f'{self.batch_size}')
    _check(self.num_epochs >= 1, f'epochs (--epochs) must be >= 1, got {self.num_epochs}')
    _check(self.num_test >= 1, f'num_test must be >= 1, got {self.num_test}')
    _check(self.train_divisor >= 1,
           f'train_divisor must be >= 1, got {self.train_divisor}')


@dataclasses.dataclass(frozen=True)
class Speed:
  """Knobs that change speed or memory, never a result bit (tested).

  backend: 'packed' (XNOR/AND/popcount on uint32 words), 'dense' (int8 dot on CPU,
    exact float32 dot elsewhere) or 'auto' (the default: packed on CPU, dense on GPU and
    TPU; `resolved_backend`). Read by the binary methods; the float baselines ignore it.
  seed_chunk: runs (seeds x grid points) vmapped together per device; chunks run one
    after another (on CPU one call of the program per chunk, elsewhere `lax.map` in one
    call; `bnnjax.driver`), which keeps the CPU working set in cache. None (the default)
    picks per platform (`resolved_seed_chunk`): 1 on CPU, 5 elsewhere.
  eval_batch_size: samples per forward chunk of an evaluation outside training
    (`model.evaluate`). A run's per-epoch test accuracy goes through the training step
    in batches of batch_size instead (`bnnjax.engine.Model.step_eval_fn`).
  word_chunk: uint32 words per scan iteration of the packed product (bits.WORD_CHUNK).
  """
  backend: str = 'auto'
  seed_chunk: Optional[int] = None
  eval_batch_size: int = 1000
  word_chunk: int = 16

  def __post_init__(self):
    if self.seed_chunk is not None:
      object.__setattr__(self, 'seed_chunk', _integer('seed_chunk', self.seed_chunk))
    for name in ('eval_batch_size', 'word_chunk'):
      object.__setattr__(self, name, _integer(name, getattr(self, name)))
    _check(self.backend in BACKENDS,
           f'backend (--backend) must be one of {list(BACKENDS)}, got {self.backend!r}')
    _check(self.seed_chunk is None or self.seed_chunk >= 1,
           f'seed_chunk (--seed_chunk) must be >= 1, got {self.seed_chunk}')
    _check(self.eval_batch_size >= 1,
           f'eval_batch_size must be >= 1, got {self.eval_batch_size}')
    _check(self.word_chunk >= 1, f'word_chunk must be >= 1, got {self.word_chunk}')


PARTS = {'protocol': Protocol, 'speed': Speed}
SPEED_FIELDS = tuple(f.name for f in dataclasses.fields(Speed))


def with_parts(cls):
  """Class decorator for a frozen dataclass with `protocol` and/or `speed` fields: the
  parts' fields become keyword shortcuts of the constructor and read-only attributes.

  `cls(batch_size=9)` = `cls(protocol=Protocol(batch_size=9))`; with both, the shortcut
  changes the given part. `dataclasses.replace(c, num_epochs=1)` works as for a flat
  dataclass (replace passes the old part and the shortcut, which is applied to it)."""
  names = {f.name for f in dataclasses.fields(cls)}
  parts = {name: t for name, t in PARTS.items() if name in names}
  shortcuts = {f.name: part for part, t in parts.items() for f in dataclasses.fields(t)}
  clash = set(shortcuts) & names
  if clash:
    raise TypeError(f'{cls.__name__}: fields {sorted(clash)} shadow part fields')
  init = cls.__init__

  def __init__(self, *args, **kwargs):
    moved = {}
    for k in [k for k in kwargs if k in shortcuts]:
      moved.setdefault(shortcuts[k], {})[k] = kwargs.pop(k)
    for part, changes in moved.items():
      base = kwargs.get(part)
      kwargs[part] = dataclasses.replace(parts[part]() if base is None else base,
                                         **changes)
    init(self, *args, **kwargs)

  __init__.__doc__ = init.__doc__
  cls.__init__ = __init__
  for name, part in shortcuts.items():
    setattr(cls, name, property(lambda self, n=name, p=part: getattr(getattr(self, p), n),
                                doc=f'`{part}.{name}`'))
  return cls


def flat_dict(config) -> Dict:
  """Every field of a config with its parts expanded in place (the record written to
  results, export headers and fingerprints; `type(config)(**flat_dict(config))` is
  config again)."""
  out = {}
  for f in dataclasses.fields(config):
    v = getattr(config, f.name)
    if f.name in PARTS and dataclasses.is_dataclass(v):
      out.update(dataclasses.asdict(v))
    else:
      out[f.name] = v
  return out


def result_dict(config) -> Dict:
  """`flat_dict` without the Speed fields, and without Protocol.train_divisor where it
  is 1 (it joined the configs after checkpoints of the rule existed, whose fingerprints
  must not change): everything of a config that decides a result bit."""
  return {k: v for k, v in flat_dict(config).items()
          if k not in SPEED_FIELDS and not (k == 'train_divisor' and v == 1)
          and not (k in ADDED_EMPTY and v == ())
          and not (k in ADDED_OFF and v == ADDED_OFF[k])}


# Fields that joined configs after checkpoints existed, left out of `result_dict` while
# empty so that those checkpoints' fingerprints do not change (the float baselines'
# conv blocks), or while at the value that switches them off (BEP's group-size
# schedule).
ADDED_EMPTY = ('conv', 'image_shape')
ADDED_OFF = {'gamma_patience': 0}


def program_config(config):
  """`config` with num_epochs 1: all that a run's compiled programs may depend on (the
  number of epochs is the host loop's), so runs of any length share programs."""
  return dataclasses.replace(config, protocol=dataclasses.replace(config.protocol,
                                                                  num_epochs=1))


def resolved_backend(config, platform=None) -> str:
  """The backend that computes products for `config`: 'packed' or 'dense'.

  `config.backend` unless it is 'auto', which picks per platform (AUTO_BACKEND): the
  packed backend on CPU, the dense one on GPU and TPU. Both give identical results, so
  the choice is a speed choice only. platform: a JAX platform name ('cpu', 'gpu',
  'tpu', ...); by default `jax.default_backend()`, where jitted code runs unless placed
  elsewhere. Resolved when the program is traced; entry points can print and record it.
  """
  if config.backend != 'auto':
    return config.backend
  if platform is None:
    import jax  # local: keep module import light
    platform = jax.default_backend()
  return AUTO_BACKEND.get(platform, AUTO_BACKEND_DEFAULT)


def resolved_seed_chunk(seed_chunk: Optional[int], platform: str) -> int:
  """seed_chunk, or for None the automatic choice on `platform` ('cpu', 'gpu', ...)."""
  if seed_chunk is not None:
    return int(seed_chunk)
  return AUTO_SEED_CHUNK.get(platform, DEFAULT_SEED_CHUNK)


def resolve_head(head: str, num_classes: int) -> str:
  """'auto' -> 'sign' for two classes (as the authors' code), else 'argmax'."""
  if head == 'auto':
    return 'sign' if num_classes == 2 else 'argmax'
  return head


def paper_group_size(width: int) -> int:
  """γ of the paper for a hidden width; raises ValueError for widths it never used."""
  if width not in PAPER_GROUP_SIZE:
    raise ValueError(
        f'group_size (--group_size) has no paper default for width {width}; pass it '
        f'explicitly (a divisor of {width}). Paper widths: {sorted(PAPER_GROUP_SIZE)}')
  return PAPER_GROUP_SIZE[width]


# ----------------------------------------------------------------------------------
# The rule's config
# ----------------------------------------------------------------------------------


@with_parts
@dataclasses.dataclass(frozen=True)
class Config:
  """Static configuration of the rule's network and run (hashable; a jit static
  argument).

  Attributes:
    layers: hidden widths (N_1, ..., N_L).
    group_size: γ per hidden layer (an int applies to every layer); must divide the width.
    num_inputs: input dimension D.
    num_classes: C >= 2.
    protocol: the run `Protocol` (batch_size, num_epochs, num_test, shuffle_split, as
      keyword shortcuts and attributes).
    semantics: 'reference' (the authors' arithmetic, sign(0) = 0) or 'binary' (strictly
      one bit). See docs/algorithm.md, "Two arithmetic semantics".
    speed: the `Speed` knobs (backend, seed_chunk, eval_batch_size, word_chunk, as
      keyword shortcuts and attributes); no result depends on them.
    train_classifiers: train the local classifiers too (docs/algorithm.md, "Trained
      local classifiers"; the paper's "train-out"). Off: classifiers are fixed.
    head: 'argmax', 'sign' (one output column, two classes only) or 'auto' (resolved
      at construction: 'sign' for two classes, else 'argmax').
  """
  layers: Tuple[int, ...] = (135, 135)
  group_size: Union[int, Tuple[int, ...]] = 45
  num_inputs: int = 1000
  num_classes: int = 10
  protocol: Protocol = Protocol()
  semantics: str = 'reference'
  speed: Speed = Speed()
  train_classifiers: bool = False
  head: str = 'auto'

  def __post_init__(self):
    for name in ('num_inputs', 'num_classes'):
      object.__setattr__(self, name, _integer(name, getattr(self, name)))
    object.__setattr__(self, 'head', resolve_head(self.head, self.num_classes))
    layers = self.layers
    if _is_integer(layers):
      layers = (layers,)
    object.__setattr__(self, 'layers', _integers('layers', layers))
    gs = self.group_size
    if _is_integer(gs):
      gs = (gs,) * len(self.layers)
    object.__setattr__(self, 'group_size', _integers('group_size', gs))
    validate_config(self)

  @property
  def widths(self) -> Tuple[int, ...]:
    """(N_0 = D, N_1, ..., N_L)."""
    return (self.num_inputs,) + self.layers

  @property
  def num_outputs(self) -> int:
    """Columns of every local classifier: 1 for the 'sign' head, else C."""
    return num_outputs(self)


def num_outputs(c) -> int:
  """Classifier columns of any config with `head` and `num_classes`."""
  return 1 if c.head == 'sign' else c.num_classes


def validate_config(c: Config) -> None:
  """Raises ValueError naming the flag and valid range of the first bad field."""
  _check(len(c.layers) >= 1, 'layers (--layers) must list at least one hidden width')
  for n in c.layers:
    _check(n >= 1, f'layers (--layers) widths must be >= 1, got {list(c.layers)}')
  _check(len(c.group_size) == len(c.layers),
         f'group_size (--group_size) needs one value or one per layer '
         f'({len(c.layers)}), got {list(c.group_size)}')
  for n, g in zip(c.layers, c.group_size):
    _check(1 <= g <= n and n % g == 0,
           f'group_size (--group_size) must divide every width: {g} does not divide {n} '
           f'(valid: divisors of {n})')
  for fan_in, g in zip(c.widths[:-1], c.group_size):
    # Selection packs |a| * γ + index into an int32 (model.select).
    _check((fan_in + 1) * g < 2**31, f'fan-in {fan_in} times group_size {g} too large')
  _check(isinstance(c.train_classifiers, bool),
         f'train_classifiers (--train_classifiers) must be a bool, got '
         f'{c.train_classifiers!r}')
  validate_common(c)
  validate_arithmetic(c)
  validate_head(c)


def validate_head(c) -> None:
  """Checks `head` against `num_classes` (after 'auto' was resolved)."""
  _check(c.head in HEADS[1:],
         f'head (--head) must be one of {list(HEADS)}, got {c.head!r}')
  _check(c.head != 'sign' or c.num_classes == 2,
         f'head (--head) sign (one output column) needs exactly 2 classes, got '
         f'{c.num_classes}')


def validate_common(c) -> None:
  """Checks the fields every method's config has besides its parts (which check
  themselves): num_inputs, num_classes, and that the parts are of the right type."""
  _check(c.num_inputs >= 1, f'num_inputs must be >= 1, got {c.num_inputs}')
  _check(c.num_classes >= 2, f'num_classes must be >= 2, got {c.num_classes}')
  for name, t in PARTS.items():
    if hasattr(type(c), '__dataclass_fields__') and name in c.__dataclass_fields__:
      _check(isinstance(getattr(c, name), t),
             f'{name} must be a {t.__name__}, got {getattr(c, name)!r}')


def validate_arithmetic(c) -> None:
  """Checks the semantics of the binary arithmetic (the Speed part checks backend and
  word_chunk)."""
  _check(c.semantics in SEMANTICS,
         f'semantics (--semantics) must be one of {list(SEMANTICS)}, got {c.semantics!r}')


# ----------------------------------------------------------------------------------
# Traced hyper-parameters
# ----------------------------------------------------------------------------------


class HParams(NamedTuple):
  """Traced hyper-parameters of the rule (scalars, or arrays with a leading grid axis).

  robustness: r >= 0; the margin of layer l is τ_l = floor(r * N_l) (step 3).
  p_reinforce: p_r in [0, 1] (step 7).
  weight_clip: c >= 1 keeps H in [-c, c] (`binary`: the largest odd value <= c);
    0 means unbounded (H still saturates at ±MAX_WEIGHT and never wraps).
  """
  robustness: float = 0.25
  p_reinforce: float = 0.5
  weight_clip: int = 0


def _numbers(name, v):
  import numpy as np  # local: keep module import light
  a = np.asarray(v)
  if a.dtype.kind not in 'iuf' or a.dtype == np.bool_:
    raise ValueError(f'{name} (--{name}) must be a number or an array of numbers, got '
                     f'{v!r}')
  return a


def validate_robustness(r) -> None:
  import numpy as np  # local: keep module import light
  r = _numbers('robustness', r).astype(np.float64)
  _check(np.all(np.isfinite(r)) and np.all(r >= 0),
         f'robustness (--robustness) must be finite and >= 0, got {r.tolist()}')


def validate_hparams(p: HParams) -> None:
  """Host-side check of every value (scalars or grids)."""
  import numpy as np  # local: keep module import light
  validate_robustness(p.robustness)
  pr = _numbers('p_reinforce', p.p_reinforce).astype(np.float64)
  wc = _numbers('weight_clip', p.weight_clip)
  _check(np.all(np.isfinite(pr)) and np.all((pr >= 0) & (pr <= 1)),
         f'p_reinforce (--p_reinforce) must be in [0, 1], got {pr.tolist()}')
  _check(np.issubdtype(wc.dtype, np.integer) or np.all(np.mod(wc, 1) == 0),
         f'weight_clip (--weight_clip) must be an integer, got {wc.tolist()}')
  _check(np.all((wc == 0) | ((wc >= 1) & (wc <= MAX_WEIGHT))),
         f'weight_clip (--weight_clip) must be 0 (unbounded) or in [1, {MAX_WEIGHT}], '
         f'got {wc.tolist()}')


# ----------------------------------------------------------------------------------
# Convolutional blocks (docs/conv.md): the static shape of a binary or float conv net
# ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ConvBlock:
  """One conv block: `filters` k x k filters (stride, zero/sign padding of `padding`
  pixels per side), then a `pool` x `pool` max pooling with stride `pool` (1: none).
  Text form (`--conv`): 'F:K[:P[:S[:PAD]]]', e.g. '16:3:2' (16 filters 3x3, 2x2 pool)."""
  filters: int
  kernel: int
  pool: int = 1
  stride: int = 1
  padding: int = 0

  def __post_init__(self):
    for name in ('filters', 'kernel', 'pool', 'stride', 'padding'):
      object.__setattr__(self, name, _integer(name, getattr(self, name)))
    for name in ('filters', 'kernel', 'pool', 'stride'):
      _check(getattr(self, name) >= 1,
             f'conv (--conv): {name} must be >= 1, got {getattr(self, name)}')
    _check(0 <= self.padding < self.kernel,
           f'conv (--conv): padding must be in [0, kernel - 1], got {self.padding} with '
           f'kernel {self.kernel}')

  def text(self) -> str:
    parts = [self.filters, self.kernel, self.pool, self.stride, self.padding]
    while len(parts) > 2 and parts[-1] == (0 if len(parts) == 5 else 1):
      parts.pop()
    return ':'.join(map(str, parts))


def parse_conv(text) -> Tuple[ConvBlock, ...]:
  """Conv blocks from '16:3:2,32:3:2' (or ConvBlocks / tuples of ints); '' is none."""
  if isinstance(text, str):
    items = [t.strip() for t in text.split(',') if t.strip()]
  else:
    items = list(text)
  blocks = []
  for item in items:
    if isinstance(item, ConvBlock):
      blocks.append(item)
      continue
    fields = item.split(':') if isinstance(item, str) else list(item)
    if not 2 <= len(fields) <= 5:
      raise ValueError(f"conv (--conv): a block is 'F:K[:P[:S[:PAD]]]' (filters, kernel, "
                       f'pool, stride, padding), got {item!r}')
    try:
      values = [int(v) for v in fields]
    except (TypeError, ValueError):
      raise ValueError(f'conv (--conv): block {item!r} must hold integers') from None
    blocks.append(ConvBlock(*values))
  return tuple(blocks)


class LayerShape(NamedTuple):
  """Static geometry of one layer of a conv net (a dense layer is a 1x1 map, kernel 1).

  image: (H, W, C) input map; kernel, stride, padding, pool; filters F; out: (Ho, Wo)
  conv output; pooled: (Hp, Wp) after pooling; fan_in n = k*k*C; positions P = Ho*Wo;
  units D = Hp*Wp*F (the flattened map the local classifier reads)."""
  image: Tuple[int, int, int]
  kernel: int
  stride: int
  padding: int
  pool: int
  filters: int
  out: Tuple[int, int]
  pooled: Tuple[int, int]

  @property
  def fan_in(self) -> int:
    return self.kernel * self.kernel * self.image[2]

  @property
  def positions(self) -> int:
    return self.out[0] * self.out[1]

  @property
  def units(self) -> int:
    return self.pooled[0] * self.pooled[1] * self.filters

  @property
  def is_dense(self) -> bool:
    return self.image[:2] == (1, 1) and self.kernel == 1


def conv_net_shapes(image_shape: Tuple[int, int, int], blocks: Tuple[ConvBlock, ...],
                    layers: Tuple[int, ...]) -> Tuple[LayerShape, ...]:
  """Every layer's `LayerShape`: the conv blocks on the image, then the dense layers on
  the flattened last map. ValueError when a block does not fit its input."""
  h, w, c = image_shape
  out = []
  for i, b in enumerate(blocks):
    ho = (h + 2 * b.padding - b.kernel) // b.stride + 1
    wo = (w + 2 * b.padding - b.kernel) // b.stride + 1
    if ho < 1 or wo < 1 or ho < b.pool or wo < b.pool:
      raise ValueError(f'conv (--conv): block {i + 1} ({b.text()}) does not fit its '
                       f'{h}x{w}x{c} input (conv output {max(ho, 0)}x{max(wo, 0)}, pool '
                       f'{b.pool})')
    out.append(LayerShape((h, w, c), b.kernel, b.stride, b.padding, b.pool, b.filters,
                          (ho, wo), (ho // b.pool, wo // b.pool)))
    h, w, c = ho // b.pool, wo // b.pool, b.filters
  d = h * w * c
  for n in layers:
    out.append(LayerShape((1, 1, d), 1, 1, 0, 1, n, (1, 1), (1, 1)))
    d = n
  return tuple(out)
