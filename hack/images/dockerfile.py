"""Just enough of a Dockerfile reader to know what a build depends on.

The Dockerfiles stay the one definition of each image; this reads from them what the offline build must hash to
know when to rebuild (the files COPY takes from the build context) and what an image builds on (its ARG defaults).
"""

from __future__ import annotations

import re
from pathlib import Path

_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(KEYWORD, rest) for each instruction, continuation lines joined and comments left out."""
    found = []
    for line in dockerfile.read_text().replace("\\\n", " ").splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def arg_defaults(dockerfile: Path) -> dict[str, str]:
    """The default value of every ``ARG NAME=value``."""
    defaults = {}
    for keyword, rest in instructions(dockerfile):
        if keyword == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            defaults[name.strip()] = value.strip().strip('"')
    return defaults


def base_images(dockerfile: Path, build_args: dict[str, str] | None = None) -> set[str]:
    """What the ``FROM`` lines resolve to with these build arguments (the Dockerfile's defaults otherwise)."""
    values = {**arg_defaults(dockerfile), **(build_args or {})}
    stages: set[str] = set()
    resolved = set()
    for keyword, rest in instructions(dockerfile):
        if keyword != "FROM":
            continue
        words = rest.split()
        image = _VARIABLE.sub(lambda match: values.get(match.group(1) or match.group(2), ""), words[0])
        if image not in stages:
            resolved.add(image)
        if len(words) == 3 and words[1].upper() == "AS":
            stages.add(words[2])
    return resolved


def copied_sources(dockerfile: Path) -> list[str]:
    """The build-context paths the COPY and ADD instructions take (not those copied from another stage)."""
    sources: list[str] = []
    for keyword, rest in instructions(dockerfile):
        if keyword not in {"COPY", "ADD"}:
            continue
        words = rest.split()
        if any(word.startswith("--from") for word in words):
            continue
        sources.extend(word.rstrip("/") for word in words[:-1] if not word.startswith("--"))
    return sources
