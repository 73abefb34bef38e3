"""The comparators of arXiv 2412.00119, and bnnjax's own beyond-the-paper learners.

* `cp_r` — the single-hidden-layer CP+R committee machine ("Baldassi et al."), trained
  with the local error/target/update/reinforcement of the rule (docs/baselines.md).
* `mlp` — float MLPs with optax (`sgd`, `adam`) and, beyond the paper, `ste`: a binary
  MLP trained with the straight-through estimator and Adam.
* `flip` — beyond the paper: the rule with 1-bit weights and random flips.

Each module gives its config, init, step, evaluation and `make_model`; the method
registry (`bnnjax.methods`) declares each method once, and every method runs through the
one engine (`bnnjax.engine`, `bnnjax.driver`).
"""
