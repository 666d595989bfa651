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

# `serve` runs $POINTSBANK_WORKERS processes (default: the container's cores); the
# background jobs run in one of them (an advisory-lock leader).
exec pointsbank serve
