"""The chart's README is generated from values.yaml (hack/chartdocs.py), never stale; no value goes undocumented."""

from __future__ import annotations

import pytest

from hack import chartdocs
from tests.manifests.render import CHART


def test_the_chart_readme_is_what_values_yaml_generates() -> None:
    assert (CHART / "README.md").read_text() == chartdocs.render(), "stale: make chart (python -m hack.chartdocs)"


def test_the_readme_has_a_row_for_every_value_a_user_can_set() -> None:
    documented, undocumented = chartdocs.rows((CHART / "values.yaml").read_text())
    assert undocumented == []
    paths = {row.path for row in documented}
    assert {"image.registry", "operator.image.digest", "agent.updateStrategy", "rbac.create", "tests.enabled"} <= paths


@pytest.mark.parametrize(
    ("text", "rows", "undocumented"),
    [
        pytest.param("# -- the answer\nanswer: 42\n", [("answer", "int", "42", "the answer")], [], id="a-leaf"),
        pytest.param(
            "# -- two\n# lines\na: x\n", [("a", "string", '"x"', "two lines")], [], id="a-description-continues"
        ),
        pytest.param(
            "# a plain comment\n\n# -- only this\na: true\n", [("a", "bool", "true", "only this")], [], id="blank-line"
        ),
        pytest.param("a: 1\n", [], ["a"], id="an-undocumented-leaf"),
        pytest.param("# plain\na: []\n", [], ["a"], id="a-plain-comment-documents-nothing"),
        pytest.param(
            "group:\n  # -- inner\n  b: {}\n  c: 2\n", [("group.b", "object", "{}", "inner")], ["group.c"], id="nested"
        ),
        pytest.param(
            "# -- whole\nctx:\n  runAsUser: 1\n  caps:\n    drop: [ALL]\n",
            [("ctx", "object", '{"runAsUser":1,"caps":{"drop":["ALL"]}}', "whole")],
            [],
            id="a-documented-mapping-covers-its-children",
        ),
        pytest.param(
            "# -- d\n# --flag continues it\na: ''\n", [("a", "string", '""', "d --flag continues it")], [], id="flag"
        ),
        pytest.param(
            "# -- t\nl:\n- operator: Exists\n", [("l", "list", '[{"operator":"Exists"}]', "t")], [], id="list"
        ),
    ],
)
def test_descriptions_come_from_the_comment_above_each_key(
    text: str, rows: list[tuple[str, str, str, str]], undocumented: list[str]
) -> None:
    documented, missing = chartdocs.rows(text)
    assert [(r.path, r.type, r.default, r.description) for r in documented] == rows
    assert missing == undocumented


def test_table_cells_escape_pipes_and_angle_brackets() -> None:
    [row] = chartdocs.rows("# -- a | b <prefix>\nx: '|'\n")[0]
    assert chartdocs.table([row]).splitlines()[-1] == '| `x` | string | `"\\|"` | a \\| b &lt;prefix> |'
