"""Least privilege on the real API server: the rendered RBAC and admission policy, as the identities they are for.

The agent's service account, acting for node A (the node name a pod-bound token carries, impersonated here with
``--as-user-extra`` and also with a real pod-bound token), may create and patch the NodeRebootRequest named A and
nothing else: node B's request is refused by the ValidatingAdmissionPolicy with a message naming both, status and
deletion by RBAC, and Nodes, Pods and evictions are out of its reach. The operator's service account may make each
call its job needs and no other; the last test runs the real operator and real agents under exactly these
identities through a rolling reboot of simulated nodes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from hack.nodesim.simulator import NodeSimulator
from tests.integration.conftest import Cluster
from tests.integration.install import (
    AGENT,
    NODE_NAME_EXTRA,
    OPERATOR,
    as_agent,
    install,
    kubeconfig_for,
    request_body,
    token_for,
)
from tests.integration.rollout import Rig, pinned_replicaset, told
from tests.integration.servers import receiver
from tests.manifests.argocd_health import health
from tests.manifests.render import NAMESPACE, Object
from tests.manifests.test_security import AGENT_RULES, OPERATOR_RULES

POLICY = "rollboot-agent-own-node"
MERGE = "--type=merge"


@pytest.fixture(scope="module")
def installed(cluster: Cluster) -> Iterator[list[Object]]:
    yield from install(cluster)


@pytest.fixture
def nodes(cluster: Cluster, installed: list[Object], unique: str) -> Iterator[tuple[str, str]]:
    """Two node names; their requests are deleted afterwards. No Node objects are needed for these checks."""
    pair = (f"rbac-{unique}-a", f"rbac-{unique}-b")
    yield pair
    cluster.kubectl("delete", "noderebootrequest", *pair, "--ignore-not-found")


def _create(cluster: Cluster, node: str, *identity: str) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl("create", "-f", "-", *identity, input=request_body(node), check=False)


def _patch_spec(cluster: Cluster, node: str, *identity: str) -> subprocess.CompletedProcess[str]:
    patch = json.dumps({"spec": {"reasons": [{"source": "sentinel-file", "detail": "patched"}]}})
    return cluster.kubectl("patch", "noderebootrequest", node, MERGE, "-p", patch, *identity, check=False)


def _denied_by_policy(result: subprocess.CompletedProcess[str], own: str, other: str) -> None:
    assert result.returncode != 0, result.stdout
    assert f"ValidatingAdmissionPolicy '{POLICY}'" in result.stderr, result.stderr
    assert f"rollboot-agent on node {own} may only write the NodeRebootRequest named {own}, not {other}" in (
        result.stderr
    )


def _forbidden(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode != 0, result.stdout
    assert "forbidden" in result.stderr.lower(), result.stderr


def test_the_agent_creates_and_patches_its_own_nodes_request(cluster: Cluster, nodes: tuple[str, str]) -> None:
    a, _ = nodes
    created = _create(cluster, a, *as_agent(a))
    assert created.returncode == 0, created.stderr
    patched = _patch_spec(cluster, a, *as_agent(a))
    assert patched.returncode == 0, patched.stderr
    got = cluster.kubectl("get", "noderebootrequest", a, "-o", "json", *as_agent(a))
    assert json.loads(got.stdout)["spec"]["reasons"][0]["detail"] == "patched"


def test_the_agent_cannot_create_another_nodes_request(cluster: Cluster, nodes: tuple[str, str]) -> None:
    a, b = nodes
    _denied_by_policy(_create(cluster, b, *as_agent(a)), a, b)
    assert cluster.kubectl("get", "noderebootrequest", b, check=False).returncode != 0


def test_the_agent_cannot_patch_another_nodes_request(cluster: Cluster, nodes: tuple[str, str]) -> None:
    a, b = nodes
    assert _create(cluster, b).returncode == 0
    _denied_by_policy(_patch_spec(cluster, b, *as_agent(a)), a, b)


def test_an_agent_token_without_a_node_name_may_write_nothing(cluster: Cluster, nodes: tuple[str, str]) -> None:
    a, _ = nodes
    result = _create(cluster, a, *as_agent(None))
    assert result.returncode != 0
    assert f"ValidatingAdmissionPolicy '{POLICY}'" in result.stderr
    assert f"the token of {AGENT} names no node" in result.stderr


def test_the_agent_cannot_write_status_nor_delete_even_its_own_request(
    cluster: Cluster, nodes: tuple[str, str]
) -> None:
    a, _ = nodes
    assert _create(cluster, a, *as_agent(a)).returncode == 0
    status = json.dumps({"status": {"phase": "Rebooting"}})
    _forbidden(
        cluster.kubectl(
            "patch", "noderebootrequest", a, "--subresource=status", MERGE, "-p", status, *as_agent(a), check=False
        )
    )
    _forbidden(cluster.kubectl("delete", "noderebootrequest", a, *as_agent(a), check=False))


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("patch", "node", "{node}", MERGE, "-p", '{"spec":{"unschedulable":true}}'), id="cordon-a-node"),
        pytest.param(("get", "nodes"), id="list-nodes"),
        pytest.param(("get", "pods", "--all-namespaces"), id="list-pods"),
        pytest.param(("delete", "pod", "anything", "-n", "kube-system"), id="delete-a-pod"),
        pytest.param(("get", "secrets", "-n", NAMESPACE), id="read-secrets"),
        pytest.param(("get", "rebootpolicies"), id="read-policies"),
    ],
)
def test_the_agent_cannot_touch_nodes_pods_or_anything_else(
    cluster: Cluster, nodes: tuple[str, str], args: tuple[str, ...]
) -> None:
    a, _ = nodes
    _forbidden(cluster.kubectl(*(arg.replace("{node}", a) for arg in args), *as_agent(a), check=False))


def test_the_agent_cannot_evict_a_pod(cluster: Cluster, nodes: tuple[str, str]) -> None:
    a, _ = nodes
    answer = cluster.kubectl(
        "auth", "can-i", "create", "pods", "--subresource=eviction", "--all-namespaces", *as_agent(a), check=False
    )
    assert answer.stdout.strip() == "no"


def _review(cluster: Cluster, identity: str) -> dict[tuple[str, str], set[str]]:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectRulesReview",
        "spec": {"namespace": NAMESPACE},
    }
    result = cluster.kubectl(
        "create", "--validate=false", "-f", "-", "-o", "json", f"--as={identity}", input=json.dumps(review)
    )
    status: dict[str, Any] = json.loads(result.stdout)["status"]
    rules: dict[tuple[str, str], set[str]] = {}
    for rule in status["resourceRules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                rules.setdefault((group, resource), set()).update(rule["verbs"])
    return rules


def _rules(cluster: Cluster, identity: str) -> dict[tuple[str, str], set[str]]:
    """The identity's resource rules as the API server computes them, less what any service account has."""
    everyone = _review(cluster, f"system:serviceaccount:{NAMESPACE}:nobody")
    own = _review(cluster, identity)
    return {key: verbs - everyone.get(key, set()) for key, verbs in own.items() if verbs - everyone.get(key, set())}


