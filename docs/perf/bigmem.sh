#!/usr/bin/env bash
# Peak memory of one `iseed serve` under a burst of the largest submissions
# (docs/deploy.md, Scaling out). A separate nats-server with max_payload 8MB
# (MAX_PAYLOAD sets another) and a separate `iseed sim`, as production runs,
# so that the RSS measured is iseed's alone; no upstream limit (RPS sets
# ISEED_UPSTREAM_RPS: with 10, the workers hold their submissions while they
# wait for tokens). Usage, from the repository's root:
#
#   go build -o /tmp/iseed ./cmd/iseed
#   go build -o /tmp/nats-server github.com/nats-io/nats-server/v2
#   docs/perf/bigmem.sh WORKERS [N] [FILE_KB]
#
# Starts serve once to make the streams and stops it, publishes N (96) ISEE
# submissions, each with two inline PDFs of FILE_KB (2500) KB, with `iseed
# submit`, starts serve again on that backlog, waits until every one is
# processed and prints its peak RSS (VmHWM). Linux; ports 34333 and 38999.
set -euo pipefail
W=${1:?workers}; N=${2:-96}; KB=${3:-2500}
ISEED=${ISEED:-/tmp/iseed}; NATS_SERVER=${NATS_SERVER:-/tmp/nats-server}
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
printf 'port: 34333\nmax_payload: %s\njetstream { store_dir: %s/js }\n' "${MAX_PAYLOAD:-8MB}" "$dir" > "$dir/ns.conf"
"$NATS_SERVER" -c "$dir/ns.conf" > "$dir/ns.log" 2>&1 &
"$ISEED" sim --listen 127.0.0.1:38999 --wallet 1000000 --step 1h --echo none > "$dir/sim.log" 2>&1 &
export ISEED_NATS_URL=nats://127.0.0.1:34333 ISEED_DATA_DIR="$dir/data" ISEED_UPSTREAM_RPS=${RPS:-0} ISEED_WORKERS=$W \
  ISEED_VISENGINE_URL=http://127.0.0.1:38999 ISEED_VISENGINE_TOKEN=sim-token \
  ISEED_HTTP_LISTEN=127.0.0.1:0 ISEED_CALLBACK_LISTEN=127.0.0.1:0 GOMEMLIMIT=${GOMEMLIMIT:-512MiB}
sleep 0.5
"$ISEED" serve > "$dir/first.log" 2>&1 &
pid=$!
until grep -q "iseed started" "$dir/first.log"; do sleep 0.2; done
kill -TERM $pid; wait $pid || true
pdf=$( (printf '%%PDF-1.4\n'; head -c $((KB * 1024)) /dev/zero | tr '\0' 'A') | base64 -w0)
for i in $(seq 1 "$N"); do
  printf '{"id":"big-%d","service":"ISEE","options":["urgenza"],"fields":{"Nome":"Mario","$1":"Rossi","Email":"mario.rossi@example.it","Telefono":"+39 333 1234567","Codice Fiscale":"RSSMRA85T10A562S","Copia documento d'"'"'identità":"carta.pdf|data:application/pdf;base64,%s","$6":"cf.pdf|data:application/pdf;base64,%s"}}' \
    "$i" "$pdf" "$pdf" > "$dir/ev.json"
  "$ISEED" submit --tenant acme "$dir/ev.json" > /dev/null
done
"$ISEED" serve > "$dir/iseed.log" 2>&1 &
pid=$!
until [ "$(grep -c '"outcome":"done"' "$dir/iseed.log")" -ge "$N" ]; do sleep 0.5; done
echo "workers $W, $N submissions of $(stat -c %s "$dir/ev.json") bytes: peak $(grep VmHWM /proc/$pid/status | tr -s ' \t' ' ')"
