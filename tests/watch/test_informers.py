"""How an informer reads one watch event: plain data in, views and changes out (the API itself is in
tests/integration/test_informers.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from reboot_operator.runtime.errors import WatchExpired
from reboot_operator.watch.informers import Informer


async def never(**_: Any) -> Any:
    raise AssertionError("no API call in these tests")


def parse(body: Mapping[str, Any]) -> str | None:
    """A view: the object's colour; an object without one is unreadable."""
    colour = (body.get("spec") or {}).get("colour")
    return str(colour) if colour else None


def informer() -> tuple[Informer[str], list[tuple[str, str | None, str]]]:
    told: list[tuple[str, str | None, str]] = []
    return Informer("things", never, parse, lambda *change: told.append(change)), told


def obj(name: str, version: str, colour: str | None = "red") -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": version}, "spec": {"colour": colour} if colour else {}}


@pytest.mark.parametrize(
    ("events", "views", "told", "version"),
    [
        pytest.param([("ADDED", obj("a", "5"))], {"a": "red"}, [("a", "red", "5")], "5", id="added"),
        pytest.param(
            [("ADDED", obj("a", "5")), ("MODIFIED", obj("a", "6", "blue"))],
            {"a": "blue"},
            [("a", "red", "5"), ("a", "blue", "6")],
            "6",
            id="modified",
        ),
        pytest.param(
            [("ADDED", obj("a", "5")), ("DELETED", obj("a", "7"))],
            {},
            [("a", "red", "5"), ("a", None, "7")],
            "7",
            id="deleted",
        ),
        pytest.param([("DELETED", obj("a", "7"))], {}, [], "7", id="deleted-unknown-is-silent"),
        pytest.param(
            [("ADDED", obj("a", "5")), ("BOOKMARK", {"metadata": {"resourceVersion": "9"}})],
            {"a": "red"},
            [("a", "red", "5")],
            "9",
            id="bookmark-moves-the-version-only",
        ),
        pytest.param(
            [("ADDED", obj("a", "5")), ("MODIFIED", obj("a", "6", None))],
            {},
            [("a", "red", "5"), ("a", None, "6")],
            "6",
            id="unreadable-is-as-if-gone",
        ),
    ],
)
def test_watch_events(
    events: list[tuple[str, dict[str, Any]]], views: dict[str, str], told: list[Any], version: str
) -> None:
    subject, heard = informer()
    for kind, body in events:
        subject._event({"type": kind, "object": body})
    assert subject.views == views
    assert heard == told
    assert subject.resource_version == version


def test_an_error_event_of_410_means_list_again() -> None:
    subject, _ = informer()
    with pytest.raises(WatchExpired):
        subject._event({"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}})


def test_another_error_event_is_an_api_error_with_its_code() -> None:
    subject, _ = informer()
    with pytest.raises(ApiException) as raised:
        subject._event({"type": "ERROR", "object": {"kind": "Status", "code": 500, "reason": "InternalError"}})
    assert raised.value.status == 500
