"""Log lines in text and JSON."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from sentinel_agent.config import LogFormat
from sentinel_agent.logs import configure_logging, fields


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_carry_the_fields() -> None:
    stream = io.StringIO()
    configure_logging(log_format=LogFormat.JSON, level="info", stream=stream)

    logging.getLogger("sentinel_agent.test").info("request written", extra=fields(write="create", packages=["k"]))

    line = json.loads(stream.getvalue())
    assert line["msg"] == "request written"
    assert line["level"] == "info"
    assert line["write"] == "create"
    assert line["packages"] == ["k"]
    assert line["time"].endswith("Z")


@pytest.mark.usefixtures("restore_logging")
def test_text_lines_quote_values_with_spaces() -> None:
    stream = io.StringIO()
    configure_logging(log_format=LogFormat.TEXT, level="info", stream=stream)

    logging.getLogger("sentinel_agent.test").warning("rebooting the node", extra=fields(method="signal 39", boot="b1"))

    assert stream.getvalue().rstrip().endswith('WARNING rebooting the node method="signal 39" boot=b1')


@pytest.mark.usefixtures("restore_logging")
def test_the_level_filters() -> None:
    stream = io.StringIO()
    configure_logging(log_format=LogFormat.TEXT, level="warning", stream=stream)

    logging.getLogger("sentinel_agent.test").info("quiet")

    assert stream.getvalue() == ""
