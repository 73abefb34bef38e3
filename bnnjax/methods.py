"""Training methods behind one interface, so every table comes from one tool.

A method maps (RunSpec, DataSet) to `MethodResult`; `python -m bnnjax.train --method=NAME`
looks it up in `METHODS`. `ours` is the local binary error rule (bnnjax.model); the
paper's baselines live in `bnnjax.baselines`: `cp_r` (CP+R committee machine trained by
the rule), `sgd` and `adam` (float MLPs), and `ste` (a binary MLP trained with the
straight-through estimator and Adam, beyond the paper), and `flip` (the rule with
1-bit weights and random flips instead of hidden integers, beyond the paper). Every
method gets the same data pool, per-seed split, seeds and outputs. `make_trainer`
compiles a method once for pools of one shape, to call it again on new data with
`initial_states` (continual learning, experiments/continual.py).
"""

import dataclasses
import itertools
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np

from bnnjax import config as config_lib
from bnnjax import run as run_lib
from bnnjax.data import DataSet


# Hyper-parameters of the rule that may be swept in one compiled call (HParams fields).
GRID_FIELDS = ('robustness', 'p_reinforce', 'weight_clip')


@dataclasses.dataclass(frozen=True)
class RunSpec:
  """Everything a method needs besides the data; mirrors the command-line flags.

  robustness, p_reinforce, weight_clip: a value, or a tuple of values to sweep (ours and
  cp_r): the grid is the Cartesian product of the tuples, run in one compiled call, and
  results get a leading grid axis (`grid_points`).
  train_classifiers: train the local classifiers too (ours; the paper's "train-out").
  head: 'auto' (one ±1 output for two classes, else argmax), 'argmax' or 'sign'.
  """
  method: str = 'ours'
  layers: Tuple[int, ...] = (135, 135)
  group_size: Optional[Tuple[int, ...]] = None  # None: the paper's γ for each width
  robustness: Union[float, Tuple[float, ...]] = 0.25
  p_reinforce: Union[float, Tuple[float, ...]] = 0.5
  weight_clip: Union[int, Tuple[int, ...]] = 0
  batch_size: int = 100
  num_epochs: int = 50
  num_seeds: int = 10
  seed: int = 42
  semantics: str = 'reference'
  backend: str = 'auto'  # packed on CPU, dense on GPU/TPU (config.resolved_backend)
  seed_chunk: Optional[int] = None  # None: per platform (config.resolved_seed_chunk)
  input_mode: str = 'bin'  # float baselines: 'fp' or 'bin'
  # float baselines: None = the paper's value; flip: the flip probability q (None:
  # flip.DEFAULT_FLIP_PROB; a tuple is a grid)
  learning_rate: Optional[float] = None
  # The raw --layers text ('' = use `layers`): cp_r reads K1-K2 blocks from it
  # ('330-30', '880-80,880-80').
  layers_text: str = ''
  train_classifiers: bool = False
  head: str = 'auto'
  diagnostics: bool = True  # per-epoch diagnostics of the rule (bnnjax.diagnostics)

  def resolved_group_size(self) -> Tuple[int, ...]:
    if self.group_size is None:
      return tuple(config_lib.paper_group_size(n) for n in self.layers)
    gs = tuple(self.group_size)
    return gs * len(self.layers) if len(gs) == 1 else gs


@dataclasses.dataclass
class MethodResult:
  """train_acc, test_acc: float[S, E] percent, or float[P, S, E] for a hyper-parameter
  grid of P points. grid: {field: [P values]} of the grid points ({} without a grid).
  extra: method-specific summary fields. metrics: per-epoch diagnostics
  ({name: [..., E, L...]}, `bnnjax.diagnostics`).
  states: the final states with leading [P,] S axes (ours: `model.State`, for
  `bnnjax.export`), or None."""
  train_acc: np.ndarray
  test_acc: np.ndarray
  wall_seconds: float
  config: dict
  extra: dict = dataclasses.field(default_factory=dict)
  grid: Dict[str, list] = dataclasses.field(default_factory=dict)
  states: Optional[Any] = None
  metrics: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
  already_complete: bool = False  # resumed from a checkpoint holding every epoch


