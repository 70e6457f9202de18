#!/usr/bin/env bash
# An executor, a replica, an analyzer running rag and mev, and a monitor on this machine
# (see README.md).
#
#   examples/multi_instance/run.sh [SECONDS]     default 30; Ctrl-C stops early
#
# Environment: WORK (folder for data and logs; default a new temporary one), BASE_PORT
# (default 7700: the executor publishes on it, the others on +10, +20, +30; each request
# socket on the port after), REPLICA_RPC (the replica's JSON-RPC address; default
# 127.0.0.1:8999), MONMOUTH (the command; default `monmouth`).
set -euo pipefail

SECONDS_TO_RUN=${1:-30}
WORK=${WORK:-$(mktemp -d -t monmouth-multi.XXXXXX)}
BASE=${BASE_PORT:-7700}
MONMOUTH=${MONMOUTH:-monmouth}
# The embedded devnet makes a block every 0.2 s (a real L1 node: --rpc-url on the executor).
export MONMOUTH_DEVNET__INTERVAL=${MONMOUTH_DEVNET__INTERVAL:-0.2}
export MONMOUTH_DEVNET__REORG_PROBABILITY=${MONMOUTH_DEVNET__REORG_PROBABILITY:-0.05}

ep() { echo "tcp://127.0.0.1:$1"; }
mkdir -p "$WORK"
echo "data and logs in $WORK"

declare -A PIDS
start() {  # start NAME ARGS...: one instance, named NAME, logging to $WORK/NAME.log
    local name=$1; shift
    MONMOUTH_STREAM__INSTANCE=$name $MONMOUTH run --data-dir "$WORK/$name" "$@" \
        >"$WORK/$name.log" 2>&1 &
    PIDS[$name]=$!
    echo "started $name (pid ${PIDS[$name]}): monmouth run $*"
}
stop() {  # stop NAME: SIGTERM, then wait for it to finish its current block
    local pid=${PIDS[$1]:-}
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" && wait "$pid" || true
    fi
    unset "PIDS[$1]"
}
trap 'for n in "${!PIDS[@]}"; do stop "$n"; done' EXIT
trap 'echo; echo "stopping early"' INT

start executor --publish "$(ep "$BASE")"
# The replica serves Solana JSON-RPC from its own state, beside the executor's (8899);
# with MONMOUTH_PLUGINS__RPC__ADDRESS=none, no instance serves it.
REPLICA_RPC=${REPLICA_RPC:-127.0.0.1:8999}
[[ ${MONMOUTH_PLUGINS__RPC__ADDRESS:-} == none ]] && REPLICA_RPC=none
# Only the executor serves the monitoring endpoints (127.0.0.1:9464): one port, one instance.
MONMOUTH_PLUGINS__RPC__ADDRESS=$REPLICA_RPC MONMOUTH_PLUGINS__MONITORING__ADDRESS=none \
    start replica --role replica --publish "$(ep $((BASE + 10)))" --upstream "$(ep "$BASE")"
# The analyzer runs the rag and mev plugins off the executor (docs/stream.md, "Where plugins
# run"); its request socket (BASE+21) answers `monmouth rag|mev ... --endpoint`.
MONMOUTH_PLUGINS__ENABLE='["rag", "mev"]' MONMOUTH_PLUGINS__RPC__ADDRESS=none \
    MONMOUTH_PLUGINS__MONITORING__ADDRESS=none \
    start analyzer --role analyzer --publish "$(ep $((BASE + 20)))" --upstream "$(ep "$BASE")"
ANALYZER=$(ep $((BASE + 21)))
start monitor --role monitor --publish "$(ep $((BASE + 30)))" \
    --upstream "$(ep "$BASE")" --upstream "$(ep $((BASE + 10)))" --upstream "$(ep $((BASE + 20)))"

head_of() {  # head_of NAME: the instance's committed head number ("None" before its first)
    $MONMOUTH status --data-dir "$WORK/$1" --json 2>/dev/null |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["head_number"])' 2>/dev/null ||
        echo None
}
# On a busy machine the instances take seconds to start: the run counts from the executor's
# first block (a minute at most), so that the others see it for SECONDS_TO_RUN.
for _ in $(seq 60); do
    [ "$(head_of executor)" != None ] && break
    sleep 1
