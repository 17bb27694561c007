"""GitOps for real: a real Argo CD syncs the chart and the RebootPolicies from git onto three real nodes.

Argo CD v3.6 (its application controller and repo server, built from its Go module, with Debian's redis) runs
against the real-node cluster of ``hack/realnodes``. The Application, the values file, the policies' annotations
and the ``argocd-cm`` health checks are the blocks of docs/install.md's Argo CD section, read from the page; the
only changes are the repository URLs (a local ``file://`` git repository holding the chart, tagged v0.1.0, and the
configuration) and what this machine requires of the agent (the harness's reboot command, checked by
``guard.check_agent`` on the chart rendered from every commit, before Argo CD can see it).

What is asserted comes from Argo CD (the health it keeps for each resource in the Application) and from the API
server's audit log (the order Argo CD wrote in): the sync waves; each policy's health through a kernel-update
rollout (Progressing, then Healthy), after a commit that pauses it (Suspended) and when a drain that cannot finish
spends its failure budget (Degraded); the NodeRebootRequests' health through a rollout, evaluated by Argo CD's own
code on the real objects; and a commit changing ``maxConcurrent`` that takes effect with nobody touching the cluster:
Argo CD polls git every few seconds here (``hack/argocd/server.py``), and finds each commit by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client, config, watch

from hack.argocd import ArgoCD, ensure_built
from hack.controlplane.build import bin_dir
from hack.images import AGENT_IMAGE
from hack.realnodes import RealCluster, guard, scenario
from hack.realnodes.images import node_images
from hack.realnodes.scenario import POLICY, POOL_LABEL, SYSTEM_NAMESPACE, WORKLOAD, WORKLOAD_NAMESPACE
from tests.integration.replay import in_background

REPO = Path(__file__).resolve().parents[2]
INSTALL_DOC = REPO / "docs" / "install.md"
EXAMPLE_POLICY = REPO / "manifests" / "examples" / "rebootpolicy.yaml"
CHART_TAG = "v0.1.0"
STEP_TIMEOUT = 300.0


# -- the documented setup ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Documented:
    """docs/install.md's Argo CD section: the Application, the files it names in git, and the argocd-cm patch."""

    application: dict[str, Any]
    files: dict[str, str]
    """Path in the configuration repository (as the block's first comment names it) → the block's text."""
    health_checks: Path


def documented_setup() -> Documented:
    text = INSTALL_DOC.read_text()
    section = text[text.index("### Argo CD\n") :]
    section = section[: section.index("\n### ", 1)]
    applications, files = [], {}
    for block in re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL):
        first = block.splitlines()[0]
        if first.startswith("# "):
            files[first[2:].split(",")[0].strip()] = block
        else:
            applications.append(yaml.safe_load(block))
    [application] = applications
    [patch_file] = re.findall(r"--patch-file (\S+)", section)
    return Documented(application=application, files=files, health_checks=REPO / patch_file)


def test_the_documented_setup_is_what_the_gitops_test_reads() -> None:
    documented = documented_setup()
    assert documented.application["kind"] == "Application"
    sources = documented.application["spec"]["sources"]
    [chart] = [s for s in sources if s.get("path") == "manifests/chart"]
    assert chart["targetRevision"] == CHART_TAG
    [values_file] = chart["helm"]["valueFiles"]
    [config_ref] = [s for s in sources if "ref" in s]
    assert values_file.startswith(f"${config_ref['ref']}/")
    assert values_file.removeprefix(f"${config_ref['ref']}/") in documented.files
    [policies] = [s for s in sources if s.get("path", "").endswith("rebootpolicies")]
    assert f"{policies['path']}/*.yaml" in documented.files
    annotations = yaml.safe_load(documented.files[f"{policies['path']}/*.yaml"])["annotations"]
    example = yaml.safe_load(EXAMPLE_POLICY.read_text())
    assert annotations == example["metadata"]["annotations"], "the page and the example policy agree"
    assert documented.health_checks.is_file()


# -- the configuration repository --------------------------------------------------------------------------------------