def _as_tuple(v) -> tuple:
  return tuple(v) if isinstance(v, (tuple, list, np.ndarray)) else (v,)


def grid_points(spec: RunSpec) -> Dict[str, List]:
  """{field: [P values]} for the GRID_FIELDS when any of them is a tuple: the Cartesian
  product of the tuples (fields in GRID_FIELDS order, the last varying fastest), scalars
  repeated. {} when every field is a scalar (no grid axis). Raises ValueError on an
  empty tuple."""
  values = {f: _as_tuple(getattr(spec, f)) for f in GRID_FIELDS}
  if not any(isinstance(getattr(spec, f), (tuple, list, np.ndarray)) for f in GRID_FIELDS):
    return {}
  for f, v in values.items():
    if not v:
      raise ValueError(f'{f} (--{f}) lists no value')
  points = list(itertools.product(*values.values()))
  return {f: [p[i] for p in points] for i, f in enumerate(GRID_FIELDS)}


def ours_config(spec: RunSpec, ds: DataSet) -> config_lib.Config:
  return config_lib.Config(
      layers=tuple(spec.layers), group_size=spec.resolved_group_size(),
      num_inputs=ds.num_features, num_classes=ds.num_classes,
      batch_size=spec.batch_size, num_epochs=spec.num_epochs, num_test=ds.num_test,
      shuffle_split=ds.shuffle_split, semantics=spec.semantics, backend=spec.backend,
      seed_chunk=spec.seed_chunk, train_classifiers=spec.train_classifiers,
      head=spec.head)


def ours_params(spec: RunSpec) -> config_lib.HParams:
  """HParams of the rule: scalars, or 1-D arrays of the grid points (`grid_points`)."""
  grid = grid_points(spec)
  if grid:
    return config_lib.HParams(robustness=np.asarray(grid['robustness'], np.float64),
                              p_reinforce=np.asarray(grid['p_reinforce'], np.float64),
                              weight_clip=np.asarray(grid['weight_clip']))
  return config_lib.HParams(robustness=spec.robustness, p_reinforce=spec.p_reinforce,
                            weight_clip=spec.weight_clip)


def scalar_params(spec: RunSpec) -> config_lib.HParams:
  """HParams of the first grid point (or the scalars): for shape-only uses (cost)."""
  grid = grid_points(spec)
  if grid:
    return config_lib.HParams(*(grid[f][0] for f in GRID_FIELDS))
  return ours_params(spec)


def validate_ours(spec: RunSpec, ds: Optional[DataSet] = None) -> None:
  """Raises ValueError before any compile."""
  num_inputs = ds.num_features if ds is not None else 1
  # Without data the head cannot be checked against the classes: 'sign' needs two.
  num_classes = ds.num_classes if ds is not None else (2 if spec.head == 'sign' else 3)
  config_lib.Config(layers=tuple(spec.layers), group_size=spec.resolved_group_size(),
                    num_inputs=num_inputs, num_classes=num_classes,
                    batch_size=spec.batch_size, num_epochs=spec.num_epochs,
                    semantics=spec.semantics, backend=spec.backend,
                    seed_chunk=spec.seed_chunk, train_classifiers=spec.train_classifiers,
                    head=spec.head)
  config_lib.validate_hparams(ours_params(spec))


