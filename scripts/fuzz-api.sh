#!/usr/bin/env bash
# Property-based fuzzing of the running server against its own /openapi.json (schemathesis),
# once per role: anonymous, customer, technician, dispatcher, reviewer, admin.
#
# Every generated request must get an answer that is not a 5xx, whose status is one the document
# lists for that operation, and whose body matches the documented schema and content type.
# `.ci/run` calls it after the test suite with a bounded number of examples.
#
#   scripts/fuzz-api.sh                 # FUZZ_EXAMPLES=5 examples per operation and phase
#   FUZZ_EXAMPLES=50 scripts/fuzz-api.sh
#   FUZZ_ROLES='anonymous admin' scripts/fuzz-api.sh
#
# It builds `sortie` (debug), serves it on a free port with a fresh demo database (SQLite, in a
# temporary directory), installs schemathesis (pinned) into target/fuzz-venv the first time, and
# prints, per role, the cases generated and passed. Any failure prints schemathesis' report with a
# curl line that reproduces it, the server log, and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SCHEMATHESIS_VERSION=4.32.5
EXAMPLES=${FUZZ_EXAMPLES:-5}
VENV=$ROOT/target/fuzz-venv

if [[ ! -x $VENV/bin/st ]] || ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    echo "fuzz: installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build -q --bin sortie
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sortie-fuzz.XXXXXX")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
SERVER_PID=
cleanup() {
    [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

env -u DATABASE_URL DATABASE_URL="sqlite://$WORK/fuzz.db" SORTIE_BIND="127.0.0.1:$PORT" SORTIE_DEMO=true \
    RUST_LOG=error "$ROOT/target/debug/sortie" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    curl -sf "$URL/healthz" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
    sleep 0.2
done

token() {
    curl -s "$URL/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"$1\",\"password\":\"demo\"}" | sed -nE 's/.*"access_token":"([^"]+)".*/\1/p'
}

# Tokens first: a role's run must not be able to sign another role out.
declare -A ROLES=(
    [customer]=customer@demo.sortie
    [technician]=tech22@demo.sortie
    [dispatcher]=dispatcher@central.demo.sortie
    [reviewer]=reviewer@demo.sortie
    [admin]=admin@demo.sortie
)
declare -A TOKENS=()
for role in "${!ROLES[@]}"; do
    TOKENS[$role]=$(token "${ROLES[$role]}")
    [[ -n ${TOKENS[$role]} ]] || { echo "fuzz: login as ${ROLES[$role]} failed" >&2; exit 1; }
done

# The anonymous run must not try to sign up on its own (schemathesis' auth bootstrap guesses a
# sign-up flow from the document; Sortie has none).
printf '[auth]\nauto-signup = false\n' >"$WORK/schemathesis.toml"

failed=0
for role in ${FUZZ_ROLES:-anonymous customer technician dispatcher reviewer admin}; do
    auth=()
    [[ $role != anonymous ]] && auth=(-H "Authorization: Bearer ${TOKENS[$role]}")
    out=$WORK/$role.out
    if "$VENV/bin/st" --config-file "$WORK/schemathesis.toml" run "$URL/openapi.json" "${auth[@]}" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
        --phases examples,coverage,fuzzing --max-examples "$EXAMPLES" --workers 1 --no-color \
        --seed 20261202 >"$out" 2>&1; then
        echo "fuzz: $role: $(grep -E '^ *[0-9]+ generated' "$out" | xargs)"
    else
        failed=1
        echo "fuzz: $role: FAILED" >&2
        cat "$out" >&2
    fi
done
if ((failed)); then
    echo "----- server log -----" >&2
    tail -200 "$WORK/server.log" >&2
    exit 1
fi
