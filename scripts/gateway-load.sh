#!/usr/bin/env bash
# What `agentcap gateway` adds to a request, on loopback: wrk against a fast,
# real upstream (nginx answering `return 200`), called directly and then
# through the gateway (release build) with a warm 2-agent token (a grant and
# one signed hop; the revocation list followed from `agentcap revocation
# serve`). For 1, 8 and 64 connections: p50 and p99 latency and requests per
# second, direct against gateway, as a table.
#
# Usage: scripts/gateway-load.sh [DURATION] [THREADS]
#        defaults: 10s 2 (wrk uses at most one thread per connection)
# Needs wrk and nginx (installed with apt-get when missing and run as root),
# and python3 (to pick free ports). Everything shares the machine's cores:
# compare the columns, not the absolute numbers, across machines.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-10s}
THREADS=${2:-2}

install() {
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
command -v wrk >/dev/null 2>&1 || install wrk
NGINX=${AGENTCAP_NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[ -x "$NGINX" ] || { install nginx; NGINX=/usr/sbin/nginx; }

cargo build --release --locked -q -p agentcap-cli --bin agentcap
BIN="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/agentcap"

DIR=$(mktemp -d)
cleanup() {
  if [ -s "$DIR/nginx/nginx.pid" ]; then
    "$NGINX" -p "$DIR/nginx/" -c "$DIR/nginx/nginx.conf" -s stop 2>/dev/null || true
  fi
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT
cd "$DIR"
export AGENTCAP_STATE_DIR="$DIR/state"

# The CLI; what it says on stderr goes to setup.log, shown if a step fails.
ac() { "$BIN" "$@" 2>>"$DIR/setup.log" || { cat "$DIR/setup.log" >&2; return 1; }; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# Waits (up to 30 s) for a server's URL on the first line of a file.
url_of() {
  for _ in $(seq 300); do
    if [ -s "$1" ]; then head -n1 "$1"; return; fi
    sleep 0.1
  done
  echo "no URL in $1" >&2; exit 1
}

# The upstream: nginx answering 200 to everything, nothing logged.
mkdir -p nginx
NPORT=$(free_port)
cat > nginx/nginx.conf <<CONF
worker_processes 1;
error_log $DIR/nginx/error.log warn;
pid $DIR/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $DIR/nginx/body; proxy_temp_path $DIR/nginx/proxy;
  fastcgi_temp_path $DIR/nginx/fastcgi; uwsgi_temp_path $DIR/nginx/uwsgi;
  scgi_temp_path $DIR/nginx/scgi;
  server {
    listen 127.0.0.1:$NPORT;
    location / { return 200 "ok\n"; }
  }
}
CONF
"$NGINX" -p "$DIR/nginx/" -c "$DIR/nginx/nginx.conf"
UPSTREAM="http://127.0.0.1:$NPORT"
for _ in $(seq 100); do curl -sf -o /dev/null "$UPSTREAM/" && break; sleep 0.1; done

ac keys generate --out root.key > root.pub
ac mint --root-key-file root.key --user alice --agent travel-assistant \
  --right 'flights/*:read' --ttl 1h > t0.tok
ac attenuate @t0.tok --to flight-search --right 'flights/lis/*:read' --ttl 30m > t1.tok
ac revocation init --store store --signing-key-file list.key > list.pub
ac revocation serve --store store --signing-key-file list.key --listen 127.0.0.1:0 \
  > rev.url &
REV_URL=$(url_of rev.url)
RUST_LOG=warn "$BIN" gateway --upstream "$UPSTREAM" --root-public-key @root.pub \
  --listen 127.0.0.1:0 --revocation-list "$REV_URL" --revocation-public-key @list.pub \
  > gateway.url 2> gateway.log &
GATEWAY=$(url_of gateway.url)
TOKEN=$(cat t1.tok)
PATH_Q="flights/lis/2026-12-01"
# Warm the token and check both routes answer 200.
for url in "$UPSTREAM/$PATH_Q" "${GATEWAY}$PATH_Q"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$url")
  [ "$code" = 200 ] || { echo "$url answered $code" >&2; cat gateway.log >&2; exit 1; }
done

# wrk's figures as "p50_ms p99_ms req_per_s"; fails on any non-2xx answer.
measure() {
  local conns=$1 url=$2 threads out
  threads=$(( conns < THREADS ? conns : THREADS ))
  out=$(wrk -t"$threads" -c"$conns" -d"$DURATION" --latency \
    -H "Authorization: Bearer $TOKEN" "$url")
  if grep -q 'Non-2xx' <<<"$out"; then echo "$out" >&2; exit 1; fi
  awk '
    function ms(v) {
      if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
      if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
      if (v ~ /s$/)  return substr(v, 1, length(v) - 1) * 1000
      return v
    }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    $1 == "Requests/sec:" { rps = $2 }
    END { printf "%.3f %.3f %.0f\n", p50, p99, rps }
  ' <<<"$out"
}

echo "wrk ${DURATION} per run, loopback, nginx 'return 200' upstream, warm 2-agent token"
printf '%5s | %10s %10s %9s | %10s %10s %9s | %9s\n' conns \
  "direct p50" "p99 (ms)" "req/s" "gw p50" "p99 (ms)" "req/s" "added p50"
for conns in 1 8 64; do
  direct=$(measure "$conns" "$UPSTREAM/$PATH_Q")
  through=$(measure "$conns" "${GATEWAY}$PATH_Q")
  read -r dp50 dp99 drps <<<"$direct"
  read -r gp50 gp99 grps <<<"$through"
  added=$(awk -v a="$gp50" -v b="$dp50" 'BEGIN { printf "%.3f", a - b }')
  printf '%5s | %10s %10s %9s | %10s %10s %9s | %9s\n' "$conns" \
    "$dp50" "$dp99" "$drps" "$gp50" "$gp99" "$grps" "$added"
done
