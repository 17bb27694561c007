"""The mutation runner (bench/mutants.py) on tiny cases: which mutants it makes, and that a run kills a mutant its
tests catch and reports one they miss."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bench import mutants

SOURCE = textwrap.dedent(
    """
    async def step(api, n, limit, flag):
        if n <= limit and not flag:
            await api.cordon()
        log.info("n %s", n == 3)
        assert n != 4
        return True
    """
)


def test_the_mutants_of_a_small_function() -> None:
    assert {site.function for site in mutants.sites(SOURCE)} == {"step"}
    found = [(site.line, site.what) for site in mutants.sites(SOURCE)]
    assert sorted(found) == [
        (3, "And->Or"),
        (3, "LtE->Lt"),
        (3, "drop-not"),
        (4, "drop-await"),
        (7, "True->False"),
    ], "log calls and assertions are left alone"


@pytest.mark.parametrize(
    ("what", "expected"),
    [
        ("LtE->Lt", "if n < limit and (not flag):"),
        ("And->Or", "if n <= limit or not flag:"),
        ("drop-not", "if n <= limit and flag:"),
        ("drop-await", "pass"),
        ("True->False", "return False"),
    ],
)
def test_each_mutant_changes_one_thing(what: str, expected: str) -> None:
    site = next(s for s in mutants.sites(SOURCE) if s.what == what)
    mutated = mutants.mutate(SOURCE, site)
    assert expected in mutated, mutated
    assert mutated.count("\n") == len(SOURCE.strip().splitlines()) - 1, "one line changed, none added or dropped"


def test_a_run_kills_what_the_tests_catch_and_reports_what_they_miss(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (tmp_path / "limits.py").write_text(
        "def fits(n, limit):\n    return n <= limit\n\n\ndef spare(n):\n    return n > 0\n"
    )
    (tmp_path / "test_limits.py").write_text(
        "from limits import fits, spare\n\n\ndef test_fits():\n    assert fits(2, 2) and not fits(3, 2)\n\n\n"
        "def test_spare():\n    assert spare(5)\n"
    )

    outcomes = mutants.run(
        {"limits.py": ["test_limits.py"]},
        jobs=1,
        repo=tmp_path,
        copied=["pyproject.toml", "limits.py", "test_limits.py"],
    )

    assert {(o.site.what, o.killed) for o in outcomes} == {("LtE->Lt", True), ("Gt->GtE", False), ("0->1", False)}
    survivor = next(o for o in outcomes if o.site.what == "Gt->GtE")
    assert survivor.key() == "limits.py | spare | return n > 0 | Gt->GtE"
    assert (tmp_path / "limits.py").read_text().count("<=") == 1, "the tree measured is never touched"
