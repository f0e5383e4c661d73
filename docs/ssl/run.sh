#!/usr/bin/env bash
# Regenerates docs/ssl/table.md and table.csv: SimCLR encoders trained on real
# and on generated views, each probed linearly on the real digits (fit on the
# train split, reported on the test split). Every run uses the same encoder,
# batch and number of pairs seen (8 epochs x 15 batches x 256 pairs); only the
# views differ. Reruns resume; the latent analysis runs first when missing and
# chooses the per-group views (runs/analysis/views.yaml, walker_views.yaml).
set -euo pipefail
cd "$(dirname "$0")/../.."
common=(--set model.method=simclr --set "model.widths=[32, 64, 128]" --set epochs=8
  --set lr=0.05 --set source.batch_size=256 --set source.batches_per_epoch=15
  --set source.augment=simclr --set source.precision=bfloat16)
[ -f runs/analysis/views.yaml ] || mlvgm analyze-latents --out runs/analysis

train() { # name, output folder, config, extra options
  local name=$1 out=$2 config=$3
  shift 3
  mlvgm train-ssl --config "$config" --out "runs/ssl/$out" --set "name=$name" "${common[@]}" "$@"
  mlvgm linear-eval --checkpoint "runs/ssl/$out/ssl.safetensors" --out "runs/ssl/$out/probe"
}
train "real + simclr Tx" real docs/ssl/real.yaml
train "synthetic anchor, Tx only" anchor-tx docs/ssl/anchor-tx.yaml
train "random, all groups" random-all docs/ssl/random-all.yaml
train "per-group random (analysis)" per-group runs/analysis/views.yaml
train "per-group walkers (analysis)" per-group-walkers runs/analysis/walker_views.yaml
train "per-group random, offline set" per-group-offline runs/analysis/views.yaml \
  --set source.mode=offline

runs="real anchor-tx random-all per-group per-group-walkers per-group-offline"
mlvgm table $(for r in $runs; do echo "runs/ssl/$r/probe/probe.json"; done) --out docs/ssl/table
