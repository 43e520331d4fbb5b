#!/usr/bin/env bash
# Compiles gpu-engine/src/main/cuda/*.cu into one fatbin per file (cubins for sm_80, sm_86, sm_89,
# sm_90 (sm_90a for *_wgmma.cu) and compute_90 PTX) under OUT/io/headroom/engine/backend/cuda/, with
# an index file listing them. Called by the Maven build; without nvcc it prints a note and the CUDA backend reports
# itself unavailable at run time.
set -euo pipefail
SRC=${1:?source dir}
OUT=${2:?output dir}/io/headroom/engine/backend/cuda
NVCC=$(command -v nvcc || true)
[ -z "$NVCC" ] && [ -x /usr/local/bin/nvcc ] && NVCC=/usr/local/bin/nvcc
[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
if [ -z "$NVCC" ]; then
  echo "[cuda] nvcc not found: building without CUDA kernels (the cuda backend will be unavailable)"
  exit 0
fi
mkdir -p "$OUT"
: > "$OUT/kernels.index.tmp"
for cu in "$SRC"/*.cu; do
  name=$(basename "$cu" .cu)
  target="$OUT/$name.fatbin"
  # rebuild only when the source or a shared header changed
  stale=0
  for h in "$SRC"/*.cuh; do [ "$h" -nt "$target" ] && stale=1; done
  if [ ! -f "$target" ] || [ "$cu" -nt "$target" ] || [ $stale = 1 ]; then
    # *_wgmma.cu: Hopper-only instructions, real code for sm_90a (the other targets get kernels that
    # trap, so the module loads everywhere and the host launches them on compute capability 9.0 only)
    hopper=(-gencode arch=compute_90,code=sm_90)
    [[ $name == *_wgmma ]] && hopper=(-gencode arch=compute_90a,code=sm_90a)
    "$NVCC" -fatbin -O3 -std=c++17 -I"$SRC" \
      -gencode arch=compute_80,code=sm_80 -gencode arch=compute_86,code=sm_86 \
      -gencode arch=compute_89,code=sm_89 "${hopper[@]}" \
      -gencode arch=compute_90,code=compute_90 \
      -o "$target" "$cu"
  fi
  echo "$name.fatbin" >> "$OUT/kernels.index.tmp"
done
mv "$OUT/kernels.index.tmp" "$OUT/kernels.index"
echo "[cuda] kernels compiled with $NVCC: $(tr '\n' ' ' < "$OUT/kernels.index")"