def test_the_api_server_grants_the_agent_exactly_its_role(cluster: Cluster, installed: list[Object]) -> None:
    [rule] = AGENT_RULES
    assert _rules(cluster, AGENT) == {("rollboot.dev", "noderebootrequests"): set(rule["verbs"])}


def test_the_api_server_grants_the_operator_exactly_its_role(cluster: Cluster, installed: list[Object]) -> None:
    # Reviewed in rollboot-system, so the Roles for notification Secrets and for the leader's Lease count too.
    leases = ("coordination.k8s.io", "leases")
    assert _rules(cluster, OPERATOR) == {
        **OPERATOR_RULES,
        ("", "secrets"): {"get"},
        leases: {"create", "get", "update"},
        ("", "configmaps"): {"get", "list", "watch"},
    }


OPERATOR_MAY = [
    ("get", "noderebootrequests"),
    ("list", "noderebootrequests"),
    ("watch", "noderebootrequests"),
    ("delete", "noderebootrequests"),
    ("create", "noderebootrequests"),
    ("update", "noderebootrequests", "--subresource=status"),
    ("patch", "rebootpolicies", "--subresource=status"),
    ("watch", "rebootpolicies"),
    ("list", "customresourcedefinitions.apiextensions.k8s.io"),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
    ("watch", "nodes"),
    ("patch", "nodes"),
    ("list", "pods", "--all-namespaces"),
    ("watch", "pods", "--all-namespaces"),
    ("get", "pods", "-n", "shop"),
    ("create", "pods", "--subresource=eviction", "-n", "shop"),
    ("get", "daemonsets.apps", "-n", "kube-system"),
    ("list", "poddisruptionbudgets.policy", "-n", "shop"),
    ("list", "namespaces"),
    ("get", "secrets", "-n", NAMESPACE),
    ("create", "events", "-n", "default"),
    ("create", "events", "-n", "shop"),
    ("create", "leases.coordination.k8s.io", "-n", NAMESPACE),
    ("get", "leases.coordination.k8s.io/rollboot-operator", "-n", NAMESPACE),
    ("update", "leases.coordination.k8s.io/rollboot-operator", "-n", NAMESPACE),
    ("get", "configmaps/rollboot-stop", "-n", NAMESPACE),
    ("watch", "configmaps/rollboot-stop", "-n", NAMESPACE),
]
OPERATOR_MAY_NOT = [
    ("get", "configmaps/kube-root-ca.crt", "-n", NAMESPACE),
    ("list", "configmaps", "-n", NAMESPACE),
    ("delete", "configmaps/rollboot-stop", "-n", NAMESPACE),
    ("get", "configmaps/rollboot-stop", "-n", "kube-system"),
    ("patch", "noderebootrequests"),
    ("update", "noderebootrequests"),
    ("patch", "rebootpolicies"),
    ("delete", "rebootpolicies"),
    ("update", "nodes"),
    ("delete", "nodes"),
    ("delete", "pods", "-n", "shop"),
    ("create", "pods", "-n", "shop"),
    ("update", "pods", "-n", "shop"),
    ("get", "secrets", "-n", "shop"),
    ("list", "secrets", "-n", NAMESPACE),
    ("list", "daemonsets.apps", "--all-namespaces"),
    ("create", "customresourcedefinitions.apiextensions.k8s.io"),
    ("patch", "events", "-n", "default"),
    ("create", "clusterkopfpeerings.kopf.dev"),
    ("update", "leases.coordination.k8s.io/kube-scheduler", "-n", NAMESPACE),
    ("get", "leases.coordination.k8s.io/rollboot-operator", "-n", "kube-system"),
    ("delete", "leases.coordination.k8s.io/rollboot-operator", "-n", NAMESPACE),
]


