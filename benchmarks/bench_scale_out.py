r"""Runs per second on 1 vs N devices (issue 13), measured side by side in one process.

  python benchmarks/bench_scale_out.py                 # Prototypes 135-135, 10 seeds
  python benchmarks/bench_scale_out.py --quick         # 3 epochs
  python benchmarks/bench_scale_out.py --layers=525,525 --seeds=8

On CPU every core is one JAX device (`bnnjax.use_cpu_cores`); on a GPU machine the
devices are its GPUs. For each device count the same `make_train` call runs twice: the
first includes compilation, the second is timed (steady state). Runs per second = runs x
epochs / seconds of the second call (run-epochs per second). The results of every device
count must be identical bit for bit (checked). Prints one Markdown table.
"""

import argparse
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bnnjax import run as run_lib  # noqa: E402

run_lib.use_cpu_cores()

import jax  # noqa: E402
import numpy as np  # noqa: E402

from bnnjax import data as data_lib  # noqa: E402
from bnnjax.config import Config, HParams  # noqa: E402


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--quick', action='store_true')
  parser.add_argument('--layers', default='135,135')
  parser.add_argument('--seeds', type=int, default=10)
  parser.add_argument('--epochs', type=int, default=None)
  args = parser.parse_args()
  layers = tuple(int(v) for v in args.layers.split(','))
  epochs = args.epochs or (3 if args.quick else 10)
  ds = data_lib.load('prototypes')
  from bnnjax.config import paper_group_size
  config = Config(layers=layers, group_size=tuple(paper_group_size(n) for n in layers),
                  num_inputs=ds.num_features, num_classes=ds.num_classes,
                  num_test=ds.num_test, num_epochs=epochs)
  data = run_lib.Data(ds.x, ds.y)
  keys = run_lib.seed_keys(42, args.seeds)
  counts = sorted({1, len(jax.local_devices())})
  rows, ref = [], None
  for d in counts:
    train = run_lib.make_train(config, num_devices=d, diagnostics=False)
    t0 = time.time()
    train(keys, HParams(), data)
    first = time.time() - t0
    t0 = time.time()
    res = train(keys, HParams(), data)
    steady = time.time() - t0
    if ref is None:
      ref = res
    else:
      np.testing.assert_array_equal(res.test_acc, ref.test_acc)
      for a, b in zip(jax.tree_util.tree_leaves(res.states),
                      jax.tree_util.tree_leaves(ref.states)):
        np.testing.assert_array_equal(a, b)
    rows.append((d, first, steady, args.seeds * epochs / steady))
  dev = jax.local_devices()[0]
  print(f'\n{platform.node()} ({platform.processor() or platform.machine()}, '
        f'{os.cpu_count()} cores), {dev.platform} devices: {len(jax.local_devices())} '
        f'({dev.device_kind}); jax {jax.__version__}; {time.strftime("%Y-%m-%d %H:%M")}')
  print(f'Prototypes {"-".join(map(str, layers))}, {args.seeds} seeds x {epochs} epochs, '
        f'reference semantics, diagnostics off; results identical on every device '
        f'count\n')
  print('| devices | first call (compile + run) s | steady call s | run-epochs / s | '
        'speed-up |')
  print('|---|---|---|---|---|')
  for d, first, steady, rate in rows:
    print(f'| {d} | {first:.1f} | {steady:.1f} | {rate:.2f} | {rate / rows[0][3]:.2f}x |')


if __name__ == '__main__':
  main()
