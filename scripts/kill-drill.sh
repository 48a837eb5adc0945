#!/usr/bin/env bash
# Kill -9 drills for the five stages: for each stage, a fresh embedded bus, all five stages as
# separate processes, the stage killed with SIGKILL mid-run and started again; then the episodes
# lost and executed twice are counted from the trajectories topic. Prints a table.
# Usage: scripts/kill-drill.sh [EPISODES per task, default 3]   (models: $PLAN_MODEL, $FOLLOWER)
set -euo pipefail
cd "$(dirname "$0")/.."
episodes=${1:-3}
bin=${VIDEOAGENT_BIN:-.build/release/videoagent}
[ -x "$bin" ] || swift build -c release --product videoagent >&2
plan=${PLAN_MODEL:-models/builtin-plan/model.safetensors}
follower=${FOLLOWER:-models/builtin-follower/model.safetensors}
tasks=button-press,drawer-open,push
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
common=(--plan-model "$plan" --follower "$follower" --iterations 2 --max-replans 2 --learn-every 2 --learn-steps 5)

printf '%-10s %9s %6s %11s %12s %8s\n' killed scheduled lost "run twice" "dead letters" seconds
for stage in planner critic refiner learner executor; do
  bus="embedded://$work/$stage"
  "$bin" topics create --bus "$bus" >/dev/null
  declare -A pids=()
  start() {
    local s=$1
    local extra=()
    if [ "$s" = executor ]; then extra=(--robots r1,r2 --tasks "$tasks" --episodes "$episodes"); fi
    "$bin" serve "$s" --bus "$bus" --instance "drill-$s" "${common[@]}" "${extra[@]}" >"$work/$stage-$s.log" 2>&1 &
    pids[$s]=$!
  }
  began=$(date +%s)
  for s in planner critic refiner learner executor; do start "$s"; done
  sleep 6
  kill -9 "${pids[$stage]}" 2>/dev/null || true
  wait "${pids[$stage]}" 2>/dev/null || true
  start "$stage"
  wait "${pids[executor]}" || true
  for s in planner critic refiner learner; do kill "${pids[$s]}" 2>/dev/null || true; wait "${pids[$s]}" 2>/dev/null || true; done
  scheduled=$(( episodes * 3 ))
  read -r distinct total <<<"$("$bin" bus replay --bus "$bus" --topic videoagent.trajectories.v1 --from-offset 0 --idle-exit 1 \
    | awk -F'\t' '{ seen[$3]++ } END { n = 0; t = 0; for (k in seen) { n++; t += seen[k] }; print n, t }')"
  letters=$("$bin" bus replay --bus "$bus" --topic videoagent.deadletter.v1 --from-offset 0 --idle-exit 1 | wc -l)
  printf '%-10s %9d %6d %11d %12d %8d\n' "$stage" "$scheduled" $(( scheduled - distinct )) $(( total - distinct )) "$letters" \
    $(( $(date +%s) - began ))
done
