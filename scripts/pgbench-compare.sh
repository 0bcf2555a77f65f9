#!/usr/bin/env bash
# Booking throughput on PostgreSQL against pgbench's single-row insert throughput, in one run (issue #14).
#
# 1. pgbench on a throwaway database: one INSERT of one row per transaction (a commit each), the same number
#    of clients as the booking bench, for SECS seconds: what the server and this machine can commit.
# 2. `sortie bench dispatch --backend postgres` (release build): bookings over real HTTP, each a booking and
#    its dispatch in one transaction.
# Prints both and the ratio as one JSON object on the last line.
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
    "CREATE TABLE rows (id bigserial PRIMARY KEY, body text NOT NULL, at timestamptz NOT NULL DEFAULT now())"
echo "INSERT INTO rows (body) VALUES ('a booking-sized row of text');" > "$WORK/insert.sql"
echo "pgbench: single-row INSERT, $CLIENTS clients, ${SECS}s ..." >&2
PGBENCH_TPS=$(pgbench -n -M prepared -c "$CLIENTS" -j 2 -T "$SECS" -f "$WORK/insert.sql" "$DBURL" 2>/dev/null |
    awk '/^tps = / {print $3; exit}')

echo "sortie bench dispatch: $TECHS technicians, $BOOKINGS bookings, $CLIENTS clients ..." >&2
if [ -n "${SORTIE:-}" ]; then
    RUN=("$SORTIE")
else
    RUN=(cargo run -q --release --)
fi
FIGURES=$("${RUN[@]}" bench dispatch --backend postgres --postgres-url "$PGURL" --technicians "$TECHS" \
    --bookings "$BOOKINGS" --clients "$CLIENTS" --reads 1 --json | tail -n 1)
BOOKINGS_PER_S=$(echo "$FIGURES" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bookings_per_s"])')

python3 - "$PGBENCH_TPS" "$BOOKINGS_PER_S" "$FIGURES" <<'PY'
import json, sys
tps, bps, figures = float(sys.argv[1]), float(sys.argv[2]), json.loads(sys.argv[3])
print(f"pgbench single-row insert: {tps:.0f} tps; bookings: {bps:.0f}/s; ratio {bps / tps:.2f}", file=sys.stderr)
print(json.dumps({"pgbench_insert_tps": round(tps, 1), "bookings_per_s": bps,
                  "ratio": round(bps / tps, 3), "bench": figures}))
PY
