"""The wiring's start-up (``handlers.py``): what it does around the first listing, with a stand-in for the watched
state (the listing itself is tests/integration/test_informers.py's)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from reboot_operator import handlers
from reboot_operator.runtime.settings import Settings


class _Listing:
    """Stands in for ``WatchedState``: notes whether the collector ran while it was being listed."""

    collecting: list[bool] = []

    def __init__(self, *_: Any, **__: Any) -> None:
        pass

    def start(self) -> None:
        pass

    async def wait_listed(self) -> None:
        self.collecting.append(gc.isenabled())

    def counts(self) -> dict[str, int]:
        return {}


@pytest.fixture
def listing(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Listing]]:
    monkeypatch.setattr(handlers, "WatchedState", _Listing)
    _Listing.collecting = []
    yield _Listing
    gc.enable()


async def test_the_cyclic_collector_is_paused_while_the_cluster_is_first_listed(listing: type[_Listing]) -> None:
    """It would walk the views being built again and again (half the listing's time at 15,000 nodes); it runs again
    once the listing is in, what was listed out of its reach (``gc.freeze``)."""
    run = handlers.OperatorRun.from_settings(Settings())
    frozen = gc.get_freeze_count()

    await handlers._watch(run, api=None)

    assert listing.collecting == [False]
    assert gc.isenabled()
    assert gc.get_freeze_count() > frozen
    assert run.watched is not None
