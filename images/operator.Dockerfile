# rollboot operator: the reboot_operator package and its dependencies (kopf, kubernetes-asyncio, pydantic, ...).
#
#   docker build -f images/operator.Dockerfile -t ghcr.io/rollboot/rollboot-operator:0.1.0 .
#
# Runs as an unprivileged user (65532) on a read-only root filesystem, meeting the "restricted" Pod Security level
# with the pod spec in manifests/ (no capabilities, no privilege escalation, RuntimeDefault seccomp).
#
# BASE_IMAGE: any image with python (3.11 or later, with the venv module) on PATH, e.g. the Debian base
# `make images` builds offline (docs/images.md). Both stages use it: the virtual environment links to its python.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY reboot_operator/ reboot_operator/
COPY sentinel_agent/ sentinel_agent/
# A virtual environment copied whole into the final image; pip compiles the byte-code now, since nothing can be
# written at run time.
RUN python -m venv /opt/rollboot \
    && /opt/rollboot/bin/pip install --no-cache-dir --disable-pip-version-check . \
    && /opt/rollboot/bin/rollboot-operator --help > /dev/null

FROM ${BASE_IMAGE}
COPY --from=build /opt/rollboot /opt/rollboot
# A passwd entry for the user the pod runs as: Python's getpass.getuser(), which Kopf calls at start-up, raises
# KeyError for a uid it cannot look up (found when the image first ran on a real kubelet).
RUN groupadd --system --gid 65532 rollboot \
    && useradd --system --uid 65532 --gid 65532 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin rollboot
# HOME on the /tmp emptyDir of the pod spec: the only writable place, for any library that caches in HOME.
ENV PATH=/opt/rollboot/bin:$PATH \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
# 8080: liveness (/healthz); 8000: Prometheus metrics (/metrics).
EXPOSE 8080 8000
ENTRYPOINT ["rollboot-operator"]
CMD ["--log-format=json", "--liveness=http://0.0.0.0:8080/healthz"]
