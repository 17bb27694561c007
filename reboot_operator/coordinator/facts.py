"""The facts the decision core is handed, kept up to date by the watch rather than rebuilt on every pass.

The informers tell which nodes and requests changed (``touch``); a pass rebuilds the facts of those names only
(``update``) and tells the decision which they are, so a pass on a settled cluster of 15,000 nodes costs in
proportion to what changed (docs/operator.md, "Scale"). The few sets the rest of the pass walks (nodes carrying
our cordon mark or an admin's control, the requests in progress per policy) are kept here the same way, so nothing
in a pass walks every node or request.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Set

from reboot_operator.api.vocabulary import ACTIVE_PHASES
from reboot_operator.core.facts import NodeFacts, RequestFacts
from reboot_operator.kube.node_view import NodeView
from reboot_operator.watch.observed import PolicyView, RequestView


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
    - ``marked`` / ``controlled``: the nodes carrying our cordon mark / an admin's cancel or reboot-now, and
      ``active``: per policy, its requests in a phase in progress (status.phase and status.policy of the view
      handed to ``update``). Each is brought up to date for the touched names only: all three are part of what
      touches a name (``node_seen``'s key, a request's any change).

    Nothing here is written to the API."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeFacts] = {}
        self.requests: dict[str, RequestFacts] = {}
        self.touched: set[str] | None = None
        self.seen: dict[str, tuple[NodeFacts, str, str | None, str | None, bool]] = {}
        self.claims: dict[str, str] = {}
        self.marked: set[str] = set()
        self.controlled: set[str] = set()
        self.active: dict[str, set[str]] = {}
        self._active_of: dict[str, str] = {}

    def running(self, policy: str) -> Set[str]:
        """The requests in a phase in progress under ``policy``, as of the last ``update``."""
        return self.active.get(policy, frozenset())

    def waiting(self) -> Container[str]:
        """The requests that may start (not in progress, not ended, asked for), looked up one name at a time: the
        blocker gate asks only about the nodes it found blocked."""
        return _Waiting(self)

    def node_seen(self, view: NodeView) -> bool:
        """A node event; whether it changed anything a decision reads (it is then touched)."""
        key = (view.facts, view.kernel, view.cordon_mark, view.reboot_now, view.pending_taint)
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
        self.marked, self.controlled, self.active, self._active_of = set(), set(), {}, {}

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
            self.marked, self.controlled, self.active, self._active_of = set(), set(), {}, {}
            self._index(nodes, requests, nodes.keys() | requests.keys())
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
            self._index(nodes, requests, touched)
        self.claims = claims
        return touched

    def _index(self, nodes: Mapping[str, NodeView], requests: Mapping[str, RequestView], names: Iterable[str]) -> None:
        for name in names:
            node, request = nodes.get(name), requests.get(name)
            _keep(self.marked, name, node is not None and node.cordon_mark is not None)
            _keep(self.controlled, name, node is not None and (node.facts.cancel or node.reboot_now is not None))
            policy = request.status.policy if request is not None else None
            if request is None or policy is None or request.status.phase not in ACTIVE_PHASES:
                policy = None
            before = self._active_of.get(name)
            if before == policy:
                continue
            if before is not None:
                self.active[before].discard(name)
                del self._active_of[name]
            if policy is not None:
                self.active.setdefault(policy, set()).add(name)
                self._active_of[name] = policy


def _keep(names: set[str], name: str, member: bool) -> None:
    if member:
        names.add(name)
    else:
        names.discard(name)


class _Waiting:
    def __init__(self, facts: KeptFacts) -> None:
        self._facts = facts

    def __contains__(self, name: object) -> bool:
        request = self._facts.requests.get(name) if isinstance(name, str) else None
        if request is None or request.phase in ACTIVE_PHASES:
            return False
        node = self._facts.nodes.get(request.name)
        return request.wants_reboot or (node is not None and node.reboot_now)
