#!/usr/bin/env bash
# The CamVid schedule, stage by stage, resumable: a stage whose model exists is skipped, one with a
# resume state continues where it stopped (python -m segdemo train --resume; a run stopped with Ctrl-C
# saves its model so far beside its state), the others start.
#   recipes/camvid/run.sh WEIGHTS_DIR [STAGE ...]     (run from the repository root; nice it)
# xseq-* trains a model with drive 0006R0 held out and scores it there; final-* trains it on all 468
# frames and reports its xseq twin's score as its cross-sequence figure, so both share WEIGHTS_DIR.
# FCN-32s -> FCN-16s -> FCN-8s are staged as in the paper; SegNet starts from FCN-32s's encoder.
# lever-* (not in the default list) measure one recipe lever each: FCN-32s, drive 0006R0 held out,
# 40 epochs, against lever-base (README, Models).
# The FCNs come first: the default model ships before SegNet's longer runs.
# A run longer than one sitting carries its resume state in git, in recipes/camvid/checkpoint/:
#   recipes/camvid/run.sh --save WEIGHTS_DIR     copies the running stage's state there to commit
# (replacing the state carried before); a stage without a state of its own in WEIGHTS_DIR starts from
# the one found there. A finished stage that later stages start from is carried there as NAME.keras
# and NAME.json, and the holdout runs' manifests in recipes/camvid/xseq-results/: both are copied
# into WEIGHTS_DIR when it lacks them.
set -euo pipefail
carry=recipes/camvid/checkpoint
if [ "${1:-}" = --save ]; then
  dir=${2:?weights folder}
  mkdir -p "$carry"; rm -f "$carry"/*.resume.*
  cp "$dir"/.checkpoints/*.resume.json "$dir"/.checkpoints/*.resume.npz "$carry"/
  ls -l "$carry"; exit
fi
dir=${1:?weights folder}; shift
mkdir -p "$dir"
for model in "$carry"/*.keras; do
  [ -f "$model" ] && [ ! -f "$dir/$(basename "$model")" ] && cp "$model" "${model%.keras}.json" "$dir"/
done
for manifest in recipes/camvid/xseq-results/*.json; do
  [ -f "$dir/$(basename "$manifest")" ] || cp "$manifest" "$dir"/
done
stages=("$@"); [ ${#stages[@]} -gt 0 ] || stages=(xseq-fcn32s xseq-fcn16s xseq-fcn8s final-fcn32s final-fcn16s
                                                   final-fcn8s xseq-segnet final-segnet)
for stage in "${stages[@]}"; do
  name=camvid-$stage state=$dir/.checkpoints/camvid-$stage.resume.json
  [ -f "$dir/$name.keras" ] && [ ! -f "$state" ] && { echo "$name: done"; continue; }
  if [ ! -f "$state" ] && [ -f "$carry/$name.resume.json" ]; then
    mkdir -p "$dir/.checkpoints"; cp "$carry/$name".resume.* "$dir/.checkpoints/"
  fi
  resume=(); [ -f "$state" ] && resume=(--resume)
  echo "$name: ${resume[*]:-start}"
  python -m segdemo train --recipe "recipes/camvid/$name.json" --weights-dir "$dir" --name "$name" \
    "${resume[@]}" >> "$dir/$name.log" 2>&1
done
