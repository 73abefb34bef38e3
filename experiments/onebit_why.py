r"""Why a threshold fails on mnist5k where top-k does not: what the first steps flip.

  python -m experiments.onebit_why   # ~1 minute; writes experiments/results/onebit/why.md

For the tuned `flip_threshold` and `flip_topk` of each data set (experiments/onebit.py
`TUNED`), 3 epochs of one run (seed 0, its own shuffles of the training part), step by
step: the flips per moved neuron, the share of layer-1 flips that the next step undoes,
and the share of layer-1 flips on near-constant inputs (|mean| > 0.9 over the pool: the
background pixels of mnist5k, which carry no class information).
"""

import os

import jax
import jax.numpy as jnp
import numpy as np

from bnnjax import bits, methods, model
from bnnjax import data as data_lib
from bnnjax.baselines import onebit
from experiments.onebit import TUNED

EPOCHS = 3


def measure(name: str, design: str) -> str:
  ds = data_lib.load(name)
  kw = TUNED[name][design]
  spec = methods.RunSpec(method=f'flip_{design}', layers=(135, 135),
                         batch_size=kw['batch_size'], flip_k=kw['flip_k'])
  config = methods.get(spec.method).config_fn(spec, ds)
  params = methods.params(spec)
  state = onebit.init(jax.random.PRNGKey(0), config)
  step = jax.jit(lambda s, b: onebit.step(s, b, params, config, design))
  x, y = np.asarray(ds.x), np.asarray(ds.y)
  b, n = kw['batch_size'], len(y) - ds.num_test
  x_mean = np.abs(np.asarray(bits.unpack_rows(jnp.asarray(x), ds.num_features),
                             np.float32).mean(0))
  const = x_mean > 0.9
  rs = np.random.default_rng(0)
  per_neuron, undone, on_const, prev = [], [], [], None
  for _ in range(EPOCHS):
    order = rs.permutation(n)
    for i in range(0, n, b):
      idx = order[i:i + b]
      valid = np.arange(b) < len(idx)
      idx = np.resize(idx, b)
      new, _ = step(state, model.Batch(jnp.asarray(x[idx]), jnp.asarray(y[idx]),
                                       jnp.asarray(valid)))
      moved = np.asarray(new.hidden[0]) != np.asarray(state.hidden[0])
      per_col = moved.sum(0)
      per_neuron.append(per_col[per_col > 0].mean() if per_col.any() else 0.0)
      if prev is not None and prev.any():
        undone.append((moved & prev).sum() / prev.sum())
      if moved.any():
        on_const.append(moved[const].sum() / moved.sum())
      prev, state = moved, new
  return (f'| {name} | flip_{design} | {kw} | {np.mean(per_neuron):.1f} | '
          f'{np.mean(undone):.2f} | {np.mean(on_const):.2f} ({const.mean():.0%} of '
          f'inputs) |')


def main():
  lines = ['# What the first steps flip (experiments/onebit_why.py)', '',
           f'{EPOCHS} epochs of one run per row (seed 0), layer 1, step by step.', '',
           '| data set | design | tuned | flips per moved neuron and step | share undone '
           'by the next step | share on near-constant inputs |', '|---|---|---|---|---|---|']
  for name in ('mnist5k', 'prototypes'):
    for design in ('threshold', 'topk'):
      lines.append(measure(name, design))
      print(lines[-1], flush=True)
  out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results', 'onebit',
                     'why.md')
  os.makedirs(os.path.dirname(out), exist_ok=True)
  with open(out, 'w') as f:
    f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
  main()
