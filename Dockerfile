# The app image: one process per container; scale by running more containers behind nginx.
FROM python:3.11-slim AS app

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

# The media server: the same code (it generates nginx's configuration from the settings) plus
# Debian's nginx and RTMP module. `python -m server ingest` runs nginx in the foreground.
FROM app AS media
USER root
RUN apt-get update && apt-get install -y --no-install-recommends nginx libnginx-mod-rtmp \
    && rm -rf /var/lib/apt/lists/*
USER app
EXPOSE 1935 8088
HEALTHCHECK NONE
CMD ["python", "-m", "server", "ingest"]
