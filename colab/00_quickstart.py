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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/bnnjax/bnnjax/blob/main/colab/00_quickstart.ipynb)
#
# # bnnjax quickstart: ten binary networks in one call
#
# A fully binary MLP trained **without gradients** by the local binary error rule of
# Colombo, Pittorino and Roveri ([arXiv 2412.00119](https://arxiv.org/abs/2412.00119)):
# ±1 weights and activations, a fixed random ±1 classifier per layer that turns the label
# into a local error, and integer hidden weights moved by ±2 on a few neurons per group.
#
# This notebook trains the paper's main job (Random Prototypes, 135-135, γ = 45, r = 0.25,
# p_r = 0.5, batch 100, 50 epochs) for **10 seeds in one jitted, vmapped call**, plots
# the learning curves (mean ± std over seeds) and prints the paper's cost model of the
# network beside the bytes bnnjax really holds. The paper reports 92.25 ± 0.45 % test
# accuracy for this net; on a 2-core CPU the run takes about a minute.

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
import os
import sys

import bnnjax
bnnjax.use_cpu_cores()  # before any JAX computation: on CPU, one JAX device per core

import jax
import matplotlib.pyplot as plt
import numpy as np
from bnnjax import cost, data

ON_COLAB = 'google.colab' in sys.modules
# BNNJAX_SMOKE=1 (set by the test suite) selects tiny sizes; the code path is the same.
SMOKE = os.environ.get('BNNJAX_SMOKE', '0') not in ('', '0')
print(f'bnnjax {bnnjax.__version__}, jax {jax.__version__}, devices {jax.devices()}'
      f'{", SMOKE sizes" if SMOKE else ""}')

# The arithmetic bnnjax depends on, checked against NumPy on this runtime's backend
# (docs/selftest.md; ~20 s on a CPU, one line per check). Smoke sizes check one product.
from bnnjax import selftest
if selftest.main(['--only', 'dense_dot'] if SMOKE else []) == selftest.EXIT_FAIL:
  raise RuntimeError('the bnnjax self-test failed on this backend (FAIL lines above): '
                     'results here cannot be trusted; please report it')

# %% [markdown]
# ## Settings
# `GROUP_SIZE` 0 takes the paper's γ for each width (35→35, 135→45, 525→105).
# `fashion_mnist` is downloaded by tfds on Colab (a few minutes, once); `mnist5k` and
# `digits` ship with pip packages.

# %%
DATASET = 'prototypes'  # @param ["prototypes", "mnist5k", "digits", "fashion_mnist"]
LAYERS = '135,135'  # @param {type:"string"}
GROUP_SIZE = 0  # @param {type:"integer"}
ROBUSTNESS = 0.25  # @param {type:"number"}
P_REINFORCE = 0.5  # @param {type:"number"}
EPOCHS = 50  # @param {type:"integer"}
NUM_SEEDS = 10  # @param {type:"integer"}
SEED = 42  # @param {type:"integer"}
SEMANTICS = 'reference'  # @param ["reference", "binary"]
if SMOKE:  # tiny sizes for the test suite
  LAYERS, GROUP_SIZE, EPOCHS, NUM_SEEDS = '15,15', 5, 2, 2

layers = tuple(int(v) for v in LAYERS.split(','))
group_size = GROUP_SIZE or tuple(map(bnnjax.paper_group_size, layers))

# %% [markdown]
# ## Data and the network
# A data set is a packed pool: `uint32[n, W]` words of ±1 features (1 bit per feature)
# and `int32[n]` labels. Each run shuffles the pool with its own key and keeps the last
# `num_test` samples as its test set (the paper's protocol).

# %%
ds = data.load(DATASET, smoke=SMOKE, download=ON_COLAB)
print(f'{ds.name}: {ds.num_samples:,} samples x {ds.num_features:,} features '
      f'(packed {ds.x.dtype}{list(ds.x.shape)}), {ds.num_classes} classes, '
      f'test {ds.num_test:,}')
config = bnnjax.Config(layers=layers, group_size=group_size,
                       num_inputs=ds.num_features, num_classes=ds.num_classes,
                       num_test=ds.num_test, num_epochs=EPOCHS,
                       batch_size=ds.batch_size or 100, semantics=SEMANTICS)
params = bnnjax.HParams(robustness=ROBUSTNESS, p_reinforce=P_REINFORCE)
config

# %% [markdown]
# ## Train all seeds in one call
# `make_train(config)` compiles the whole run once; `seed_keys(SEED, S)` gives run k the
# key `PRNGKey(SEED + k)` (the paper used 42 + k). The host prints between epochs.

# %%
train = bnnjax.make_train(config)


def show_progress(epoch, train_acc, test_acc):
  if epoch == 0 or (epoch + 1) % 10 == 0 or epoch + 1 == EPOCHS:
    print(f'epoch {epoch + 1:3d}  train {train_acc.mean():6.2f}  '
          f'test {test_acc.mean():6.2f} ± {test_acc.std():.2f} %')


res = train(bnnjax.seed_keys(SEED, NUM_SEEDS), params, bnnjax.Data(ds.x, ds.y),
            progress_fn=show_progress)
final = res.test_acc[:, -1]
print(f'\n{NUM_SEEDS} seeds x {EPOCHS} epochs in {res.wall_seconds:.1f} s '
      f'(compilation included): test {final.mean():.2f} ± {final.std():.2f} %')
print('per seed:', np.round(final, 2))

# %% [markdown]
# ## Learning curves (mean ± std over seeds)
# `res.train_acc` and `res.test_acc` are `[seed, epoch]` arrays in percent. The train
# accuracy of an epoch is the running accuracy of its mini-batches *before* each update.

# %%
epochs = np.arange(1, EPOCHS + 1)
fig, ax = plt.subplots(figsize=(6, 4))
for name, acc in (('train (running)', res.train_acc), ('test', res.test_acc)):
  m, s = acc.mean(0), acc.std(0)
  ax.plot(epochs, m, label=name)
  ax.fill_between(epochs, m - s, m + s, alpha=0.25)
ax.set_xlabel('epoch')
ax.set_ylabel('accuracy (%)')
ax.set_title(f'{ds.name}, {LAYERS} (γ {",".join(map(str, config.group_size))}), '
             f'{NUM_SEEDS} seeds')
ax.grid(alpha=0.3)
ax.legend()
plt.show()

# %% [markdown]
# ## Cost of the network
# The paper's cost model (memory in bits with 8-bit hidden weights, Boolean gates per
# step) beside what bnnjax really allocates for one run (`int32` hidden weights, the
# packed pool, one step's activations), and XLA's memory analysis of the compiled step.

# %%
print(cost.report('ours', layers, ds, batch_size=config.batch_size, num_epochs=EPOCHS,
                  group_size=config.group_size, semantics=SEMANTICS))

# %%
columns = cost.summary_columns('ours', layers, ds.num_features, config.num_outputs,
                               config.batch_size, ds.num_train, EPOCHS)
for k, v in columns.items():
  print(f'{k:34s} {v:>18,.2f}' if isinstance(v, float) else f'{k:34s} {v:>15,}')
