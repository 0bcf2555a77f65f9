#!/usr/bin/env bash
# The README's first ten minutes, as a test (`.ci/run` calls it after the test suite).
#
# 1. Runs the README's first command exactly as printed (the first line of the block after the
#    `smoke: … first line …` marker, i.e. `cargo run`) from the repository root, as a user would,
#    on a fresh database: the command's own `./sortie.db`. An existing `sortie.db*` is moved
#    aside and put back afterwards. DATABASE_URL and SORTIE_* are unset (the README sets none),
#    and port 8080 must be free (the README's URLs name it).
# 2. Waits for /healthz (up to SMOKE_TIMEOUT seconds, default 1200: the command may build first).
# 3. Checks the banner names the logins the walk-through uses.
# 4. Runs every `sh` block between the README's `smoke: begin walkthrough` and `smoke: end
#    walkthrough` markers, in one bash with `set -euo pipefail`, and checks the answers: login gives
#    a token, the booking answers `offered`, tracking answers a stage, the offered dispatcher's
#    accept answers `scheduled`, the phone's pull carries the job and its pushes are `applied`, and
#    tracking ends `done`, the reviewer's queue carries the job, the approval answers `approved`, and
#    the events show each hop's SLA.
# 5. Stops the server with SIGINT (Ctrl-C) and expects a graceful stop.
# SMOKE_VERBOSE=1 prints the walk-through's output on success too.
# Any failure prints the server log and the walk-through transcript and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
README=$ROOT/README.md
TIMEOUT=${SMOKE_TIMEOUT:-1200}
URL=http://127.0.0.1:8080

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sortie-smoke.XXXXXX")
LOG=$WORK/server.log
TRANSCRIPT=$WORK/walkthrough.out
SERVER_PID=
MOVED=0
OWN_DB=0 # set once ./sortie.db is the smoke test's own (after any existing one was moved aside)

fail() {
    echo "smoke: FAILED: $*" >&2
    if [[ -s $LOG ]]; then
        echo "----- server log ($LOG) -----" >&2
        cat "$LOG" >&2
    fi
    if [[ -s $TRANSCRIPT ]]; then
        echo "----- walk-through output ($TRANSCRIPT) -----" >&2
        cat "$TRANSCRIPT" >&2
    fi
    exit 1
}

cleanup() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -KILL -- "-$SERVER_PID" 2>/dev/null || kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ $OWN_DB == 1 ]]; then
        rm -f "$ROOT"/sortie.db "$ROOT"/sortie.db-wal "$ROOT"/sortie.db-shm
    fi
    if [[ $MOVED == 1 ]]; then
        mv "$WORK"/saved/sortie.db* "$ROOT"/ && echo "smoke: put your sortie.db back"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 130" INT TERM

