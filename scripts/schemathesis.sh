#!/usr/bin/env bash
# Property-based tests of the live API against its own OpenAPI document, with schemathesis.
#
# Builds the server, starts it on a loopback port with the demo site in a temporary data
# directory, runs schemathesis (a pinned version, installed into a venv under target/) with every
# check enabled, a fixed seed and a bounded number of examples per operation, authenticated with
# the demo key; then stops the server, prints the figures and exits non-zero on any failure
# (a 5xx, a status, content type, header or body the document does not declare, valid data
# refused, invalid data accepted, ...). Everything stops by itself.
#
#   scripts/schemathesis.sh
#
# Settings (environment): SCHEMATHESIS_SEED (default 20240501), SCHEMATHESIS_EXAMPLES (per
# operation, default 100), SCHEMATHESIS_TIMEOUT (seconds before the run is stopped as failed,
# default 1800), FIELDPROOF_TEST_MODELS (another model manifest), CARGO_TARGET_DIR,
# SCHEMATHESIS_VENV.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VERSION=4.32.5
SEED=${SCHEMATHESIS_SEED:-20240501}
EXAMPLES=${SCHEMATHESIS_EXAMPLES:-100}
TIMEOUT=${SCHEMATHESIS_TIMEOUT:-1800}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
VENV=${SCHEMATHESIS_VENV:-$ROOT/target/schemathesis-venv}

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$VERSION"; then
    echo "installing schemathesis $VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "schemathesis==$VERSION"
fi

echo "building fieldproof"
(cd "$ROOT" && cargo build --quiet -p fieldproof --bin fieldproof)
BIN=$TARGET/debug/fieldproof

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Another model manifest goes through a configuration file (`models = ...`), which every version
# of `fieldproof serve` reads.
MODELS=()
if [ -n "${FIELDPROOF_TEST_MODELS:-}" ]; then
    printf 'models = "%s"\n' "$FIELDPROOF_TEST_MODELS" >"$WORK/fieldproof.toml"
    MODELS=(--config "$WORK/fieldproof.toml")
fi
# Rate limits off: schemathesis sends requests without or with wrong keys on purpose, and the
# failed-authentication limit per address would soon answer 429 to everything from loopback.
# (FIELDPROOF_FAILED_AUTH_RATE_LIMIT is the setting asked of `serve` for that limit.)
export FIELDPROOF_RATE_LIMIT=off FIELDPROOF_ANALYSIS_RATE_LIMIT=off FIELDPROOF_FAILED_AUTH_RATE_LIMIT=off
SERVER=("$BIN" serve --demo --listen 127.0.0.1:0 --data-dir "$WORK/data" "${MODELS[@]}")
(cd "$ROOT" && FIELDPROOF_LOG=warn exec "${SERVER[@]}" >"$WORK/stdout" 2>"$WORK/server.log") &
SERVER_PID=$!

BASE=
for _ in $(seq 1 360); do
    BASE=$(sed -n 's/^fieldproof listening on //p' "$WORK/stdout" | head -n 1)
    [ -n "$BASE" ] && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "the server exited before listening:" >&2
        cat "$WORK/server.log" >&2
        exit 1
    fi
    sleep 0.5
done
if [ -z "$BASE" ]; then
    echo "the server did not start within 180 s" >&2
    exit 1
fi
KEY=$(cat "$WORK/data/demo-api-key")
echo "server at $BASE"

# Where the document cannot say what a site holds, valid-looking data may still name something
# the site does not have: a work-order type, a user, a user group or a task group that does not
# exist, a metadata value of a type the site's application does not declare, an image value that
# is not an image. Those operations may answer 400 to schema-valid data; every other check stays
# as it is.
#
# A create retried with an Idempotency-Key answers the first 201 again, also when that work order
# was deleted since (docs/api.md: a late retry must not create a twin); schemathesis reuses
# generated keys across cases, so "the created resource is not found" is expected there.
cat >"$WORK/schemathesis.toml" <<'EOF'
[[operations]]
include-operation-id = ["post_work_orders", "patch_work_orders_id", "post_work_orders_id_analyze", "patch_work_orders_id_tasks_task_id_correction"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]

[[operations]]
include-operation-id = "post_work_orders"
checks.ensure_resource_availability.enabled = false
EOF

set +e
cd "$WORK" # schemathesis keeps its state in ./.schemathesis
timeout "$TIMEOUT" "$VENV/bin/schemathesis" --no-color --config-file "$WORK/schemathesis.toml" run "$BASE/openapi.json" \
    --checks all \
    --seed "$SEED" \
    --max-examples "$EXAMPLES" \
    --workers 1 \
    --generation-database none \
    --request-timeout 30 \
    --header "Authorization: Token $KEY" \
    --report junit --report-junit-path "$WORK/junit.xml"
STATUS=$?
set -e

kill "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=

PANICS=$(grep -c -i "panicked" "$WORK/server.log" || true)
ERRORS=$(grep -c "request failed" "$WORK/server.log" || true)
"$VENV/bin/python" - "$WORK/junit.xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
tests = sum(int(s.get("tests", 0)) for s in suites)
failures = sum(int(s.get("failures", 0)) for s in suites)
errors = sum(int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(f"schemathesis: {tests} operations tested, {failures} with failures, {errors} with errors, {skipped} skipped")
EOF
echo "server log: $PANICS panics, $ERRORS answers of 5xx"
if [ "$STATUS" -ne 0 ] || [ "$PANICS" -ne 0 ] || [ "$ERRORS" -ne 0 ]; then
    echo "schemathesis: FAILED (exit $STATUS)" >&2
    exit 1
fi
echo "schemathesis: passed (seed $SEED, at most $EXAMPLES examples per operation)"