@pytest.mark.parametrize("check", OPERATOR_MAY, ids=" ".join)
def test_the_operator_may(cluster: Cluster, installed: list[Object], check: tuple[str, ...]) -> None:
    answer = cluster.kubectl("auth", "can-i", *check, f"--as={OPERATOR}", check=False)
    assert answer.stdout.strip() == "yes", answer.stderr


@pytest.mark.parametrize("check", OPERATOR_MAY_NOT, ids=" ".join)
def test_the_operator_may_not(cluster: Cluster, installed: list[Object], check: tuple[str, ...]) -> None:
    answer = cluster.kubectl("auth", "can-i", *check, f"--as={OPERATOR}", check=False)
    assert answer.stdout.strip() == "no", answer.stderr


def test_the_admission_policy_leaves_the_operator_alone(cluster: Cluster, nodes: tuple[str, str]) -> None:
    a, b = nodes
    assert _create(cluster, b).returncode == 0
    status = json.dumps({"status": {"phase": "Waiting", "message": "written by the operator"}})
    written = cluster.kubectl(
        "patch", "noderebootrequest", b, "--subresource=status", MERGE, "-p", status, f"--as={OPERATOR}", check=False
    )
    assert written.returncode == 0, written.stderr
    deleted = cluster.kubectl("delete", "noderebootrequest", b, f"--as={OPERATOR}", check=False)
    assert deleted.returncode == 0, deleted.stderr
    # Not even the operator identity with a node name is bound by it: the policy is about the agent only.
    operator_on_a = [f"--as={OPERATOR}", f"--as-user-extra={NODE_NAME_EXTRA}={a}"]
    assert _create(cluster, b).returncode == 0
    assert cluster.kubectl("delete", "noderebootrequest", b, *operator_on_a, check=False).returncode == 0


# -- real tokens, real processes ---------------------------------------------------------------------------------


def _server_and_ca(cluster: Cluster) -> tuple[str, str]:
    [entry] = [c["cluster"] for c in json.loads(cluster.kubeconfig.read_text())["clusters"]]
    return entry["server"], entry["certificate-authority"]


