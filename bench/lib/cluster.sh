# Sourced by the cluster benchmarks: start_cluster SLUICE WORK starts `sluice cluster
# scheduler` and two `sluice cluster executor --concurrency 1` on 127.0.0.1, waits
# until both executors are registered, and sets `engine` (ballista://HOST:PORT) and
# `pids` (killed by the caller's EXIT trap). Logs go to WORK/*.log.
start_cluster() {
    local sluice="$1" work="$2"
    "$sluice" cluster scheduler --bind 127.0.0.1:0 2>"$work/scheduler.log" &
    pids+=($!)
    for _ in $(seq 100); do grep -q "listening on" "$work/scheduler.log" && break; sleep 0.1; done
    local addr
    addr=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$work/scheduler.log" | head -1)
    for i in 1 2; do
        "$sluice" cluster executor --scheduler "$addr" --concurrency 1 2>"$work/executor$i.log" &
        pids+=($!)
    done
    for _ in $(seq 300); do
        curl -s "http://$addr/readyz" | grep -q "ready: 2 executors" && break; sleep 0.1
    done
    engine="ballista://$addr"
}
