"""Alert filters are RE2 expressions, as kured's ``--alert-filter-regexp`` (Go's regexp) is.

RE2 matches in time linear in the input: no pattern can make a match take exponential time, where Python's ``re``
spent 93 s on ``(a+)+$`` against thirty a's and an exclamation mark, with the operator's event loop frozen (issue
13). Features RE2 leaves out (backreferences, lookaround) are refused when the policy is read, naming the field.
"""

from __future__ import annotations

from typing import Protocol

import re2  # type: ignore[import-untyped]


class Pattern(Protocol):
    def search(self, text: str) -> object | None: ...


def _options() -> object:
    options = re2.Options()
    options.log_errors = False  # the refusal is reported on the policy; RE2's own stderr line would be noise
    return options


_OPTIONS = _options()


def compile_re2(pattern: str) -> Pattern:
    """The compiled expression; ``ValueError`` naming RE2's reason when it is not one."""
    try:
        compiled: Pattern = re2.compile(pattern, _OPTIONS)
    except re2.error as error:
        reason = error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else str(error)
        raise ValueError(f"not a valid RE2 regular expression: {reason}") from None
    return compiled
