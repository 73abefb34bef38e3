r"""Prepares data that needs the network, once; training then runs offline.

  python -m bnnjax.data.prepare --dataset=fashion_mnist [--data_dir=DIR]  # needs TensorFlow
  python -m bnnjax.data.prepare --dataset=uci/blood                        # needs ucimlrepo
  python -m bnnjax.data.prepare --dataset=uci                              # all 30 UCI sets
  python -m bnnjax.data.prepare --dataset=cifar10_features                 # needs torch too

Bundled or generated sets (prototypes, digits, mnist5k, breast_cancer) need nothing.
"""

import sys


def prepare(name: str, data_dir=None) -> str:
  """Prepares one registered data set; returns a line saying what was done."""
  from bnnjax import data
  from bnnjax.data import default_data_dir
  if name == 'uci':
    return '\n'.join(prepare(f'uci/{n}', data_dir) for n in data.UCI_IDS)
  if name not in data.DATASETS:
    raise ValueError(f'unknown dataset {name!r} (--dataset); valid: '
                     f'{sorted(data.DATASETS) + ["uci"]}')
  if name in ('prototypes', 'digits', 'mnist5k', 'breast_cancer'):
    return f'{name}: bundled or generated; nothing to prepare'
  if name in ('fashion_mnist', 'cifar10'):
    from bnnjax.data import tfds_data
    src = tfds_data.get_source(name)
    for split in (src.train_split, src.test_split):
      tfds_data.open_split(name, split, data_dir, download=True)
    return f'{name}: prepared in {default_data_dir(data_dir)}'
  if name.endswith('_features'):
    from bnnjax.data import features
    dataset = name[:-len('_features')]
    args = [f'--dataset={dataset}', '--download']
    if data_dir:
      args.append(f'--data_dir={data_dir}')
    if features.main(args):
      raise RuntimeError(f'{name}: feature extraction failed')
    return f'{name}: features cached in {default_data_dir(data_dir)}/bnnjax/features'
  if name.startswith('uci/'):
    from bnnjax.data import uci
    path = uci.fetch(name[len('uci/'):], data_dir)
    return f'{name}: cached {path}'
  raise ValueError(f'{name}: no preparation step known')


def main(argv=None) -> int:
  import argparse
  parser = argparse.ArgumentParser(prog='python -m bnnjax.data.prepare',
                                   description=__doc__.split('\n\n')[0])
  parser.add_argument('--dataset', required=True)
  parser.add_argument('--data_dir', default=None)
  args = parser.parse_args(argv)
  try:
    print(prepare(args.dataset, args.data_dir))
  except (ValueError, OSError, ImportError, RuntimeError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  return 0


if __name__ == '__main__':
  sys.exit(main())
