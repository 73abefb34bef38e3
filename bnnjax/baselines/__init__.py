"""The comparators of arXiv 2412.00119, trained by bnnjax on the same data pipeline.

* `cp_r` — the single-hidden-layer CP+R committee machine ("Baldassi et al."), trained
  with the local error/target/update/reinforcement of the rule (algorithm.md, "Baselines
  of the paper").
* `mlp` — float MLPs with optax (`sgd`, `adam`) and, beyond the paper, `ste`: a binary
  MLP trained with the straight-through estimator and Adam.
* whole runs go through `bnnjax.run.make_runner`, the engine of every method.
"""
