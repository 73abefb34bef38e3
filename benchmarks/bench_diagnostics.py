r"""Cost of the per-epoch diagnostics (`bnnjax.diagnostics`), measured side by side.

  python benchmarks/bench_diagnostics.py            # the default job: 10 seeds x 50 epochs
  python benchmarks/bench_diagnostics.py --quick    # 10 epochs

Runs the default main job's training (Random Prototypes 135-135, γ 45, 10 seeds, one
`make_train` call each, compilation included) with the diagnostics off and on, in
alternating order `--repeats` times, and prints the wall times and the ratio on / off
(the target: at most 1.10). The results must be identical bit for bit (checked).
"""

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bnnjax import run as run_lib  # noqa: E402

run_lib.use_cpu_cores()

import numpy as np  # noqa: E402

from bnnjax import data as data_lib  # noqa: E402
from bnnjax.config import Config, HParams  # noqa: E402


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--quick', action='store_true')
  parser.add_argument('--repeats', type=int, default=2)
  args = parser.parse_args()
  ds = data_lib.load('prototypes')
  config = Config(layers=(135, 135), group_size=45, num_inputs=ds.num_features,
                  num_classes=ds.num_classes, num_test=ds.num_test,
                  num_epochs=10 if args.quick else 50)
  data = run_lib.Data(ds.x, ds.y)
  keys = run_lib.seed_keys(42, 10)
  times = {False: [], True: []}
  results = {}
  for rep in range(args.repeats):
    for diag in ((False, True) if rep % 2 == 0 else (True, False)):
      train = run_lib.make_train(config, diagnostics=diag)
      t0 = time.time()
      res = train(keys, HParams(), data)
      times[diag].append(time.time() - t0)
      results[diag] = res
  np.testing.assert_array_equal(results[True].test_acc, results[False].test_acc)
  off, on = min(times[False]), min(times[True])
  print(f'| default job training ({config.num_epochs} epochs, 10 seeds, compile '
        f'included) | diagnostics off | on | on / off |')
  print('|---|---|---|---|')
  print(f'| best of {args.repeats}, wall s | {off:.1f} | {on:.1f} | {on / off:.3f} |')
  print(f'all runs: off {[round(t, 1) for t in times[False]]}, on '
        f'{[round(t, 1) for t in times[True]]}; results identical: yes')


if __name__ == '__main__':
  main()
