# The browser libraries (socket.io-client, hls.js), built by the same `make vendor` as a checkout.
FROM node:22-slim AS vendor
RUN apt-get update && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile package.json package-lock.json ./
RUN make vendor

# The app image: one process per container; scale by running more containers behind nginx.
FROM python:3.11-slim AS app

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 PORT=8080 LOG_FORMAT=json DATA_DIR=/data

# Installed with its static files as package data (tests/integration/test_image.py installs
# these same paths); the sources are removed so nothing runs from a source tree.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY core core
COPY server server
COPY live live
COPY cart cart
COPY static static
COPY --from=vendor /src/static/vendor static/vendor
RUN pip install --no-cache-dir . && cd / && rm -rf /src \
    && useradd --system --home /data app && mkdir -p /data && chown app /data
WORKDIR /data
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
