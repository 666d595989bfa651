#!/bin/sh
# One backup of Points Bank: the database (`pointsbank backup`, pg_dump custom format) and
# the signing keys (`--keys`), both mode 0600, named by the UTC time, into
# $POINTSBANK_BACKUP_DIR (default /backups); then removes backups older than
# $POINTSBANK_BACKUP_KEEP_DAYS days (default 14). Copy the directory off the machine too.
#   backup.sh               one backup (the systemd timer runs this)
#   backup.sh --every 86400 a backup now and then every 86400 s (the compose service)
set -eu
umask 077

if [ "${1:-}" = "--every" ]; then
    interval="${2:?--every needs a number of seconds}"
    while :; do
        "$0" || echo "pointsbank-backup: this backup failed; the next try is in ${interval}s" >&2
        sleep "$interval"
    done
fi

directory="${POINTSBANK_BACKUP_DIR:-/backups}"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
pointsbank backup "$directory/pointsbank-$stamp.dump" --keys "$directory/pointsbank-$stamp.keys.tar.gz"
find "$directory" -maxdepth 1 -name 'pointsbank-*' -type f \
    -mtime +"${POINTSBANK_BACKUP_KEEP_DAYS:-14}" -delete
