"""The GitHub workflows: actionlint (built from its Go module by hack/controlplane) accepts them, and release.yml
publishes what the chart pulls, from what the tests build.

Nothing here can push or sign (this machine reaches no registry and no Sigstore); these tests check the parts that
decide what a tag publishes: the names, the platforms, the signing and attestation steps, the version's one source.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import yaml

from hack import release
from hack.images.names import AGENT_IMAGE, OPERATOR_IMAGE
from tests.manifests.render import REPO, tool

WORKFLOWS = REPO / ".github" / "workflows"


def _load(name: str) -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return loaded


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = job["steps"]
    return steps


def test_actionlint_accepts_every_workflow() -> None:
    files = sorted(str(path) for path in WORKFLOWS.glob("*.yml"))
    assert files, "no workflows"
    # -shellcheck= : shellcheck is not among the tools built here, so the scripts' own lint is left out.
    result = subprocess.run(
        [str(tool("actionlint")), "-no-color", "-shellcheck=", *files], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_would_catch_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    # An expression naming a context property that does not exist.
    steps = "    steps:\n      - run: echo ${{ github.nope }}\n"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n" + steps)
    result = subprocess.run([str(tool("actionlint")), "-no-color", "-shellcheck=", str(broken)], capture_output=True)
    assert result.returncode == 1


def test_ci_runs_make_test_through_the_ci_entry_point_as_root() -> None:
    ci = _load("ci.yml")
    assert set(ci[True]) >= {"pull_request", "push", "workflow_call"}  # YAML 1.1 reads the key `on` as True
    runs = [step.get("run", "") for step in _steps(ci["jobs"]["test"])]
    assert any("sudo" in run and "bash .ci/run" in run for run in runs)
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_a_release_runs_the_tests_before_it_publishes() -> None:
    jobs = _load("release.yml")["jobs"]
    assert jobs["test"]["uses"] == "./.github/workflows/ci.yml"
    assert "test" in jobs["images"]["needs"]
    assert "images" in jobs["chart"]["needs"] and "chart" in jobs["github-release"]["needs"]


def test_a_release_builds_both_dockerfiles_for_both_platforms_with_sbom_and_provenance_and_signs_them() -> None:
    job = _load("release.yml")["jobs"]["images"]
    components = job["strategy"]["matrix"]["component"]
    dockerfiles = sorted(path.name for path in (REPO / "images").glob("*.Dockerfile"))
    assert sorted(f"{c}.Dockerfile" for c in components) == dockerfiles
    [build] = [s for s in _steps(job) if s.get("uses", "").startswith("docker/build-push-action@")]
    options = build["with"]
    assert options["platforms"] == "linux/amd64,linux/arm64"
    assert options["push"] is True and options["sbom"] is True and options["provenance"] == "mode=max"
    assert options["file"] == "images/${{ matrix.component }}.Dockerfile"
    assert job["permissions"]["id-token"] == "write"
    assert any('cosign sign --yes "$IMAGE@$DIGEST"' in s.get("run", "") for s in _steps(job))


def test_a_release_pushes_the_images_under_the_names_the_chart_pulls_by_default() -> None:
    job = _load("release.yml")["jobs"]["images"]
    image = job["env"]["IMAGE"].replace("${{ needs.version.outputs.repository }}", release.UPSTREAM)
    version = release.version()
    assert sorted(image.replace("${{ matrix.component }}", c) + f":{version}" for c in ("operator", "agent")) == sorted(
        [AGENT_IMAGE, OPERATOR_IMAGE]
    )


def test_a_release_packages_the_chart_with_the_tags_version_and_signs_it() -> None:
    job = _load("release.yml")["jobs"]["chart"]
    runs = "\n".join(step.get("run", "") for step in _steps(job))
    assert 'helm package manifests/chart --version "$VERSION" --app-version "$VERSION"' in runs
    assert 'helm push "dist/rollboot-$VERSION.tgz" "oci://$CHARTS"' in runs
    assert 'cosign sign --yes "$CHARTS/rollboot@$DIGEST"' in runs
    version_job = _load("release.yml")["jobs"]["version"]
    assert any('hack.release check-tag "$TAG"' in step.get("run", "") for step in _steps(version_job))


def test_the_release_helper_needs_only_the_standard_library() -> None:
    # The release workflow runs it on a bare runner Python; -S leaves site-packages (and so PyYAML) out.
    result = subprocess.run(
        [sys.executable, "-S", "-c", "import hack.release"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_the_chart_the_release_packages_renders_its_version_and_carries_schema_and_readme(tmp_path: Path) -> None:
    helm = str(tool("helm"))
    chart = REPO / "manifests" / "chart"
    subprocess.run(
        [helm, "package", str(chart), "--version", "9.8.7", "--app-version", "9.8.7", "--destination", str(tmp_path)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    archive = tmp_path / "rollboot-9.8.7.tgz"
    with tarfile.open(archive) as packed:
        names = set(packed.getnames())
    assert {"rollboot/values.schema.json", "rollboot/README.md", "rollboot/files/helm-test.py"} <= names
    assert "rollboot/README.md.in" not in names
    rendered = subprocess.run(
        [helm, "template", "rollboot", str(archive), "-n", "rollboot-system"],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    images = sorted({line.split("image: ")[1] for line in rendered.splitlines() if "image: " in line})
    assert images == ["ghcr.io/rollboot/rollboot-agent:9.8.7", "ghcr.io/rollboot/rollboot-operator:9.8.7"]
