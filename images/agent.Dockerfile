# rollboot node agent: the Python standard library and the sentinel_agent package, nothing else.
#
#   docker build -f images/agent.Dockerfile -t ghcr.io/rollboot/rollboot-agent:0.1.0 .
#
# The image runs as root on purpose. The default (signal) method sends SIGRTMIN+5 to the host's PID 1, which
# needs CAP_KILL in the effective set, and Kubernetes grants capabilities to uid 0 only. The pod spec should
# keep root's power down to that: hostPID: true, capabilities drop ALL / add KILL, readOnlyRootFilesystem,
# allowPrivilegeEscalation: false (see docs/agent.md). Only the command method needs a privileged container.
#
# BASE_IMAGE: any image with python (3.11 or later) on PATH, e.g. the Debian base `make images` builds offline
# (docs/images.md).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/opt/rollboot

WORKDIR /opt/rollboot
COPY sentinel_agent/ sentinel_agent/
# Byte-code compiled at build time: the root filesystem is read-only at run time.
RUN python -m compileall -q sentinel_agent \
    && python -m sentinel_agent --version

ENTRYPOINT ["python", "-m", "sentinel_agent"]
