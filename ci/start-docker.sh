#!/usr/bin/env bash
# Start a local Docker engine in the background when none answers, and wait for it with a deadline.
#
#   ci/start-docker.sh            # log: $DOCKERD_LOG (default /tmp/deploy-gates-dockerd.log)
#
# Exits 0 when `docker info` answers (already, or after the start), 1 otherwise with the tail of
# the engine's log; a dockerd that misses the deadline is stopped. The engine listens only on its
# Unix socket; it is left running for the jobs that follow, and its pid is written to <log>.pid.
set -euo pipefail

log=${DOCKERD_LOG:-/tmp/deploy-gates-dockerd.log}
deadline_s=${DOCKERD_START_DEADLINE_S:-60}

say() { echo "start-docker: $*" >&2; }
fail() { say "ERROR: $*"; exit 1; }

command -v docker >/dev/null || fail "no docker client on PATH; install docker.io (apt-get install docker.io)"
if docker info >/dev/null 2>&1; then
    say "a Docker engine already answers; nothing to start"
    exit 0
fi
command -v dockerd >/dev/null || fail "no Docker engine answers and dockerd is not installed; install docker.io"
[ "$(id -u)" = 0 ] || fail "no Docker engine answers and starting dockerd needs root"

say "starting dockerd (log: $log, deadline ${deadline_s}s)"
# setsid: the engine outlives this script and is not killed with the caller's process group.
setsid dockerd --host=unix:///var/run/docker.sock >"$log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$log.pid"

started=$SECONDS
until docker info >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
        say "ERROR: dockerd (pid $pid) exited before answering; last lines of $log:"
        tail -n 30 "$log" >&2
        exit 1
    fi
    if (( SECONDS - started >= deadline_s )); then
        say "ERROR: dockerd (pid $pid) did not answer \`docker info\` within ${deadline_s}s; stopped it; last lines of $log:"
        kill "$pid" 2>/dev/null || true
        tail -n 30 "$log" >&2
        exit 1
    fi
    sleep 0.5
done
say "Docker engine answers after $(( SECONDS - started ))s (dockerd pid $pid)"
