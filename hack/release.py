"""The release's single version, its notes, and the names it publishes under (used by .github/workflows/release.yml).

``pyproject.toml``'s ``project.version`` is the one source. Every other place that must carry it (the chart's
``version`` and ``appVersion``, the agent's ``__version__``, the kustomize base's version label and image tags) is
listed in ``PLACES``; ``set-version`` writes them all, and tests/hack/test_release.py fails while one disagrees.

    python -m hack.release version                 # print the version
    python -m hack.release set-version 0.2.0       # write it everywhere, then regenerate the chart's README
    python -m hack.release check-tag v0.2.0        # the tag is v<version> and CHANGELOG.md has its section
    python -m hack.release notes 0.2.0             # that section: the GitHub release's notes
    python -m hack.release retarget owner/name     # a fork's release: the chart pulls ghcr.io/owner/name-*
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "manifests" / "chart"
CHANGELOG = REPO / "CHANGELOG.md"
# The repository the chart's default images are published from: ghcr.io/<this>-operator and ghcr.io/<this>-agent.
UPSTREAM = "rollboot/rollboot"
_SEMVER = r"[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.-]+)?"


class ReleaseError(ValueError):
    """A tag, version or changelog that does not make a release."""


@dataclass(frozen=True)
class Place:
    """A file and a pattern whose one group is the version, each time it occurs (at least once)."""

    path: str
    pattern: str

    def versions(self, text: str) -> list[str]:
        return re.findall(self.pattern, text, re.M)

    def write(self, text: str, version: str) -> str:
        return re.sub(self.pattern, lambda m: m.group(0).replace(m.group(1), version), text, flags=re.M)


SOURCE = Place("pyproject.toml", rf'^version = "({_SEMVER})"$')
PLACES = (
    SOURCE,
    Place("sentinel_agent/__init__.py", rf'^__version__ = "({_SEMVER})"$'),
    Place("manifests/chart/Chart.yaml", rf"^version: ({_SEMVER})$"),
    Place("manifests/chart/Chart.yaml", rf'^appVersion: "({_SEMVER})"$'),
    Place("manifests/kustomization.yaml", rf"^    app.kubernetes.io/version: ({_SEMVER})$"),
    Place("manifests/kustomization.yaml", rf"^  newTag: ({_SEMVER})$"),
)


def version(repo: Path = REPO) -> str:
    found: str = tomllib.loads((repo / SOURCE.path).read_text())["project"]["version"]
    return found


def disagreements(repo: Path = REPO) -> list[str]:
    """Every place whose version is not the source's (or that has none), as ``path: found``."""
    wanted = version(repo)
    wrong = []
    for place in PLACES:
        found = place.versions((repo / place.path).read_text())
        if not found or any(v != wanted for v in found):
            wrong.append(f"{place.path}: {found or 'no version'} (want {wanted})")
    return wrong


def set_version(new: str, repo: Path = REPO) -> None:
    if not re.fullmatch(_SEMVER, new):
        raise ReleaseError(f"{new!r} is not a semantic version (MAJOR.MINOR.PATCH[-PRE])")
    for place in PLACES:
        path = repo / place.path
        path.write_text(place.write(path.read_text(), new))


def notes(changelog: str, release: str) -> str:
    """The body of the ``## [release]`` section of a Keep a Changelog file."""
    match = re.search(rf"^## \[{re.escape(release)}\][^\n]*\n(.*?)(?=^## |^\[[^\]]+\]: |\Z)", changelog, re.S | re.M)
    if not match or not match.group(1).strip():
        raise ReleaseError(f"CHANGELOG.md has no section '## [{release}]' with entries")
    return match.group(1).strip() + "\n"


def check_tag(tag: str, repo: Path = REPO) -> str:
    """The version a tag releases: it must be v<version> with every place agreeing and a changelog section."""
    wanted = version(repo)
    if tag != f"v{wanted}":
        raise ReleaseError(f"tag {tag!r} does not release version {wanted} (pyproject.toml); the tag must be v{wanted}")
    wrong = disagreements(repo)
    if wrong:
        raise ReleaseError("versions disagree: " + "; ".join(wrong))
    changelog = (repo / CHANGELOG.name).read_text()
    notes(changelog, wanted)
    if not re.search(rf"^## \[{re.escape(wanted)}\] - [0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$", changelog, re.M):
        raise ReleaseError(f"CHANGELOG.md's section of {wanted} has no release date: '## [{wanted}] - YYYY-MM-DD'")
    return wanted


def retarget(values: str, repository: str) -> str:
    """values.yaml with the images' repositories moved from UPSTREAM to ``repository`` (owner/name, lower case)."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*", repository):
        raise ReleaseError(f"{repository!r} is no lower-case owner/name")
    pattern = re.compile(rf"^(\s+repository: ){re.escape(UPSTREAM)}-(operator|agent)$", re.M)
    moved, count = pattern.subn(rf"\g<1>{repository}-\g<2>", values)
    if count != 2:
        raise ReleaseError(f"values.yaml names the images {count} times as {UPSTREAM}-*, not twice")
    return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.release", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("version")
    commands.add_parser("set-version").add_argument("version")
    commands.add_parser("check-tag").add_argument("tag")
    commands.add_parser("notes").add_argument("version")
    commands.add_parser("retarget").add_argument("repository")
    args = parser.parse_args(argv)
    try:
        if args.command == "version":
            print(version())
        elif args.command == "set-version":
            set_version(args.version)
            from hack import chartdocs

            chartdocs.main([])
        elif args.command == "check-tag":
            print(check_tag(args.tag))
        elif args.command == "notes":
            sys.stdout.write(notes(CHANGELOG.read_text(), args.version))
        elif args.command == "retarget":
            values = CHART / "values.yaml"
            values.write_text(retarget(values.read_text(), args.repository))
    except ReleaseError as error:
        print(f"release: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
