# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/bnnjax/bnnjax/blob/main/colab/02_sweeps.ipynb)
#
# # Hyper-parameter sweeps in one compiled call
#
# bnnjax separates what changes the compiled program (`Config`: widths, γ, batch size,
# epochs — a static argument of `jit`) from the scalars of the rule that can be swept
# without recompiling (`HParams`: robustness r, reinforcement p_r, weight clip c — a
# traced argument). A grid is therefore a `vmap`: give `HParams` **1-D arrays of the
# flattened grid** (all fields broadcast to the same P points) and `make_train` runs every
# point × seed in one compiled call; the results get a leading `[P]` axis:
# `test_acc[P, S, E]`.
#
# Two grids here: r × p_r (the paper's main knobs; the margin of layer l is
# τ_l = ⌊r·N_l⌋, and p_r scales the probability of pushing a hidden weight away from
# zero), and the weight clip c (hidden weights kept in [−c, c]: log2(c) + 1 bits).
# The defaults run 20 × 4 + 7 × 4 = 108 runs of 135-135 for 50 epochs: about 8 minutes
# on a 2-core CPU like Colab's (estimated from the main job's ~4.5 s per run there);
# shrink the lists, the seeds or the widths for a quicker look.

# %% tags=["skip-execution"]
# Colab only: fetch bnnjax (the library and its experiments/) and install it with the
# offline data sets and plotting (Colab has jax, tfds and TensorFlow). Elsewhere:
# `pip install -e '.[notebooks]'` in a clone, and skip this cell.
import os, subprocess, sys
REPO = 'bnnjax/bnnjax'  # GitHub owner/name (colab/build.py keeps it in sync)
if 'google.colab' in sys.modules:
  SRC = os.path.abspath('bnnjax-src')
  if not os.path.isdir(SRC):
    subprocess.run(['git', 'clone', '-q', '--depth', '1',
                    f'https://github.com/{REPO}.git', SRC], check=True)
  subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '-e',
                  f'{SRC}[data,plots]'], check=True)
  sys.path.insert(0, SRC)

# %%
import math
import os
import sys

import bnnjax
bnnjax.use_cpu_cores()  # before any JAX computation: on CPU, one JAX device per core

import matplotlib.pyplot as plt
import numpy as np
from bnnjax import data

ON_COLAB = 'google.colab' in sys.modules
# BNNJAX_SMOKE=1 (set by the test suite) selects tiny sizes; the code path is the same.
SMOKE = os.environ.get('BNNJAX_SMOKE', '0') not in ('', '0')
print(f'bnnjax {bnnjax.__version__}{", SMOKE sizes" if SMOKE else ""}')

# The arithmetic bnnjax depends on, checked against NumPy on this runtime's backend
# (docs/selftest.md; ~20 s on a CPU, one line per check). Smoke sizes check one product.
from bnnjax import selftest
if selftest.main(['--only', 'dense_dot'] if SMOKE else []) == selftest.EXIT_FAIL:
  raise RuntimeError('the bnnjax self-test failed on this backend (FAIL lines above): '
                     'results here cannot be trusted; please report it')

# %% [markdown]
# ## Settings
# Values are comma-separated lists. A clip of 0 means unbounded (`int32` weights,
# plotted at 32 bits). `GROUP_SIZE` 0 takes the paper's γ for each width.

# %%
DATASET = 'prototypes'  # @param ["prototypes", "mnist5k", "digits", "fashion_mnist"]
LAYERS = '135,135'  # @param {type:"string"}
GROUP_SIZE = 0  # @param {type:"integer"}
R_VALUES = '0, 0.1, 0.25, 0.5, 1'  # @param {type:"string"}
P_VALUES = '0, 0.25, 0.5, 1'  # @param {type:"string"}
CLIPS = '1, 8, 16, 32, 64, 128, 0'  # @param {type:"string"}
ROBUSTNESS = 0.25  # @param {type:"number"}
P_REINFORCE = 0.5  # @param {type:"number"}
EPOCHS = 50  # @param {type:"integer"}
NUM_SEEDS = 4  # @param {type:"integer"}
SEED = 42  # @param {type:"integer"}
if SMOKE:  # tiny sizes for the test suite
  LAYERS, GROUP_SIZE, EPOCHS, NUM_SEEDS = '15,15', 5, 2, 2
  R_VALUES, P_VALUES, CLIPS = '0, 0.5', '0, 1', '1, 0'

layers = tuple(int(v) for v in LAYERS.split(','))
r_values = np.array([float(v) for v in R_VALUES.split(',')])
p_values = np.array([float(v) for v in P_VALUES.split(',')])
clips = np.array([int(v) for v in CLIPS.split(',')])

ds = data.load(DATASET, smoke=SMOKE, download=ON_COLAB)
config = bnnjax.Config(layers=layers,
                       group_size=GROUP_SIZE or tuple(map(bnnjax.paper_group_size, layers)),
                       num_inputs=ds.num_features, num_classes=ds.num_classes,
                       num_test=ds.num_test, num_epochs=EPOCHS,
                       batch_size=ds.batch_size or 100)
train = bnnjax.make_train(config)  # one Config: one program, whatever the grid
keys = bnnjax.seed_keys(SEED, NUM_SEEDS)
pool = bnnjax.Data(ds.x, ds.y)
print(f'{ds.name}: {ds.num_samples:,} samples; network {LAYERS}, γ {config.group_size}')


def progress(epoch, train_acc, test_acc):  # [runs] arrays, percent
  if (epoch + 1) % 10 == 0 or epoch + 1 == EPOCHS:
    print(f'epoch {epoch + 1:3d}: test accuracy of the {test_acc.size} runs from '
          f'{test_acc.min():.1f} to {test_acc.max():.1f} %')

