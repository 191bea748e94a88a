#!/usr/bin/env bash
# Prepares a local PostgreSQL for maid's tests on a fresh Debian machine, idempotently:
# installs Debian's postgresql if absent, starts a cluster, creates the role
# and database maid's tests use, and prints one line for the caller to eval:
#
#   eval "$(bash scripts/ci-postgres.sh)"   # sets MAID_TEST_POSTGRES_DSN
#
# Everything except that line goes to stderr. Needs root (or sudo) the first
# time, to install the package and act as the postgres OS user.
#
# The role gets CREATEROLE (maid makes one role per plugin for plugin SQL) and
# CREATEDB (the tests create and drop a throwaway database per test). It logs
# in with a password over TCP on 127.0.0.1, which Debian's default pg_hba.conf
# allows; maid's per-plugin roles log in the same way.
set -euo pipefail

PGUSER_NAME=${MAID_PG_USER:-maid}
PGPASS=${MAID_PG_PASSWORD:-maid}
PGDB=${MAID_PG_DB:-maid_test}
PGHOST_ADDR=127.0.0.1

log() { echo "ci-postgres: $*" >&2; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

as_postgres() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
	log "installing postgresql (apt-get)"
	export DEBIAN_FRONTEND=noninteractive
	as_root apt-get install -y postgresql >&2 || {
		as_root apt-get update >&2
		as_root apt-get install -y postgresql >&2
	}
fi

VER=$(ls /usr/lib/postgresql | sort -V | tail -n1)
log "postgresql $VER"

# A cluster may be missing when the package was installed with
# create_main_cluster=false, or removed.
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$VER main"; then
	log "creating cluster $VER/main"
	as_root pg_createcluster "$VER" main >&2
fi

PORT=$(pg_lsclusters -h | awk -v v="$VER" '$1==v && $2=="main" {print $3}')
if ! pg_lsclusters -h | awk -v v="$VER" '$1==v && $2=="main" {print $4}' | grep -q online; then
	log "starting cluster $VER/main on port $PORT"
	as_root pg_ctlcluster "$VER" main start >&2
fi

for _ in $(seq 1 60); do
	if pg_isready -q -h "$PGHOST_ADDR" -p "$PORT"; then break; fi
	sleep 0.5
done
pg_isready -h "$PGHOST_ADDR" -p "$PORT" >&2

psql_admin() {
	as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PORT" -d postgres "$@"
}

# The password is for a local test role only; override with MAID_PG_PASSWORD.
psql_admin -v name="$PGUSER_NAME" -v pass="$PGPASS" >&2 <<'SQL'
SELECT format('CREATE ROLE %I', :'name')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'name') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEROLE CREATEDB PASSWORD %L', :'name', :'pass') \gexec
SQL

psql_admin -v name="$PGUSER_NAME" -v db="$PGDB" >&2 <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'name')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL

DSN="postgres://${PGUSER_NAME}:${PGPASS}@${PGHOST_ADDR}:${PORT}/${PGDB}?sslmode=disable"
psql -X -q -d "$DSN" -c 'SELECT 1' >/dev/null
log "ready: $DSN"
echo "export MAID_TEST_POSTGRES_DSN='$DSN'"
