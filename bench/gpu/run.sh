#!/usr/bin/env bash
# GPU check on a machine with an NVIDIA GPU, no Node.js and no network, from what bench/gpu/prepare.sh carried:
# a GPT-2-medium-shaped checkpoint (24 layers, d 1024, 16 heads, vocab 50257, context 1024), analysed at T = 1024
# with the WebGPU EP and with the CPU EP; k*/m* compared (identical?), max |Δ| of everything else, timings.
#
# Usage (repo root): bash bench/gpu/run.sh        results in $OUT (else bench/gpu/out): webgpu.json, cpu.json,
#                                                  gpu-check.txt, summary.txt, *.log
# Env: RUN_DIR (unpack here, default /tmp/inheritune-gpu), CKPT (default /tmp/gm), STEP_TIMEOUT (s, default 300),
#      SMOKE=1 (a 2-layer toy shape at T=128, to test the plumbing on a machine without a GPU).
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
echo "total $(since "$T_ALL") s"
