# hp-supervisor: one image for the supervisor (`hpsup run`), the heat-pump simulator (`hpsup simulator`)
# and the central estate view (`hpsup estate`). Runs as the unprivileged user hpsup.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/hpsup
COPY pyproject.toml README.md ./
COPY app ./app
COPY strategies ./strategies
COPY register_maps ./register_maps
COPY migrations ./migrations
COPY examples ./examples
RUN pip install . \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/hpsup --create-home --shell /usr/sbin/nologin hpsup

USER hpsup
WORKDIR /var/lib/hpsup
VOLUME ["/var/lib/hpsup"]
# SIGINT lets `hpsup run` hand every heat pump back to its own control before it exits.
STOPSIGNAL SIGINT
ENTRYPOINT ["hpsup"]
CMD ["--help"]
