#!/usr/bin/env bash
# The full-size benchmark of issues 4, 5 and 7: MobileNetV2 1.0 / 224 px fine-tuned from the
# shared ImageNet weights on a leak-free split of the shared brain-MRI Training folder,
# every export format, then brainedge-bench on the held-out test split. Each stage writes
# its record under benchmarks/results/. With --binary: the tumour / no-tumour model (every tumour
# class merged against notumor), records named mri_224_binary.
# Usage: bash benchmarks/mri_224.sh [--binary] [WORK_DIR]   (needs ../shared; ~1.5 h on 2 CPU cores)
set -euo pipefail
usage="usage: bash benchmarks/mri_224.sh [--binary] [WORK_DIR]"
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${BRAINEDGE_SHARED:-$here/../shared}
invocation=$(printf '%q ' bash benchmarks/mri_224.sh "$@")  # as each record quotes it, pasteable
invocation=${invocation% }
binary=false
work=
for argument in "$@"; do
  case $argument in
    --binary) binary=true ;;
    -h|--help) echo "$usage"; exit 0 ;;
    -*) echo "error: unknown option $argument ($usage)" >&2; exit 2 ;;
    *) if [ -n "$work" ]; then echo "error: one WORK_DIR only ($usage)" >&2; exit 2; fi; work=$argument ;;
  esac
done
if $binary; then name=mri_224_binary; split_options=(--binary notumor); else name=mri_224; split_options=(); fi
work=${work:-$here/runs/$name}
results=$here/benchmarks/results
mkdir -p "$work" "$results"
py=${PYTHON:-python}
# needs `pip install -e ".[train]"` (brainedge.* importable)

stage() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

if [ ! -f "$work/manifest.csv" ]; then
  stage "leak-free split"
  "$py" -m brainedge.train.data split "$shared/data/brain-tumor-mri/Training" --out "$work/manifest.csv" --seed 0 "${split_options[@]}"
fi

if $binary; then expected_classes=2; else expected_classes=4; fi
classes=$("$py" -c 'import sys; from brainedge.edge_runtime.manifest import read_manifest; print(len(read_manifest(sys.argv[1]).class_names()))' "$work/manifest.csv")
if [ "$classes" != "$expected_classes" ]; then
  echo "error: $work/manifest.csv has $classes classes, this run needs $expected_classes (--binary or not); use another WORK_DIR" >&2
  exit 2
fi

stage "training"
if [ -f "$work/run/config.json" ]; then resume=(--resume); else resume=(); fi
/usr/bin/time -v "$py" -m brainedge.train --manifest "$work/manifest.csv" --out "$work/run" "${resume[@]}" \
  --weights "$shared/weights/mobilenet_v2_1.0_224_imagenet_no_top.h5" \
  --alpha 1.0 --input-size 224 --batch-size 32 \
  --head-epochs 2 --finetune-epochs 12 --finetune-lr 3e-4 --patience 4 --qat-epochs 1 \
  2>&1 | tee "$work/train.log"
"$py" -m brainedge.benchmarks.studies.train_report "$work/run" --log "$work/train.log" \
  --command "$invocation" --out "$results/train_$name"

stage "export"
"$py" -m brainedge.export "$work/run" --out "$work/export" --variants all --target-accuracy 0.995 2>&1 | tee "$work/export.log"
"$py" -m brainedge.export.evaluate "$work/run" "$work/export" --split test --out "$work/export/evaluation_test.json"
"$py" -m brainedge.benchmarks.studies.export_report "$work/export/evaluation_test.json" --out "$results/export_$name" \
  --command "$invocation  # export stage: brainedge-export RUN --variants all --target-accuracy 0.995; export.evaluate --split test"

stage "calibration, refusal, referral"
"$py" -m brainedge.benchmarks.studies.ood_set "$work/ood_set" --shared "$shared"
"$py" -m brainedge.benchmarks.studies.answers_report "$work/export" --manifest "$work/manifest.csv" \
  --ood-set "$work/ood_set" --out "$results/answers_$name" \
  --command "$invocation  # answers stage: studies.ood_set; studies.answers_report EXPORT --manifest MANIFEST --ood-set OOD"

stage "benchmark"
"$py" -m brainedge.benchmarks "$work/export" --test-set "$work/manifest.csv" --ood-set "$work/ood_set" --threads 1 2 \
  --out "$results/$name" 2>&1 | tee "$work/bench.log"