def _agent_pod(cluster: Cluster, node: str) -> str:
    """A pod of the agent's DaemonSet bound to ``node``, as the DaemonSet controller would make (none runs here)."""
    daemonset = json.loads(cluster.kubectl("get", "daemonset", "rollboot-agent", "-n", NAMESPACE, "-o", "json").stdout)
    name = f"rollboot-agent-{node}"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/name": "rollboot-agent"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "DaemonSet",
                    "name": "rollboot-agent",
                    "uid": daemonset["metadata"]["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": {
            **daemonset["spec"]["template"]["spec"],
            "nodeName": node,
        },
    }
    cluster.kubectl("create", "-f", "-", input=json.dumps(pod))
    return name


def _pod_bound_token(cluster: Cluster, pod: str) -> str:
    return token_for(cluster, "rollboot-agent", "--bound-object-kind=Pod", f"--bound-object-name={pod}")


@pytest.fixture
async def simulated(
    cluster: Cluster, installed: list[Object], simulator: NodeSimulator, unique: str
) -> AsyncIterator[list[str]]:
    """Three simulated nodes, each with a pod of the agent's DaemonSet bound to it; pods removed afterwards."""
    nodes = [f"rbac-{unique}-n{i}" for i in range(3)]
    await simulator.add_nodes(nodes, labels={"pool": f"rbac-{unique}"})
    pods = [_agent_pod(cluster, node) for node in nodes]
    yield nodes
    cluster.kubectl("delete", "pod", *pods, "-n", NAMESPACE, "--ignore-not-found", "--force", "--grace-period=0")
    cluster.kubectl("delete", "noderebootrequest", *nodes, "--ignore-not-found")


def test_a_pod_bound_token_names_its_node_and_holds_the_agent_to_it(cluster: Cluster, simulated: list[str]) -> None:
    a, b, _ = simulated
    token = _pod_bound_token(cluster, f"rollboot-agent-{a}")
    who = json.loads(cluster.kubectl("auth", "whoami", "-o", "json", f"--token={token}").stdout)
    assert who["status"]["userInfo"]["username"] == AGENT
    assert who["status"]["userInfo"]["extra"][NODE_NAME_EXTRA] == [a]
    _denied_by_policy(_create(cluster, b, f"--token={token}"), a, b)
    created = _create(cluster, a, f"--token={token}")
    assert created.returncode == 0, created.stderr


