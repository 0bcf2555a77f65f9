#!/usr/bin/env bash
# Nearest eligible technician in PostGIS, for comparison with dispatch's in-memory index.
#
# Installs PostGIS for the local PostgreSQL 15 (127.0.0.1:5432, user postgres, trust), loads the same 100k
# technicians the dispatch benches use (`gen_technicians` example, seeded) into a geography column with a GiST
# index and an `eligible` flag (~0.9 %: the 1 % skill and available), then runs pgbench with one client doing
# `ORDER BY geog <-> job LIMIT 1` with the filter, logging every transaction (-l), and prints p50/p99:
#   1. GiST index on all technicians, filter applied while walking (like dispatch's filtered walk);
#   2. plus a partial GiST index WHERE eligible (like dispatch's partition trees);
#   3. `SELECT 1` for the client round trip included in both.
#
# Usage: scripts/postgis-bench.sh [technicians] [seconds per run]     (from the repository root)
set -euo pipefail

N=${1:-100000}
SECS=${2:-20}
DB=sortie_postgis_bench
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 5432 -U postgres)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if ! dpkg -s postgresql-15-postgis-3 >/dev/null 2>&1; then
    apt-get install -y postgresql-15-postgis-3 >/dev/null
fi

echo "Generating $N technicians and 10000 job locations..." >&2
cargo run -q -p dispatch --example gen_technicians --release -- "$N" > "$WORK/techs.csv"
cargo run -q -p dispatch --example gen_technicians --release -- "$N" jobs 10000 > "$WORK/jobs.csv"

"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
"${PSQL[@]}" -d "$DB" <<SQL
CREATE EXTENSION postgis;
CREATE TABLE techs (id bigint PRIMARY KEY, lat double precision, lon double precision, eligible boolean NOT NULL);
CREATE TABLE jobs (id int PRIMARY KEY, lat double precision, lon double precision);
\copy techs (id, lat, lon, eligible) FROM '$WORK/techs.csv' WITH (FORMAT csv, HEADER true)
\copy jobs (id, lat, lon) FROM '$WORK/jobs.csv' WITH (FORMAT csv, HEADER true)
ALTER TABLE techs ADD COLUMN geog geography(Point, 4326);
UPDATE techs SET geog = ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography;
ALTER TABLE jobs ADD COLUMN geog geography(Point, 4326);
UPDATE jobs SET geog = ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography;
CREATE INDEX techs_geog ON techs USING gist (geog);
VACUUM ANALYZE techs;
VACUUM ANALYZE jobs;
SQL

cat > "$WORK/knn.sql" <<'SQL'
\set j random(1, 10000)
SELECT id FROM techs WHERE eligible ORDER BY geog <-> (SELECT geog FROM jobs WHERE id = :j) LIMIT 1;
SQL
echo 'SELECT 1;' > "$WORK/one.sql"

echo "Plan:" >&2
"${PSQL[@]}" -d "$DB" -c "EXPLAIN SELECT id FROM techs WHERE eligible ORDER BY geog <-> (SELECT geog FROM jobs WHERE id = 1) LIMIT 1" >&2

# Runs pgbench with one client and prints p50/p99 of the per-transaction latencies (column 3, µs).
run() {
    local label=$1 script=$2
    (cd "$WORK" && rm -f pgbench_log.* &&
        pgbench -n -h 127.0.0.1 -p 5432 -U postgres -M prepared -c 1 -j 1 -T "$SECS" -l -f "$script" "$DB" >/dev/null)
    cat "$WORK"/pgbench_log.* | awk '{print $3}' | sort -n | awk -v label="$label" '
        { v[NR] = $1 }
        END { printf "%-44s n=%7d  p50 %8.1f µs  p99 %8.1f µs\n", label, NR, v[int(NR * 0.50) + 1], v[int(NR * 0.99) + 1] }'
}

echo "$(grep -c true "$WORK/techs.csv") of $N technicians eligible; pgbench, 1 client, ${SECS}s per run"
run "PostGIS GiST + filter (nearest eligible)" knn.sql
"${PSQL[@]}" -d "$DB" -c "CREATE INDEX techs_geog_eligible ON techs USING gist (geog) WHERE eligible" -c "ANALYZE techs"
run "PostGIS partial GiST WHERE eligible" knn.sql
run "SELECT 1 (client round trip)" one.sql
