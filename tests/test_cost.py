"""bnnjax.cost: the paper's cost model (check values, hand-computed totals) and the
measured side (array bytes, XLA memory analysis, the entry point)."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from bnnjax import cost
from bnnjax import data as data_lib
from bnnjax import model
from bnnjax.config import Config

P = {p.name: p for p in data_lib.PAPER.values()}
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# The paper's check values (algorithm.md, "Cost model of the paper", and the issue), at
# the paper's rounding: KB to the unit, gates to three significant digits. n is the
# training split (pool minus test) from data.PAPER, so the convention is tested too.
PAPER_CHECKS = [
    # (dataset, method, input_mode, layers, KB or None, gates)
    ('prototypes', 'ours', 'bin', (35, 35), 1_295, '4.31e+07'),
    ('fmnist', 'ours', 'bin', (525, 525), 5_699, '8.10e+08'),
    ('fmnist', 'sgd', 'fp', (5, 5), None, '1.62e+10'),
    ('imagenettetl', 'ours', 'bin', (35, 35), 2_970, '9.56e+07'),
    ('cifar10tl', 'ours', 'bin', (525, 525), 51_306, '5.91e+09'),
]


@pytest.mark.parametrize('name,method,input_mode,layers,kb,gates', PAPER_CHECKS)
def test_paper_check_values(name, method, input_mode, layers, kb, gates):
  p = P[name]
  cols = cost.summary_columns(method, layers, p.num_features, p.num_classes, 100,
                              p.num_train, input_mode=input_mode)
  if kb is not None:
    assert round(cols['model_memory_kb']) == kb
  assert f'{cols["model_gates_per_step"]:.2e}' == gates


def test_paper_split_sizes():
  assert [P[k].num_train for k in ('prototypes', 'fmnist', 'imagenettetl', 'cifar10tl')
          ] == [10_000, 50_000, 10_000, 40_000]
  assert cost.fp_subset_size(40_000) == 1_250 and cost.fp_subset_size(10_000) == 312


# Exact totals worked by hand from the formulas of algorithm.md (B = 100, C = 10).
# Prototypes 35-35, D 1000, n 10,000: W = 35,000 + 1,225 + 350 = 36,575,
#   Act = 100 * 80 = 8,000; bits = 10,000,000 + 8 * 36,575 + 350 + 8 * 8,000.
#   Gates: layer 1 11 * 100 * 35,000 + 11 * 100 * 350 + 9 * 100 * 35 + 52 * 35,000
#   = 40,736,500; layer 2 1,347,500 + 385,000 + 31,500 + 63,700 = 1,827,700;
#   last (35 -> 10) 11 * 100 * 350 + 11 * 100 * 100 = 495,000.
# FMNIST 525-525, D 784, n 50,000: W = 692,475, Act = 106,000;
#   bits = 39,200,000 + 5,539,800 + 5,250 + 848,000.
# FMNIST SGD 5-5: layer 1 10^4 * (2 * (392,000 + 391,500) + 2 * 3,920);
#   layer 2 10^4 * (2 * 4,500 + 4,500 + 50); last 10^4 * (2 * 9,000 + 9,500 + 100).
HAND = [
    ('ours', (35, 35), 1000, 10_000, 'bin', 10_356_950, 43_059_200),
    ('ours', (525, 525), 784, 50_000, 'bin', 45_593_050, 810_063_200),
    ('sgd', (5, 5), 784, 50_000, 'fp', None, 16_159_900_000),
]


@pytest.mark.parametrize('method,layers,d,n,input_mode,bits,gates', HAND)
def test_hand_computed_totals(method, layers, d, n, input_mode, bits, gates):
  if bits is not None:
    assert cost.memory_bits(method, layers, d, 10, 100, n, input_mode) == bits
  assert cost.gates_per_step(method, layers, d, 10, 100) == gates


def test_cp_r_small_by_hand():
  # cp_r 6-2, D 4, C 3, B 2, n 5: layers 4->6 (trained), 6->2 (grouping), 2->3 (fixed).
  # bits: data 20 + 8 * (24 + 6) + 1 * 12 + 8 * 2 * (6 + 2 + 3) = 448.
  parts = cost.memory_bits_breakdown('cp_r', (6, 2), 4, 3, 2, 5)
  assert parts == dict(data=20, weights=252, classifiers=0, activations=176, gradients=0)
  # forward XNOR = popcount = 2 * (24 + 12 + 6) = 84; selection 9 * 2 * 6 = 108;
  # update XNOR 2 * 24, popcount 24, increment 4 * 24.
  ops = cost.op_counts('cp_r', (6, 2), 4, 3, 2)
  assert ops == dict(xnor=84 + 108 + 48, popcount=84 + 24, increment=96, fmul=0, fadd=0)
  assert cost.gates_per_step('cp_r', (6, 2), 4, 3, 2) == 240 + 1080 + 960


def test_cp_r_two_blocks_by_hand():
  # 6-2,4-2, D 4, C 3, B 2, n 5 (bnnjax.baselines.cp_r: block 2 reads block 1's K1
  # perceptron signs; each block has a fixed classifier K2 -> C). Chain: 4->6, 6->2,
  # 2->3, 6->4, 4->2, 2->3. Bits: 20 + 8 * (24 + 6 + 24 + 6) + (12 + 8) + 8 * 2 * 20.
  assert cost.memory_bits('cp_r', (6, 2, 4, 2), 4, 3, 2, 5) == 20 + 480 + 20 + 320
  # Forward 2 * 80 XNOR and popcount; selection 9 * 2 * (6 + 4); update on 24 + 24.
  ops = cost.op_counts('cp_r', (6, 2, 4, 2), 4, 3, 2)
  assert ops == dict(xnor=160 + 180 + 96, popcount=160 + 48, increment=192, fmul=0,
                     fadd=0)


def test_adam_sgd_and_input_modes():
  args = ((5, 5), 784, 10, 100, 50_000)
  w = 784 * 5 + 5 * 5 + 5 * 10
  sgd = cost.memory_bits_breakdown('sgd', *args, input_mode='bin')
  adam = cost.memory_bits_breakdown('adam', *args, input_mode='bin')
  assert adam['weights'] - sgd['weights'] == 2 * 32 * w
  assert sgd['data'] == 784 * 50_000  # ±1 inputs: one bit per feature, full split
  fp = cost.memory_bits_breakdown('sgd', *args, input_mode='fp')
  assert fp['data'] == 32 * 784 * (50_000 // 32)
  assert cost.memory_bits_breakdown('sgd', *args, input_mode='fp',
                                    num_train_used=1_560)['data'] == 32 * 784 * 1_560
  assert sgd['gradients'] == 32 * 784 * 5
  # Gates per step do not depend on the input mode or n.
  cols_fp = cost.summary_columns('sgd', (5, 5), 784, 10, 100, 50_000, input_mode='fp')
  cols_bin = cost.summary_columns('sgd', (5, 5), 784, 10, 100, 50_000, input_mode='bin')
  assert cols_fp['model_gates_per_step'] == cols_bin['model_gates_per_step']
  assert cols_fp['model_num_train'] == 1_562 and cols_bin['model_num_train'] == 50_000


@pytest.mark.parametrize('method', cost.METHODS)
def test_epoch_and_run_totals(method):
  layers = (6, 2) if method == 'cp_r' else (7, 5)
  step = lambda b: cost.gates_per_step(method, layers, 33, 4, b)
  # 250 samples, B 100: two full steps and one of 50.
  assert cost.gates_per_epoch(method, layers, 33, 4, 100, 250) == 2 * step(100) + step(50)
  assert cost.gates_per_epoch(method, layers, 33, 4, 100, 300) == 3 * step(100)
  cols = cost.summary_columns(method, layers, 33, 4, 100, 250, num_epochs=7)
  assert cols['model_gates_per_run'] == 7 * cols['model_gates_per_epoch']
  assert cols['model_memory_bits'] == sum(
      cols[f'model_memory_{k}_bits']
      for k in ('data', 'weights', 'classifiers', 'activations', 'gradients'))
  assert cols['model_memory_kb'] * 8_000 == cols['model_memory_bits']


@pytest.mark.parametrize('kwargs,match', [
    (dict(method='lbp'), 'unknown method'),
    (dict(method='cp_r', layers=(6, 2, 6)), 'pairs'),
    (dict(method='cp_r', layers=(6, 4)), 'divide'),
    (dict(input_mode='float'), 'input_mode'),
    (dict(layers=(0,)), 'layers'),
])
def test_invalid_arguments(kwargs, match):
  args = dict(method='ours', layers=(6, 6), num_inputs=10, num_classes=3, batch_size=4,
              num_train=20, input_mode='bin')
  args.update(kwargs)
  with pytest.raises(ValueError, match=match):
    cost.summary_columns(**args)


# ----------------------------------------------------------------------------------
# Measured side
# ----------------------------------------------------------------------------------


def _small_dataset(n=40, d=70, c=3, num_test=10):
  rng = np.random.default_rng(0)
  x = np.where(rng.random((n, d)) < 0.5, 1, -1).astype(np.int8)
  return data_lib.from_signs('tiny', x, np.arange(n) % c, c, num_test)


@pytest.mark.parametrize('semantics', ['reference', 'binary'])
def test_measured_bytes_match_literal_sizes(semantics):
  ds = _small_dataset()
  config = Config(layers=(12, 6), group_size=(3, 6), num_inputs=70, num_classes=3,
                  batch_size=8, num_test=10, semantics=semantics)
  m = cost.measured_ours(config, ds, xla=False)
  assert m['hidden_bytes'] == 4 * (70 * 12 + 12 * 6)  # int32 H
  assert m['classifier_bytes'] == 12 * 3 + 6 * 3  # int8 P
  assert m['state_bytes'] == m['hidden_bytes'] + m['classifier_bytes'] + 8 + 4 + 4
  # Forward of one batch: int32 a_l, int8 s_l, int32 z_l.
  assert m['activation_bytes'] == 8 * (4 * 18 + 18 + 4 * 2 * 3)
  assert m['batch_bytes'] == 8 * (3 * 4 + 4 + 1)  # 70 features -> 3 words
  assert m['data_x_bytes'] == ds.packed_bytes == 40 * 3 * 4
  assert m['data_train_x_bytes'] == 30 * 3 * 4
  assert m['data_y_bytes'] == 40 * 4 and m['split_index_bytes'] == 40 * 4
  # The abstract state has the bytes of a concrete one.
  state = model.init(jax.random.PRNGKey(1), config)
  assert m['state_bytes'] == sum(x.nbytes for x in jax.tree_util.tree_leaves(state))


def test_measured_xla_memory_analysis():
  config = Config(layers=(12, 6), group_size=(3, 6), num_inputs=70, num_classes=3,
                  batch_size=8, num_test=10)
  m = cost.measured_ours(config, None, xla=True)
  assert m['data_x_bytes'] is None
  x = m['xla']
  if x is not None:  # some backends provide no analysis
    assert all(isinstance(v, int) and v >= 0 for v in x.values())
    # The step's arguments hold at least the state and the batch.
    assert x['argument_size_in_bytes'] >= m['state_bytes'] + m['batch_bytes']
  cols = cost.measured_columns(config, None, xla=True)
  assert cols['measured_state_bytes'] == m['state_bytes']


def test_xla_memory_handles_missing_analysis():
  class NoAnalysis:
    def memory_analysis(self):
      return None

  class Unsupported:
    def memory_analysis(self):
      raise NotImplementedError

  assert cost.xla_memory(NoAnalysis()) is None
  assert cost.xla_memory(Unsupported()) is None


def test_report_fmnist_525_side_by_side():
  # FMNIST is not available offline: the measured side uses a pool of the paper's shape.
  ds = cost.synthetic_dataset('fmnist')
  text = cost.report('ours', (525, 525), ds, xla=False)
  assert '5,699 KB' in text and '8.10e+08' in text
  assert '692,475 B' in text  # the paper's 8-bit weights
  assert '2,748,900 B int32 H' in text  # bnnjax's hidden weights
  assert '4,900,000 B' in text and '5,000,000 B train split' in text
  assert 'why they differ' in text


def test_run_columns_from_spec():
  from bnnjax import methods
  ds = _small_dataset()
  spec = methods.RunSpec(layers=(12, 6), group_size=(3, 6), num_epochs=3, batch_size=8)
  cols = cost.run_columns(spec, ds)
  assert cols == {**cost.summary_columns('ours', (12, 6), 70, 3, 8, 30, 3),
                  **cost.measured_columns(methods.get('ours').config_fn(spec, ds), ds),
                  'model_method': 'ours', 'model_classifier_columns': 3}
  assert cols['measured_hidden_bytes'] == 4 * (70 * 12 + 12 * 6)


def test_run_columns_baselines():
  from bnnjax import methods
  ds = _small_dataset()
  spec = methods.RunSpec(method='cp_r', layers=(6, 2), layers_text='6-2,4-2',
                         num_epochs=2, batch_size=8)
  assert cost.run_columns(spec, ds) == {
      **cost.summary_columns('cp_r', (6, 2, 4, 2), 70, 3, 8, 30, 2),
      'model_method': 'cp_r', 'model_classifier_columns': 3}
  spec = methods.RunSpec(method='sgd', layers=(5,), input_mode='fp', num_epochs=2)
  assert cost.run_columns(spec, ds)['model_num_train'] == 30 // 32
  assert cost.run_columns(methods.RunSpec(method='ste', layers=(5,)), ds) == {}


# Trained classifiers and one-output heads, by hand (D 10, layers 6-6, B 4, n 20).
# Chain (10, 6), (6, 6), output (6, C). ours, C = 3: W = 60 + 36 + 18 = 114, Act = 4 * 15;
#   bits = 200 + 8 * 114 + max(18, 18) + 8 * 60 = 1,610.
#   ops: xnor 648 + 504 + 108 = 1,260, popcount 372 + 252 + 108 = 732, increment
#   240 + 144 = 384 -> 1,260 + 7,320 + 3,840 = 12,420 gates.
# ours_train_out: the classifier of layer 1 is 8-bit too: 200 + 912 + 8 * 18 + 480 =
#   1,736 bits; each hidden layer's classifier (6, 3) adds selection 9 * 4 * 3 and
#   update 2 * 18 XNOR, 18 popcount, 72 increment: 1,548 + 7,680 + 5,280 = 14,508.
# ours, one output (C_out = 1): W = 60 + 36 + 6 = 102, Act = 4 * 13;
#   bits = 200 + 816 + 6 + 416 = 1,438.
@pytest.mark.parametrize('method,c_out,bits,gates', [
    ('ours', 3, 1_610, 12_420), ('ours_train_out', 3, 1_736, 14_508),
    ('ours', 1, 1_438, None)])
def test_variants_by_hand(method, c_out, bits, gates):
  cols = cost.summary_columns(method, (6, 6), 10, c_out, 4, 20, 1)
  assert cols['model_memory_bits'] == bits
  if gates is not None:
    assert cols['model_gates_per_step'] == gates


def test_run_columns_of_variants():
  from bnnjax import methods
  ds = _small_dataset()
  spec = methods.RunSpec(layers=(12, 6), group_size=(3, 6), num_epochs=3, batch_size=8,
                         train_classifiers=True)
  cols = cost.run_columns(spec, ds)
  assert cols['model_method'] == 'ours_train_out'
  assert cols['model_memory_bits'] == cost.memory_bits('ours_train_out', (12, 6), 70, 3,
                                                       8, 30)
  # int8 P and int32 Q of the trained classifiers are measured.
  assert cols['measured_classifier_bytes'] == (1 + 4) * (12 * 3 + 6 * 3)
  two = _small_dataset(c=2)
  cols = cost.run_columns(methods.RunSpec(layers=(12, 6), group_size=(3, 6)), two)
  assert cols['model_classifier_columns'] == 1
  assert cols['model_memory_bits'] == cost.memory_bits('ours', (12, 6), 70, 1, 100, 30)
  spec = methods.RunSpec(method='cp_r', layers=(6, 2), layers_text='6-2')
  assert cost.run_columns(spec, two)['model_classifier_columns'] == 1
  spec = methods.RunSpec(method='sgd', layers=(5,))
  assert 'model_classifier_columns' not in cost.run_columns(spec, two)  # two logits


def test_paper_data_aliases():
  assert data_lib.paper_data('fashion_mnist') == data_lib.paper_data('fmnist')
  assert data_lib.paper_data('imagenette_features').num_train == 10_000
  with pytest.raises(ValueError, match='no paper shape'):
    data_lib.paper_data('digits')


def test_report_baseline_model_only():
  ds = cost.synthetic_dataset('fmnist')
  text = cost.report('sgd', (5, 5), ds, input_mode='fp')
  assert '1.62e+10' in text and 'n/a' in text


@pytest.mark.slow
def test_entry_point_smoke():
  env = dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS='cpu')
  out = subprocess.run(
      [sys.executable, '-m', 'bnnjax.cost', '--method=ours', '--dataset=prototypes',
       '--layers=35,35', '--xla=false'], capture_output=True, text=True, env=env,
      cwd=REPO, timeout=120)
  assert out.returncode == 0, out.stderr
  assert '1,295 KB' in out.stdout and '4.31e+07' in out.stdout
  assert '144,900 B int32 H' in out.stdout  # 4 * (1000 * 35 + 35 * 35)
  with pytest.raises(ValueError, match='unknown method'):
    cost.report('foo', (5,), cost.synthetic_dataset('prototypes'))


# flip (bnnjax.baselines.flip): ours with 1-bit weights, by hand (D 10, layers 6-6, B 4,
# n 20, C 3): W = 60 + 36 + 18 = 114 at 1 bit; bits = 200 + 114 + max(18, 18) + 8 * 60
# = 812 (ours: 1,610, the 7 * 114 = 798 bits of integer weights fewer); the same
# 12,420 gates per step as ours.
def test_flip_by_hand():
  cols = cost.summary_columns('flip', (6, 6), 10, 3, 4, 20, 1)
  assert cols['model_memory_bits'] == 812
  assert cols['model_memory_weights_bits'] == 114
  assert cols['model_gates_per_step'] == 12_420
  ours = cost.summary_columns('ours', (6, 6), 10, 3, 4, 20, 1)
  assert ours['model_memory_bits'] - cols['model_memory_bits'] == 7 * 114


def test_run_columns_of_flip():
  from bnnjax import methods
  ds = _small_dataset()
  spec = methods.RunSpec(method='flip', layers=(12, 6), group_size=(3, 6), batch_size=8,
                         num_epochs=3)
  cols = cost.run_columns(spec, ds)
  assert cols['model_method'] == 'flip'
  assert cols['model_memory_bits'] == cost.memory_bits('flip', (12, 6), 70, 3, 8, 30)
  assert cols['model_memory_weights_bits'] == 12 * 70 + 6 * 12 + 6 * 3
  assert not [k for k in cols if k.startswith('measured_')]  # measured side: ours only
  cols2 = cost.run_columns(spec, _small_dataset(c=2))
  assert cols2['model_classifier_columns'] == 1


def test_flip_counter_bits_by_hand():
  # Odd values ±1..±c': c 1 -> 1 bit, 3 -> 2 (±1, ±3), 4 -> c' 3 -> 2, 7 -> 3, 15 -> 4.
  assert [cost.flip_weight_bits(c) for c in (0, 1, 3, 4, 7, 15, 127)] == [
      1, 1, 2, 2, 3, 4, 7]
  # 2-bit counter: 200 + 2 * 114 + 18 + 480 = 926 bits (D 10, 6-6, B 4, n 20, C 3).
  cols = cost.summary_columns('flip', (6, 6), 10, 3, 4, 20, 1, weight_bits=2)
  assert cols['model_memory_bits'] == 926
  from bnnjax import methods
  spec = methods.RunSpec(method='flip', layers=(12, 6), group_size=(3, 6),
                         weight_clip=(7, 3))
  assert cost.run_columns(spec, _small_dataset())['model_memory_weights_bits'] == 3 * (
      12 * 70 + 6 * 12 + 6 * 3)
  with pytest.raises(ValueError, match='weight_bits'):
    cost.summary_columns('ours', (6, 6), 10, 3, 4, 20, 1, weight_bits=2)


def test_conv_cost_model_by_hand():
  """bnnjax.cost.conv on a 6x6 image, one block of 2 filters 3x3 (4x4 positions, 2x2
  pool) and a dense layer of 4, C = 3, B = 5, n = 20, counted by hand (docs/cost.md)."""
  from bnnjax.config import ConvBlock, conv_net_shapes
  from bnnjax.cost import conv as conv_cost
  shapes = conv_net_shapes((6, 6, 1), (ConvBlock(2, 3, 2),), (4,))
  parts = conv_cost.memory_bits_breakdown(shapes, 3, 5, 20, 1)
  assert parts == dict(data=720, weights=8 * (18 + 32 + 12), classifiers=24,
                       activations=8 * 5 * (32 + 4 + 3) + 5 * (144 + 8), gradients=0)
  assert conv_cost.op_counts(shapes, 3, 5, 1) == dict(
      xnor=4200, popcount=2100, increment=200, fmul=0, fadd=0)
  frozen = conv_cost.op_counts(shapes, 3, 5, 1, freeze_conv=True)
  assert (frozen['xnor'], frozen['popcount'], frozen['increment']) == (2064, 1692, 128)
  assert conv_cost.memory_bits_breakdown(shapes, 3, 5, 20, 1, True)['classifiers'] == 0
  tied = conv_cost.memory_bits_breakdown(shapes, 3, 5, 20, 1, regions=1)['classifiers']
  assert tied == 1 * 1 * 2 * 3
  cols = conv_cost.summary_columns(shapes, 3, 5, 23, 2, 1)  # 4 full steps + 3 samples
  step = lambda b: conv_cost.gates_per_step(shapes, 3, b, 1)
  assert cols['model_gates_per_epoch'] == 4 * step(5) + step(3)
  assert cols['model_gates_per_run'] == 2 * cols['model_gates_per_epoch']
  assert step(5) == 4200 + 10 * 2100 + 10 * 200


@pytest.mark.parametrize('method,bits,parts,ops', [
    # D = 4, layers 3-2, C = 2, B = 5, n = 7 (docs/cost.md, "BEP and Mono-Forward").
    # bep: data 4·7; 16-bit hidden 16·(12 + 6); codebook 2·2; 8·B·(3 + 2 + 2); backward
    # a* 8·B·(3 + 2) and gate bits B·2.
    ('bep', 810, dict(data=28, weights=288, classifiers=4, activations=280,
                      gradients=210), dict(xnor=521, popcount=158, increment=144)),
    # mono_forward: layers 4->3, 3->2 with projections 3->2, 2->2 (W = 28) and 5 biases;
    # Adam 3·32·33; activations 32·B·9; one gradient buffer 32·12.
    ('mono_forward', 5020, dict(data=28, weights=3168, classifiers=0, activations=1440,
                                gradients=384), dict(fmul=660, fadd=397)),
])
def test_bep_and_mono_forward_by_hand(method, bits, parts, ops):
  assert cost.memory_bits_breakdown(method, (3, 2), 4, 2, 5, 7) == parts
  assert cost.memory_bits(method, (3, 2), 4, 2, 5, 7) == bits
  counts = cost.op_counts(method, (3, 2), 4, 2, 5)
  assert {k: v for k, v in counts.items() if v} == ops
  assert cost.gates_per_step(method, (3, 2), 4, 2, 5) == sum(
      cost.GATE_WEIGHTS[k] * v for k, v in ops.items())


def test_run_columns_of_bep_and_mono_forward():
  from bnnjax import methods
  rs = np.random.RandomState(0)
  ds = data_lib.from_signs('tiny', np.where(rs.rand(20, 64) < 0.5, 1, -1),
                           np.arange(20) % 10, 10, 4, float_input='signs')
  cols = cost.run_columns(methods.RunSpec(method='bep', layers=(15,), group_size=(5,)),
                          ds)
  assert cols['model_method'] == 'bep' and cols['model_classifier_columns'] == 10
  assert cols['model_memory_weights_bits'] == 16 * 64 * 15 + 0 * 10
  mf = cost.run_columns(methods.RunSpec(method='mono_forward', layers=(3,)), ds)
  assert mf['model_method'] == 'mono_forward'
  assert mf['model_memory_weights_bits'] == 3 * 32 * (64 * 3 + 3 * 10 + 3)
