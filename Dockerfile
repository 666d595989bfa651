FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ledger ledger
COPY earning earning
COPY redemption redemption
COPY merchants merchants
COPY api api
COPY migrations migrations
RUN pip install --no-cache-dir . && useradd --create-home pointsbank && mkdir -p /data && chown pointsbank /data
USER pointsbank
ENV POINTSBANK_DATA_DIR=/data POINTSBANK_HOST=0.0.0.0 POINTSBANK_PORT=8000
EXPOSE 8000
CMD ["sh", "-c", "pointsbank db upgrade && pointsbank demo && pointsbank serve"]