def run_ours(spec: RunSpec, ds: DataSet, progress_fn=None,
             checkpoint_path: Optional[str] = None,
             initial_states=None) -> MethodResult:
  """initial_states (every run_* function): states with the leading [P,] S axes of an
  earlier result's `states` to continue training from (e.g. on a new task), or None."""
  config = ours_config(spec, ds)
  train = run_lib.make_train(config, diagnostics=spec.diagnostics)
  res = train(run_lib.seed_keys(spec.seed, spec.num_seeds), ours_params(spec),
              run_lib.Data(ds.x, ds.y), progress_fn=progress_fn,
              checkpoint_path=checkpoint_path, initial_states=initial_states)
  return MethodResult(train_acc=res.train_acc, test_acc=res.test_acc,
                      already_complete=res.already_complete,
                      wall_seconds=res.wall_seconds,
                      config=dataclasses.asdict(config), grid=grid_points(spec),
                      extra={'head': config.head, 'num_outputs': config.num_outputs,
                             'train_classifiers': config.train_classifiers},
                      states=res.states, metrics=dict(res.metrics))


@dataclasses.dataclass(frozen=True)
class Method:
  """validate_fn(spec, ds_or_None) raises ValueError; run_fn(spec, ds, progress_fn,
  checkpoint_path) -> MethodResult."""
  validate_fn: Callable
  run_fn: Callable


# ----------------------------------------------------------------------------------
# Baselines (algorithm.md, "Baselines of the paper")
# ----------------------------------------------------------------------------------


def _reject_rule_only_flags(spec: RunSpec) -> None:
  if spec.group_size is not None:
    hint = (' (the committee size K1/K2 comes from --layers)' if spec.method == 'cp_r'
            else '')
    raise ValueError(f'group_size (--group_size) does not apply to --method='
                     f'{spec.method}{hint}')
  if spec.train_classifiers:
    raise ValueError(f'train_classifiers (--train_classifiers) applies to --method=ours '
                     f'only, not {spec.method}')


def cp_r_blocks(spec: RunSpec) -> Tuple[Tuple[int, int], ...]:
  """((K1, K2), ...) from `layers_text` ('330-30'), else from `layers` read as pairs."""
  from bnnjax.baselines import cp_r
  text = spec.layers_text or ','.join(map(str, spec.layers))
  return cp_r.parse_layers(text)


def cp_r_config(spec: RunSpec, ds: Optional[DataSet] = None):
  from bnnjax.baselines import cp_r
  return cp_r.CPConfig(
      blocks=cp_r_blocks(spec),
      num_inputs=ds.num_features if ds is not None else 1,
      num_classes=ds.num_classes if ds is not None else 2,
      batch_size=spec.batch_size, num_epochs=spec.num_epochs,
      num_test=ds.num_test if ds is not None else 1,
      shuffle_split=ds.shuffle_split if ds is not None else True,
      semantics=spec.semantics, backend=spec.backend, seed_chunk=spec.seed_chunk,
      head=spec.head if ds is not None else 'auto')


def validate_cp_r(spec: RunSpec, ds: Optional[DataSet] = None) -> None:
  """Raises ValueError naming the flag, before any data load (ds None) or compile."""
  _reject_rule_only_flags(spec)
  if spec.learning_rate is not None:
    raise ValueError('learning_rate (--learning_rate) does not apply to --method=cp_r')
  if spec.input_mode != 'bin':
    raise ValueError(f'input_mode (--input_mode) must be bin for --method=cp_r (binary '
                     f'inputs), got {spec.input_mode!r}')
  cp_r_config(spec, ds)
  config_lib.validate_hparams(ours_params(spec))
  if ds is not None:
    run_lib.check_pool(np.asarray(ds.x), np.asarray(ds.y), ds.num_test)


def run_cp_r(spec: RunSpec, ds: DataSet, progress_fn=None,
             checkpoint_path: Optional[str] = None,
             initial_states=None) -> MethodResult:
  from bnnjax.baselines import cp_r
  config = cp_r_config(spec, ds)
  train = cp_r.make_train(config, diagnostics=spec.diagnostics)
  res = train(run_lib.seed_keys(spec.seed, spec.num_seeds), ours_params(spec),
              run_lib.Data(ds.x, ds.y), progress_fn=progress_fn,
              checkpoint_path=checkpoint_path, initial_states=initial_states)
  return MethodResult(
      train_acc=res.train_acc, test_acc=res.test_acc,
      already_complete=res.already_complete, wall_seconds=res.wall_seconds,
      config=dataclasses.asdict(config), grid=grid_points(spec),
      extra={'blocks': '_'.join(f'{k1}_{k2}' for k1, k2 in config.blocks),
             'committee_size': list(config.committee_sizes), 'head': config.head,
             'num_outputs': config.num_outputs}, metrics=dict(res.metrics),
      states=res.states)


