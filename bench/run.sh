#!/usr/bin/env bash
# Load benchmark: socialapi against two bare servers that return the same
# bytes (bench/baseline), measured with wrk in one run. Needs wrk
# (apt-get install wrk). Usage: bench/run.sh [SECONDS per run, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
tmp=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
go build -o "$tmp/socialapi" .
go build -o "$tmp/baseline" ./bench/baseline

# serve NAME ADDR CMD... starts a server and waits until it answers.
serve() {
	local name=$1 addr=$2
	shift 2
	"$@" >"$tmp/$name.out" 2>/dev/null &
	pids+=("$!")
	pid=$!
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://$addr/" && return
		sleep 0.1
	done
	echo "$name did not start" >&2
	exit 1
}

serve socialapi 127.0.0.1:18080 "$tmp/socialapi" -addr 127.0.0.1:18080 -db "$tmp/db.sqlite3"
api=$pid
TOKEN=$(curl -s -X POST http://127.0.0.1:18080/api/accounts/register/ -H 'Content-Type: application/json' \
	-d '{"username":"bench","email":"bench@example.com","password":"Sup3r-Secret!x","password2":"Sup3r-Secret!x"}' |
	sed -n 's/.*"token":"\([0-9a-f]*\)".*/\1/p')
export TOKEN
echo 5 >/proc/$api/clear_refs # peak RSS counts from here: the load, not the set-up
serve mem 127.0.0.1:18081 "$tmp/baseline" -mode mem -addr 127.0.0.1:18081 -db "$tmp/db.sqlite3"
serve sqlite 127.0.0.1:18082 "$tmp/baseline" -mode sqlite -addr 127.0.0.1:18082 -db "$tmp/db.sqlite3"

# load LABEL CONNS URL [wrk args...] runs wrk and prints requests/s and p99.
load() {
	local label=$1 conns=$2 url=$3
	shift 3
	local out
	out=$(wrk -t1 -c"$conns" -d"${secs}s" --latency "$@" "$url")
	local rps p99 non2xx
	rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
	printf '%-34s %5s conns %10s req/s   p99 %8s%s\n' "$label" "$conns" "$rps" "$p99" "${non2xx:+   non-2xx: $non2xx}"
}

profile=/api/accounts/profile/
for conns in 32 128; do
	load "GET  in-memory baseline" "$conns" "http://127.0.0.1:18081$profile" -H "Authorization: Token $TOKEN"
	load "GET  SQLite-read baseline" "$conns" "http://127.0.0.1:18082$profile" -H "Authorization: Token $TOKEN"
	load "GET  socialapi" "$conns" "http://127.0.0.1:18080$profile" -H "Authorization: Token $TOKEN"
done
load "PATCH SQLite-update baseline" 32 "http://127.0.0.1:18082$profile" -s bench/patch.lua
load "PATCH socialapi" 32 "http://127.0.0.1:18080$profile" -s bench/patch.lua
echo "socialapi peak RSS under GET and PATCH load: $(awk '/VmHWM/ {print $2, $3}' /proc/$api/status)"
load "register socialapi" 32 "http://127.0.0.1:18080" -s bench/register.lua
load "login socialapi" 32 "http://127.0.0.1:18080/api/accounts/login/" -s bench/login.lua
echo "socialapi peak RSS after register and login load: $(awk '/VmHWM/ {print $2, $3}' /proc/$api/status)"
