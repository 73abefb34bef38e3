#!/bin/bash
# One prepared GPU session (device tool): bit-exactness tests on the GPU, the default
# main job timed as a whole command, then the depth study on Random Prototypes until the
# time box ends (settings are written as they finish; a later call resumes).
# Usage (on the GPU machine, repo root): OUT=... bash benchmarks/gpu_check.sh
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
nvidia-smi -L
python3 -c "import jax, jaxlib; print('jax', jax.__version__, jax.devices())"
echo "=== tests on GPU $(date -u +%FT%TZ)"
timeout 200 python3 -m pytest -q -p no:cacheprovider tests/test_bits.py tests/test_model.py 2>&1 | tail -5
echo "=== default main job $(date -u +%FT%TZ)"
TIMEFORMAT='main job wall %R s'
time (timeout 150 python3 -m bnnjax.train --workdir=/tmp/wd_main 2>&1 | tail -4)
cp /tmp/wd_main/summary.json $OUT/main_summary.json 2>/dev/null
echo "=== depth on prototypes $(date -u +%FT%TZ)"
timeout ${DEPTH_SECONDS:-300} python3 -m experiments.run --experiment=depth --dataset=prototypes \
  --workdir=/tmp/wd_depth 2>&1 | tee $OUT/depth.log | grep -v "^\s*$" | tail -20
tar czf $OUT/depth.tgz -C /tmp wd_depth
echo "=== end $(date -u +%FT%TZ)"