# --- The README's first command -----------------------------------------------------------
FIRST=$(awk '/<!-- smoke: .*first line of the next block/ { mark = 1; next }
             mark && /^```/ { getline; print; exit }' "$README")
[[ -n $FIRST ]] || fail "no first command found after the smoke marker in README.md"
echo "smoke: the README's first command: $FIRST"

if (echo >"/dev/tcp/127.0.0.1/8080") 2>/dev/null; then
    fail "something already listens on 127.0.0.1:8080 (the README's port): $(ss -ltnp 2>/dev/null | grep ':8080 ' || true)"
fi

if compgen -G "$ROOT/sortie.db*" >/dev/null; then
    mkdir "$WORK/saved"
    mv "$ROOT"/sortie.db* "$WORK/saved/"
    MOVED=1
    echo "smoke: moved your sortie.db aside (to $WORK/saved; put back at the end)"
fi
OWN_DB=1

# A user following the README sets none of these.
unset DATABASE_URL
for v in $(compgen -e | grep '^SORTIE_' || true); do unset "$v"; done

# Own session (process group), so the stop below reaches whatever the command started.
setsid bash -c "$FIRST" >"$LOG" 2>&1 </dev/null &
SERVER_PID=$!

echo "smoke: waiting for $URL/healthz (up to ${TIMEOUT}s)"
deadline=$((SECONDS + TIMEOUT))
until curl -fsS -m 2 "$URL/healthz" >/dev/null 2>&1; do
    kill -0 "$SERVER_PID" 2>/dev/null || fail "the first command exited before serving"
    ((SECONDS < deadline)) || fail "no answer from $URL/healthz within ${TIMEOUT}s"
    sleep 1
done
grep -q "Sortie is serving at $URL" "$LOG" || fail "something else answers on $URL: the banner is missing"
echo "smoke: serving after ${SECONDS}s"

# --- The banner and the walk-through agree on who is who ----------------------------------
WALK=$(awk '/<!-- smoke: begin walkthrough/ { on = 1; next }
            /<!-- smoke: end walkthrough/ { on = 0 }
            on && /^```sh/ { code = 1; next }
            on && /^```/ { code = 0; next }
            on && code { print }' "$README")
[[ -n $WALK ]] || fail "no walk-through blocks between the smoke markers in README.md"
for email in $(grep -oE 'login [a-z0-9.@-]+' <<<"$WALK" | cut -d' ' -f2 | sort -u); do
    grep -qF "$email" "$LOG" || fail "the banner does not name $email, which the README's walk-through logs in as"
done

# --- The walk-through, with checks on its answers -----------------------------------------
CHECKS='
set +x
echo "----- checks -----"
[[ -n $CUSTOMER && -n $DISPATCHER && -n $TECH ]] || { echo "a login gave no token"; exit 1; }
[[ $BOOKING == *"\"status\":\"offered\""* ]] || { echo "booking did not answer offered: $BOOKING"; exit 1; }
[[ -n $JOB && -n $TRACK && -n $DEVICE ]] || { echo "no job id, tracking token or device id"; exit 1; }
'
(
    cd "$WORK"
    bash -euo pipefail -c "$WALK
$CHECKS" >"$TRANSCRIPT" 2>&1
) || fail "a walk-through block failed"

expect() { # expect WHAT PATTERN: the transcript has PATTERN (an extended regex)
    grep -qE "$2" "$TRANSCRIPT" || fail "walk-through: $1 (no match for /$2/)"
}
expect "booking answers offered" '^\{"id":"[^"]+","status":"offered","stage":"received","tracking_token":"[^"]+"'
expect "tracking answers a stage" '^\{"stage":"received"'
expect "the vendor sees the chain" '^\{"items":\[\{"id":1,"type":"created".*"type":"offered"'
expect "the offered dispatcher lists the offer" '^\{"items":\[\{"id":"[^"]+"[^]]*"status":"offered"'
expect "the offered dispatcher's accept answers scheduled" '^\{"id":"[^"]+","status":"scheduled","technician_id":"[^"]+"'
expect "the phone's pull carries the job" '"entity":"job"[^}]*"op":"upsert"'
[[ $(grep -c '"status":"applied"' "$TRANSCRIPT") == 3 ]] || fail "walk-through: not every status push was applied"
expect "tracking shows the technician on the way" '^\{"stage":"on_the_way"'
expect "tracking ends done" '^\{"stage":"done"'
expect "the reviewer's queue carries the job" '^\{"items":\[\{"job":\{"id":"[^"]+"[^]]*"status":"in_review"'
expect "the reviewer approves" '^\{"job_id":"[^"]+","status":"approved"'
expect "the events show each hop's SLA" '"hops":\[\{"org_id":"[^"]+".*"sla":\{"accept":'
expect "the survey shows what is rated" '^\{"kind":"home_visit","date":"[0-9-]+","technician_first_name":"Dmitry"'
expect "the survey answer is taken" '^204$'
expect "the vendor's scorecard counts the job and the answer" '"jobs_completed":1,.*"nps":\{"score":100(\.0)?,.*"responses":1'
echo "smoke: the walk-through passed"
if [[ ${SMOKE_VERBOSE:-0} == 1 ]]; then cat "$TRANSCRIPT"; fi

# --- Stop like Ctrl-C -----------------------------------------------------------------------
kill -INT -- "-$SERVER_PID"
deadline=$((SECONDS + 30))
while kill -0 "$SERVER_PID" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "the server did not stop within 30 s of SIGINT"
    sleep 0.2
done
status=0
wait "$SERVER_PID" || status=$?
SERVER_PID=
((status == 0)) || fail "the server exited with status $status after SIGINT"
grep -q "Stopped" "$LOG" || fail "no graceful stop in the server log"
echo "smoke: OK (first command served, walk-through passed, stopped gracefully)"