async def test_the_real_operator_and_agents_reboot_nodes_with_only_their_own_rights(
    cluster: Cluster,
    api: client.ApiClient,
    simulator: NodeSimulator,
    simulated: list[str],
    namespace: str,
    tmp_path: Path,
) -> None:
    """Every right in play: watches, status, cordon, labels, taint, drain with a budget, a pod blocker with a
    namespace selector, a notification URL from a Secret in rollboot-system, Events."""
    # Pods to evict, one budget to refuse an eviction (listing PodDisruptionBudgets), beside the agent's pods.
    await pinned_replicaset(api, namespace, simulated[0], replicas=2, min_available=1)
    operator_kubeconfig = kubeconfig_for(cluster, token_for(cluster, "rollboot-operator"), tmp_path / "operator.json")
    rig = Rig(api=api, kubeconfig=operator_kubeconfig, sim=simulator, logs=tmp_path / "logs")
    server, ca = _server_and_ca(cluster)
    policy = simulated[0].rsplit("-", 1)[0]
    core = client.CoreV1Api(api)
    with receiver() as hook:
        url = base64.b64encode(hook.url.encode()).decode()
        await core.create_namespaced_secret(NAMESPACE, {"metadata": {"name": policy}, "data": {"url": url}})
        try:
            for node in simulated:
                token_file = tmp_path / f"{node}.token"
                token_file.write_text(_pod_bound_token(cluster, f"rollboot-agent-{node}"))
                # --server/--token-file/--ca-file win over the --kubeconfig the rig also passes.
                rig.start_agent(node, extra=("--server", server, "--token-file", str(token_file), "--ca-file", ca))
            await rig.apply_policy(
                policy,
                {
                    "nodeSelector": {"matchLabels": {"pool": policy}},
                    "maxConcurrent": 1,
                    "reboot": {"timeout": "60s", "soak": "0s"},
                    "drain": {"timeout": "60s"},
                    "nodeLabels": {"preReboot": {"rollboot.dev/rebooting": "true"}},
                    "preferNoScheduleTaint": True,
                    # The web pods match, but not their namespace: pods and namespaces are listed, nothing blocks.
                    "blockers": {
                        "pods": [
                            {
                                "labelSelector": {"matchLabels": {"app": "web"}},
                                "namespaceSelector": {"matchLabels": {"rollboot.dev/never": "true"}},
                            }
                        ]
                    },
                    "notifications": [
                        {
                            "urlSecretRef": {"name": policy, "namespace": NAMESPACE, "key": "url"},
                            "events": ["Completed"],
                        }
                    ],
                },
            )
            rig.start_operator()
            before = {node: simulator.boot_id(node) for node in simulated}
            for node in simulated:
                simulator.require_reboot(node)
            await rig.wait_phases(simulated, {"Completed"}, timeout=150)
            await asyncio.to_thread(hook.wait_count, len(simulated), 30)
            for node in simulated:
                assert simulator.reboot_count(node) == 1
                assert simulator.boot_id(node) != before[node]
                assert not (await core.read_node(node)).spec.unschedulable, f"{node} left cordoned"
            await told(api, simulated[0], "Completed", kind="NodeRebootRequest")
            await told(api, simulated[0], "Uncordoned")
            for log in [rig.dump(), *(child.log() for child in rig.agents.values())]:
                for sign in ("forbidden", "Forbidden", " 403", "Not enough permissions", "could not post"):
                    assert sign not in log, f"{sign!r} in a log:\n{log[-4000:]}"
            # Argo CD sees the result as healthy.
            assert health("RebootPolicy", await rig.policy(policy)).status == "Healthy"
            requests = await rig.requests()
            for node in simulated:
                assert health("NodeRebootRequest", requests[node]).status == "Healthy", requests[node]["status"]
        finally:
            await rig.stop()
            await rig.custom.delete_cluster_custom_object("rollboot.dev", "v1alpha1", "rebootpolicies", policy)
            await core.delete_namespaced_secret(policy, NAMESPACE)


@pytest.mark.parametrize(
    "metadata",
    [
        pytest.param({"finalizers": ["example.com/keep"]}, id="finalizer"),
        pytest.param({"labels": {"team": "x"}}, id="label"),
        pytest.param({"annotations": {"note": "x"}}, id="annotation"),
    ],
)
def test_the_agent_may_write_the_spec_of_its_request_but_not_its_metadata(
    cluster: Cluster, nodes: tuple[str, str], metadata: dict[str, object]
) -> None:
    # Issue 13: an agent could add a finalizer to its own request, which then blocks the operator's delete of the
    # request of a node that is gone. It writes the spec only.
    a, _ = nodes
    body = json.loads(request_body(a))
    refused = cluster.kubectl(
        "create",
        "-f",
        "-",
        *as_agent(a),
        input=json.dumps({**body, "metadata": {**body["metadata"], **metadata}}),
        check=False,
    )
    assert refused.returncode != 0 and "not its finalizers, labels or annotations" in refused.stderr, refused.stderr
    assert _create(cluster, a, *as_agent(a)).returncode == 0
    patch = json.dumps({"metadata": metadata})
    patched = cluster.kubectl("patch", "noderebootrequest", a, MERGE, "-p", patch, *as_agent(a), check=False)
    assert patched.returncode != 0 and "not its finalizers, labels or annotations" in patched.stderr, patched.stderr
    assert _patch_spec(cluster, a, *as_agent(a)).returncode == 0, "the spec stays the agent's to write"
    # An admin (or the operator) still may.
    cluster.kubectl("patch", "noderebootrequest", a, MERGE, "-p", patch)
    assert _patch_spec(cluster, a, *as_agent(a)).returncode == 0, "metadata set by others does not lock the agent out"
    cluster.kubectl("patch", "noderebootrequest", a, MERGE, "-p", '{"metadata":{"finalizers":null}}')  # for clean-up


# -- roles for people (manifests/base/user-roles.yaml) ---------------------------------------------------------

VIEWER, ONCALL, EDITOR = "viewer@example.com", "oncall@example.com", "editor@example.com"


