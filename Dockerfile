# Points Bank. Built from the whole project (what .dockerignore leaves out is local or
# secret), with a CJK font for the Chinese voucher and statement PDFs, running as a
# non-root user. The entrypoint migrates under a database advisory lock, then serves.
# Production: docker-compose.yml (PostgreSQL 16, Caddy with TLS, backups); docs/deploy.md.
FROM python:3.11-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-wqy-microhei \
 && rm -rf /var/lib/apt/lists/*

COPY . /src
RUN pip install --no-cache-dir /src \
 && install -m 0755 /src/deploy/entrypoint.sh /usr/local/bin/pointsbank-entrypoint \
 && install -m 0755 /src/deploy/backup.sh /usr/local/bin/pointsbank-backup \
 && rm -rf /src \
 && useradd --system --create-home --uid 10001 pointsbank \
 && install -d -o pointsbank -g pointsbank -m 0700 /data /keys /backups

USER pointsbank
WORKDIR /home/pointsbank
# pg_dump/pg_restore for `pointsbank backup` come with the pgserver package (PostgreSQL 16,
# the version of the compose database).
ENV POINTSBANK_DATA_DIR=/data POINTSBANK_KEY_DIR=/keys POINTSBANK_BACKUP_DIR=/backups \
    POINTSBANK_HOST=0.0.0.0 POINTSBANK_PORT=8000 PYTHONUNBUFFERED=1
EXPOSE 8000
# Healthy = the service answers and reaches its database (/healthz answers 503 otherwise).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('POINTSBANK_PORT', '8000'), timeout=4)"]
ENTRYPOINT ["pointsbank-entrypoint"]
