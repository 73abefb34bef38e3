"""Export a trained network as real bits: one versioned file, a `Predictor`, a C header.

* `bnnjax.export.format` — the file format (its docstring is the specification): `save`,
  `save_run`, `load` -> `Export`, the input thresholds of raw features.
* `bnnjax.export.predictor` — `Predictor`: predictions of an exported network from
  packed or raw inputs, bit for bit those of the trained state.
* `bnnjax.export.c` — the C header of one network and the 'BNNI' inputs of the
  reference C program (`bnnjax/csrc/bnn_infer.c`).

docs/export.md shows the command lines (`--export` of `bnnjax.train`,
`python -m bnnjax.predict`).
"""

from bnnjax.export.c import (INPUTS_MAGIC, INPUTS_VERSION, c_header, c_source_dir,
                             read_inputs, write_c_header, write_inputs)
from bnnjax.export.format import (ALIGN, CHECKSUM_BYTES, FORMAT_NAME, FORMAT_VERSION,
                                  MAGIC, Binarisation, Export, ExportError, Network,
                                  PackedRows, decode_positions, encode_positions,
                                  input_thresholds, load, pack_rows, padding_ok,
                                  pool_hash, save, save_run, unpack_rows_numpy)
from bnnjax.export.predictor import Predictor