# Data sets whose features are ±1 by construction: their float features are the signs.
SIGN_NATIVE = ('prototypes',)
# Tables encoded like the paper's UCI sets: their ±1 input ('bin') is the thermometer /
# one-hot encoding itself (a per-sample median across columns of different units means
# nothing), and their float input ('fp') is standardised per column over the pool (the
# paper has no float baseline on UCI; bnnjax's choice, so SGD's step size fits every
# column).
TABLES = ('breast_cancer',)
BIN_CHUNK = 4096  # samples binarised at a time from lazily read float features


def _is_table(ds: DataSet) -> bool:
  return ds.name in TABLES or ds.name.startswith('uci/')


def mlp_num_inputs(spec: RunSpec, ds: DataSet) -> int:
  """Input width of the float baselines: the float features' width for 'fp' (raw
  columns, e.g. 30 for breast_cancer) and for 'bin' from a per-sample median; the
  binarised width otherwise."""
  x_float = getattr(ds, 'x_float', None)
  if x_float is not None and (spec.input_mode == 'fp' or not _is_table(ds)):
    return int(x_float.shape[1])
  return ds.num_features


def _layers_ints(spec: RunSpec) -> Tuple[int, ...]:
  if not spec.layers_text:
    return tuple(spec.layers)
  try:
    return tuple(int(v) for v in spec.layers_text.split(',') if v.strip())
  except ValueError:
    raise ValueError(f'layers (--layers) must be comma-separated integers for '
                     f'--method={spec.method}, got {spec.layers_text!r}') from None


