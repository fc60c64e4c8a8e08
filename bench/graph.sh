#!/usr/bin/env bash
# Follow-graph benchmark: seeds a 10,000-user, 100,000-follow database and a
# 1,000,000-user, 10,000,000-follow one, serves each in turn and measures it
# with bench/graph (follow and unfollow, follower pages, search), then stops
# the server and reports the file's size per follow. Needs about 1 GiB free
# in the temp folder. Usage: bench/graph.sh [REQUESTS per measurement, default 2000]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
port=18091
tmp=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
go build -o "$tmp/socialapi" .
go build -o "$tmp/graph" ./bench/graph

for size in "10000 100000" "1000000 10000000"; do
	read -r users edges <<<"$size"
	dir=$tmp/$users
	db=$dir/db.sqlite3
	mkdir -p "$dir"
	echo "== $users users, $edges follows"
	if ! "$tmp/socialapi" seed -db "$db" -users "$users" -edges "$edges" 2>"$dir/seed.log"; then
		cat "$dir/seed.log"
		exit 1
	fi

	"$tmp/socialapi" -addr "127.0.0.1:$port" -db "$db" >"$dir/out" 2>"$dir/log" &
	pid=$!
	for _ in $(seq 300); do
		grep -q '^listening on ' "$dir/out" && break
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "the server exited:"
			cat "$dir/log"
			exit 1
		fi
		sleep 0.1
	done
	if ! grep -q '^listening on ' "$dir/out"; then
		echo "the server did not start in 30 s"
		exit 1
	fi

	"$tmp/graph" -url "http://127.0.0.1:$port" -db "$db" -n "$n"

	# The server checkpoints the WAL into the file when it shuts down
	# cleanly, so the file's size is measured after it has stopped.
	kill -TERM "$pid"
	if ! wait "$pid"; then
		echo "the server failed to shut down cleanly:"
		tail -n 20 "$dir/log"
		exit 1
	fi
	pid=
	if [ -s "$db-wal" ]; then
		echo "warning: $db-wal is not empty; the size below leaves it out"
	fi
	bytes=$(stat -c %s "$db")
	echo "database file: $((bytes / 1048576)) MiB, $((bytes / edges)) bytes per follow"
	rm -rf "$dir"
done
