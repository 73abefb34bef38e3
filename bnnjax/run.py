"""Whole runs: `make_trainer(model, protocol)` for any method, `make_train(config)` for
the rule.

A trainer is called as `train(keys, params, data, ...) -> Results` (`bnnjax.driver`):
every seed and every point of a hyper-parameter grid of one call run through one
compiled program (`bnnjax.engine`), sharded over the devices, with checkpoints and
progress from the host between epochs. The method registry (`bnnjax.methods`) builds
every method's trainer with `make_trainer`; `make_train(config)` is the rule's own
(`bnnjax.make_train`).

The names users reach for are re-exported here: `Data`, `Results`, `seed_keys`,
`split_indices`, `use_cpu_cores`, `EngineOptions`.
"""

from typing import Callable, Hashable, Optional, Sequence

from bnnjax import checkpoint as ckpt_lib
from bnnjax import model
from bnnjax.checks import check_packed_data, seed_keys
from bnnjax.config import Config, Protocol, program_config, validate_hparams
from bnnjax.driver import Results, Trainer
from bnnjax.engine import Data, Engine, Model, split_indices
from bnnjax.platform import EngineOptions, use_cpu_cores

__all__ = ['Data', 'EngineOptions', 'Model', 'Results', 'Trainer', 'make_model',
           'make_train', 'make_trainer', 'seed_keys', 'split_indices', 'use_cpu_cores']

# Code fingerprints of earlier code of the rule that trains the same bits, so that its
# checkpoints still resume: before issue 24 (bnnjax 4aae6c3, which hashed whole source
# files; tests/test_run.py, tests/data/legacy_checkpoints.json) and before the conv
# layers (b530d03: the engine's integer running accuracy, `model.init_weights`).
LEGACY_CODE = ('2a94b243240001f0eedecb15e4f9b0b30d3af012d2a63ae93f2d2b9b3804258d',
               '38f7b4e372e9291721dc2a0883c3db4cea660d551cf9e08fb90cd6847f92f280')
# The modules whose code decides the rule's bits, besides the engine's.
RULE_MODULES = ('model',)


def make_trainer(model_: Model, protocol: Protocol, *, seed_chunk: Optional[int] = None,
                 name: Optional[Hashable] = None, config_text: str = '',
                 modules: Sequence[str] = (), legacy_code: Sequence[str] = (),
                 check_fn: Optional[Callable] = None,
                 options: Optional[EngineOptions] = None) -> Trainer:
  """Whole runs of any method given as a `Model` (its pure functions) and a run
  `Protocol`.

  seed_chunk: runs vmapped together (None: per platform). name: a hashable identity of
  the model's functions (compiled programs are shared by trainers of the same name);
  config_text, modules, legacy_code: the checkpoint fingerprint's config text, the
  modules whose code decides the bits and earlier equivalent code fingerprints
  (`bnnjax.checkpoint`). check_fn(params, data): validation before any compile.
  options: devices, runs per call, checkpoint interval (`EngineOptions`)."""
  engine = Engine(model_, protocol, seed_chunk, name)
  return Trainer(engine, config_text=config_text,
                 code=ckpt_lib.code_fingerprint(modules), legacy_code=legacy_code,
                 check_fn=check_fn, options=options)


def make_model(config: Config, diagnostics: bool = True) -> Model:
  """The rule (`bnnjax.model`) as the engine's functions; per-epoch diagnostics
  (`bnnjax.diagnostics`) unless diagnostics is False."""
  from bnnjax import diagnostics as diag_lib
  return Model(init_fn=lambda key, params: model.init(key, config, params),
               step_fn=lambda state, batch, params: model.step(state, batch, params,
                                                               config),
               evaluate_fn=lambda state, x, y: model.evaluate(state, x, y, config),
               epoch_metrics_fn=diag_lib.rule_epoch_metrics if diagnostics else None,
               step_eval_fn=lambda state, batch, params, train: model.step(
                   state, batch, params, config, train))


def make_train(config: Config, num_devices=None, diagnostics: bool = True,
               runs_per_call: Optional[int] = None,
               options: Optional[EngineOptions] = None) -> Trainer:
  """Whole runs of the local-error rule: `train(keys, params: HParams, data: Data, ...)
  -> Results` (see `driver.Trainer`). params may hold 1-D grids (runs = P x S).
  diagnostics: compute `bnnjax.diagnostics` per epoch (Results.metrics). num_devices,
  runs_per_call: shortcuts of `options` (`EngineOptions`)."""
  if options is None:
    options = EngineOptions(devices=num_devices, runs_per_call=runs_per_call)

  def check_fn(params, data):
    validate_hparams(params)
    check_packed_data(data, config)

  program = program_config(config)  # the functions cannot depend on the epoch count
  return make_trainer(make_model(program, diagnostics), config.protocol,
                      seed_chunk=config.seed_chunk, name=('ours', program, diagnostics),
                      config_text=ckpt_lib.config_text(config), modules=RULE_MODULES,
                      legacy_code=LEGACY_CODE, check_fn=check_fn, options=options)
