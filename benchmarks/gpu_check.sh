#!/usr/bin/env bash
# The GPU check, one prepared script for a machine with a CUDA GPU (about 7 minutes expected on one; not yet run):
#   CUDA placement and bf16 support; for each 64 px genlab recipe, training steps/s at precision fp32 and bf16
#   and the first logged losses of a short run; for cartpole-ppo and pong-dqn, environment steps/s on the GPU;
#   and a data-parallel torchrun run on the device (NCCL with 2+ GPUs, else 2 gloo ranks on cuda:0).
#     bash benchmarks/gpu_check.sh [OUT_DIR]        (the project installed: pip install -e .)
# Record what it prints in docs/scaling.md ("On a GPU").
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d)}
# DEVICE=cpu GEN_STEPS=4 RL_STEPS=2048 tries the script's plumbing on a machine without a GPU
device=${DEVICE:-cuda} gen_steps=${GEN_STEPS:-300}
mkdir -p "$out"
export SDL_VIDEODRIVER=dummy PYTHONUNBUFFERED=1

python - <<'PY'
import torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, available: {torch.cuda.is_available()}")
if torch.cuda.is_available():
    print(f"device 0: {torch.cuda.get_device_name(0)}, bf16 supported: {torch.cuda.is_bf16_supported()}")
PY

report() {  # steps/s between the first and last logged training scalars (TensorBoard wall times, start-up
            # excluded), the first logged losses, and whether the run finished its final evaluation in time
    python - "$1" "$2" <<'PY'
import json, sys
from pathlib import Path
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
run, label = Path(sys.argv[1]), sys.argv[2]
if not run.is_dir():
    print(f"{label}: FAILED (see {run}.log)"); sys.exit()
acc = EventAccumulator(str(run)); acc.Reload()
tags = acc.Tags()["scalars"]
clock = next((t for t in ("loss/total", "time/fps") if t in tags), None)
points = acc.Scalars(clock) if clock else []
if len(points) >= 2:
    rate = (points[-1].step - points[0].step) / (points[-1].wall_time - points[0].wall_time)
    span = f"steps {points[0].step}-{points[-1].step}"
elif (run / "eval.json").exists():  # too short a run to log twice: the whole training time, start-up included
    result = json.loads((run / "eval.json").read_text())
    rate, span = result["step"] / result["train_seconds"], f"{result['step']} steps, from eval.json"
else:
    print(f"{label}: FAILED (see {run}.log)"); sys.exit()
first = ", ".join(f"{t} {acc.Scalars(t)[0].value:.4g} @ {acc.Scalars(t)[0].step}"
                  for t in [t for t in tags if t.startswith(("loss/", "rollout/ep_rew_mean", "train/loss"))][:3])
done = "" if (run / "eval.json").exists() else " [final evaluation cut by the time limit]"
print(f"{label}: {rate:,.1f} steps/s ({span}); first: {first}{done}")
PY
}

# the sample judge's factor network for 64 px trains once on first use (2000 CPU steps), then is cached
timeout 240 python -c "
import time; t = time.perf_counter()
from genlab.factor_net import factor_net; factor_net(64)
print(f'factor network (64 px) ready in {time.perf_counter() - t:.0f} s')" \
    || echo "factor network (64 px): not ready in 240 s; the 64 px runs' final evaluations will train it (and be cut)"

for recipe in gan-64 beta-vae-64 beta-tcvae-64 factor-vae-64; do
    quick=(metrics=none eval_k=2)  # the VAEs' final evaluation, cut short
    [ "$recipe" = gan-64 ] && quick=()
    for precision in fp32 bf16; do
        run="$out/$recipe-$precision"
        timeout 60 genlab train "$recipe" --steps "$gen_steps" --device "$device" "precision=$precision" \
            eval_freq=0 image_freq=100000 log_freq=2 checkpoint_freq=100000 eval_samples=200 "${quick[@]}" \
            --run-dir "$run" > "$run.log" 2>&1
        report "$run" "$recipe $precision"
    done
done

rl() {  # RECIPE STEPS [key=value ...]
    local recipe=$1 steps=$2 run="$out/$1-cuda"
    shift 2
    timeout 120 rllab train "$recipe" --steps "$steps" --device "$device" eval_freq=0 video_freq=0 eval_episodes=1 "$@" \
        --run-dir "$run" > "$run.log" 2>&1
    report "$run" "$recipe cuda"
}
rl cartpole-ppo "${RL_STEPS:-50000}"
rl pong-dqn "${RL_STEPS:-20000}" learning_starts=1000  # the recipe waits longer before its first update

# data-parallel on the device: NCCL across the GPUs where there are 2 or more; on one GPU (NCCL cannot put two ranks
# on one device) 2 gloo ranks sharing cuda:0, which still checks placement and the all-reduce of CUDA tensors
gpus=$(python -c "import torch; print(torch.cuda.device_count())")
if [ "$gpus" -ge 2 ]; then ranks=$gpus backend=nccl rank_device=$device; else ranks=2 backend=gloo rank_device=${device/#cuda/cuda:0}; fi
run="$out/vae-$ranks-ranks-$backend"
timeout 120 torchrun --standalone --nproc_per_node="$ranks" -m genlab train vae --steps "$gen_steps" \
    --device "$rank_device" backend=$backend eval_freq=0 log_freq=2 metrics=none eval_samples=200 eval_k=2 \
    --run-dir "$run" > "$run.log" 2>&1
report "$run" "vae, torchrun $ranks ranks, $backend on $rank_device"
echo "logs and runs in $out"
