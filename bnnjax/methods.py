"""Training methods behind one interface, so every table comes from one tool.

A method maps (RunSpec, DataSet) to `MethodResult`; `python -m bnnjax.train --method=NAME`
looks it up in `METHODS`. `ours` is the local binary error rule (bnnjax.model).
"""

import dataclasses
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from bnnjax import config as config_lib
from bnnjax import run as run_lib
from bnnjax.data import DataSet


@dataclasses.dataclass(frozen=True)
class RunSpec:
  """Everything a method needs besides the data; mirrors the command-line flags."""
  method: str = 'ours'
  layers: Tuple[int, ...] = (135, 135)
  group_size: Optional[Tuple[int, ...]] = None  # None: the paper's γ for each width
  robustness: float = 0.25
  p_reinforce: float = 0.5
  weight_clip: int = 0
  batch_size: int = 100
  num_epochs: int = 50
  num_seeds: int = 10
  seed: int = 42
  semantics: str = 'reference'
  backend: str = 'packed'
  seed_chunk: int = 5
  input_mode: str = 'bin'  # float baselines: 'fp' or 'bin'
  learning_rate: Optional[float] = None  # float baselines: None = the paper's value

  def resolved_group_size(self) -> Tuple[int, ...]:
    if self.group_size is None:
      return tuple(config_lib.paper_group_size(n) for n in self.layers)
    gs = tuple(self.group_size)
    return gs * len(self.layers) if len(gs) == 1 else gs


@dataclasses.dataclass
class MethodResult:
  """train_acc, test_acc: float[S, E] percent. extra: method-specific summary fields."""
  train_acc: np.ndarray
  test_acc: np.ndarray
  wall_seconds: float
  config: dict
  extra: dict = dataclasses.field(default_factory=dict)


def ours_config(spec: RunSpec, ds: DataSet) -> config_lib.Config:
  return config_lib.Config(
      layers=tuple(spec.layers), group_size=spec.resolved_group_size(),
      num_inputs=ds.num_features, num_classes=ds.num_classes,
      batch_size=spec.batch_size, num_epochs=spec.num_epochs, num_test=ds.num_test,
      shuffle_split=ds.shuffle_split, semantics=spec.semantics, backend=spec.backend,
      seed_chunk=spec.seed_chunk)


def ours_params(spec: RunSpec) -> config_lib.HParams:
  return config_lib.HParams(robustness=spec.robustness, p_reinforce=spec.p_reinforce,
                            weight_clip=spec.weight_clip)


def validate_ours(spec: RunSpec, ds: Optional[DataSet] = None) -> None:
  """Raises ValueError before any compile."""
  num_inputs = ds.num_features if ds is not None else 1
  num_classes = ds.num_classes if ds is not None else 2
  config_lib.Config(layers=tuple(spec.layers), group_size=spec.resolved_group_size(),
                    num_inputs=num_inputs, num_classes=num_classes,
                    batch_size=spec.batch_size, num_epochs=spec.num_epochs,
                    semantics=spec.semantics, backend=spec.backend,
                    seed_chunk=spec.seed_chunk)
  config_lib.validate_hparams(ours_params(spec))


def run_ours(spec: RunSpec, ds: DataSet, progress_fn=None,
             checkpoint_path: Optional[str] = None) -> MethodResult:
  config = ours_config(spec, ds)
  train = run_lib.make_train(config)
  res = train(run_lib.seed_keys(spec.seed, spec.num_seeds), ours_params(spec),
              run_lib.Data(ds.x, ds.y), progress_fn=progress_fn,
              checkpoint_path=checkpoint_path)
  return MethodResult(train_acc=res.train_acc, test_acc=res.test_acc,
                      wall_seconds=res.wall_seconds,
                      config=dataclasses.asdict(config))


@dataclasses.dataclass(frozen=True)
class Method:
  """validate_fn(spec, ds_or_None) raises ValueError; run_fn(spec, ds, progress_fn,
  checkpoint_path) -> MethodResult."""
  validate_fn: Callable
  run_fn: Callable


METHODS: Dict[str, Method] = {
    'ours': Method(validate_ours, run_ours),
}


def get(name: str) -> Method:
  if name not in METHODS:
    raise ValueError(f'unknown method {name!r} (--method); valid: {sorted(METHODS)}')
  return METHODS[name]
