#!/usr/bin/env bash
# Booking throughput on PostgreSQL against pgbench's single-row insert throughput, in one run (issue #14).
#
# 1. `sortie bench dispatch --backend postgres` (release build): bookings over real HTTP, each a booking and
#    its dispatch in one transaction; it also reports how many statements that transaction runs (K).
# 2. pgbench on a throwaway database, the same number of clients, SECS seconds each:
#    a. one INSERT of one row per transaction (a commit each): what the server and this machine can commit;
#    b. transactions of the booking's shape: BEGIN, K-2 statements (single-row INSERTs and primary-key
#       SELECTs in turn), COMMIT: what PostgreSQL alone does with as many round trips per commit as a
#       booking, without the server's work (HTTP, the decision, building and binding the statements).
# Prints the figures and both ratios as one JSON object on the last line.
#
# Usage: scripts/pgbench-compare.sh [technicians] [bookings] [clients] [seconds]      (from the repository root)
#   SORTIE=path/to/sortie to use a built binary instead of `cargo run --release`;
#   PGURL (default postgres://postgres@127.0.0.1:5432/postgres) for another server.
set -euo pipefail

TECHS=${1:-1000}
BOOKINGS=${2:-2000}
CLIENTS=${3:-32}
SECS=${4:-20}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=sortie_pgbench_compare_$$
WORK=$(mktemp -d)
PSQL=(psql -X -q -v ON_ERROR_STOP=1 "$PGURL")
cleanup() {
    "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

"${PSQL[@]}" -c "CREATE DATABASE $DB"
DBURL="${PGURL%/*}/$DB"
psql -X -q -v ON_ERROR_STOP=1 "$DBURL" -c \
    "CREATE TABLE rows (id bigserial PRIMARY KEY, body text NOT NULL, at timestamptz NOT NULL DEFAULT now())" \
    -c "INSERT INTO rows (body) SELECT 'seed row ' || g FROM generate_series(1, 10000) g"

echo "sortie bench dispatch: $TECHS technicians, $BOOKINGS bookings, $CLIENTS clients ..." >&2
if [ -n "${SORTIE:-}" ]; then
    RUN=("$SORTIE")
else
    RUN=(cargo run -q --release --)
fi
FIGURES=$("${RUN[@]}" bench dispatch --backend postgres --postgres-url "$PGURL" --technicians "$TECHS" \
    --bookings "$BOOKINGS" --clients "$CLIENTS" --reads 1 --json | tail -n 1)
STATEMENTS=$(echo "$FIGURES" | python3 -c 'import json,sys; print(json.load(sys.stdin)["statements_per_booking"])')

echo "INSERT INTO rows (body) VALUES ('a booking-sized row of text');" > "$WORK/insert.sql"
{
    echo "BEGIN;"
    for i in $(seq 1 $((STATEMENTS - 2))); do
        if [ $((i % 2)) -eq 1 ]; then
            echo "INSERT INTO rows (body) VALUES ('a booking-sized row of text');"
        else
            echo "\\set id random(1, 10000)"
            echo "SELECT body FROM rows WHERE id = :id;"
        fi
    done
    echo "COMMIT;"
} > "$WORK/shaped.sql"
tps() {
    pgbench -n -M prepared -c "$CLIENTS" -j 2 -T "$SECS" -f "$1" "$DBURL" 2>/dev/null | awk '/^tps = / {print $3; exit}'
}
echo "pgbench: single-row INSERT, $CLIENTS clients, ${SECS}s ..." >&2
PGBENCH_TPS=$(tps "$WORK/insert.sql")
echo "pgbench: transactions of a booking's $STATEMENTS statements, $CLIENTS clients, ${SECS}s ..." >&2
SHAPED_TPS=$(tps "$WORK/shaped.sql")

python3 - "$PGBENCH_TPS" "$SHAPED_TPS" "$STATEMENTS" "$FIGURES" <<'PY'
import json, sys
tps, shaped, statements, figures = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
bps = figures["bookings_per_s"]
print(f"pgbench single-row insert: {tps:.0f} tps; pgbench transactions of {statements} statements: {shaped:.0f} tps; "
      f"bookings: {bps:.0f}/s; ratios {bps / tps:.3f} and {bps / shaped:.2f}", file=sys.stderr)
print(json.dumps({"pgbench_insert_tps": round(tps, 1), "pgbench_shaped_tps": round(shaped, 1),
                  "statements_per_booking": statements, "bookings_per_s": bps,
                  "ratio": round(bps / tps, 3), "ratio_to_shaped": round(bps / shaped, 3), "bench": figures}))
PY
