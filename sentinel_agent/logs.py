"""Log output as text or JSON lines on stderr.

Code logs a short constant message plus fields: ``log.info("request created", extra={"fields": {...}})``.
Text puts the fields after the message as ``key=value``; JSON puts them beside ``time``, ``level`` and ``msg``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from sentinel_agent.config import LogFormat


def fields(**values: Any) -> dict[str, Any]:
    """``extra=fields(node=..., phase=...)``: the structured part of a log record."""
    return {"fields": values}


class TextFormatter(logging.Formatter):
    """``2026-11-27T21:00:00.123Z INFO  request created node=n1 write=create``."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname:<5} {record.getMessage()}"
        for key, value in _fields(record).items():
            line += f" {key}={_text_value(value)}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _fields(record).items():
            document.setdefault(key, value)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str, separators=(",", ":"))


def configure_logging(*, log_format: LogFormat, level: str, stream: TextIO | None = None) -> None:
    """Send every record of the process to ``stream`` (stderr) in the chosen format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format is LogFormat.JSON else TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    values = getattr(record, "fields", None)
    return values if isinstance(values, dict) else {}


def _text_value(value: Any) -> str:
    text = str(value)
    if not text or any(character.isspace() or character in '"=' for character in text):
        return json.dumps(text)
    return text
