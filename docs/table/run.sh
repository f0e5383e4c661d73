#!/usr/bin/env bash
# Regenerates docs/table/table.md and table.csv: every method of docs/results.md
# under the full `fast` preset (DeepFool, CW, FAB, APGD-CE, APGD-DLR: attacks=[]), 100 test
# images, EoT 4, bounds 0.5/1/1.5/2, gradient-masking diagnostics on.
# Each run resumes where it stopped; the baselines are trained first if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f runs/vae1/hvae.safetensors ] ||
  mlvgm train-mlvgm --out runs/vae1 --set 'model.groups=[[4,64]]'
[ -f runs/trades/classifier.safetensors ] ||
  mlvgm train-classifier --out runs/trades --trades --init src/mlvgm/weights/classifier.safetensors \
    --set epochs=2
methods="undefended noise blur trades reconstruction single-latent-vae mlvgm-cosine mlvgm-learned"
for m in $methods; do
  mlvgm evaluate --config "docs/table/$m.yaml" --out "runs/table/$m" --set preset=fast --set "attacks=[]" \
    --set n_images=100 --set eot=4 --set batch_size=25
done
mlvgm table $(for m in $methods; do echo "runs/table/$m/report.json"; done) --out docs/table/table
