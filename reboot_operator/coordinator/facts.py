"""The facts the decision core is handed, kept up to date by the watch rather than rebuilt on every pass.

The informers tell which nodes and requests changed (``touch``); a pass rebuilds the facts of those names only
(``update``) and tells the decision which they are, so a pass on a settled cluster of 15,000 nodes costs in
proportion to what changed (docs/operator.md, "Scale").
"""

from __future__ import annotations

from collections.abc import Mapping

from reboot_operator.core.facts import NodeFacts, RequestFacts
from reboot_operator.watch.observed import NodeView, PolicyView, RequestView


class KeptFacts:
    """The decision's facts, by name. Its caches and their rules:

    - ``nodes`` / ``requests``: the facts handed to the last decision; an entry not touched since is the very same
      object (the decision's ``touched`` contract), rebuilt only for touched names.
    - ``touched``: the names whose node or request changed since the last ``update``; None until the first, which
      builds everything (and after ``afresh``, as after a failed pass).
    - ``seen``: the decision-relevant facts of each node as last seen: a node event that changes none of them (a
      kubelet's heartbeat) touches nothing, and wakes nothing.
    - ``claims``: the slots claimed in the policies' statuses at the last update: a claim made or freed touches its
      request (claimed, it counts as started).

    Nothing here is written to the API."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeFacts] = {}
        self.requests: dict[str, RequestFacts] = {}
        self.touched: set[str] | None = None
        self.seen: dict[str, tuple[NodeFacts, str, str | None, str | None]] = {}
        self.claims: dict[str, str] = {}

    def node_seen(self, view: NodeView) -> bool:
        """A node event; whether it changed anything a decision reads (it is then touched)."""
        key = (view.facts, view.kernel, view.cordon_mark, view.reboot_now)
        if self.seen.get(view.name) == key:
            return False
        self.seen[view.name] = key
        self.touch(view.name)
        return True

    def node_gone(self, name: str) -> None:
        self.seen.pop(name, None)
        self.touch(name)

    def touch(self, name: str) -> None:
        if self.touched is not None:
            self.touched.add(name)

    def afresh(self) -> None:
        """Build everything on the next ``update``."""
        self.touched = None
        self.nodes, self.requests, self.claims = {}, {}, {}

    def clear(self) -> None:
        self.afresh()
        self.seen.clear()

    def update(
        self, nodes: Mapping[str, NodeView], requests: Mapping[str, RequestView], policies: Mapping[str, PolicyView]
    ) -> set[str] | None:
        """Brings the facts up to date with the views; the names touched since the last update (None: all were
        rebuilt)."""
        claims = {node: p.name for p in policies.values() for node in p.status.slots}
        touched, self.touched = self.touched, set()
        if touched is None:
            self.requests = {name: r.facts(claimed_by=claims.get(name)) for name, r in requests.items()}
            self.nodes = {name: view.facts for name, view in nodes.items()}
        else:
            touched.update(n for n in claims.keys() | self.claims.keys() if claims.get(n) != self.claims.get(n))
            for name in touched:
                request, node = requests.get(name), nodes.get(name)
                if request is None:
                    self.requests.pop(name, None)
                else:
                    self.requests[name] = request.facts(claimed_by=claims.get(name))
                if node is None:
                    self.nodes.pop(name, None)
                else:
                    self.nodes[name] = node.facts
        self.claims = claims
        return touched
