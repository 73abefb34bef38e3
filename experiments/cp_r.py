r"""The CP+R committee machine variants: one and two blocks, committee sizes (the paper's
CP+R tables), on every data set the paper used.

  python -m experiments.run --experiment=cp_r [--dataset=prototypes]

Runtime on Prototypes (the five rows of `main`, shared): part of main's 1,204 s on the
project's 2-core CPU (experiments/results/RUN.md).

Layers are K1-K2 blocks (K1 perceptrons in K2 committees); a stacked pair reads
'K1-K2,K1-K2'. The paper's file writes them K1_K2[_K1_K2].
"""

from experiments import framework

BLOCKS = {
    'prototypes': ['44-4', '88-8', '165-15', '330-30', '814-74'],
    'fashion_mnist': [
        '44-4', '44-11', '44-22', '44-44', '88-8', '88-11', '88-22', '88-44', '88-88',
        '165-11', '165-15', '165-33', '165-55', '165-165', '363-11', '363-33', '363-121',
        '363-363', '880-11', '880-22', '880-44', '880-80', '880-110', '880-220',
        '880-880', '44-4,44-4', '44-44,44-44', '88-8,88-8', '165-15,165-15',
        '165-33,165-33', '363-33,363-33', '880-80,880-80'],
    'cifar10_features': [
        '44-4', '44-11', '44-22', '44-44', '77-7', '77-11', '77-77', '143-11', '143-13',
        '143-143', '264-11', '264-24', '264-44', '264-88', '264-132', '264-264',
        '561-11', '561-33', '561-51', '561-187', '561-561', '44-4,44-4', '44-44,44-44',
        '77-7,77-7', '77-77,77-77', '143-13,143-13', '143-143,143-143', '264-24,264-24',
        '264-88,264-88', '561-51,561-51'],
    'imagenette_features': [
        '44-4', '44-11', '44-22', '44-44', '77-7', '77-11', '77-77', '154-11', '154-14',
        '154-22', '154-77', '154-154', '286-11', '286-26', '286-143', '286-286',
        '660-11', '660-22', '660-44', '660-60', '660-220', '660-660', '44-4,44-4',
        '44-44,44-44', '77-7,77-7', '77-77,77-77', '154-14,154-14', '154-154,154-154',
        '286-26,286-26', '286-286,286-286', '660-60,660-60', '660-220,660-220'],
    'cifar100_features': ['264-24', '561-51', '1177-107', '2541-231', '5951-541'],
}


def settings(smoke: bool = False):
  out = []
  for ds, blocks in BLOCKS.items():
    for b in (blocks[:2] if smoke else blocks):
      k1, k2 = (int(v) for v in b.split(',')[0].split('-'))
      n_blocks = b.count(',') + 1
      out.append(framework.Setting(
          ds, framework.spec_for('cp_r', b, smoke), f'cp_r {b}',
          {'experiment': 'cp_r', 'layers': b.replace('-', '_').replace(',', '_')},
          series=f'{n_blocks} block{"s" if n_blocks > 1 else ""}, g={k1 // k2}'))
  return out


EXPERIMENT = framework.Experiment(
    name='cp_r', reference='CP+R committee machine variants (one and two blocks)',
    settings_fn=settings, plot=('memory', 'gates'))
