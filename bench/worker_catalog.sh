#!/usr/bin/env bash
# Bytes an agent receives (issue 5): get-issue and search, compact vs
# raw: true, and the tools/list size for full, read-only and discovery
# exposure. Sizes are the JSON of the whole CallToolResult / tools array the
# SDK client receives (the text block and structuredContent both count).
# Runs the sizes test of tests/node/worker_catalog.test.mjs on the binaries
# in JSMCP_BIN_DIR (bench/run.sh: release) and prints its figures line.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${JSMCP_TEST_ARTIFACTS:=$(mktemp -d)}"
export JSMCP_TEST_ARTIFACTS
out=$(node --test --test-name-pattern='sizes for BENCHMARKS' tests/node/worker_catalog.test.mjs 2>&1) || {
  echo "$out" | tail -30
  exit 1
}
line=$(echo "$out" | grep -o '{"get-issue.*' | head -1)
python3 - "$line" <<'PY'
import json, sys
f = json.loads(sys.argv[1])
print("| payload | compact (bytes) | raw: true (bytes) | raw / compact |")
print("|---|---|---|---|")
for k, v in f.items():
    if k != "tools/list bytes":
        print(f"| {k} | {v['compact']} | {v['raw']} | {v['ratio']}x |")
t = f["tools/list bytes"]
print()
print("| tools/list exposure | bytes |")
print("|---|---|")
for k in ("full", "read_only", "discovery"):
    print(f"| {k} | {t[k]} |")
PY
