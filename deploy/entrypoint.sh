#!/bin/sh
# The image's entrypoint. With no arguments: migrate, then serve. `pointsbank db upgrade`
# holds a PostgreSQL advisory lock, so replicas starting at once take turns: one migrates,
# the others wait and then find the schema up to date. Demo data (residents, merchants,
# fresh tokens in the log) only with POINTSBANK_DEMO=1, never by default.
# With arguments, runs them instead: `docker compose run --rm app pointsbank tokens create ...`.
set -eu
umask 077   # what this process writes (signing keys) is the owner's only

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

pointsbank db upgrade

if [ "${POINTSBANK_DEMO:-0}" = "1" ]; then
    pointsbank demo
fi

# Several workers: POINTSBANK_WORKERS is passed to `serve --workers` once `serve` has that
# option (the performance issue adds it); until then one process serves per container.
if [ -n "${POINTSBANK_WORKERS:-}" ] && pointsbank serve --help 2>/dev/null | grep -q -- '--workers'; then
    exec pointsbank serve --workers "$POINTSBANK_WORKERS"
fi
exec pointsbank serve
