# The app image: one process per container; scale by running more containers behind nginx.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 PORT=8080 LOG_FORMAT=json DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY server server
COPY live live
COPY cart cart
COPY static static
RUN pip install --no-cache-dir . && useradd --system --home /data app && mkdir -p /data \
    && chown app /data
USER app

EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2)" || exit 1
CMD ["python", "-m", "server", "run"]
