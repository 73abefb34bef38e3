r"""Binary conv layers trained by the local rule (docs/conv.md; the paper's open question 2).

  python -m experiments.run --experiment=conv [--dataset=mnist5k]

Rows per data set, 10 seeds x 50 epochs, the same seeds (so differences pair by seed):
  (a) `conv rule`: a conv block trained by the rule + a binary dense layer (DESIGN);
  (b) `conv frozen`: the same net with its block frozen at the random init (the
      control: DRTP's trained conv layers lost to frozen random ones);
  (c) binary MLPs trained by the rule (ours), the widest of memory at least (a)'s by the
      cost model;
  (d) the same conv architecture in float (Adam) and with STE binary weights, on the
      same ±1 pixels ('bin' input, every training sample).
On mnist5k also the designs of target, selection and aggregation that were tried
(`ABLATIONS`). fashion_mnist and raw CIFAR-10 (`cifar10`: 32x32x3 images) rows run where
their data exist. The figure plots test
accuracy against the cost model's memory (the float conv nets have no row in that model).
Runtime on the project's 2-core CPU: experiments/results/RUN.md.
"""

from experiments import framework

CONV = '16:3:2'  # 16 filters 3x3, 2x2 max pooling
HEAD = (135,)
# The design of row (a): one patch per (sample, filter) by least |a|, one filter per
# group of 4, candidates also the positions right by less than 2 (docs/conv.md).
DESIGN = dict(conv_select='filter', conv_margin=2, group_size=(4, 45))
# Other designs tried (mnist5k): label -> RunSpec fields.
ABLATIONS = {
    'filter, m=0, γ=1 (no margin)': dict(conv_select='filter', conv_margin=0,
                                         group_size=(1, 45)),
    'tied classifier R=1, m=2, γ=4': dict(conv_select='filter', conv_margin=2,
                                          group_size=(4, 45), conv_regions=1),
    'unit (a patch per pooled unit), γ=1': dict(conv_select='unit', group_size=(1, 45)),
    'all wrong positions summed': dict(conv_select='all', group_size=(1, 45)),
}
MLPS = {'mnist5k': ((135, 135), (525, 525), (1035, 1035)),
        'fashion_mnist': ((135, 135), (525, 525), (1035, 1035)),
        'cifar10': ((135, 135), (525, 525), (1035, 1035)),
        'digits': ((135, 135), (525, 525))}
DATASETS = ('mnist5k', 'digits', 'fashion_mnist', 'cifar10')
MLP_GAMMA = {135: 45, 525: 105, 1035: 115}
A, B = f'(a) conv rule {CONV}+135', f'(b) conv frozen {CONV}+135'


def settings(smoke: bool = False):
  out = []
  for ds in DATASETS:  # smoke: (a), (b) and the float conv net (new code paths only)
    conv = lambda label, series, **kw: framework.Setting(
        ds, framework.spec_for('conv', HEAD, smoke, conv=CONV, **kw), label,
        series=series)
    out.append(conv(A, 'conv rule', **DESIGN))
    out.append(conv(B, 'conv frozen', freeze_conv=True, group_size=DESIGN['group_size']))
    for layers in () if smoke else MLPS[ds]:
      out.append(framework.Setting(
          ds, framework.spec_for('ours', layers, smoke,
                                 group_size=tuple(MLP_GAMMA[n] for n in layers)),
          f'(c) MLP ours {"-".join(map(str, layers))}', series='MLP ours'))
    for method in ('adam',) if smoke else ('adam', 'ste'):
      out.append(framework.Setting(
          ds, framework.spec_for(method, HEAD, smoke, conv=CONV), f'(d) {method} conv '
          f'{CONV}+135', series=f'{method} conv'))
    if ds == 'mnist5k' and not smoke:
      for label, kw in ABLATIONS.items():
        out.append(conv(f'design: {label}', 'conv rule designs', **kw))
  return out


PAIRS = ((B, A),) + tuple((f'(c) MLP ours {"-".join(map(str, layers))}', A)
                          for layers in MLPS['mnist5k']) + tuple(
    (B, f'design: {label}') for label in ABLATIONS)

EXPERIMENT = framework.Experiment(
    name='conv', reference='binary conv layers trained by the local rule (beyond the '
    'paper: its open question 2)', settings_fn=settings, plot='memory',
    note='(a) and (b) differ only in whether the rule trains the conv block; every row '
    'uses seeds 42..51, so differences pair by seed (docs/conv.md, Findings).',
    pairs=PAIRS)
