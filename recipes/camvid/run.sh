#!/usr/bin/env bash
# The CamVid schedule, stage by stage, resumable: a stage whose model exists is skipped, one with a
# resume state continues where it stopped (python -m segdemo train --resume), the others start.
#   recipes/camvid/run.sh WEIGHTS_DIR [xseq|final]      (run from the repository root; nice it)
# FCN-32s -> FCN-16s -> FCN-8s are staged as in the paper; SegNet starts from FCN-32s's encoder.
set -euo pipefail
dir=${1:?weights folder}; protocol=${2:-xseq}
for arch in fcn32s fcn16s fcn8s segnet; do
  name=camvid-$protocol-$arch
  [ -f "$dir/$name.keras" ] && { echo "$name: done"; continue; }
  resume=(); [ -f "$dir/.checkpoints/$name.resume.json" ] && resume=(--resume)
  echo "$name: ${resume[*]:-start}"
  python -m segdemo train --recipe "recipes/camvid/$name.json" --weights-dir "$dir" --name "$name" "${resume[@]}" \
    >> "$dir/$name.log" 2>&1
done
