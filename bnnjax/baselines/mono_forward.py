r"""`mono_forward`: float local learning with learned per-layer classifiers (Gong, Li,
Abdulla, arXiv 2501.09238), with optax Adam.

Beyond arXiv 2412.00119: the same locality as the rule's local classifiers, made
learnable and float. Layer i (i = 1..L): z_i = a_{i-1} W_i + b_i, a_i = ReLU(z_i); a
learnable projection M_i [N_i, C] gives class scores G_i = a_i M_i; the loss of layer i
is the mean cross-entropy of softmax(G_i) and it updates only W_i, b_i and M_i: the
layer's input a_{i-1} is detached (`jax.lax.stop_gradient`), so one gradient of the sum
of the L local losses is exactly L independent local gradients. Prediction: argmax G_L
(pre-update predictions count toward the running train accuracy, as for every method).

Choices the paper leaves open: the optimiser (Adam, learning rate 10⁻³ by default, as
the float baselines; the third-party tuning used Adam too), batch 100 (the harness's),
initialisation as PyTorch's nn.Linear (U(±1/sqrt(fan_in)) for W_i, b_i; M_i likewise
with fan-in N_i). Inputs 'fp' and 'bin' exactly as the SGD/Adam baselines
(`bnnjax.baselines.mlp`, whose config, input handling, optimiser and evaluation this
module reuses). Dimensions: B batch, D inputs, N_i hidden widths, C classes.
"""

import math
from typing import Tuple

import jax
import jax.numpy as jnp
import optax

from bnnjax import engine
from bnnjax import model
from bnnjax.baselines import mlp
from bnnjax.baselines.mlp import MLPConfig, MLPParams, State


@model.jit_config
def init(key: jax.Array, config: MLPConfig) -> State:
  """mlp.State whose weights are ((W_i, b_i, M_i), ...): float32 [N_{i-1}, N_i], [N_i],
  [N_i, C], each U(−1/sqrt(fan_in), 1/sqrt(fan_in)) (b_i with W_i's fan-in)."""
  widths = (config.num_inputs,) + config.layers
  keys = jax.random.split(key, 3 * len(config.layers) + 1)
  key, layer_keys = keys[0], keys[1:]
  weights = []
  for i in range(len(config.layers)):
    a, b = widths[i], widths[i + 1]
    kw, kb, km = layer_keys[3 * i:3 * i + 3]
    bound, bound_m = 1.0 / math.sqrt(a), 1.0 / math.sqrt(b)
    weights.append((
        jax.random.uniform(kw, (a, b), jnp.float32, -bound, bound),
        jax.random.uniform(kb, (b,), jnp.float32, -bound, bound),
        jax.random.uniform(km, (b, config.num_classes), jnp.float32, -bound_m, bound_m)))
  weights = tuple(weights)
  return State(weights=weights, opt_state=mlp.optimizer('adam').init(weights), key=key,
               prev_acc=jnp.zeros((), jnp.float32), epoch=jnp.zeros((), jnp.int32))


def layer_scores(weights, x: jax.Array) -> Tuple[jax.Array, ...]:
  """(G_1, ..., G_L), float32[B, C]: each layer's class scores, its input detached."""
  h, out = x, []
  for w, b, m in weights:
    h = jax.nn.relu(jax.lax.stop_gradient(h) @ w + b)
    out.append(h @ m)
  return tuple(out)


def step(state: State, batch, params: MLPParams, config: MLPConfig):
  """One Adam step of every layer's local loss; returns (state, correct int32[])."""
  x = mlp.features(batch.x, config)
  valid = batch.valid.astype(jnp.float32)

  def loss_fn(weights):
    scores = layer_scores(weights, x)
    total = 0.0
    for g in scores:
      ce = optax.softmax_cross_entropy_with_integer_labels(g, batch.y)
      total = total + jnp.sum(ce * valid) / jnp.maximum(jnp.sum(valid), 1.0)
    return total, scores[-1]

  (_, out), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.weights)
  correct = jnp.sum((jnp.argmax(out, axis=-1) == batch.y) & batch.valid, dtype=jnp.int32)
  direction, opt_state = mlp.optimizer('adam').update(grads, state.opt_state,
                                                      state.weights)
  lr = jnp.asarray(params.learning_rate, jnp.float32)
  weights = optax.apply_updates(state.weights,
                                jax.tree_util.tree_map(lambda u: -lr * u, direction))
  return state._replace(weights=weights, opt_state=opt_state), correct


@model.jit_config
def evaluate(state: State, x: jax.Array, y: jax.Array, config: MLPConfig) -> jax.Array:
  """Number of correct predictions (int32[]): argmax G_L, in chunks."""
  return model.count_correct(
      lambda xc: jnp.argmax(layer_scores(state.weights, mlp.features(xc, config))[-1],
                            axis=-1), x, y, config.eval_batch_size)


def make_model(config: MLPConfig, diagnostics: bool = False) -> engine.Model:
  """The functions of the run engine (no per-epoch diagnostics)."""
  del diagnostics
  return engine.Model(
      init_fn=lambda key, params: init(key, config),
      step_fn=lambda state, batch, params: step(state, batch, params, config),
      evaluate_fn=lambda state, x, y: evaluate(state, x, y, config))
