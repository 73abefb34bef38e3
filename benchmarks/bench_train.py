r"""Speed and memory of the core engine, measured side by side in one run.

  python benchmarks/bench_train.py            # full: includes the 10-seed main job
  python benchmarks/bench_train.py --quick    # skips the main job

Prints:
1. The default main job (`python -m bnnjax.train`: Random Prototypes 135-135, γ 45,
   10 seeds x 50 epochs), wall time of the whole command (start-up, data generation and
   compilation included) against the 60 s target and the authors' implementation
   (about 110 s per seed on this machine kind, i.e. ~1,100 s for 10 seeds; not rerun here).
2. Seconds per seed-step of `model.step` for the packed and dense backends (both
   semantics), the packed/dense ratio, and the bit-MACs per second of a packed step.
3. Memory for Prototypes 525-525: bytes per hidden weight and bits per data feature.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bnnjax import run as run_lib  # noqa: E402

run_lib.use_cpu_cores()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402

from bnnjax import data as data_lib  # noqa: E402
from bnnjax import model  # noqa: E402
from bnnjax.config import Config, HParams  # noqa: E402

AUTHORS_SECONDS_PER_SEED = 110.0  # measured on this machine kind (brief), Prototypes 135-135


def main_job_seconds():
  with tempfile.TemporaryDirectory() as tmp:
    env = dict(os.environ, PYTHONPATH=ROOT)
    t0 = time.time()
    proc = subprocess.run([sys.executable, '-m', 'bnnjax.train', f'--workdir={tmp}/wd'],
                          env=env, capture_output=True, text=True)
    wall = time.time() - t0
  if proc.returncode:
    raise RuntimeError(proc.stderr)
  return wall, proc.stdout.strip().splitlines()[-1]


def step_seconds(config, num_seeds=2, num_steps=50):
  """Seconds per seed-step of a jitted, vmapped scan of `model.step` (compile excluded)."""
  ds = data_lib.load('prototypes')
  x = jnp.asarray(ds.x[:num_steps * config.batch_size]).reshape(
      num_steps, config.batch_size, -1)
  y = jnp.asarray(ds.y[:num_steps * config.batch_size]).reshape(num_steps, -1)
  valid = jnp.ones(y.shape, bool)
  keys = jnp.stack([jax.random.PRNGKey(s) for s in range(num_seeds)])
  states = jax.vmap(lambda k: model.init(k, config))(keys)

  def epoch(state):
    def body(s, b):
      s, m = model.step(s, model.Batch(*b), HParams(), config)
      return s, m.correct
    return lax.scan(body, state, (x, y, valid))

  fn = jax.jit(jax.vmap(epoch))
  jax.block_until_ready(fn(states))
  best = float('inf')
  for _ in range(3):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(states))
    best = min(best, time.perf_counter() - t0)
  return best / (num_seeds * num_steps)


def bit_macs_per_step(config):
  widths = config.widths
  b, c = config.batch_size, config.num_classes
  fwd = sum(b * widths[l] * widths[l + 1] + b * widths[l + 1] * c
            for l in range(len(config.layers)))
  upd = sum(widths[l] * widths[l + 1] * b for l in range(len(config.layers)))
  return fwd + upd


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--quick', action='store_true', help='skip the 10-seed main job')
  args = parser.parse_args()
  print(f'devices: {jax.devices()}  cores: {os.cpu_count()}')

  if not args.quick:
    wall, last = main_job_seconds()
    print('\n== 1. default main job: python -m bnnjax.train (10 seeds x 50 epochs, '
          'Prototypes 135-135) ==')
    print(f'  {last}')
    print(f'  wall time, everything included: {wall:.1f} s   (target <= 60 s: '
          f'{"OK" if wall <= 60 else "MISSED"}; ratio to target {wall / 60:.2f})')
    print(f'  authors\' implementation: ~{AUTHORS_SECONDS_PER_SEED * 10:.0f} s for 10 seeds '
          f'-> bnnjax is {AUTHORS_SECONDS_PER_SEED * 10 / wall:.1f}x faster')

  print('\n== 2. one training step, Prototypes 135-135 (B = 100), single device ==')
  base = Config()
  for semantics in ('reference', 'binary'):
    times = {}
    for backend in ('packed', 'dense'):
      cfg = Config(semantics=semantics, backend=backend)
      times[backend] = step_seconds(cfg)
    macs = bit_macs_per_step(base)
    print(f'  {semantics:9s}: packed {times["packed"] * 1e3:6.3f} ms/seed-step, dense '
          f'{times["dense"] * 1e3:6.3f} ms -> packed/dense speed ratio '
          f'{times["dense"] / times["packed"]:.2f}x; packed step '
          f'{macs / times["packed"] / 1e9:.1f} G bit-MACs/s ({macs / 1e6:.1f} M per step)')

  print('\n== 3. memory, Prototypes 525-525 ==')
  cfg = Config(layers=(525, 525), group_size=105)
  state = model.init(jax.random.PRNGKey(0), cfg)
  num_weights = sum(h.size for h in state.hidden)
  weight_bytes = sum(h.nbytes for h in state.hidden)
  ds = data_lib.load('prototypes')
  print(f'  hidden weights: {num_weights:,} int32 -> {weight_bytes / num_weights:.1f} bytes '
        f'per weight (limit 4)')
  print(f'  packed data set: {ds.packed_bytes:,} bytes for {ds.size_bits:,} features -> '
        f'{8 * ds.packed_bytes / ds.size_bits:.3f} bits per feature (limit 1; 1,000 '
        f'features fill 32 words = 1,024 bits per sample)')


if __name__ == '__main__':
  main()
