r"""Seconds per seed-epoch of every method on Random Prototypes, at equal memory.

  PYTHONPATH=. python benchmarks/bench_methods.py                 # the 135-135 level
  PYTHONPATH=. python benchmarks/bench_methods.py --level=255 --num_seeds=10 --epochs=3

Each method trains through its `bnnjax.methods` entry (the code path of
`python -m bnnjax.train`), with `--num_seeds` seeds vmapped as in a real run. The timed
part is epochs 2..E (the first epoch includes compilation, reported separately), so the
number is steady-state host wall time per (seed, epoch): 100 training steps of B = 100
and one evaluation of the 2,000 test samples.

Widths at equal memory are the paper's groups for Prototypes (its memory axis; the
reference results list exactly these widths): ours N-N, cp_r K1-K2, sgd and adam with
±1 inputs. `ste` (not in the paper) holds float latent weights and two Adam moments, so
it gets adam's widths. The memory column is the paper's cost model (bnnjax.cost; ste
counted as adam) when that module is available.

One line per method:
  method  layers  memory_kb  s/seed-epoch  first_epoch_s  final test acc (E epochs)
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))

from bnnjax import run as run_lib  # noqa: E402

# The paper's equal-memory groups on Random Prototypes: level -> method -> --layers.
LEVELS = {
    35: dict(ours='35,35', cp_r='44-4', sgd='5,5', adam='3,3', ste='3,3'),
    75: dict(ours='75,75', cp_r='88-8', sgd='10,10', adam='5,5', ste='5,5'),
    135: dict(ours='135,135', cp_r='165-15', sgd='20,20', adam='10,10', ste='10,10'),
    255: dict(ours='255,255', cp_r='330-30', sgd='41,41', adam='22,22', ste='22,22'),
    525: dict(ours='525,525', cp_r='814-74', sgd='98,98', adam='51,51', ste='51,51'),
}


def memory_kb(method, layers_text, ds):
  try:
    from bnnjax import cost
  except ImportError:
    return float('nan')
  flat = [int(v) for v in layers_text.replace('-', ',').split(',')]
  try:
    bits = cost.memory_bits('adam' if method == 'ste' else method, flat,
                            ds.num_features, ds.num_classes, 100,
                            ds.num_samples - ds.num_test, 'bin')
    return bits / 8 / 1000
  except Exception:  # pylint: disable=broad-except  (cost model API still moving)
    return float('nan')


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--level', type=int, default=135, choices=sorted(LEVELS))
  parser.add_argument('--methods', default='ours,cp_r,sgd,adam,ste')
  parser.add_argument('--num_seeds', type=int, default=10)
  parser.add_argument('--epochs', type=int, default=3)
  args = parser.parse_args()
  if args.epochs < 2:
    parser.error('--epochs must be >= 2 (the first epoch compiles)')
  run_lib.use_cpu_cores()
  import jax
  from bnnjax import data as data_lib
  from bnnjax import methods
  ds = data_lib.load('prototypes')
  print(f'# bench_methods: prototypes, level {args.level}, {args.num_seeds} seeds x '
        f'{args.epochs} epochs, devices {[str(d) for d in jax.devices()]}, '
        f'{os.cpu_count()} cores', flush=True)
  print(f'{"method":6s} {"layers":>10s} {"memory_kb":>10s} {"s/seed-epoch":>13s} '
        f'{"first_epoch_s":>14s} {"test_acc":>9s}', flush=True)
  for name in args.methods.split(','):
    layers_text = LEVELS[args.level][name]
    ints = tuple(int(v) for v in layers_text.replace('-', ',').split(','))
    spec = methods.RunSpec(method=name, layers=ints, layers_text=layers_text,
                           num_epochs=args.epochs, num_seeds=args.num_seeds,
                           input_mode='bin')
    if name == 'ours':
      spec = methods.RunSpec(method=name, layers=ints, num_epochs=args.epochs,
                             num_seeds=args.num_seeds)
    methods.validate(spec, ds)
    stamps = []
    start = time.time()
    result = methods.run(spec, ds, lambda *a: stamps.append(time.time()))
    per = (stamps[-1] - stamps[0]) / ((len(stamps) - 1) * args.num_seeds)
    print(f'{name:6s} {layers_text:>10s} {memory_kb(name, layers_text, ds):10.0f} '
          f'{per:13.4f} {stamps[0] - start:14.1f} '
          f'{result.test_acc[:, -1].mean():9.2f}', flush=True)


if __name__ == '__main__':
  main()
