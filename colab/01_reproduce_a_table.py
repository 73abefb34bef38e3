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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/bnnjax/bnnjax/blob/main/colab/01_reproduce_a_table.ipynb)
#
# # Reproduce a table of the paper
#
# Every table and figure of [arXiv 2412.00119](https://arxiv.org/abs/2412.00119) is one
# module of `experiments/` (`python -m experiments.run --list`). This notebook runs one
# of them through `experiments.framework.run_experiment`, the same runner as the command
# line, and shows its Markdown table (the paper's number, ours, the difference) and its
# figure.
#
# * **smoke** mode: tiny data slices, 2 seeds, 2 epochs, the first settings only: checks
#   that everything runs (seconds), not comparable with the paper.
# * **full** mode: the paper's protocol (10 seeds, 50 epochs). The experiment's
#   description below gives its command and runtime. Settings run once and are cached
#   by content in `WORKDIR/settings`: a rerun, or another experiment sharing a setting,
#   skips them, and an interrupted setting resumes from its checkpoint.
# * `REUSE_COMMITTED`: start from the results committed in `experiments/results/`
#   (Random Prototypes, run on a 2-core CPU and an H200): their settings are read, not
#   rerun. Untick it to recompute everything.
#
# Data: `prototypes`, `mnist5k`, `digits` and `breast_cancer` are available everywhere.
# On Colab, `fashion_mnist` is downloaded by tfds when an experiment needs it; the
# AlexNet feature sets and the UCI tables need the preparation command printed below.

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
import glob
import importlib
import io
import os
import shutil
import sys

import bnnjax
bnnjax.use_cpu_cores()  # before any JAX computation: on CPU, one JAX device per core

import matplotlib.pyplot as plt
from IPython.display import Image, Markdown, display

from bnnjax import data

try:
  import experiments
except ImportError:  # a local clone: Jupyter runs this in colab/, experiments/ is beside
  sys.path.insert(0, os.path.dirname(os.path.abspath('.')))
  import experiments
from experiments import framework

ON_COLAB = 'google.colab' in sys.modules
# BNNJAX_SMOKE=1 (set by the test suite) forces smoke mode; the code path is the same.
SMOKE = os.environ.get('BNNJAX_SMOKE', '0') not in ('', '0')
print(f'bnnjax {bnnjax.__version__}; experiments: {", ".join(experiments.NAMES)}'
      f'{"; SMOKE sizes" if SMOKE else ""}')

# The arithmetic bnnjax depends on, checked against NumPy on this runtime's backend
# (docs/selftest.md; ~20 s on a CPU, one line per check). Smoke sizes check one product.
from bnnjax import selftest
if selftest.main(['--only', 'dense_dot'] if SMOKE else []) == selftest.EXIT_FAIL:
  raise RuntimeError('the bnnjax self-test failed on this backend (FAIL lines above): '
                     'results here cannot be trusted; please report it')

# %% [markdown]
# ## Choose an experiment
# `DATASETS`: comma-separated data sets of the experiment to run (empty: all of them;
# those without data here are skipped and listed). `NUM_SEEDS` 0 keeps the experiment's
# seeds.

# %%
EXPERIMENT = 'main'  # @param ["main", "group_size", "cp_r", "depth", "robustness", "weight_bits", "train_out", "learning_curves", "uci", "continual", "conv", "comparators", "onebit"]
DATASETS = 'prototypes'  # @param {type:"string"}
MODE = 'full'  # @param ["smoke", "full"]
NUM_SEEDS = 0  # @param {type:"integer"}
REUSE_COMMITTED = True  # @param {type:"boolean"}
WORKDIR = 'runs/experiments'  # @param {type:"string"}
if SMOKE:  # tiny sizes for the test suite
  MODE = 'smoke'

smoke = MODE == 'smoke'
exp = experiments.get(EXPERIMENT)
datasets = [d.strip() for d in DATASETS.split(',') if d.strip()] or None
print(importlib.import_module(f'experiments.{EXPERIMENT}').__doc__)