# %% [markdown]
# ## Grid 1: r × p_r in one call
# `np.meshgrid(..., indexing='ij')` then `ravel()` flattens the grid into P points;
# `res.test_acc[P, S, E]` reshapes back to `[r, p_r, S, E]`.

# %%
rr, pp = np.meshgrid(r_values, p_values, indexing='ij')  # [R, Pr] each
grid = bnnjax.HParams(robustness=rr.ravel(), p_reinforce=pp.ravel(), weight_clip=0)
res = train(keys, grid, pool, progress_fn=progress)
print(f'{rr.size} grid points x {NUM_SEEDS} seeds = {rr.size * NUM_SEEDS} runs in one '
      f'call: {res.wall_seconds:.1f} s; test_acc {res.test_acc.shape}')
final = res.test_acc[..., -1].reshape(len(r_values), len(p_values), NUM_SEEDS)


def heat_map(ax, acc, rows, cols, row_label, col_label):
  """Mean final test accuracy over seeds (colour) with the seed spread (±std) written
  in each cell. acc: [rows, cols, seeds]."""
  mean, std = acc.mean(-1), acc.std(-1)
  im = ax.imshow(mean, origin='lower', cmap='viridis', aspect='auto')
  ax.set_xticks(range(len(cols)), [f'{v:g}' for v in cols])
  ax.set_yticks(range(len(rows)), [f'{v:g}' for v in rows])
  ax.set_xlabel(col_label)
  ax.set_ylabel(row_label)
  mid = (mean.min() + mean.max()) / 2
  for i in range(mean.shape[0]):
    for j in range(mean.shape[1]):
      ax.text(j, i, f'{mean[i, j]:.1f}\n±{std[i, j]:.1f}', ha='center', va='center',
              fontsize=8, color='k' if mean[i, j] > mid else 'w')
  return im


fig, ax = plt.subplots(figsize=(1.3 * len(p_values) + 2.5, 1.0 * len(r_values) + 1.5))
im = heat_map(ax, final, r_values, p_values, 'robustness r', 'reinforcement p_r')
fig.colorbar(im, ax=ax, label='test accuracy (%), mean over seeds')
ax.set_title(f'{ds.name} {LAYERS}: final test accuracy, {NUM_SEEDS} seeds × {EPOCHS} '
             f'epochs', fontsize=9)
plt.show()
best = np.unravel_index(np.argmax(final.mean(-1)), final.shape[:2])
print(f'best: r = {r_values[best[0]]:g}, p_r = {p_values[best[1]]:g}: '
      f'{final[best].mean():.2f} ± {final[best].std():.2f} %')

# %% [markdown]
# The learning curves of the best and the worst point of the grid (mean ± std over
# seeds): the same `res`, indexed by grid point.

# %%
curves = res.test_acc.reshape(len(r_values), len(p_values), NUM_SEEDS, EPOCHS)
worst = np.unravel_index(np.argmin(final.mean(-1)), final.shape[:2])
epochs = np.arange(1, EPOCHS + 1)
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, (i, j) in (('best', best), ('worst', worst)):
  m, s = curves[i, j].mean(0), curves[i, j].std(0)
  ax.plot(epochs, m, label=f'{name}: r = {r_values[i]:g}, p_r = {p_values[j]:g}')
  ax.fill_between(epochs, m - s, m + s, alpha=0.25)
ax.set_xlabel('epoch')
ax.set_ylabel('test accuracy (%)')
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## Grid 2: the weight clip in one call
# Same `train` (same `Config`), another `HParams` grid: r and p_r are scalars, broadcast
# to every clip. The paper's cost model stores hidden weights in 8 bits (c = 128).

# %%
res_clip = train(keys, bnnjax.HParams(robustness=ROBUSTNESS, p_reinforce=P_REINFORCE,
                                      weight_clip=clips), pool, progress_fn=progress)
acc = res_clip.test_acc[..., -1]  # [clips, seeds]
bits = np.array([math.log2(c) + 1 if c else 32 for c in clips])
order = np.argsort(bits)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.errorbar(bits[order], acc.mean(1)[order], yerr=acc.std(1)[order], marker='o',
            capsize=3)
ax.set_xscale('log', base=2)
ax.set_xticks(bits[order], [f'{b:g}' + ('\n(c={})'.format(c) if c else '\n(int32)')
                            for b, c in zip(bits[order], clips[order])], fontsize=7)
ax.set_xlabel('hidden-weight bits: log2(c) + 1')
ax.set_ylabel('final test accuracy (%)')
ax.set_title(f'{ds.name} {LAYERS}, r = {ROBUSTNESS:g}, p_r = {P_REINFORCE:g}, '
             f'{NUM_SEEDS} seeds ({res_clip.wall_seconds:.1f} s, one call)', fontsize=9)
ax.grid(alpha=0.3)
plt.show()
for c, a in zip(clips, acc):
  print(f'clip {("unbounded" if c == 0 else c):>9}: {a.mean():6.2f} ± {a.std():.2f} %')

# %% [markdown]
# The same grids from the experiment runner: a `bnnjax.methods.RunSpec` whose
# `robustness`, `p_reinforce` or `weight_clip` is a tuple runs the Cartesian product of
# the tuples in one call (`bnnjax.methods.run`), and
# `python -m bnnjax.train --robustness=0,0.25,0.5 --p_reinforce=0,0.5` writes one CSV
# row per grid point × seed × epoch.