done
sleep "$SECONDS_TO_RUN" || true
for name in "${!PIDS[@]}"; do  # an instance that could not start stops the example
    if ! kill -0 "${PIDS[$name]}" 2>/dev/null; then
        echo "$name exited early; the end of $WORK/$name.log:"
        tail -n 3 "$WORK/$name.log"
        exit 1
    fi
done

# On a busy machine the replica may still be starting: it bootstraps from the executor's
# snapshot, so the executor runs on until the replica has a head (a minute at most).
for _ in $(seq 60); do
    [ "$(head_of replica)" != None ] && break
    sleep 1
done

# The executor stops first; the others take in its last blocks (half a minute at most).
stop executor
last=$(head_of executor)
for _ in $(seq 30); do
    [ "$(head_of replica)" = "$last" ] && break
    sleep 1
done
# The analyzer's rag index takes in the executor's last block (a minute at most).
rag_behind() {
    $MONMOUTH rag stats --endpoint "$ANALYZER" --json 2>/dev/null |
        python3 -c 'import json, sys; s = json.load(sys.stdin); print(s["behind"] if s["queued_blocks"] == 0 else "queued")' 2>/dev/null ||
        echo unknown
}
until_rag=$((SECONDS + 60))
while (( SECONDS < until_rag )); do
    [ "$(rag_behind)" = 0 ] && break
    sleep 1
done
echo
echo "== asked of the analyzer (--endpoint $ANALYZER):"
$MONMOUTH rag stats --endpoint "$ANALYZER" --json > "$WORK/rag-stats.json" || true
echo "   rag stats: $(cat "$WORK/rag-stats.json")"
echo "   rag query \"failed transfer\" --k 3:"
$MONMOUTH rag query "failed transfer" --k 3 --endpoint "$ANALYZER" | sed 's/^/   /' || true
echo "   mev --block $last: $($MONMOUTH mev --block "$last" --endpoint "$ANALYZER" --json || true)"
for name in replica analyzer monitor; do stop "$name"; done

echo
echo "== executor: $($MONMOUTH status --data-dir "$WORK/executor" --json)"
echo "== replica:  $($MONMOUTH status --data-dir "$WORK/replica" --json)"
echo "== analyzer: $(grep '"progress"' "$WORK/analyzer.log" | tail -n 1)"
echo "== monitor, last view of the analyzer: $(grep '"instance": "analyzer"' "$WORK/monitor.log" | grep '"event": "instance"' | tail -n 1)"
echo "== monitor alerts:"
grep '"alert"' "$WORK/monitor.log" | sed 's/^/   /' || echo "   none"

python3 - "$WORK" <<'PY'
import json, subprocess, sys, os
work = sys.argv[1]
try:
    rag = json.load(open(f"{work}/rag-stats.json"))
except ValueError:
    print("the analyzer's rag did not answer (see analyzer.log)")
    sys.exit(1)
cmd = os.environ.get("MONMOUTH", "monmouth").split()
def status(name):
    out = subprocess.run([*cmd, "status", "--data-dir", f"{work}/{name}", "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)
executor, replica = status("executor"), status("replica")
if (executor["head_number"], executor["state_hash"]) == (replica["head_number"], replica["state_hash"]):
    print(f"replica agrees with the executor at block #{executor['head_number']}: {executor['state_hash']}")
else:
    print(f"replica DIFFERS: executor #{executor['head_number']} {executor['state_hash']}, "
          f"replica #{replica['head_number']} {replica['state_hash']}")
    sys.exit(1)
if rag["head"] == executor["head_number"] and rag["behind"] == 0:
    print(f"the analyzer's rag index is at the executor's head #{rag['head']}: "
          f"{rag['documents']} documents, 0 blocks behind")
else:
    print(f"the analyzer's rag index is at #{rag['head']}, {rag['behind']} blocks behind the "
          f"executor's #{executor['head_number']}")
    sys.exit(1)
PY