@dataclass
class ConfigRepo:
    """A local git repository served to Argo CD as ``file://``: the chart (tagged) and the configuration."""

    path: Path
    check: Callable[[Path], None]
    """Runs on the work tree before every commit; raises to refuse it."""

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    def git(self, *args: str) -> str:
        env = dict(
            os.environ,
            GIT_AUTHOR_NAME="rollboot test",
            GIT_AUTHOR_EMAIL="test@rollboot.invalid",
            GIT_COMMITTER_NAME="rollboot test",
            GIT_COMMITTER_EMAIL="test@rollboot.invalid",
        )
        result = subprocess.run(["git", "-C", str(self.path), *args], capture_output=True, text=True, env=env)
        assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
        return result.stdout.strip()

    def init(self) -> None:
        self.path.mkdir()
        self.git("init", "-q", "-b", "main")

    def commit(self, files: dict[str, str], message: str) -> str:
        for name, content in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        self.check(self.path)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")


def chart_source_of(application: dict[str, Any]) -> dict[str, Any]:
    sources: list[dict[str, Any]] = application["spec"]["sources"]
    [source] = [s for s in sources if s.get("path") == "manifests/chart"]
    return source


def _values(documented: Documented, values_path: str, cluster: RealCluster) -> dict[str, Any]:
    """The documented values file, plus what this machine requires of the agent (scenario.chart_values)."""
    values: dict[str, Any] = yaml.safe_load(documented.files[values_path])
    for key, value in scenario.chart_values(cluster).items():
        if isinstance(value, dict):
            values[key] = {**values.get(key, {}), **value}
        else:
            values[key] = value
    return values


def _policy_file(annotations: dict[str, str], **spec: Any) -> str:
    policy = scenario.policy(soak="3s")
    policy["metadata"]["annotations"] = annotations
    policy["spec"]["drain"]["timeout"] = "30s"
    policy["spec"]["failureBudget"] = {"maxFailures": 1}
    policy["spec"].update(spec)
    return yaml.safe_dump(policy, sort_keys=False)


