#!/usr/bin/env bash
# make cluster: a local three-node maid cluster on one PostgreSQL against
# `maid fakediscord` (8 shards, 16 guilds, 5 messages/s), as processes on
# this machine. Ctrl-C stops everything (the nodes drain first).
#
#   MAID_CLUSTER_DB=postgres://... make cluster   # an empty database of yours
#
# Without MAID_CLUSTER_DB it uses MAID_TEST_POSTGRES_DSN's server (see
# scripts/ci-postgres.sh) and a database maid_cluster_demo on it, created if
# absent. Logs: build/cluster-demo/*.log. Status: bin/maid cluster status --db DSN
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/maid}
DIR=build/cluster-demo
mkdir -p "$DIR"

DSN=${MAID_CLUSTER_DB:-}
if [ -z "$DSN" ]; then
	ADMIN=${MAID_TEST_POSTGRES_DSN:-}
	if [ -z "$ADMIN" ]; then
		eval "$(bash scripts/ci-postgres.sh)"
		ADMIN=$MAID_TEST_POSTGRES_DSN
	fi
	psql "$ADMIN" -tAc "SELECT 1 FROM pg_database WHERE datname = 'maid_cluster_demo'" | grep -q 1 ||
		psql "$ADMIN" -qc "CREATE DATABASE maid_cluster_demo"
	DSN=$(echo "$ADMIN" | sed -E 's#/[^/?]+(\?|$)#/maid_cluster_demo\1#')
fi

pids=()
cleanup() {
	trap - INT TERM EXIT
	echo "stopping (nodes drain their shards first)..."
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup INT TERM EXIT

"$BIN" fakediscord --addr 127.0.0.1:8090 --shards 8 --guilds 16 --rate 5 >"$DIR/fakediscord.log" 2>&1 &
pids+=($!)
sleep 1
for i in 1 2 3; do
	"$BIN" serve --cluster --db "$DSN" --discord-url http://127.0.0.1:8090/ --shard-count 8 \
		--node-id "demo$i" --addr "127.0.0.1:808$i" --data-dir "$DIR/node$i" --examples "" \
		>"$DIR/node$i.out" 2>"$DIR/node$i.log" &
	pids+=($!)
done
echo "fake Discord:  http://127.0.0.1:8090/stats"
echo "dashboards:    http://127.0.0.1:8081  :8082  :8083 (sign-in links in $DIR/node*.out)"
echo "cluster:       $BIN cluster status --db '$DSN'"
echo "try:           kill -9 a node, or $BIN cluster drain --db '$DSN' demo2"
while sleep 5; do
	clear 2>/dev/null || true
	"$BIN" cluster status --db "$DSN" || true
	curl -s http://127.0.0.1:8090/stats | head -c 400; echo
done
