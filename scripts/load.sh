#!/usr/bin/env bash
# Load benchmark on loopback: `agentcap serve` (the example tool server behind
# the verifier middleware, following `agentcap revocation serve` by push)
# under wrk, with a warm 3-hop token (a grant and three signed hops); then,
# under the same load, how long a revocation takes to reach the service
# (`agentcap revoke` in another process → the first 401).
#
# Usage: scripts/load.sh [DURATION] [CONNECTIONS] [THREADS] [REVOCATIONS]
#        defaults: 10s 8 2 10
# Needs wrk (installed with apt-get when missing and run as root) and curl.
# Prints wrk's report (requests per second, latency percentiles) and the
# revoke → deny latencies (each, then median and max) in milliseconds.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-10s}
CONNECTIONS=${2:-8}
THREADS=${3:-2}
REVOCATIONS=${4:-10}

if ! command -v wrk >/dev/null 2>&1; then
  apt-get install -y wrk >/dev/null
fi
cargo build --release -q -p agentcap-cli
BIN="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/agentcap"

DIR=$(mktemp -d)
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT
cd "$DIR"
export AGENTCAP_STATE_DIR="$DIR/state"

ac() { "$BIN" "$@"; }
# Waits (up to 30 s) for a server's URL on the first line of a file.
url_of() {
  for _ in $(seq 300); do
    if [ -s "$1" ]; then head -n1 "$1"; return; fi
    sleep 0.1
  done
  echo "no URL in $1" >&2; exit 1
}

ac keys generate --out root.key > root.pub
ac keys generate --out a1.key > a1.pub
ac keys generate --out a2.key > a2.pub
ac keys generate --out a3.key > a3.pub
ac keys generate --out a4.key > a4.pub
ac mint --root-key-file root.key --user alice --agent a1 --agent-public-key @a1.pub \
  --right 'flights/*:read' --ttl 1h --max-depth 8 > t1.tok
ac attenuate @t1.tok --to a2 --signing-key-file a1.key --to-public-key @a2.pub \
  --right 'flights/*:read' > t2.tok
ac attenuate @t2.tok --to a3 --signing-key-file a2.key --to-public-key @a3.pub \
  --right 'flights/*:read' > t3.tok
ac attenuate @t3.tok --to a4 --signing-key-file a3.key --to-public-key @a4.pub \
  --right 'flights/*:read' > t4.tok

ac revocation init --store store --signing-key-file list.key > list.pub
ac revocation serve --store store --signing-key-file list.key --listen 127.0.0.1:0 \
  > rev.url 2> rev.log &
REV_URL=$(url_of rev.url)
RUST_LOG=warn ac serve --root-public-key @root.pub --listen 127.0.0.1:0 \
  --revocation-list "$REV_URL" --revocation-public-key @list.pub > serve.url 2> serve.log &
URL="$(url_of serve.url)flights/lis/2026-12-01"

echo "== wrk: $CONNECTIONS connections, $THREADS threads, $DURATION, warm 3-hop token"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
  -H "Authorization: Bearer $(cat t4.tok)" "$URL"

echo "== revoke → deny under the same load ($REVOCATIONS revocations)"
wrk -t"$THREADS" -c"$CONNECTIONS" -d600s -H "Authorization: Bearer $(cat t4.tok)" "$URL" \
  > /dev/null 2>&1 &
LOAD=$!
sleep 1
LATENCIES=()
for i in $(seq "$REVOCATIONS"); do
  ac keys generate --out "v$i.key" > "v$i.pub"
  ac attenuate @t1.tok --to "victim-$i" --signing-key-file a1.key --to-public-key "@v$i.pub" \
    --right 'flights/*:read' > "v$i.tok"
  status() {
    curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "v$i.tok")" "$URL"
  }
  [ "$(status)" = 200 ] || { echo "victim $i not allowed before its revocation" >&2; exit 1; }
  start=$(date +%s%N)
  ac revoke "@v$i.tok" --block 1 --store store --signing-key-file list.key > /dev/null
  until [ "$(status)" = 401 ]; do
    if [ $(( ($(date +%s%N) - start) / 1000000 )) -gt 10000 ]; then
      echo "revocation $i not seen after 10 s" >&2; exit 1
    fi
  done
  LATENCIES+=($(( ($(date +%s%N) - start) / 1000000 )))
done
kill "$LOAD" 2>/dev/null || true
SORTED=$(printf '%s\n' "${LATENCIES[@]}" | sort -n)
echo "revoke → deny (ms, including the revoke command itself): ${LATENCIES[*]}"
echo "median $(echo "$SORTED" | sed -n "$(( (${#LATENCIES[@]} + 1) / 2 ))p") ms, max $(echo "$SORTED" | tail -n1) ms"
