"""Predictions of an exported network, bit for bit those of the trained state.

`Predictor(network, config, binarisation)` runs step 1 of the rule (docs/algorithm.md)
on the exported bit-planes (a conv net: `conv.predict` with the exported signs as its
weights, W = sign(W)) with the packed XNOR/AND/popcount product
(`bits.packed_dot`): a_l = s_{l-1}·W_l, s_l = sign(a_l), and the head on z_L = s_L·P_L,
from packed inputs or from raw features binarised with the data set's thresholds.
"""

import functools
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from bnnjax import bits
from bnnjax import model
from bnnjax.config import Config
from bnnjax.export.format import Binarisation, Network, PackedRows, padding_ok


@functools.partial(jax.jit, static_argnums=2)
def _forward(planes, x: jax.Array, config: Config) -> jax.Array:
  """int32[B] predictions from packed inputs x: uint32[B, W].

  planes: (per layer bits.Packed [W_{l-1}, N_l] of W_l, bits.Packed [W_L, C_out] of
  P_L). Step 1 of algorithm.md on the planes: a_l = s_{l-1}·W_l, s_l = sign(a_l),
  z_L = s_L·P_L, then the head. Compiled once per config, batch size and zero layout."""
  weights, out = planes
  semantics = config.semantics
  s = bits.Packed(x.T, None)  # [W, B]; the inputs are ±1
  for l, w in enumerate(weights):
    a = bits.packed_dot(s, w, config.widths[l], config.word_chunk)  # [B, N_l]
    s = bits.pack(model.sign(a, semantics).T, ternary=semantics == 'reference')
  z = bits.packed_dot(s, out, config.widths[-1], config.word_chunk)  # [B, C_out]
  return model.head_predict(z, config.head, semantics)


class Predictor:
  """Predictions of one exported network from packed or raw inputs.

  Equal bit for bit to `model.predict` of the trained state (both semantics, both
  heads): the forward pass of algorithm.md step 1 on the exported bit-planes,
  a_l = s_{l-1}·W_l by XNOR/AND/popcount (`bits.packed_dot`), s_l = sign(a_l), and the
  head on z_L = s_L·P_L. Inputs are processed in jitted chunks of `batch_size` samples.
  """

  def __init__(self, network: Network, config: Config,
               binarisation: Binarisation = Binarisation(), batch_size: int = 1024):
    if batch_size < 1:
      raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    self.config = config
    self.network = network
    self.binarisation = binarisation
    self.batch_size = int(batch_size)
    self.num_inputs = config.num_inputs
    self.num_words = bits.num_words(config.num_inputs)

    def planes(r: PackedRows):  # rows [K, W] -> bits.Packed planes [W, K]
      return bits.Packed(jnp.asarray(r.sign.T),
                         None if r.nz is None else jnp.asarray(r.nz.T))

    self._planes = (tuple(planes(r) for r in network.weights),
                    planes(network.classifiers[-1]))
    self._conv_state = None
    if not isinstance(config, Config):  # a conv net: its forward on the exported signs
      from bnnjax import conv
      self._conv_state = model.State(
          hidden=tuple(jnp.asarray(r.values().T, jnp.int32) for r in network.weights),
          classifiers=tuple(jnp.asarray(r.values().T, jnp.int8)
                            for r in network.classifiers),
          key=jnp.zeros(2, jnp.uint32), prev_acc=jnp.zeros((), jnp.int32),
          epoch=jnp.zeros((), jnp.int32))
      self._conv_predict = conv.predict

  def predict_packed(self, x: np.ndarray, num_inputs: Optional[int] = None) -> np.ndarray:
    """int32[B] predictions from packed ±1 inputs x: uint32[B, W] (bits.py layout;
    padding bits 0). num_inputs: the inputs' D, checked when given ('sign' head under
    'reference': -1 where z = 0, no class)."""
    x = np.asarray(x)
    if num_inputs is not None and num_inputs != self.num_inputs:
      raise ValueError(f'inputs have {num_inputs} features but the network expects '
                       f'{self.num_inputs}')
    if x.ndim != 2 or x.shape[1] != self.num_words or x.dtype != np.uint32:
      raise ValueError(f'packed inputs must be uint32[B, {self.num_words}] for '
                       f'{self.num_inputs} inputs, got {x.dtype}{list(x.shape)}')
    if not padding_ok(x, self.num_inputs):
      raise ValueError(f'packed inputs have bits set beyond the {self.num_inputs} inputs '
                       f'(wrong width or layout)')
    n = x.shape[0]
    if n == 0:
      return np.zeros(0, np.int32)
    bsz = min(self.batch_size, 1 << (n - 1).bit_length())  # one shape per call size
    out = []
    for lo in range(0, n, bsz):
      chunk = x[lo:lo + bsz]
      if chunk.shape[0] < bsz:
        chunk = np.concatenate([chunk, np.zeros((bsz - chunk.shape[0],) + chunk.shape[1:],
                                                np.uint32)])
      if self._conv_state is not None:  # W = sign(W): conv.predict of the trained net
        out.append(np.asarray(self._conv_predict(self._conv_state, jnp.asarray(chunk),
                                                 self.config)))
      else:
        out.append(np.asarray(_forward(self._planes, jnp.asarray(chunk), self.config)))
    return np.concatenate(out)[:n].astype(np.int32)

  def binarize(self, x_raw: np.ndarray) -> np.ndarray:
    """float[B, D'] raw features -> uint32[B, W] packed inputs (the data set's rule)."""
    if not self.binarisation.available:
      raise ValueError(f'no input thresholds in this export ({self.binarisation.note})')
    return self.binarisation.apply(x_raw)

  def predict_raw(self, x_raw: np.ndarray) -> np.ndarray:
    """int32[B] predictions from raw features float[B, D'] (as `DataSet.x_float`)."""
    return self.predict_packed(self.binarize(x_raw))
