"""The operator's backoff: doubling, capped, never zero."""

from __future__ import annotations

import pytest

from reboot_operator.runtime.backoff import Backoff


def test_backoff_doubles_up_to_its_maximum_and_starts_over_after_reset() -> None:
    backoff = Backoff(initial=1.0, maximum=5.0)
    assert [backoff.next() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.next() == 1.0


def test_a_zero_backoff_is_refused() -> None:
    with pytest.raises(ValueError, match="initial"):
        Backoff(initial=0)
