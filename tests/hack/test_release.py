"""hack/release.py: one version everywhere, the tag that releases it, its notes, and a fork's image names."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from hack import release
from hack.images.names import AGENT_IMAGE, OPERATOR_IMAGE
from tests.manifests.render import REPO

CHANGELOG = """# Changelog

## [Unreleased]

- something not released

## [0.2.0] - 2026-12-24

### Fixed

- a bug

## [0.1.0] - 2026-12-01

- the first

[Unreleased]: https://example/compare/v0.2.0...HEAD
[0.2.0]: https://example/releases/tag/v0.2.0
"""


def test_every_place_carries_the_version_of_pyproject() -> None:
    assert release.disagreements() == []


def _copy(tmp_path: Path) -> Path:
    for place in release.PLACES:
        target = tmp_path / place.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / place.path, target)
    (tmp_path / "CHANGELOG.md").write_text(CHANGELOG)
    return tmp_path


def test_set_version_writes_every_place_and_nothing_else(tmp_path: Path) -> None:
    repo = _copy(tmp_path)
    before = {p.path: (repo / p.path).read_text() for p in release.PLACES}
    release.set_version("0.2.0", repo)
    assert release.version(repo) == "0.2.0"
    assert release.disagreements(repo) == []
    chart = yaml.safe_load((repo / "manifests/chart/Chart.yaml").read_text())
    assert (chart["version"], chart["appVersion"]) == ("0.2.0", "0.2.0")
    for path, text in before.items():
        # Only the version changed: putting the old one back gives the file as it was.
        assert (repo / path).read_text().replace("0.2.0", release.version()) == text


def test_a_place_that_disagrees_is_named(tmp_path: Path) -> None:
    repo = _copy(tmp_path)
    chart = repo / "manifests/chart/Chart.yaml"
    chart.write_text(chart.read_text().replace('appVersion: "0.1.0"', 'appVersion: "0.1.1"'))
    assert release.disagreements(repo) == ["manifests/chart/Chart.yaml: ['0.1.1'] (want 0.1.0)"]


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        pytest.param("0.2.0", "the tag must be v0.2.0", id="no-v"),
        pytest.param("v0.2.1", "does not release version 0.2.0", id="another-version"),
    ],
)
def test_a_tag_that_is_not_v_version_is_refused(tmp_path: Path, tag: str, message: str) -> None:
    repo = _copy(tmp_path)
    release.set_version("0.2.0", repo)
    with pytest.raises(release.ReleaseError, match=message):
        release.check_tag(tag, repo)


def test_the_tag_of_the_version_releases_it(tmp_path: Path) -> None:
    repo = _copy(tmp_path)
    release.set_version("0.2.0", repo)
    assert release.check_tag("v0.2.0", repo) == "0.2.0"


def test_a_version_without_a_dated_changelog_section_is_not_released(tmp_path: Path) -> None:
    repo = _copy(tmp_path)
    release.set_version("0.3.0", repo)
    with pytest.raises(release.ReleaseError, match=r"no section '## \[0.3.0\]'"):
        release.check_tag("v0.3.0", repo)
    (repo / "CHANGELOG.md").write_text(CHANGELOG.replace("## [0.2.0] - 2026-12-24", "## [0.3.0] - unreleased"))
    with pytest.raises(release.ReleaseError, match="no release date"):
        release.check_tag("v0.3.0", repo)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        pytest.param("0.2.0", "### Fixed\n\n- a bug\n", id="middle"),
        pytest.param("0.1.0", "- the first\n", id="last-before-the-links"),
    ],
)
def test_notes_are_the_body_of_the_versions_section(version: str, expected: str) -> None:
    assert release.notes(CHANGELOG, version) == expected


def test_the_real_changelog_has_a_section_for_the_current_version() -> None:
    assert release.notes((REPO / "CHANGELOG.md").read_text(), release.version())


def test_a_malformed_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(release.ReleaseError, match="not a semantic version"):
        release.set_version("v1", _copy(tmp_path))


def test_the_default_images_are_those_the_upstream_repository_publishes() -> None:
    published = {f"ghcr.io/{release.UPSTREAM}-{component}:{release.version()}" for component in ("operator", "agent")}
    assert {OPERATOR_IMAGE, AGENT_IMAGE} == published


def test_retarget_moves_both_images_to_a_forks_repository() -> None:
    values = (REPO / "manifests/chart/values.yaml").read_text()
    moved = yaml.safe_load(release.retarget(values, "someone/rollboot-fork"))
    assert moved["operator"]["image"]["repository"] == "someone/rollboot-fork-operator"
    assert moved["agent"]["image"]["repository"] == "someone/rollboot-fork-agent"
    with pytest.raises(release.ReleaseError, match="lower-case owner/name"):
        release.retarget(values, "Someone/Fork")
