"""The method registry: every training method declared once, run through one engine.

A `Method` entry says everything bnnjax needs to know about a method: how a `RunSpec`
(the command line's flags) and a `DataSet` give its static config, its traced
hyper-parameters (and which RunSpec fields may be swept as a grid in one call), its
model functions for the engine, the data it trains on, the checks before anything is
compiled, the code that decides its bits, its name in the paper's results file and its
row of the paper's cost model. Everything else is generic: `prepare` builds a method's
trainer for a data set, `run` trains it (`python -m bnnjax.train --method=NAME`), and
the experiments, the cost report and the notebooks read the same entries.

Registered (`METHODS`): `ours` (the local binary error rule, `bnnjax.model`), `cp_r`
(the CP+R committee machine trained by the rule), `sgd` and `adam` (float MLPs), `ste`
(a binary MLP trained with the straight-through estimator, beyond the paper), `flip`
(the rule with 1-bit weights and random flips instead of hidden integers, beyond the
paper), `flip_topk`, `flip_threshold`, `flip_anneal`, `flip_errscale` and
`flip_consolidate` (one bit per weight, `bnnjax.baselines.onebit`, docs/onebit.md), `bep`
(Binary Error Propagation, arXiv 2512.04189) and `mono_forward` (arXiv 2501.09238), all
beyond the paper (docs/bep.md). Every method gets the same data pool,
per-seed split, seeds and outputs. A new method is one entry here and its module
(docs/baselines.md).
"""

import dataclasses
import itertools
import math
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np

from bnnjax import checkpoint as ckpt_lib
from bnnjax import checks
from bnnjax import config as config_lib
from bnnjax import driver
from bnnjax import run as run_lib
from bnnjax.data import DataSet
from bnnjax.engine import Data

# The rule's hyper-parameters that may be swept in one compiled call (HParams fields).
GRID_FIELDS = ('robustness', 'p_reinforce', 'weight_clip')