def fp_train_divisor(ds: Optional[DataSet]) -> int:
  """1/k of the training split the 'fp' baselines keep, so 32-bit float features hold
  the bits of the 1-bit pool: k = 32·D_float / D_bits, rounded down, at least 1 (32 for
  images, where both widths are D; 1 for breast_cancer: 30 floats vs 960 thermometer
  bits)."""
  from bnnjax.baselines import mlp
  x_float = getattr(ds, 'x_float', None) if ds is not None else None
  if x_float is None:
    return mlp.FP_TRAIN_DIVISOR
  return max(1, mlp.FP_TRAIN_DIVISOR * int(x_float.shape[1]) // ds.num_features)


def mlp_config(spec: RunSpec, ds: Optional[DataSet] = None):
  from bnnjax.baselines import mlp
  return mlp.MLPConfig(
      fp_train_divisor=fp_train_divisor(ds),
      kind=spec.method, layers=_layers_ints(spec),
      num_inputs=mlp_num_inputs(spec, ds) if ds is not None else 1,
      num_classes=ds.num_classes if ds is not None else 2,
      input_mode=spec.input_mode, batch_size=spec.batch_size,
      num_epochs=spec.num_epochs, num_test=ds.num_test if ds is not None else 1,
      shuffle_split=ds.shuffle_split if ds is not None else True,
      seed_chunk=spec.seed_chunk)


def mlp_params(spec: RunSpec):
  from bnnjax.baselines import mlp
  lr = (mlp.PAPER_LEARNING_RATE[spec.method] if spec.learning_rate is None
        else spec.learning_rate)
  return mlp.MLPParams(learning_rate=lr)


def mlp_inputs(spec: RunSpec, ds: DataSet) -> np.ndarray:
  """The pool the float baselines see.

  'bin': ±1 inputs from the per-sample median (+1 if x > the sample's median; the
  authors' SGD/Adam scripts) of the float features `ds.x_float`, binarised in chunks of
  BIN_CHUNK samples so lazily read pools are never whole in memory; the data set's ±1
  features as they are when it has no float features (Prototypes is ±1 by
  construction) or is a table (TABLES, uci/*: its thermometer / one-hot bits). Kept
  packed (uint32[n, W]); the model unpacks each batch.
  'fp': float32[n, D] features — `ds.x_float` as the loader provides it (already
  normalised as the paper does: FMNIST mean 0.1307, std 0.3081; pixels in [0, 1];
  AlexNet features raw), standardised per column for tables, or the ±1 signs of a
  SIGN_NATIVE data set. The whole float pool is held (1/32 of the training split is
  drawn per run inside the run). Raises ValueError when the data set has no float
  features."""
  from bnnjax import bits
  x_float = getattr(ds, 'x_float', None)
  if spec.input_mode == 'bin':
    if x_float is None or _is_table(ds):
      return np.asarray(ds.x)
    n = x_float.shape[0]
    out = []
    for lo in range(0, n, BIN_CHUNK):
      chunk = np.asarray(x_float[lo:min(n, lo + BIN_CHUNK)], np.float32)
      med = np.median(chunk, axis=1, keepdims=True)
      out.append(bits.pack_numpy(np.where(chunk > med, 1, -1).astype(np.int8)))
    return np.concatenate(out)
  if x_float is not None:
    x_float = np.asarray(x_float, np.float32)
    if _is_table(ds):
      std = x_float.std(axis=0)
      x_float = (x_float - x_float.mean(axis=0)) / np.where(std > 0, std, 1)
    return x_float.astype(np.float32)
  if ds.name in SIGN_NATIVE:
    return np.asarray(bits.unpack_rows(np.asarray(ds.x), ds.num_features), np.float32)
  raise ValueError(f'input_mode (--input_mode) fp needs float features, but data set '
                   f'{ds.name!r} provides only binarised ones (no DataSet.x_float); use '
                   f'--input_mode=bin')


def validate_mlp(spec: RunSpec, ds: Optional[DataSet] = None) -> None:
  """Raises ValueError naming the flag, before any data load (ds None) or compile."""
  from bnnjax.baselines import mlp
  _reject_rule_only_flags(spec)
  if grid_points(spec):
    raise ValueError(f'hyper-parameter grids over {list(GRID_FIELDS)} apply to ours and '
                     f'cp_r, not --method={spec.method}')
  if spec.head != 'auto':
    raise ValueError(f'head (--head) applies to ours and cp_r; --method={spec.method} '
                     f'has one logit per class')
  mlp_config(spec, ds)
  mlp.validate_params(mlp_params(spec))
  if ds is not None:
    if spec.input_mode == 'fp' and getattr(ds, 'x_float', None) is None and (
        ds.name not in SIGN_NATIVE):
      mlp_inputs(spec, ds)  # raises the ValueError naming --input_mode
    run_lib.check_pool(np.asarray(ds.x), np.asarray(ds.y), ds.num_test,
                      mlp_config(spec, ds).run_config().train_divisor)


def run_mlp(spec: RunSpec, ds: DataSet, progress_fn=None,
            checkpoint_path: Optional[str] = None,
            initial_states=None) -> MethodResult:
  from bnnjax.baselines import mlp
  config = mlp_config(spec, ds)
  params = mlp_params(spec)
  train = mlp.make_train(config)
  res = train(run_lib.seed_keys(spec.seed, spec.num_seeds), params,
              run_lib.Data(mlp_inputs(spec, ds), ds.y), progress_fn=progress_fn,
              checkpoint_path=checkpoint_path, initial_states=initial_states)
  n_train = ds.num_samples - ds.num_test
  return MethodResult(
      train_acc=res.train_acc, test_acc=res.test_acc,
      already_complete=res.already_complete, wall_seconds=res.wall_seconds,
      config=dataclasses.asdict(config),
      extra={'learning_rate': float(params.learning_rate),
             'input_mode': spec.input_mode,
             'train_samples': n_train // config.run_config().train_divisor},
      states=res.states)


# ----------------------------------------------------------------------------------
# flip: the rule with 1-bit weights and random flips (bnnjax.baselines.flip; beyond the
# paper). `learning_rate` is the move probability q (None: flip.DEFAULT_FLIP_PROB) and
# `weight_clip` the clip of its small counter (0 or 1: none, 1-bit weights); tuples of
# either are a grid (their Cartesian product, q varying fastest) run in one call
# (MethodResult.grid {'flip_prob': [...], 'counter_clip': [...]}).
# ----------------------------------------------------------------------------------


def flip_grid(spec: RunSpec) -> Dict[str, List]:
  """{'flip_prob': [P], 'counter_clip': [P]} when learning_rate or weight_clip is a
  tuple (their Cartesian product, q varying fastest), else {}. weight_clip 0 -> 1."""
  from bnnjax.baselines import flip
  q = flip.DEFAULT_FLIP_PROB if spec.learning_rate is None else spec.learning_rate
  c = spec.weight_clip
  if not any(isinstance(v, (tuple, list, np.ndarray)) for v in (q, c)):
    return {}
  qs, cs = _as_tuple(q), _as_tuple(c)
  if not qs:
    raise ValueError('learning_rate (--learning_rate, the flip probability q) lists no '
                     'value')
  if not cs:
    raise ValueError('weight_clip (--weight_clip) lists no value')
  points = list(itertools.product(cs, qs))
  return {'flip_prob': [float(p[1]) for p in points],
          'counter_clip': [max(1, int(p[0])) if float(p[0]) == int(p[0]) else p[0]
                           for p in points]}


def flip_params(spec: RunSpec):
  """FlipParams of a RunSpec: q from `learning_rate`, the counter clip from
  `weight_clip` (0 -> 1), scalars or the 1-D grids of `flip_grid`."""
  from bnnjax.baselines import flip
  grid = flip_grid(spec)
  if grid:
    return flip.FlipParams(robustness=spec.robustness,
                           flip_prob=np.asarray(grid['flip_prob'], np.float64),
                           counter_clip=np.asarray(grid['counter_clip']))
  q = flip.DEFAULT_FLIP_PROB if spec.learning_rate is None else spec.learning_rate
  c = spec.weight_clip
  integral = np.ndim(c) == 0 and float(c) == int(c)
  return flip.FlipParams(robustness=spec.robustness, flip_prob=q,
                         counter_clip=max(1, int(c)) if integral else c)


def validate_flip(spec: RunSpec, ds: Optional[DataSet] = None) -> None:
  """Raises ValueError naming the flag, before any data load (ds None) or compile."""
  from bnnjax.baselines import flip
  if isinstance(spec.robustness, (tuple, list)) or isinstance(
      spec.p_reinforce, (tuple, list)):
    raise ValueError('--method=flip sweeps only the flip probability q '
                     '(--learning_rate) and its counter clip (--weight_clip); robustness '
                     'and p_reinforce grids apply to ours and cp_r')
  if spec.p_reinforce != RunSpec.p_reinforce:
    raise ValueError(f'p_reinforce (--p_reinforce) does not apply to --method=flip (no '
                     f'hidden integer to reinforce), got {spec.p_reinforce}')
  if spec.input_mode != 'bin':
    raise ValueError(f'input_mode (--input_mode) must be bin for --method=flip, got '
                     f'{spec.input_mode!r}')
  if spec.train_classifiers:
    raise ValueError('train_classifiers (--train_classifiers) does not apply to '
                     '--method=flip (its classifiers are fixed)')
  flip.validate_params(flip_params(spec))
  validate_ours(dataclasses.replace(spec, method='ours', learning_rate=None), ds)
  if ds is not None:
    run_lib.check_pool(np.asarray(ds.x), np.asarray(ds.y), ds.num_test)


def run_flip(spec: RunSpec, ds: DataSet, progress_fn=None,
             checkpoint_path: Optional[str] = None,
             initial_states=None) -> MethodResult:
  from bnnjax.baselines import flip
  config = ours_config(spec, ds)
  res = flip.make_train(config)(
      run_lib.seed_keys(spec.seed, spec.num_seeds), flip_params(spec),
      run_lib.Data(ds.x, ds.y), progress_fn=progress_fn,
      checkpoint_path=checkpoint_path, initial_states=initial_states)
  return MethodResult(train_acc=res.train_acc, test_acc=res.test_acc,
                      already_complete=res.already_complete,
                      wall_seconds=res.wall_seconds,
                      config=dataclasses.asdict(config), grid=flip_grid(spec),
                      extra={'head': config.head, 'num_outputs': config.num_outputs,
                             'flip_prob': np.asarray(flip_params(spec).flip_prob).tolist(),
                             'counter_clip': np.asarray(
                                 flip_params(spec).counter_clip).tolist()},
                      states=res.states)


# ----------------------------------------------------------------------------------
# Trainers: one compiled train function per (method, shapes), called many times (e.g.
# once per task of a continual-learning sequence, bnnjax's `initial_states`).
# ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Trainer:
  """train(keys, params, data, progress_fn=None, checkpoint_path=None,
  initial_states=None) -> `bnnjax.run.Results`, compiled once and reused for every pool
  of the same shape; params: the traced hyper-parameters of the spec; grid: {field:
  [P values]} ({} without a grid axis); data_fn(ds) -> `run.Data` the method trains on;
  evaluate_fn(state, x, y) -> int32[] correct predictions of ONE run's state;
  protocol: the `run.Protocol` of the runs (the split of every pool)."""
  train: Callable
  params: Any
  grid: Dict[str, list]
  data_fn: Callable
  evaluate_fn: Callable
  protocol: run_lib.Protocol


def make_trainer(spec: RunSpec, ds: DataSet) -> Trainer:
  """The Trainer of ours, flip, sgd, adam or ste for pools shaped like `ds` (same
  features, classes, test size); ValueError for other methods, before any compile."""
  get(spec.method).validate_fn(spec, ds)
  if spec.method in ('ours', 'flip'):
    from bnnjax import model
    config = ours_config(spec, ds)
    protocol = run_lib.Protocol(batch_size=config.batch_size,
                                num_epochs=config.num_epochs, num_test=config.num_test,
                                shuffle_split=config.shuffle_split,
                                seed_chunk=config.seed_chunk)
    if spec.method == 'ours':
      train = run_lib.make_train(config, diagnostics=spec.diagnostics)
      params, grid = ours_params(spec), grid_points(spec)
    else:
      from bnnjax.baselines import flip
      train = flip.make_train(config)
      params, grid = flip_params(spec), flip_grid(spec)
    return Trainer(train=train, params=params, grid=grid,
                   data_fn=lambda d: run_lib.Data(d.x, d.y),
                   evaluate_fn=lambda st, x, y: model.evaluate(st, x, y, config),
                   protocol=protocol)
  if spec.method in ('sgd', 'adam', 'ste'):
    from bnnjax.baselines import mlp
    config = mlp_config(spec, ds)
    return Trainer(train=mlp.make_train(config), params=mlp_params(spec), grid={},
                   data_fn=lambda d: run_lib.Data(mlp_inputs(spec, d), d.y),
                   evaluate_fn=lambda st, x, y: mlp.evaluate(st, x, y, config),
                   protocol=config.run_config())
  raise ValueError(f'method {spec.method!r} (--method) has no trainer; valid: '
                   f"['adam', 'flip', 'ours', 'sgd', 'ste']")


METHODS: Dict[str, Method] = {
    'ours': Method(validate_ours, run_ours),
    'cp_r': Method(validate_cp_r, run_cp_r),
    'sgd': Method(validate_mlp, run_mlp),
    'adam': Method(validate_mlp, run_mlp),
    'ste': Method(validate_mlp, run_mlp),
    'flip': Method(validate_flip, run_flip),
}


def get(name: str) -> Method:
  if name not in METHODS:
    raise ValueError(f'unknown method {name!r} (--method); valid: {sorted(METHODS)}')
  return METHODS[name]
