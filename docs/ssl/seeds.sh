#!/usr/bin/env bash
# A second seed (initialisation and views) for the runs the comparison's figures
# rest on: real data, anchor with Tx only, per-group random with Continuous
# Sampling and with the offline set. Run after run.sh; writes docs/ssl/seeds.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
common=(--set model.method=simclr --set "model.widths=[32, 64, 128]" --set epochs=8
  --set lr=0.05 --set source.batch_size=256 --set source.batches_per_epoch=15
  --set source.augment=simclr --set source.precision=bfloat16 --set seed=1 --set source.seed=1)
train() { # name, output folder, config, extra options
  local name=$1 out=$2 config=$3
  shift 3
  mlvgm train-ssl --config "$config" --out "runs/ssl/$out" --set "name=$name" "${common[@]}" "$@"
  mlvgm linear-eval --checkpoint "runs/ssl/$out/ssl.safetensors" --out "runs/ssl/$out/probe"
}
train "real + simclr Tx, seed 1" real-s1 docs/ssl/real.yaml
train "synthetic anchor, Tx only, seed 1" anchor-tx-s1 docs/ssl/anchor-tx.yaml
train "per-group random (analysis), seed 1" per-group-s1 runs/analysis/views.yaml
train "per-group random, offline set, seed 1" per-group-offline-s1 runs/analysis/views.yaml \
  --set source.mode=offline
runs="real-s1 anchor-tx-s1 per-group-s1 per-group-offline-s1"
mlvgm table $(for r in $runs; do echo "runs/ssl/$r/probe/probe.json"; done) --out docs/ssl/seeds