def _guard(cluster: RealCluster, chart: Path, values_file: Path) -> None:
    """Render the chart as Argo CD's repo server will (the same helm) and refuse anything guard refuses."""
    rendered = subprocess.run(
        [
            str(bin_dir() / "helm"),
            "template",
            scenario.RELEASE,
            str(chart),
            "-n",
            SYSTEM_NAMESPACE,
            "-f",
            str(values_file),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    guard.check_agent(yaml.safe_load_all(rendered.stdout), reboot_command=cluster.reboot_command())


# -- what Argo CD and the cluster show, over time ----------------------------------------------------------------------


@dataclass
class Observed:
    """The Application's view of each resource's health, the requests' snapshots and the cordons, as they change."""

    health: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    """(kind, name) → the (health, message) values Argo CD showed, each change once."""
    application: dict[str, Any] = field(default_factory=dict)
    requests: dict[tuple[str, str, int, int], dict[str, Any]] = field(default_factory=dict)
    """(node, phase, generation, observedGeneration) → the request as it was."""
    cordoned: set[str] = field(default_factory=set)
    most_cordoned: int = 0

    def on_application(self, app: dict[str, Any]) -> None:
        self.application = app
        for resource in app.get("status", {}).get("resources", []) or []:
            health = resource.get("health") or {}
            if not health.get("status"):
                continue
            key = (resource["kind"], resource["name"])
            seen = self.health.setdefault(key, [])
            value = (health["status"], health.get("message", ""))
            if not seen or seen[-1] != value:
                seen.append(value)

    def healths(self, kind: str, name: str) -> list[str]:
        return [status for status, _ in self.health.get((kind, name), [])]

    def on_request(self, request: dict[str, Any]) -> None:
        status = request.get("status") or {}
        key = (
            request["metadata"]["name"],
            status.get("phase") or "",
            int(request["metadata"].get("generation") or 0),
            int(status.get("observedGeneration") or 0),
        )
        self.requests.setdefault(key, request)

    def completed(self, nodes: list[str]) -> int:
        """How many cycles of ``nodes`` were seen Completed (a cycle is known by the boot it ended in)."""
        return len(
            {
                (node, request["status"].get("bootIDAfter"))
                for (node, phase, _, _), request in self.requests.items()
                if node in nodes and phase == "Completed"
            }
        )

    def on_node(self, node: Any) -> None:
        if node.spec.unschedulable:
            self.cordoned.add(node.metadata.name)
        else:
            self.cordoned.discard(node.metadata.name)
        self.most_cordoned = max(self.most_cordoned, len(self.cordoned))


async def _stream(list_call: Any, handle: Callable[[Any], None], *args: Any, **kwargs: Any) -> None:
    """Every object as it changes; each watch starts with every object as it is, so a restart loses no state."""
    while True:
        served = True
        try:
            async with watch.Watch().stream(list_call, *args, timeout_seconds=120, **kwargs) as stream:
                async for event in stream:
                    if not isinstance(event, dict):  # not JSON: a kind whose CRD is not served yet
                        served = False
                        break
                    if event["type"] != "DELETED":
                        handle(event["object"])
        except client.ApiException as error:  # a CRD just installed answers 404/429 for a moment
            if error.status not in (404, 429):
                raise
            served = False
        if not served:
            await asyncio.sleep(1)


@contextlib.asynccontextmanager
async def observing(cluster: RealCluster) -> AsyncIterator[Observed]:
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
    observed = Observed()
    async with client.ApiClient(configuration) as api:
        custom = client.CustomObjectsApi(api)
        async with in_background(
            _stream(
                custom.list_namespaced_custom_object,
                observed.on_application,
                "argoproj.io",
                "v1alpha1",
                "argocd",
                "applications",
            ),
            _stream(
                custom.list_cluster_custom_object,
                observed.on_request,
                "rollboot.dev",
                "v1alpha1",
                "noderebootrequests",
            ),
            _stream(client.CoreV1Api(api).list_node, observed.on_node, label_selector="=".join(POOL_LABEL)),
        ):
            yield observed


async def until(what: str, condition: Callable[[], bool], argocd: ArgoCD, timeout: float = STEP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        argocd.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        await asyncio.sleep(0.5)


# -- fixtures ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_cluster() -> Iterator[RealCluster]:
    ensure_built()  # before the nodes start: a first build takes minutes
    images, sandbox = node_images()
    with RealCluster(node_count=3, images=images, sandbox_image=sandbox, labels=dict([POOL_LABEL])) as cluster:
        yield cluster


def _synced(app: dict[str, Any], revision: str) -> bool:
    status = app.get("status", {})
    operation = status.get("operationState", {})
    return (
        operation.get("phase") == "Succeeded"
        and revision in (operation.get("syncResult", {}).get("revisions") or [])
        and status.get("sync", {}).get("status") == "Synced"
    )


def _argocd_writes(audit_log: Path) -> dict[tuple[str, str], str]:
    """(resource, name) → when Argo CD's controller first wrote it (create, patch or update), from the audit log."""
    first: dict[tuple[str, str], str] = {}
    for line in audit_log.read_text().splitlines():
        event = json.loads(line)
        ref = event.get("objectRef") or {}
        # The controller's own client says argocd-application-controller/...; the one it builds for the in-cluster
        # destination, client-go's default, argocd/... (the binary's name). Dry runs write nothing.
        if not event.get("userAgent", "").startswith("argocd") or "dryRun=" in event.get("requestURI", ""):
            continue
        if event.get("verb") not in ("create", "patch", "update") or ref.get("subresource"):
            continue
        if event.get("stage") != "ResponseComplete" or int(event["responseStatus"].get("code", 0)) >= 300:
            continue
        first.setdefault((ref["resource"], ref.get("name", "")), event["requestReceivedTimestamp"])
    return first


def _request_health(argocd: ArgoCD, requests: list[dict[str, Any]], folder: Path) -> list[tuple[str, str, str]]:
    """(node, phase, health) of each request snapshot, as Argo CD's own health code (its CLI) assesses it."""
    folder.mkdir(parents=True, exist_ok=True)
    config_map = folder / "argocd-cm.yaml"
    config_map.write_text(yaml.safe_dump(argocd.config_map()))
    assessed = []
    for index, request in enumerate(requests):
        path = folder / f"request-{index}.yaml"
        path.write_text(yaml.safe_dump(request))
        result = subprocess.run(
            [
                str(argocd.tools.argocd),
                *("admin", "settings", "resource-overrides", "health"),
                str(path),
                f"--argocd-cm-path={config_map}",
            ],
            capture_output=True,
            text=True,
            env=dict(os.environ, ARGOCD_BINARY_NAME="argocd", HOME=str(folder)),
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        [status] = re.findall(r"^STATUS: (\w+)$", result.stdout, flags=re.MULTILINE)
        phase = (request.get("status") or {}).get("phase") or "-"
        assessed.append((request["metadata"]["name"], phase, status))
    return assessed


def _print_state(cluster: RealCluster, argocd: ArgoCD, observed: Observed) -> None:
    print(argocd.logs())
    print("--- health as Argo CD showed it\n" + json.dumps({f"{k}/{n}": v for (k, n), v in observed.health.items()}))
    print("--- application\n" + json.dumps(observed.application.get("status", {}), indent=1)[-6000:])
    print(cluster.kubectl("get", "pods", "-A", "-o", "wide", check=False).stdout)
    print(cluster.kubectl("get", "nrr,rebootpolicies", "-o", "yaml", check=False).stdout[-5000:])
    print(
        cluster.kubectl(
            "logs", "-n", SYSTEM_NAMESPACE, "-l", "app.kubernetes.io/name=rollboot-operator", "--tail=80", check=False
        ).stdout
    )


# -- the test ----------------------------------------------------------------------------------------------------------


# Three rollouts and a drain that must time out: about 4 minutes once the nodes are up, more on a busy machine.
@pytest.mark.timeout(900)
async def test_argo_cd_syncs_the_chart_and_the_policies_onto_real_nodes(
    real_cluster: RealCluster, tmp_path: Path
) -> None:
    cluster = real_cluster
    documented = documented_setup()
    sources = documented.application["spec"]["sources"]
    [chart_source] = [s for s in sources if s.get("path") == "manifests/chart"]
    [config_ref] = [s for s in sources if "ref" in s]
    [policies_source] = [s for s in sources if s.get("path", "").endswith("rebootpolicies")]
    values_path = chart_source["helm"]["valueFiles"][0].removeprefix(f"${config_ref['ref']}/")
    policy_path = f"{policies_source['path']}/{POLICY}.yaml"
    annotations = yaml.safe_load(documented.files[f"{policies_source['path']}/*.yaml"])["annotations"]

    # Two repositories, as on the page: rollboot's (the chart, at its release tag) and the cluster configuration's.
    # (Argo CD refuses a `$ref` to another revision of the repository a source already uses.)
    chart_repo = ConfigRepo(path=tmp_path / "rollboot.git", check=lambda tree: None)
    chart_repo.init()
    shutil.copytree(REPO / "manifests" / "chart", chart_repo.path / "manifests" / "chart")
    chart_repo.commit({}, "rollboot: the chart")
    chart_repo.git("tag", CHART_TAG)
    repo = ConfigRepo(
        path=tmp_path / "cluster-config.git",
        check=lambda tree: _guard(cluster, chart_repo.path / "manifests" / "chart", tree / values_path),
    )
    repo.init()
    values = _values(documented, values_path, cluster)
    first = repo.commit(
        {values_path: yaml.safe_dump(values), policy_path: _policy_file(annotations, maxConcurrent=1)},
        "rollboot: its values and a policy",
    )

    application = json.loads(json.dumps(documented.application))
    for source in application["spec"]["sources"]:
        source["repoURL"] = chart_repo.url if source is chart_source_of(application) else repo.url

    # The user's own workload: three replicas over the nodes, a budget that lets one go at a time.
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input="\n---\n".join(
            json.dumps(d) for d in scenario.workload(image=AGENT_IMAGE, replicas=3, max_unavailable=1)
        ),
    )

    argocd = ArgoCD(
        kubeconfig=cluster.kubeconfig,
        tools=ensure_built(),
        health_checks=documented.health_checks,
        root=tmp_path / "argocd",
    )
    with argocd:
        async with observing(cluster) as observed:
            try:
                await _run(cluster, argocd, observed, repo, first, application, annotations, policy_path, tmp_path)
            except BaseException:
                _print_state(cluster, argocd, observed)
                raise


async def _run(
    cluster: RealCluster,
    argocd: ArgoCD,
    observed: Observed,
    repo: ConfigRepo,
    first: str,
    application: dict[str, Any],
    annotations: dict[str, str],
    policy_path: str,
    tmp_path: Path,
) -> None:
    nodes = cluster.node_names()
    policy_key = ("RebootPolicy", POLICY)
    started = time.monotonic()
    argocd.apply(application)

    # 1. One sync: the CRDs and the admission policy, then the workloads, then the policy.
    await until("the first commit synced", lambda: _synced(observed.application, first), argocd)
    sync_seconds = time.monotonic() - started
    status = observed.application["status"]
    # The first sync did it all; Argo CD may sync once more at once when its cache has not yet seen what the first
    # one created last (a "partial sync" that finds the policy unchanged).
    first_sync = status["history"][0]
    assert first in first_sync["revisions"]
    assert cluster.plane is not None
    writes = _argocd_writes(cluster.plane.audit_log_path)
    wave = {
        -1: [
            ("namespaces", SYSTEM_NAMESPACE),
            ("customresourcedefinitions", "rebootpolicies.rollboot.dev"),
            ("customresourcedefinitions", "noderebootrequests.rollboot.dev"),
            ("validatingadmissionpolicies", "rollboot-agent-own-node"),
            ("validatingadmissionpolicybindings", "rollboot-agent-own-node"),
        ],
        0: [("daemonsets", "rollboot-agent"), ("deployments", "rollboot-operator")],
        1: [("rebootpolicies", POLICY)],
    }
    missing = [key for keys in wave.values() for key in keys if key not in writes]
    assert not missing, f"Argo CD wrote none of {missing}; it wrote {sorted(writes)}"
    assert max(writes[k] for k in wave[-1]) < min(writes[k] for k in wave[0]), writes
    assert max(writes[k] for k in wave[0]) < min(writes[k] for k in wave[1]), writes
    during = [k for keys in wave.values() for k in keys if not first_sync["deployStartedAt"] <= writes[k][:19] + "Z"]
    during += [k for keys in wave.values() for k in keys if not writes[k][:19] + "Z" <= first_sync["deployedAt"]]
    assert not during, f"written outside the first sync ({first_sync}): {during}"
    daemonset = json.loads(cluster.kubectl("get", "ds", "-n", SYSTEM_NAMESPACE, "rollboot-agent", "-o", "json").stdout)
    guard.check_agent([daemonset], reboot_command=cluster.reboot_command())
    await until("the policy Healthy", lambda: observed.healths(*policy_key)[-1:] == ["Healthy"], argocd)

    # 2. A kernel update on every node, rolled out one node at a time.
    for name in nodes:
        scenario.require_reboot(cluster, name)
    rollout_started = time.monotonic()
    await until("every node rebooted", lambda: sorted(r.node for r in cluster.reboots) == nodes, argocd, 600)
    await until("every request Completed", lambda: observed.completed(nodes) == len(nodes), argocd)
    await until(
        "the policy Healthy again after the rollout",
        lambda: observed.healths(*policy_key)[-1:] == ["Healthy"] and not cluster.busy(),
        argocd,
    )
    rollout_seconds = time.monotonic() - rollout_started
    healths = observed.healths(*policy_key)
    assert "Progressing" in healths, healths
    assert healths.index("Progressing") < len(healths) - 1, f"Progressing, then Healthy: {healths}"
    assert observed.most_cordoned == 1, "maxConcurrent 1 from git"
    assessed = _request_health(argocd, list(observed.requests.values()), tmp_path / "health")
    by_phase = {(phase, health) for _, phase, health in assessed}
    assert ("Completed", "Healthy") in by_phase, assessed
    assert ("Waiting", "Suspended") in by_phase, f"two nodes waited their turn: {assessed}"
    assert {health for phase, health in by_phase if phase in ("Cordoning", "Draining", "Rebooting", "Verifying")} <= {
        "Progressing"
    }, assessed
    assert any(phase in ("Draining", "Rebooting", "Verifying") for phase, _ in by_phase), assessed
    for name in nodes:
        assert (name, "Completed", "Healthy") in assessed, (name, assessed)

    # 3. A commit pauses the policy: Argo CD syncs it, and shows it Suspended.
    paused = repo.commit({policy_path: _policy_file(annotations, maxConcurrent=1, paused=True)}, "pause reboots")
    await until("the pause synced", lambda: _synced(observed.application, paused), argocd)
    await until("the policy Suspended", lambda: observed.healths(*policy_key)[-1:] == ["Suspended"], argocd)

    # 4. A commit resumes it with maxConcurrent 2: two nodes at once. Nobody touches the cluster: Argo CD finds it.
    wider = repo.commit({policy_path: _policy_file(annotations, maxConcurrent=2)}, "two nodes at a time")
    await until("maxConcurrent 2 synced", lambda: _synced(observed.application, wider), argocd)
    await until("the policy Healthy once resumed", lambda: observed.healths(*policy_key)[-1:] == ["Healthy"], argocd)
    observed.most_cordoned = len(observed.cordoned)
    for name in nodes:
        scenario.require_reboot(cluster, name)
    await until("every node rebooted twice", lambda: len(cluster.reboots) == 2 * len(nodes), argocd, 600)
    await until("every request Completed twice", lambda: observed.completed(nodes) == 2 * len(nodes), argocd)
    assert observed.most_cordoned == 2, f"maxConcurrent 2 from git, yet at most {observed.most_cordoned} at once"
    await until(
        "the policy Healthy after the second rollout", lambda: observed.healths(*policy_key)[-1:] == ["Healthy"], argocd
    )

    # 5. A budget that lets no pod go: the drain times out, the node fails, the failure budget halts the policy.
    cluster.kubectl(
        "patch", "pdb", "-n", WORKLOAD_NAMESPACE, WORKLOAD, "--type=merge", "-p", '{"spec":{"maxUnavailable":0}}'
    )
    pods = json.loads(
        cluster.kubectl("get", "pods", "-n", WORKLOAD_NAMESPACE, "-l", f"app={WORKLOAD}", "-o", "json").stdout
    )
    hosting = sorted({pod["spec"]["nodeName"] for pod in pods["items"] if pod["status"].get("phase") == "Running"})
    assert hosting, "the workload runs somewhere"
    stuck = hosting[0]
    scenario.require_reboot(cluster, stuck)
    await until("the policy Degraded", lambda: observed.healths(*policy_key)[-1:] == ["Degraded"], argocd)
    assert "Halted" in observed.health[policy_key][-1][1]
    failed = [r for (node, phase, _, _), r in observed.requests.items() if node == stuck and phase == "Failed"]
    assert failed, "the node's request Failed"
    [(_, _, failed_health)] = _request_health(argocd, failed[-1:], tmp_path / "health-failed")
    assert failed_health == "Degraded"
    assert len(cluster.reboots) == 2 * len(nodes), "the node that could not be drained was not rebooted"
    assert observed.application["status"]["sync"]["status"] == "Synced", "no drift: no ignoreDifferences needed"
    print(
        f"Argo CD: first sync {sync_seconds:.0f}s, first rollout {rollout_seconds:.0f}s, "
        f"all {time.monotonic() - started:.0f}s"
    )