@dataclasses.dataclass(frozen=True)
class RunSpec:
  """Everything a method needs besides the data; mirrors the command-line flags.

  robustness, p_reinforce, weight_clip, flip_prob: a value, or a tuple of values to
  sweep (the method's `grid_fields`): the grid is the Cartesian product of the tuples,
  run in one compiled call, and results get a leading grid axis (`grid_points`).
  train_classifiers: train the local classifiers too (ours; the paper's "train-out").
  head: 'auto' (one ±1 output for two classes, else argmax), 'argmax' or 'sign'.
  learning_rate: the float baselines' (None: the paper's). flip_prob: `flip`'s move
  probability q per unit of drive (None: `flip.DEFAULT_FLIP_PROB`); its weight_clip is
  the clip of its small counter (0 or 1: none, 1-bit weights).
  layers_text: the raw --layers text ('' = use `layers`): cp_r reads K1-K2 blocks
  from it ('330-30', '880-80,880-80').
  conv, conv_select, conv_margin, freeze_conv: `--method=conv`'s blocks before the dense
  `layers`, its selection, margin and frozen-blocks control (`bnnjax.conv`); the float
  baselines read `conv` too (the same architecture in float or STE).
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
  learning_rate: Optional[float] = None
  layers_text: str = ''
  train_classifiers: bool = False
  head: str = 'auto'
  diagnostics: bool = True  # per-epoch diagnostics of the rule (bnnjax.diagnostics)
  flip_prob: Union[None, float, Tuple[float, ...]] = None
  conv: str = ''  # conv blocks 'F:K[:P[:S[:PAD]]],...' (--method=conv; docs/conv.md)
  conv_select: str = 'filter'
  conv_margin: int = 0
  freeze_conv: bool = False
  conv_regions: int = 0
  nu: Union[None, float, Tuple[float, ...]] = None  # bep's gate ν (None: bep.DEFAULT_NU)
  # The 1-bit learners' (--method=flip_<design>, bnnjax.baselines.onebit; None: defaults)
  flip_k: Union[None, int, Tuple[int, ...]] = None
  flip_anneal: Union[None, float, Tuple[float, ...]] = None
  bep_patience: int = 0  # bep's group-size schedule: epochs without progress (0: off)

  def resolved_group_size(self) -> Tuple[int, ...]:
    if self.group_size is None:
      return tuple(config_lib.paper_group_size(n) for n in self.layers)
    gs = tuple(self.group_size)
    return gs * len(self.layers) if len(gs) == 1 else gs


# RunSpec fields added after experiment setting ids existed: hashed only away from their
# default, so that the ids of the settings on disk do not change (experiments.framework).
ADDED_FIELDS = {'flip_prob': None, 'conv': '', 'conv_select': 'filter',
                'conv_margin': 0, 'freeze_conv': False, 'conv_regions': 0, 'nu': None,
                'flip_k': None, 'flip_anneal': None, 'bep_patience': 0}
# Fields only some methods read (a grid field of theirs); any other method refuses them.
METHOD_FIELDS = {'nu': '--method=bep', 'flip_k': '--method=flip_<design>',
                 'flip_anneal': '--method=flip_<design>'}


@dataclasses.dataclass
class MethodResult:
  """train_acc, test_acc: float[S, E] percent, or float[P, S, E] for a hyper-parameter
  grid of P points. grid: {field: [P values]} of the grid points ({} without a grid).
  config: the static config, flat (`config.flat_dict`). extra: method-specific summary
  fields. metrics: per-epoch diagnostics ({name: [..., E, L...]}, `bnnjax.diagnostics`).
  states: the final states with leading [P,] S axes (ours: `model.State`, for
  `bnnjax.export`)."""
  train_acc: np.ndarray
  test_acc: np.ndarray
  wall_seconds: float
  config: dict
  extra: dict = dataclasses.field(default_factory=dict)
  grid: Dict[str, list] = dataclasses.field(default_factory=dict)
  states: Optional[Any] = None
  metrics: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
  already_complete: bool = False  # resumed from a checkpoint holding every epoch


@dataclasses.dataclass(frozen=True)
class Method:
  """One training method, declared once.

  config_fn(spec, ds) -> static config (ds None: placeholder shapes, to check the flags
    before any data is loaded). params_fn(spec, grid) -> traced hyper-parameters, from
    the spec's values or, for a grid, {field: [P values]} of `grid_fields`.
  model_fn(config, diagnostics) -> `engine.Model`. inputs_fn(spec, ds) -> the `Data`
    it trains on. check_fn(config, params, data): validation before any compile.
  validate_fn(spec, ds): the flags that do not apply to the method (ValueError).
  modules: the code that decides its bits (checkpoint fingerprints); legacy_code:
    earlier code fingerprints with the same bits (b530d03's for every method before
    the conv layers changed the engine). paper_name(spec): the method column
    of the paper's results file. cost_fn(spec, ds) -> keyword arguments of
    `cost.summary_columns` (its row of the paper's cost model), or None.
  extra_fn(config, spec, ds) -> method-specific summary fields. arithmetic: 'binary' or
  'float' (time estimates). fingerprint_prefix: False for the rule, whose checkpoints
  predate method names in fingerprints.
  """
  name: str
  config_fn: Callable
  params_fn: Callable
  model_fn: Callable
  check_fn: Callable
  validate_fn: Callable
  modules: Tuple[str, ...]
  paper_name: Callable
  cost_fn: Callable
  grid_fields: Tuple[str, ...] = ()
  inputs_fn: Callable = lambda spec, ds: Data(ds.x, ds.y)
  extra_fn: Callable = lambda config, spec, ds: {}
  arithmetic: str = 'binary'
  legacy_code: Tuple[str, ...] = ()
  fingerprint_prefix: bool = True


def _as_tuple(v) -> tuple:
  return tuple(v) if isinstance(v, (tuple, list, np.ndarray)) else (v,)


def grid_points(spec: RunSpec, fields: Optional[Tuple[str, ...]] = None) -> Dict[str, List]:
  """{field: [P values]} when any of `fields` (default: the method's grid_fields) is a
  tuple: the Cartesian product of the tuples (fields in order, the last varying
  fastest), scalars repeated. {} when every field is a scalar (no grid axis). Raises
  ValueError on an empty tuple."""
  fields = get(spec.method).grid_fields if fields is None else fields
  if not any(isinstance(getattr(spec, f), (tuple, list, np.ndarray)) for f in fields):
    return {}
  values = {f: _as_tuple(getattr(spec, f)) for f in fields}
  for f, v in values.items():
    if not v:
      raise ValueError(f'{f} (--{f}) lists no value')
  points = list(itertools.product(*values.values()))
  return {f: [p[i] for p in points] for i, f in enumerate(fields)}


def params(spec: RunSpec):
  """The method's traced hyper-parameters: scalars, or 1-D arrays of the grid points."""
  return get(spec.method).params_fn(spec, grid_points(spec))


def scalar_params(spec: RunSpec):
  """The hyper-parameters of the first grid point (or the scalars): for shape-only
  uses (the cost model's measured side)."""
  grid = grid_points(spec)
  entry = get(spec.method)
  if grid:
    return entry.params_fn(dataclasses.replace(
        spec, **{f: v[0] for f, v in grid.items()}), {})
  return entry.params_fn(spec, {})


def protocol(spec: RunSpec, ds: Optional[DataSet], train_divisor: int = 1):
  """The run `Protocol` of a spec on a data set (ds None: placeholders)."""
  return config_lib.Protocol(batch_size=spec.batch_size, num_epochs=spec.num_epochs,
                             num_test=ds.num_test if ds is not None else 1,
                             shuffle_split=ds.shuffle_split if ds is not None else True,
                             train_divisor=train_divisor)


def speed(spec: RunSpec):
  return config_lib.Speed(backend=spec.backend, seed_chunk=spec.seed_chunk)


def validate(spec: RunSpec, ds: Optional[DataSet] = None) -> None:
  """Raises ValueError naming the flag, before any data load (ds None) or compile."""
  entry = get(spec.method)
  for field, owner in METHOD_FIELDS.items():
    if getattr(spec, field) is not None and field not in entry.grid_fields:
      raise ValueError(f'{field} (--{field}) applies to {owner} only, not {spec.method}')
  if spec.bep_patience and spec.method != 'bep':
    raise ValueError(f'bep_patience (--bep_patience) applies to --method=bep only, not '
                     f'{spec.method}')
  entry.validate_fn(spec, ds)
  config = entry.config_fn(spec, ds)
  p = params(spec)
  if ds is not None:
    entry.check_fn(config, p, None)
    checks.check_pool(np.asarray(ds.x), np.asarray(ds.y), ds.num_test,
                      config.protocol.train_divisor)
  else:
    entry.check_fn(config, p, None)


@dataclasses.dataclass
class Prepared:
  """A method ready to train on pools shaped like one data set: `train` (a
  `driver.Trainer`, compiled once, called for every pool of the same shape, e.g. each
  task of a sequence with `initial_states`), its `params` and `grid`, `config`,
  `data_fn(ds)` -> the `Data` it trains on, and `extra` summary fields."""
  spec: RunSpec
  config: Any
  params: Any
  grid: Dict[str, list]
  train: driver.Trainer
  data_fn: Callable
  extra: dict

  def evaluate_fn(self, state, x, y):
    """int32[] correct predictions of ONE run's state."""
    return self.train.engine.model.evaluate_fn(state, x, y)


def prepare(spec: RunSpec, ds: DataSet,
            options: Optional[run_lib.EngineOptions] = None) -> Prepared:
  """Validates spec and data, then builds the method's trainer (nothing compiles
  until it is called)."""
  validate(spec, ds)
  entry = get(spec.method)
  config = entry.config_fn(spec, ds)
  grid = grid_points(spec)
  p = entry.params_fn(spec, grid)
  diagnostics = spec.diagnostics
  program = config_lib.program_config(config)  # functions without the epoch count
  train = run_lib.make_trainer(
      entry.model_fn(program, diagnostics), config.protocol, seed_chunk=config.seed_chunk,
      name=(entry.name, program, diagnostics),
      config_text=ckpt_lib.config_text(config, entry.name if entry.fingerprint_prefix
                                       else ''),
      modules=entry.modules, legacy_code=entry.legacy_code,
      check_fn=lambda params_, data: entry.check_fn(config, params_, data),
      options=options)
  return Prepared(spec, config, p, grid, train, lambda d: entry.inputs_fn(spec, d),
                  dict(entry.extra_fn(config, spec, ds)))


def run(spec: RunSpec, ds: DataSet, progress_fn=None,
        checkpoint_path: Optional[str] = None, initial_states=None,
        options: Optional[run_lib.EngineOptions] = None) -> MethodResult:
  """Trains `spec` on `ds` (every seed and grid point in one call). initial_states:
  states with the leading [P,] S axes of an earlier result's `states` to continue from
  (e.g. a new task), or None."""
  job = prepare(spec, ds, options)
  res = job.train(checks.seed_keys(spec.seed, spec.num_seeds), job.params,
                  job.data_fn(ds), progress_fn=progress_fn,
                  checkpoint_path=checkpoint_path, initial_states=initial_states)
  return MethodResult(train_acc=res.train_acc, test_acc=res.test_acc,
                      wall_seconds=res.wall_seconds,
                      config=config_lib.flat_dict(job.config), extra=job.extra,
                      grid=job.grid, states=res.states, metrics=dict(res.metrics),
                      already_complete=res.already_complete)


# ----------------------------------------------------------------------------------
# ours: the local binary error rule
# ----------------------------------------------------------------------------------


def _rule_config(spec: RunSpec, ds: Optional[DataSet]) -> config_lib.Config:
  # Without data the head cannot be checked against the classes: 'sign' needs two.
  num_classes = ds.num_classes if ds is not None else (2 if spec.head == 'sign' else 3)
  return config_lib.Config(
      layers=tuple(spec.layers), group_size=spec.resolved_group_size(),
      num_inputs=ds.num_features if ds is not None else 1, num_classes=num_classes,
      protocol=protocol(spec, ds), semantics=spec.semantics, speed=speed(spec),
      train_classifiers=spec.train_classifiers,
      head=spec.head)


def _rule_params(spec: RunSpec, grid: Dict) -> config_lib.HParams:
  if grid:
    return config_lib.HParams(robustness=np.asarray(grid['robustness'], np.float64),
                              p_reinforce=np.asarray(grid['p_reinforce'], np.float64),
                              weight_clip=np.asarray(grid['weight_clip']))
  return config_lib.HParams(robustness=spec.robustness, p_reinforce=spec.p_reinforce,
                            weight_clip=spec.weight_clip)


def _rule_check(config, params_, data) -> None:
  config_lib.validate_hparams(params_)
  if data is not None:
    checks.check_packed_data(data, config)


def _reject(spec: RunSpec, **fields) -> None:
  """ValueError for the given RunSpec fields that differ from their defaults
  ({field: reason text})."""
  for name, why in fields.items():
    default = RunSpec.__dataclass_fields__[name].default
    if getattr(spec, name) != default:
      raise ValueError(f'{name} (--{name}) {why}')


CONV_ONLY = ('conv_select', 'conv_margin', 'freeze_conv', 'conv_regions')


def _reject_conv(spec: RunSpec, conv_too: bool = True) -> None:
  """ValueError for --method=conv's fields on a method without conv layers."""
  names = (('conv',) if conv_too else ()) + CONV_ONLY
  _reject(spec, **{f: f'applies to --method=conv only, not {spec.method}' for f in names})


def _validate_ours(spec: RunSpec, ds) -> None:
  _reject(spec, learning_rate='applies to the float baselines, not --method=ours',
          flip_prob='applies to --method=flip only, not ours')
  _reject_conv(spec)


def _rule_head_extra(config, spec, ds=None) -> dict:
  return {'head': config.head, 'num_outputs': config.num_outputs}


def _ours_cost(spec: RunSpec, ds: DataSet) -> Dict:
  config = _rule_config(spec, ds)
  return dict(method='ours_train_out' if spec.train_classifiers else 'ours',
              layers=tuple(spec.layers), num_inputs=ds.num_features,
              num_classes=config.num_outputs)


OURS = Method(
    name='ours', config_fn=_rule_config, params_fn=_rule_params,
    model_fn=run_lib.make_model, check_fn=_rule_check, validate_fn=_validate_ours,
    modules=run_lib.RULE_MODULES, grid_fields=GRID_FIELDS,
    paper_name=lambda spec: 'ours_train_out' if spec.train_classifiers else 'ours',
    cost_fn=_ours_cost,
    extra_fn=lambda config, spec, ds: dict(_rule_head_extra(config, spec),
                                           train_classifiers=config.train_classifiers),
    legacy_code=run_lib.LEGACY_CODE, fingerprint_prefix=False)


# ----------------------------------------------------------------------------------
# cp_r: CP+R committee machines trained by the rule
# ----------------------------------------------------------------------------------


def cp_r_blocks(spec: RunSpec) -> Tuple[Tuple[int, int], ...]:
  """((K1, K2), ...) from `layers_text` ('330-30'), else from `layers` read as pairs."""
  from bnnjax.baselines import cp_r
  return cp_r.parse_layers(spec.layers_text or ','.join(map(str, spec.layers)))


def _cp_r_config(spec: RunSpec, ds: Optional[DataSet]):
  from bnnjax.baselines import cp_r
  return cp_r.CPConfig(
      blocks=cp_r_blocks(spec), num_inputs=ds.num_features if ds is not None else 1,
      num_classes=ds.num_classes if ds is not None else 2, protocol=protocol(spec, ds),
      semantics=spec.semantics, speed=speed(spec),
      head=spec.head if ds is not None else 'auto')


def _validate_cp_r(spec: RunSpec, ds) -> None:
  _reject(spec,
          group_size='does not apply to --method=cp_r (the committee size K1/K2 comes '
                     'from --layers)',
          train_classifiers='applies to --method=ours only, not cp_r',
          learning_rate='does not apply to --method=cp_r',
          flip_prob='applies to --method=flip only, not cp_r')
  _reject_conv(spec)
  if spec.input_mode != 'bin':
    raise ValueError(f'input_mode (--input_mode) must be bin for --method=cp_r (binary '
                     f'inputs), got {spec.input_mode!r}')


def _cp_r_cost(spec: RunSpec, ds: DataSet) -> Dict:
  return dict(method='cp_r', layers=tuple(k for b in cp_r_blocks(spec) for k in b),
              num_inputs=ds.num_features,
              num_classes=_cp_r_config(spec, ds).num_outputs)


def _cp_r_model(config, diagnostics):
  from bnnjax.baselines import cp_r
  return cp_r.make_model(config, diagnostics)


CP_R = Method(
    name='cp_r', config_fn=_cp_r_config, params_fn=_rule_params, model_fn=_cp_r_model,
    check_fn=_rule_check, validate_fn=_validate_cp_r,
    modules=('model', 'baselines/cp_r'), grid_fields=GRID_FIELDS,
    legacy_code=('c4df20b37b42e10fbca1e064946d9c42536a7875e111a27d972c223631c1700a',),
    paper_name=lambda spec: 'cp_r', cost_fn=_cp_r_cost,
    extra_fn=lambda config, spec, ds: dict(
        _rule_head_extra(config, spec),
        blocks='_'.join(f'{k1}_{k2}' for k1, k2 in config.blocks),
        committee_size=list(config.committee_sizes)))


# ----------------------------------------------------------------------------------
# sgd, adam, ste: MLPs trained by gradients (bnnjax.baselines.mlp)
# ----------------------------------------------------------------------------------

BIN_CHUNK = 4096  # samples binarised at a time from lazily read float features


def mlp_num_inputs(spec: RunSpec, ds: DataSet) -> int:
  """Input width of the float baselines: the float features' width for 'fp' (raw
  columns, e.g. 30 for breast_cancer) and for 'bin' from a per-sample median; the
  binarised width otherwise (`DataSet.float_input`)."""
  x_float = getattr(ds, 'x_float', None)
  if x_float is not None and (spec.input_mode == 'fp' or ds.float_input != 'table'):
    return int(x_float.shape[1])
  return ds.num_features


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


def _layers_ints(spec: RunSpec) -> Tuple[int, ...]:
  if not spec.layers_text:
    return tuple(spec.layers)
  try:
    return tuple(int(v) for v in spec.layers_text.split(',') if v.strip())
  except ValueError:
    raise ValueError(f'layers (--layers) must be comma-separated integers for '
                     f'--method={spec.method}, got {spec.layers_text!r}') from None


def _mlp_config(spec: RunSpec, ds: Optional[DataSet] = None):
  from bnnjax.baselines import mlp
  divisor = fp_train_divisor(ds) if spec.input_mode == 'fp' else 1
  blocks = config_lib.parse_conv(spec.conv)
  if blocks and ds is None:  # placeholder image, as for --method=conv
    shape = placeholder_image(blocks)
  elif blocks:
    shape = image_shape(ds, spec.method)
    if spec.input_mode == 'fp' and mlp_num_inputs(spec, ds) != math.prod(shape):
      raise ValueError(f'input_mode (--input_mode) fp: the float features of '
                       f'{ds.name!r} are not its {shape} images; use --input_mode=bin')
  else:
    shape = ()
  return mlp.MLPConfig(
      kind=spec.method, layers=_layers_ints(spec),
      num_inputs=(mlp_num_inputs(spec, ds) if ds is not None else
                  (math.prod(shape) if blocks else 1)),
      num_classes=ds.num_classes if ds is not None else 2, input_mode=spec.input_mode,
      protocol=protocol(spec, ds, divisor), speed=speed(spec), conv=blocks,
      image_shape=shape)


def _mlp_params(spec: RunSpec, grid: Dict):
  from bnnjax.baselines import mlp
  lr = (mlp.PAPER_LEARNING_RATE[spec.method] if spec.learning_rate is None
        else spec.learning_rate)
  return mlp.MLPParams(learning_rate=lr)


def _mlp_check(config, params_, data) -> None:
  from bnnjax.baselines import mlp
  mlp.validate_params(params_)


def mlp_inputs(spec: RunSpec, ds: DataSet) -> np.ndarray:
  """The pool the float baselines see.

  'bin': ±1 inputs from the per-sample median (+1 if x > the sample's median; the
  authors' SGD/Adam scripts) of the float features `ds.x_float`, binarised in chunks of
  BIN_CHUNK samples so lazily read pools are never whole in memory; the data set's ±1
  features as they are when it has no float features (Prototypes is ±1 by
  construction) or is a table (`DataSet.float_input` 'table': its thermometer /
  one-hot bits). Kept packed (uint32[n, W]); the model unpacks each batch.
  'fp': float32[n, D] features — `ds.x_float` as the loader provides it (already
  normalised as the paper does: FMNIST mean 0.1307, std 0.3081; pixels in [0, 1];
  AlexNet features raw), standardised per column for tables, or the ±1 signs of a data
  set that is ±1 by construction ('signs'). The whole float pool is held (1/32 of the
  training split is drawn per run inside the run). Raises ValueError when the data set
  has no float features."""
  from bnnjax import bits
  x_float = getattr(ds, 'x_float', None)
  table = ds.float_input == 'table'
  if spec.input_mode == 'bin':
    if x_float is None or table:
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
    if table:
      std = x_float.std(axis=0)
      x_float = (x_float - x_float.mean(axis=0)) / np.where(std > 0, std, 1)
    return x_float.astype(np.float32)
  if ds.float_input == 'signs':
    return np.asarray(bits.unpack_rows(np.asarray(ds.x), ds.num_features), np.float32)
  raise ValueError(f'input_mode (--input_mode) fp needs float features, but data set '
                   f'{ds.name!r} provides only binarised ones (no DataSet.x_float); use '
                   f'--input_mode=bin')


def _validate_mlp(spec: RunSpec, ds) -> None:
  _reject(spec, group_size=f'does not apply to --method={spec.method}',
          train_classifiers=f'applies to --method=ours only, not {spec.method}',
          flip_prob=f'applies to --method=flip only, not {spec.method}')
  _reject_conv(spec, conv_too=False)
  if grid_points(spec, GRID_FIELDS):
    raise ValueError(f'hyper-parameter grids over {list(GRID_FIELDS)} apply to ours and '
                     f'cp_r, not --method={spec.method}')
  if spec.head != 'auto':
    raise ValueError(f'head (--head) applies to ours and cp_r; --method={spec.method} '
                     f'has one logit per class')
  if ds is not None and spec.input_mode == 'fp' and getattr(ds, 'x_float', None) is None \
      and ds.float_input != 'signs':
    mlp_inputs(spec, ds)  # raises the ValueError naming --input_mode


def _mlp_cost(spec: RunSpec, ds: DataSet) -> Optional[Dict]:
  if spec.method == 'ste':
    return None  # the paper's cost model has no STE row
  if spec.conv:
    return None  # no row for float conv nets
  n_split = ds.num_samples - ds.num_test
  return dict(method=spec.method, layers=tuple(spec.layers),
              num_inputs=mlp_num_inputs(spec, ds), num_classes=ds.num_classes,
              input_mode=spec.input_mode,
              num_train_used=(n_split // fp_train_divisor(ds)
                              if spec.input_mode == 'fp' else None))


def _mlp_model(config, diagnostics):
  from bnnjax.baselines import mlp
  return mlp.make_model(config, diagnostics)


def _mlp_extra(config, spec, ds) -> dict:
  return {'learning_rate': float(_mlp_params(spec, {}).learning_rate),
          'input_mode': spec.input_mode,
          'train_samples': (ds.num_samples - ds.num_test) // config.protocol.train_divisor}


def _mlp_method(kind: str) -> Method:
  return Method(
      name=kind, config_fn=_mlp_config, params_fn=_mlp_params, model_fn=_mlp_model,
      check_fn=_mlp_check, validate_fn=_validate_mlp,
      modules=('model', 'baselines/mlp'),
      legacy_code=('ebe993dce77674e9d06996e6f22df477c75026cfc1a867fb10f32dcd3ba31b4a',),
      inputs_fn=lambda spec, ds: Data(mlp_inputs(spec, ds), ds.y),
      paper_name=lambda spec: (f'{spec.method}_{spec.input_mode}' if kind != 'ste'
                               else 'ste'),
      cost_fn=_mlp_cost, extra_fn=_mlp_extra, arithmetic='float')


# ----------------------------------------------------------------------------------
# flip: the rule with 1-bit weights and random flips (bnnjax.baselines.flip; beyond the
# paper). flip_prob is the move probability q, weight_clip the clip of its small
# counter (0 or 1: none, 1-bit weights); tuples of either are a grid (q varies fastest).
# ----------------------------------------------------------------------------------

FLIP_GRID_FIELDS = ('weight_clip', 'flip_prob')


def _counter_clip(c):
  c = np.asarray(c)
  integral = np.all(np.mod(c, 1) == 0) if c.dtype.kind == 'f' else c.dtype.kind in 'iu'
  return np.maximum(1, c).astype(np.int64) if integral else c


def _flip_params(spec: RunSpec, grid: Dict):
  from bnnjax.baselines import flip
  q = flip.DEFAULT_FLIP_PROB if spec.flip_prob is None else spec.flip_prob
  if grid:
    q = [flip.DEFAULT_FLIP_PROB if v is None else v for v in grid['flip_prob']]
    return flip.FlipParams(robustness=spec.robustness,
                           flip_prob=np.asarray(q, np.float64),
                           counter_clip=_counter_clip(grid['weight_clip']))
  c = _counter_clip(spec.weight_clip)
  return flip.FlipParams(robustness=spec.robustness, flip_prob=q,
                         counter_clip=c.item() if c.ndim == 0 else c)


def _flip_check(config, params_, data) -> None:
  from bnnjax.baselines import flip
  flip.validate_params(params_)
  flip.validate_config(config)
  if data is not None:
    checks.check_packed_data(data, config)


def _validate_flip(spec: RunSpec, ds) -> None:
  if isinstance(spec.robustness, (tuple, list)) or isinstance(
      spec.p_reinforce, (tuple, list)):
    raise ValueError('--method=flip sweeps only the flip probability q (--flip_prob) '
                     'and its counter clip (--weight_clip); robustness and p_reinforce '
                     'grids apply to ours and cp_r')
  _reject(spec, p_reinforce='does not apply to --method=flip (no hidden integer to '
                            'reinforce)',
          learning_rate='does not apply to --method=flip: its flip probability q is '
                        '--flip_prob',
          train_classifiers='does not apply to --method=flip (its classifiers are '
                            'fixed)')
  _reject_conv(spec)
  if spec.input_mode != 'bin':
    raise ValueError(f'input_mode (--input_mode) must be bin for --method=flip, got '
                     f'{spec.input_mode!r}')
  # The counter's clip is a weight clip: 0 (none: 1-bit weights) or a positive integer.
  clips = _as_tuple(spec.weight_clip)
  config_lib.validate_hparams(config_lib.HParams(
      weight_clip=np.asarray(clips) if clips else 0))


def _flip_cost(spec: RunSpec, ds: DataSet) -> Dict:
  from bnnjax.cost import formulas
  clip = int(np.ravel(_counter_clip(_as_tuple(spec.weight_clip)[0]))[0])
  return dict(method='flip', layers=tuple(spec.layers), num_inputs=ds.num_features,
              num_classes=_rule_config(spec, ds).num_outputs,
              weight_bits=formulas.flip_weight_bits(clip))


def _flip_model(config, diagnostics):
  from bnnjax.baselines import flip
  return flip.make_model(config, diagnostics)


def _flip_extra(config, spec, ds) -> dict:
  p = params(spec)
  return dict(_rule_head_extra(config, spec),
              flip_prob=np.asarray(p.flip_prob).tolist(),
              counter_clip=np.asarray(p.counter_clip).tolist())


FLIP = Method(
    name='flip', config_fn=_rule_config, params_fn=_flip_params, model_fn=_flip_model,
    check_fn=_flip_check, validate_fn=_validate_flip,
    modules=('model', 'baselines/flip'), grid_fields=FLIP_GRID_FIELDS,
    legacy_code=('82984371a231f113a0dd19e7024ee3ddd0cac1a3efe4b8743f24e6ce6c6f5f75',
                 '6ed7c38afa0e57b11ed666ea3bd83d166ebf65c97c246138221e9087edf44acd'),
    paper_name=lambda spec: 'flip', cost_fn=_flip_cost, extra_fn=_flip_extra)


# ----------------------------------------------------------------------------------
# conv: binary conv nets trained by the local rule, integer-only (bnnjax.conv,
# docs/conv.md). --conv gives the blocks, --layers the dense layers after them.
# ----------------------------------------------------------------------------------


def image_shape(ds: Optional[DataSet], method: str) -> Tuple[int, int, int]:
  """The (H, W, C) of a data set's images; ValueError when it has none."""
  shape = getattr(ds, 'image_shape', None)
  if shape is None:
    raise ValueError(f'data set {ds.name!r} has no image shape: --method={method} with '
                     f'--conv needs images (digits, mnist5k, fashion_mnist)')
  return tuple(shape)


def conv_group_size(spec: RunSpec) -> Tuple[int, ...]:
  """γ per layer: --group_size, else 1 for each conv block (every filter may move)
  and the paper's γ for each dense width."""
  if spec.group_size is not None:
    return tuple(spec.group_size)
  blocks = _conv_blocks(spec)
  return (1,) * len(blocks) + tuple(config_lib.paper_group_size(n) for n in spec.layers)


def placeholder_image(blocks) -> Tuple[int, int, int]:
  """A small square image every block fits, to check flags before data is loaded
  (the blocks are checked against the data's images later)."""
  side = 1
  for b in reversed(blocks):  # the input side a block needs for an output of `side`
    side = max((side * b.pool - 1) * b.stride + b.kernel - 2 * b.padding, b.kernel)
  return (side, side, 1)


def _conv_blocks(spec: RunSpec):
  return config_lib.parse_conv(spec.conv)


def _conv_config(spec: RunSpec, ds: Optional[DataSet]):
  from bnnjax import conv
  blocks = _conv_blocks(spec)
  shape = placeholder_image(blocks) if ds is None else image_shape(ds, 'conv')
  num_classes = ds.num_classes if ds is not None else (2 if spec.head == 'sign' else 3)
  return conv.ConvConfig(
      image_shape=shape, conv=blocks, layers=tuple(spec.layers),
      group_size=conv_group_size(spec), num_classes=num_classes,
      protocol=protocol(spec, ds), semantics=spec.semantics, speed=speed(spec),
      head=spec.head, select=spec.conv_select, margin=spec.conv_margin,
      freeze_conv=spec.freeze_conv, regions=spec.conv_regions)


def _conv_params(spec: RunSpec, grid: Dict):
  from bnnjax import conv
  return conv.params_from(_rule_params(spec, grid))


def integer_method_check(module: str) -> Callable:
  """check_fn of a method on packed data whose module (a bnnjax module path, imported
  when checking) has `validate_params`: its traced values, then the data."""
  def check(config, params_, data) -> None:
    import importlib
    importlib.import_module(module).validate_params(params_)
    if data is not None:
      checks.check_packed_data(data, config)
  return check


_conv_check = integer_method_check('bnnjax.conv')


def _validate_conv(spec: RunSpec, ds) -> None:
  _reject(spec, learning_rate='does not apply to --method=conv',
          flip_prob='applies to --method=flip only, not conv',
          train_classifiers='does not apply to --method=conv (its classifiers are fixed)')
  if not _conv_blocks(spec):
    raise ValueError('conv (--conv) lists no block: --method=conv needs at least one, '
                     "e.g. --conv=16:3:2 (a net without blocks is --method=ours)")
  if spec.input_mode != 'bin':
    raise ValueError(f'input_mode (--input_mode) must be bin for --method=conv, got '
                     f'{spec.input_mode!r}')
  if ds is not None:
    image_shape(ds, 'conv')


def _conv_cost(spec: RunSpec, ds: DataSet) -> Dict:
  """The inputs of `bnnjax.cost.conv.summary_columns` (method 'conv')."""
  config = _conv_config(spec, ds)
  return dict(method='conv', shapes=config.shapes, num_classes=config.num_outputs,
              num_conv=config.num_conv, freeze_conv=config.freeze_conv,
              regions=config.regions)


def _conv_model(config, diagnostics):
  from bnnjax import conv
  return conv.make_model(config, diagnostics)


CONV = Method(
    name='conv', config_fn=_conv_config, params_fn=_conv_params, model_fn=_conv_model,
    check_fn=_conv_check, validate_fn=_validate_conv, modules=('model', 'conv'),
    grid_fields=GRID_FIELDS, paper_name=lambda spec: 'conv', cost_fn=_conv_cost,
    extra_fn=lambda config, spec, ds: dict(
        _rule_head_extra(config, spec), conv=','.join(b.text() for b in config.conv),
        conv_select=config.select, conv_margin=config.margin,
        freeze_conv=config.freeze_conv, conv_regions=config.regions))


METHODS: Dict[str, Method] = {m.name: m for m in (
    OURS, CP_R, _mlp_method('sgd'), _mlp_method('adam'), _mlp_method('ste'), FLIP,
    CONV)}


def get(name: str) -> Method:
  """The registry entry of a method; ValueError listing the valid names."""
  if name not in METHODS:
    raise ValueError(f'unknown method {name!r} (--method); valid: {sorted(METHODS)}')
  return METHODS[name]


# ----------------------------------------------------------------------------------
# bep: Binary Error Propagation (bnnjax.baselines.bep; arXiv 2512.04189, beyond the
# paper). Its grid fields are r, p_r, ν and the clip, quantised to integers on the host.
# mono_forward: float local learning with learned projections (arXiv 2501.09238), the
# float baselines' config, inputs and cost conventions (bnnjax.baselines.mono_forward).
# ----------------------------------------------------------------------------------

BEP_GRID_FIELDS = ('robustness', 'p_reinforce', 'nu', 'weight_clip')


def _bep_config(spec: RunSpec, ds: Optional[DataSet]):
  from bnnjax.baselines import bep
  return bep.BEPConfig(
      layers=tuple(spec.layers), group_size=spec.resolved_group_size(),
      num_inputs=ds.num_features if ds is not None else 1,
      num_classes=ds.num_classes if ds is not None else 2, protocol=protocol(spec, ds),
      semantics=spec.semantics, speed=speed(spec), gamma_patience=spec.bep_patience)


def _bep_params(spec: RunSpec, grid: Dict):
  from bnnjax.baselines import bep
  nu = lambda v: bep.DEFAULT_NU if v is None else v
  if grid:
    return bep.hparams(nu=np.asarray([nu(v) for v in grid['nu']], np.float64),
                       robustness=np.asarray(grid['robustness'], np.float64),
                       p_reinforce=np.asarray(grid['p_reinforce'], np.float64),
                       weight_clip=np.asarray(grid['weight_clip']))
  return bep.hparams(nu=nu(spec.nu), robustness=spec.robustness,
                     p_reinforce=spec.p_reinforce, weight_clip=spec.weight_clip)


_bep_check = integer_method_check('bnnjax.baselines.bep')


def _validate_bep(spec: RunSpec, ds) -> None:
  _reject(spec, learning_rate='does not apply to --method=bep',
          flip_prob='applies to --method=flip only, not bep',
          train_classifiers='does not apply to --method=bep (its output codebook is '
                            'fixed)',
          head='does not apply to --method=bep (argmax over its output codebook)')
  _reject_conv(spec)
  if spec.input_mode != 'bin':
    raise ValueError(f'input_mode (--input_mode) must be bin for --method=bep, got '
                     f'{spec.input_mode!r}')
  _bep_params(spec, grid_points(spec, BEP_GRID_FIELDS))  # the values' ValueErrors


def _bep_cost(spec: RunSpec, ds: DataSet) -> Dict:
  return dict(method='bep', layers=tuple(spec.layers), num_inputs=ds.num_features,
              num_classes=ds.num_classes)


def _bep_model(config, diagnostics):
  from bnnjax.baselines import bep
  return bep.make_model(config, diagnostics)


def _bep_extra(config, spec, ds) -> dict:
  from bnnjax.baselines import bep
  p = params(spec)
  return dict(nu_effective=(np.asarray(p.nu_q) / bep.FIXED_ONE).tolist(),
              init_scale=config.init_scale, codebook_seed=config.codebook_seed,
              weight_clip_effective=np.where(np.asarray(p.weight_clip) == 0, bep.MAX_CLIP,
                                             np.asarray(p.weight_clip)).tolist())


BEP = Method(
    name='bep', config_fn=_bep_config, params_fn=_bep_params, model_fn=_bep_model,
    check_fn=_bep_check, validate_fn=_validate_bep, modules=('model', 'baselines/bep'),
    grid_fields=BEP_GRID_FIELDS, paper_name=lambda spec: 'bep', cost_fn=_bep_cost,
    extra_fn=_bep_extra)


def _mono_forward_model(config, diagnostics):
  from bnnjax.baselines import mono_forward
  return mono_forward.make_model(config, diagnostics)


def _validate_mono_forward(spec: RunSpec, ds) -> None:
  _reject_conv(spec)
  _validate_mlp(spec, ds)


MONO_FORWARD = dataclasses.replace(
    _mlp_method('mono_forward'), model_fn=_mono_forward_model,
    validate_fn=_validate_mono_forward,
    modules=('model', 'baselines/mlp', 'baselines/mono_forward'),
    paper_name=lambda spec: f'mono_forward_{spec.input_mode}')

METHODS.update({m.name: m for m in (BEP, MONO_FORWARD)})


# ----------------------------------------------------------------------------------
# The 1-bit learners (bnnjax.baselines.onebit; docs/onebit.md; beyond the paper): one
# method per design, --method=flip_<design>. Grid fields: robustness, flip_prob, flip_k,
# flip_anneal (the last varying fastest).
# ----------------------------------------------------------------------------------

ONEBIT_GRID_FIELDS = ('robustness', 'flip_prob', 'flip_k', 'flip_anneal')
# What each design reads besides robustness (the others are refused).
ONEBIT_READS = {'topk': ('flip_k',), 'threshold': ('flip_k',),
                'anneal': ('flip_prob', 'flip_anneal'), 'errscale': ('flip_prob',),
                'consolidate': ('flip_k', 'flip_anneal')}


def _onebit_params(design: str):
  def params_fn(spec: RunSpec, grid: Dict):
    from bnnjax.baselines import flip, onebit
    defaults = {'flip_prob': flip.DEFAULT_FLIP_PROB, 'flip_k': onebit.DEFAULT_K,
                'flip_anneal': onebit.DEFAULT_ANNEAL.get(design, 1.0)}
    values = {}
    for f in ONEBIT_GRID_FIELDS:
      v = grid[f] if grid else getattr(spec, f)
      if f in defaults:
        v = ([defaults[f] if x is None else x for x in v] if grid else
             defaults[f] if v is None else v)
      values[f] = np.asarray(v, np.float64) if grid else v
    return onebit.OneBitParams(robustness=values['robustness'],
                               flip_prob=values['flip_prob'], k=values['flip_k'],
                               anneal=values['flip_anneal'])
  return params_fn


def _onebit_check(design: str):
  def check_fn(config, params_, data) -> None:
    from bnnjax.baselines import onebit
    onebit.validate_params(params_, design)
    onebit.validate_config(config, design)
    if data is not None:
      checks.check_packed_data(data, config)
  return check_fn


def _validate_onebit(design: str):
  def validate_fn(spec: RunSpec, ds) -> None:
    name = f'--method=flip_{design}'
    _reject(spec, p_reinforce=f'does not apply to {name} (no hidden integer to '
                              f'reinforce)',
            weight_clip=f'does not apply to {name} (one bit per weight: no clip)',
            learning_rate=f'does not apply to {name}',
            train_classifiers=f'does not apply to {name} (its classifiers are fixed)')
    for f in ('flip_prob', 'flip_k', 'flip_anneal'):
      if f not in ONEBIT_READS[design] and getattr(spec, f) is not None:
        raise ValueError(f'{f} (--{f}) does not apply to {name}; it reads '
                         f'{", ".join("--" + r for r in ONEBIT_READS[design])}')
    _reject_conv(spec)
    if spec.input_mode != 'bin':
      raise ValueError(f'input_mode (--input_mode) must be bin for {name}, got '
                       f'{spec.input_mode!r}')
  return validate_fn


def _onebit_cost(design: str):
  def cost_fn(spec: RunSpec, ds: DataSet) -> Dict:
    return dict(method=f'flip_{design}', layers=tuple(spec.layers),
                num_inputs=ds.num_features, num_classes=_rule_config(spec, ds).num_outputs)
  return cost_fn


def _onebit_model(design: str):
  def model_fn(config, diagnostics):
    from bnnjax.baselines import onebit
    del diagnostics  # no hidden integers to describe
    return onebit.make_model(config, design)
  return model_fn


def _onebit_extra(config, spec, ds) -> dict:
  p = params(spec)
  return dict(_rule_head_extra(config, spec), flip_prob=np.asarray(p.flip_prob).tolist(),
              flip_k=np.asarray(p.k).tolist(), flip_anneal=np.asarray(p.anneal).tolist())


def _onebit_method(design: str) -> Method:
  return Method(
      name=f'flip_{design}', config_fn=_rule_config, params_fn=_onebit_params(design),
      model_fn=_onebit_model(design), check_fn=_onebit_check(design),
      validate_fn=_validate_onebit(design),
      modules=('model', 'baselines/flip', 'baselines/onebit'),
      grid_fields=ONEBIT_GRID_FIELDS, paper_name=lambda spec: spec.method,
      cost_fn=_onebit_cost(design), extra_fn=_onebit_extra)


from bnnjax.baselines import onebit as _onebit  # noqa: E402 (its designs' names)

METHODS.update({m.name: m for m in map(_onebit_method, _onebit.DESIGNS)})
