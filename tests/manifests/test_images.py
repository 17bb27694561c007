"""The Dockerfiles agree with the pod specs that run them (read here; tests/hack/test_images.py builds and runs them).

The operator's image runs as the non-root user the Deployment names, exposes the ports it probes and scrapes, and
starts the console script pyproject.toml declares; both build contexts let through what the Dockerfiles copy; both
build on python:3.11-slim unless told otherwise.
"""

from __future__ import annotations

import fnmatch
import tomllib

from hack.images import dockerfile as parse
from tests.manifests.render import REPO, container, kustomize, one, pod_spec

IMAGES = REPO / "images"


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    return parse.instructions(IMAGES / dockerfile)


def _last(dockerfile: str, keyword: str) -> str:
    return [rest for found, rest in _instructions(dockerfile) if found == keyword][-1]


def test_the_operator_image_runs_as_the_unprivileged_user_of_the_deployment() -> None:
    user, _, group = _last("operator.Dockerfile", "USER").partition(":")
    security = pod_spec(one(kustomize(), "Deployment", "rollboot-operator"))["securityContext"]
    assert int(user) == security["runAsUser"] != 0
    assert int(group) == security["runAsGroup"]


def test_the_operator_image_exposes_the_ports_the_deployment_uses() -> None:
    exposed = {int(port) for port in _last("operator.Dockerfile", "EXPOSE").split()}
    ports = container(one(kustomize(), "Deployment", "rollboot-operator"))["ports"]
    assert exposed == {port["containerPort"] for port in ports}


def test_each_image_starts_what_the_project_declares() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert _last("operator.Dockerfile", "ENTRYPOINT") == '["rollboot-operator"]'
    assert scripts["rollboot-operator"] == "reboot_operator.__main__:main"
    assert _last("agent.Dockerfile", "ENTRYPOINT") == '["python", "-m", "sentinel_agent"]'


def test_the_build_context_lets_through_what_the_dockerfiles_copy() -> None:
    patterns = [p for p in (REPO / ".dockerignore").read_text().splitlines() if p and not p.startswith("#")]
    for dockerfile in ("operator.Dockerfile", "agent.Dockerfile"):
        for path in parse.copied_sources(IMAGES / dockerfile):
            excluded = False
            for pattern in patterns:
                negated = pattern.startswith("!")
                if fnmatch.fnmatch(path, pattern.lstrip("!").rstrip("/")):
                    excluded = not negated
            assert not excluded, f"{dockerfile} copies {path}, which .dockerignore leaves out"
            assert (REPO / path).exists(), f"{dockerfile} copies {path}, which does not exist"


def test_both_images_build_on_python_slim_unless_told_otherwise_in_every_stage() -> None:
    for dockerfile in ("operator.Dockerfile", "agent.Dockerfile"):
        path = IMAGES / dockerfile
        assert parse.arg_defaults(path)["BASE_IMAGE"] == "python:3.11-slim", dockerfile
        assert parse.base_images(path) == {"python:3.11-slim"}, dockerfile
        # The offline build's base (hack/images) replaces the base of every stage, not only the first.
        assert parse.base_images(path, {"BASE_IMAGE": "localhost/rollboot/base:bookworm"}) == {
            "localhost/rollboot/base:bookworm"
        }, dockerfile
