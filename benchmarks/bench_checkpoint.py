r"""What a checkpoint costs at the widest paper nets (issue 14), and what the automatic
interval (`bnnjax.checkpoint.Policy`) makes of it.

  python benchmarks/bench_checkpoint.py            # CIFAR-10 features 9216-4095-4095, 10 seeds
  python benchmarks/bench_checkpoint.py --quick    # 2304-1035-1035, 10 seeds

Builds the states of R runs of a net (hidden weights drawn like the init, |H| ~ 64, then
scaled by --growth to mimic trained weights), writes the checkpoint with bnnjax's own
writer (atomic, fsync'd) `--repeats` times into --dir, and prints the raw state size, the
file size (integers are stored in the narrowest dtype holding them), the best write time,
and the interval K the automatic policy picks for a few epoch times (the CPU epoch time
is estimated from the bit-MACs of an epoch at --gmacs G bit-MAC/s; pass measured ones with
--epoch_seconds).
"""

import argparse
import math
import os
import platform
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from bnnjax import checkpoint  # noqa: E402
from bnnjax import run as run_lib  # noqa: E402


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--quick', action='store_true')
  parser.add_argument('--runs', type=int, default=10)
  parser.add_argument('--growth', type=float, default=8.0,
                      help='|H| of trained weights relative to the init (std 64)')
  parser.add_argument('--repeats', type=int, default=2)
  parser.add_argument('--dir', default=None, help='folder to write in (default: a temp '
                      'folder on the current disk)')
  parser.add_argument('--train_samples', type=int, default=40000)
  parser.add_argument('--gmacs', type=float, default=50.0,
                      help='bit-MAC/s (G) of this machine, for the epoch estimate')
  parser.add_argument('--epoch_seconds', default='',
                      help='comma-separated epoch times to show K for')
  args = parser.parse_args()
  widths = (2304, 1035, 1035) if args.quick else (9216, 4095, 4095)
  r = np.random.default_rng(0)
  hidden = [np.clip(np.rint(r.normal(0, 64 * args.growth, (args.runs, a, b))),
                    -2**30, 2**30).astype(np.int32)
            for a, b in zip(widths[:-1], widths[1:])]
  classifiers = [r.choice(np.array([-1, 1], np.int8), (args.runs, n, 10))
                 for n in widths[1:]]
  states = (hidden, classifiers, np.zeros((args.runs, 2), np.uint32))
  raw = sum(a.nbytes for a in hidden + classifiers)
  history = np.zeros((2, args.runs, 1))
  folder = args.dir or tempfile.mkdtemp(prefix='bnnjax-ckpt-', dir='.')
  path = os.path.join(folder, 'checkpoint.npz')
  times = []
  for _ in range(args.repeats):
    t0 = time.time()
    checkpoint.save(path, 'f' * 64, states, history)
    times.append(time.time() - t0)
  size = os.path.getsize(path)
  os.remove(path)
  if not args.dir:
    os.rmdir(folder)
  write = min(times)
  macs_per_sample = 3 * sum(a * b for a, b in zip(widths[:-1], widths[1:]))
  cpu_epoch = args.runs * args.train_samples * macs_per_sample / (args.gmacs * 1e9)
  epochs = [float(v) for v in args.epoch_seconds.split(',') if v] or [
      cpu_epoch, cpu_epoch / 20, 10.0, 1.0]
  print(f'{platform.node()} ({platform.machine()}, {os.cpu_count()} cores); '
        f'{time.strftime("%Y-%m-%d %H:%M")}')
  print(f'net {"-".join(map(str, widths))}, {args.runs} runs, |H| std '
        f'{64 * args.growth:.0f}\n')
  print('| state (raw int32) | file | best write (fsync) | write rate |')
  print('|---|---|---|---|')
  print(f'| {raw / 2**30:.2f} GiB | {size / 2**30:.2f} GiB | {write:.2f} s | '
        f'{size / 2**20 / write:.0f} MiB/s |\n')
  print('| epoch time (s) | overhead if every epoch | automatic K | overhead with K |')
  print('|---|---|---|---|')
  for e in epochs:
    policy = checkpoint.Policy(0)
    policy.due(1, False, e)
    policy.saved(write)
    k = 1
    while not policy.due(k + 1, False, e):
      k += 1
    print(f'| {e:.1f} | {100 * write / e:.1f}% | {k} | {100 * write / (k * e):.1f}% |')
  print(f'\n(the first row is this CPU\'s estimated epoch at {args.gmacs:g} G bit-MAC/s '
        f'over {args.train_samples} training samples; the second 20x faster, e.g. a GPU)')


if __name__ == '__main__':
  main()