@pytest.fixture(scope="module")
def people(cluster: Cluster, installed: list[Object]) -> Iterator[None]:
    """A viewer bound to the built-in view role cluster-wide (rollboot-viewer reaches it by aggregation), an on-call
    engineer bound to rollboot-oncall and rollboot-oncall-stop as docs/runbooks.md says, and an editor bound to the
    built-in edit role in one namespace only, as edit usually is."""
    bindings = [
        ("create", "clusterrolebinding", "rbac-test-viewer", "--clusterrole=view", f"--user={VIEWER}"),
        ("create", "clusterrolebinding", "rbac-test-oncall", "--clusterrole=rollboot-oncall", f"--user={ONCALL}"),
        (
            "create",
            "rolebinding",
            "rbac-test-oncall-stop",
            "-n",
            NAMESPACE,
            "--role=rollboot-oncall-stop",
            f"--user={ONCALL}",
        ),
        ("create", "rolebinding", "rbac-test-editor", "-n", NAMESPACE, "--clusterrole=edit", f"--user={EDITOR}"),
    ]
    for binding in bindings:
        cluster.kubectl(*binding)
    # kube-controller-manager aggregates rollboot-viewer into view a moment after it is applied.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        view = json.loads(cluster.kubectl("get", "clusterrole", "view", "-o", "json").stdout)
        if any("rollboot.dev" in rule.get("apiGroups", []) for rule in view.get("rules") or []):
            break
        time.sleep(0.5)
    try:
        yield
    finally:
        cluster.kubectl("delete", "clusterrolebinding", "rbac-test-viewer", "rbac-test-oncall", "--ignore-not-found")
        cluster.kubectl(
            "delete", "rolebinding", "-n", NAMESPACE, "rbac-test-oncall-stop", "rbac-test-editor", "--ignore-not-found"
        )


PEOPLE = [
    (VIEWER, ("list", "rebootpolicies"), "yes"),
    (VIEWER, ("watch", "noderebootrequests"), "yes"),
    (VIEWER, ("patch", "rebootpolicies"), "no"),
    (VIEWER, ("patch", "nodes"), "no"),
    (VIEWER, ("create", "configmaps", "-n", NAMESPACE), "no"),
    (ONCALL, ("list", "noderebootrequests"), "yes"),
    (ONCALL, ("patch", "rebootpolicies"), "yes"),
    (ONCALL, ("patch", "nodes"), "yes"),
    (ONCALL, ("list", "events", "-n", "default"), "yes"),
    (ONCALL, ("create", "configmaps", "-n", NAMESPACE), "yes"),
    (ONCALL, ("delete", "configmaps/rollboot-stop", "-n", NAMESPACE), "yes"),
    (ONCALL, ("delete", "configmaps/kube-root-ca.crt", "-n", NAMESPACE), "no"),
    (ONCALL, ("create", "configmaps", "-n", "kube-system"), "no"),
    (ONCALL, ("patch", "noderebootrequests"), "no"),
    (ONCALL, ("delete", "nodes"), "no"),
    (ONCALL, ("patch", "noderebootrequests", "--subresource=status"), "no"),
    # edit handed out in one namespace reaches no cluster-scoped object: not the policies, not the nodes.
    (EDITOR, ("list", "rebootpolicies"), "no"),
    (EDITOR, ("patch", "nodes"), "no"),
]


@pytest.mark.parametrize(("who", "check", "answer"), PEOPLE, ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_the_roles_for_people(cluster: Cluster, people: None, who: str, check: tuple[str, ...], answer: str) -> None:
    result = cluster.kubectl("auth", "can-i", *check, f"--as={who}", check=False)
    assert result.stdout.strip() == answer, result.stderr


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("annotate", "node", "{node}", "rollboot.dev/reboot-now="), id="reboot-now"),
        pytest.param(("annotate", "node", "{node}", "rollboot.dev/skip-"), id="unskip"),
        pytest.param(("annotate", "node", "{node}", "rollboot.dev/cancel="), id="cancel"),
        pytest.param(("create", "configmap", "rollboot-stop", "-n", NAMESPACE), id="stop"),
        pytest.param(("delete", "configmap", "rollboot-stop", "-n", NAMESPACE), id="resume"),
    ],
)
def test_the_agent_is_refused_every_admin_control(
    cluster: Cluster, nodes: tuple[str, str], args: tuple[str, ...]
) -> None:
    a, _ = nodes
    _forbidden(cluster.kubectl(*(arg.replace("{node}", a) for arg in args), *as_agent(a), check=False))