# %% [markdown]
# ## Data
# Which data sets of the chosen settings are on this machine. On Colab, missing
# tfds data (`fashion_mnist`) is downloaded and prepared here (needs TensorFlow, which
# Colab has; a few minutes, once).

# %%
settings = exp.settings_fn(smoke)
names = [d for d in dict.fromkeys(s.dataset for s in settings)
         if datasets is None or d in datasets]
for name in names:
  ok, why = framework.data_status(name)
  if not ok and ON_COLAB:
    try:  # tfds downloads and prepares; other sources say how to prepare them
      data.load(name, smoke=smoke, download=True)
      ok, why = framework.data_status(name)
    except (OSError, ImportError, ValueError) as e:
      why = ' '.join(str(e).split())
  print(f'{name:22s} {"available" if ok else "missing: " + why}')

# %% [markdown]
# ## Run
# Settings that differ only in r, p_r or the weight clip run as one vmapped grid call;
# the log says which and estimates the time left.

# %%
if REUSE_COMMITTED:
  committed = os.path.join(os.path.dirname(experiments.__file__), 'results', 'settings')
  os.makedirs(os.path.join(WORKDIR, 'settings'), exist_ok=True)
  for path in glob.glob(os.path.join(committed, '*.csv')):
    target = os.path.join(WORKDIR, 'settings', os.path.basename(path))
    if not os.path.exists(target):
      shutil.copy(path, target)
summary = framework.run_experiment(exp, WORKDIR, smoke=smoke,
                                   num_seeds=NUM_SEEDS or None, datasets=datasets)

# %% [markdown]
# ## The table: the paper's number, ours and the difference

# %%
out_dir = os.path.join(WORKDIR, exp.name)
with open(os.path.join(out_dir, 'table.md'), encoding='utf-8') as f:
  display(Markdown(f.read()))

# %% [markdown]
# ## The figure (styled like the paper's; ✕ marks are the paper's numbers)

# %%
if 'figure' in summary:
  display(Image(filename=summary['figure']))
else:
  print('no figure (matplotlib missing)')

# %% [markdown]
# ## Ours against the paper, setting by setting
# Final test accuracy (mean ± std over seeds). Points on the diagonal reproduce the
# paper; the shaded band is ±1 point.

# %%
pairs = [e for e in summary['settings'] if 'test_acc_mean' in e and e['paper']]
if pairs:
  fig, ax = plt.subplots(figsize=(5, 5))
  for series in dict.fromkeys(e['series'] for e in pairs):
    pts = [e for e in pairs if e['series'] == series]
    ax.errorbar([e['paper']['mean'] for e in pts], [e['test_acc_mean'] for e in pts],
                xerr=[e['paper']['std'] for e in pts],
                yerr=[e['test_acc_std'] for e in pts], fmt='o', capsize=3,
                label=series or exp.name)
  lo = min(min(e['paper']['mean'], e['test_acc_mean']) for e in pairs) - 2
  hi = max(max(e['paper']['mean'], e['test_acc_mean']) for e in pairs) + 2
  ax.plot([lo, hi], [lo, hi], 'k:', lw=0.8)
  ax.fill_between([lo, hi], [lo - 1, hi - 1], [lo + 1, hi + 1], color='k', alpha=0.07)
  ax.set_xlabel('paper: test accuracy (%)')
  ax.set_ylabel('bnnjax: test accuracy (%)')
  ax.set_title(f'{exp.name}{" (SMOKE: not comparable)" if smoke else ""}', fontsize=9)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7)
  # As PNG bytes, not plt.show(): the experiment's figure switched pyplot to Agg.
  buf = io.BytesIO()
  fig.savefig(buf, format='png', dpi=110)
  plt.close(fig)
  display(Image(data=buf.getvalue()))
else:
  print('no setting of this run has a number in the paper')
done = [e for e in summary['settings'] if 'test_acc_mean' in e]
print(f'{len(done)}/{len(summary["settings"])} settings done; outputs in {out_dir}/: '
      f'{", ".join(sorted(os.listdir(out_dir)))}')
