"""The operator's settings: command-line flags, each with an environment variable, checked once at start-up.

Every option can come from its flag or its environment variable (the flag wins; an empty variable counts as unset,
as manifests often write ``value: ""``). ``load_settings`` turns them into one frozen ``Settings``, which ``main``
hands down (to Kopf's handlers through their ``memo``); nothing reads a flag or rewrites a module global after
that. A value that cannot be used becomes one ``SettingsError`` naming the flag and the variable.

The flags and their defaults are the ones the chart and the kustomize base pass (``tests/manifests`` checks them);
docs/operator.md lists them with their variables.
"""

from __future__ import annotations

import argparse
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from reboot_operator.api.controls import DEFAULT_NAMESPACE
from reboot_operator.runtime.errors import SettingsError

DEFAULT_BLOCKER_TTL = 20.0
"""Seconds a Prometheus blocker's answer is trusted."""
DEFAULT_ORPHANED_CORDON_GRACE = 300.0
"""Seconds a node left cordoned by a cycle whose request was deleted stays so, Ready, before it is handed back."""
DEFAULT_METRICS_PORT = 8000


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


@dataclass(frozen=True)
class LeaseTiming:
    """Seconds, as kube-controller-manager's defaults: a dead leader is replaced within about ``duration``."""

    duration: float = 15.0
    renew_deadline: float = 10.0
    retry: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry < self.renew_deadline < self.duration:
            raise ValueError("leader election needs 0 < retry < renew deadline < lease duration")


class Option(NamedTuple):
    """One setting: its flag, its environment variable, its default (as text, None for unset) and its help."""

    flag: str
    env: str
    default: str | None
    help: str
    metavar: str | None = None
    switch: bool = False

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    @property
    def names(self) -> str:
        return f"{self.flag} (or ${self.env})"


_TIMING = LeaseTiming()

OPTIONS: tuple[Option, ...] = (
    Option("--kubeconfig", "KUBECONFIG", None, "kubeconfig file; in-cluster when unset", "PATH"),
    Option("--log-format", "ROLLBOOT_LOG_FORMAT", LogFormat.TEXT.value, "text or json", "FORMAT"),
    Option("--verbose", "ROLLBOOT_VERBOSE", "false", "debug logging", switch=True),
    Option(
        "--peering",
        "ROLLBOOT_PEERING",
        None,
        "take part in Kopf peering (needs the ClusterKopfPeering CRD); safety never depends on it",
        "NAME",
    ),
    Option(
        "--liveness", "ROLLBOOT_LIVENESS", None, "serve Kopf's liveness probe, e.g. http://0.0.0.0:8080/healthz", "URL"
    ),
    Option(
        "--metrics-port",
        "ROLLBOOT_METRICS_PORT",
        str(DEFAULT_METRICS_PORT),
        "serve Prometheus metrics on http://0.0.0.0:PORT/metrics; 0 disables",
        "PORT",
    ),
    Option(
        "--blocker-ttl",
        "ROLLBOOT_BLOCKER_TTL",
        f"{DEFAULT_BLOCKER_TTL:g}",
        "seconds a Prometheus blocker's answer is trusted; while blocked it is asked again after half of it",
        "SECONDS",
    ),
    Option(
        "--orphaned-cordon-grace",
        "ROLLBOOT_ORPHANED_CORDON_GRACE",
        f"{DEFAULT_ORPHANED_CORDON_GRACE:g}",
        "seconds a node left cordoned by a cycle whose request was deleted must have been Ready, without a reboot, "
        "before it is uncordoned",
        "SECONDS",
    ),
    Option(
        "--namespace",
        "POD_NAMESPACE",
        DEFAULT_NAMESPACE,
        "the operator's namespace, where the ConfigMap rollboot-stop stops every rollout while it exists",
        "NAMESPACE",
    ),
    Option(
        "--leader-elect",
        "ROLLBOOT_LEADER_ELECT",
        "false",
        "hold a coordination.k8s.io Lease before leading: one replica drives the cycles, the others stand by "
        "(what the chart runs)",
        switch=True,
    ),
    Option("--leader-elect-namespace", "POD_NAMESPACE", None, "namespace of the Lease", "NAMESPACE"),
    Option(
        "--leader-elect-lease-duration",
        "ROLLBOOT_LEADER_ELECT_LEASE_DURATION",
        f"{_TIMING.duration:g}",
        "a standby takes over after the Lease is this old",
        "SECONDS",
    ),
    Option(
        "--leader-elect-renew-deadline",
        "ROLLBOOT_LEADER_ELECT_RENEW_DEADLINE",
        f"{_TIMING.renew_deadline:g}",
        "the leader stops leading if it cannot renew in time",
        "SECONDS",
    ),
    Option(
        "--leader-elect-retry-period",
        "ROLLBOOT_LEADER_ELECT_RETRY_PERIOD",
        f"{_TIMING.retry:g}",
        "how often the Lease is renewed, or tried by a standby",
        "SECONDS",
    ),
)


@dataclass(frozen=True)
class LeaderElection:
    """The Lease to hold before leading (``--leader-elect``)."""

    namespace: str
    identity: str
    """Who holds it: the pod's name (or the host's) and a random suffix, so a restarted pod is a new holder."""
    timing: LeaseTiming


@dataclass(frozen=True)
class Settings:
    """The checked settings of one operator process; durations in seconds."""

    kubeconfig: str | None = None
    log_format: LogFormat = LogFormat.TEXT
    verbose: bool = False
    peering: str | None = None
    """A Kopf peering name; None runs standalone (the coordinator starts as soon as the listing is in)."""
    liveness: str | None = None
    metrics_port: int = DEFAULT_METRICS_PORT
    blocker_ttl: float = DEFAULT_BLOCKER_TTL
    orphaned_cordon_grace: float = DEFAULT_ORPHANED_CORDON_GRACE
    namespace: str = DEFAULT_NAMESPACE
    leader_election: LeaderElection | None = None

    @property
    def standalone(self) -> bool:
        return self.peering is None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise SettingsError(message)


def parser() -> argparse.ArgumentParser:
    """The command line, every flag's help naming its variable and default."""
    result = _Parser(
        prog="rollboot-operator",
        description="rollboot operator: run the reboot coordinator against a kubeconfig or in-cluster.",
    )
    for option in OPTIONS:
        default = "unset" if option.default is None else option.default
        help_text = f"{option.help} [env {option.env}; default: {default}]".replace("%", "%%")
        if option.switch:
            result.add_argument(option.flag, dest=option.dest, action="store_const", const="true", help=help_text)
        else:
            result.add_argument(option.flag, dest=option.dest, metavar=option.metavar, help=help_text)
    return result


def load_settings(argv: Sequence[str], env: Mapping[str, str], *, hostname: str = "") -> Settings:
    """Parse flags and environment; ``SettingsError`` names the first problem found. ``hostname`` names the
    Lease holder outside a pod (``POD_NAME`` unset)."""
    raw = _Raw(vars(parser().parse_args(list(argv))), env)
    log_format_text = raw.text("--log-format")
    try:
        log_format = LogFormat(log_format_text)
    except ValueError:
        raise SettingsError(f"{raw.names('--log-format')}: {log_format_text!r} is not text or json") from None
    metrics_port = raw.integer("--metrics-port")
    if not 0 <= metrics_port <= 65535:
        raise SettingsError(f"{raw.names('--metrics-port')}: {metrics_port} is not a port (0 disables)")
    election = None
    if raw.switch("--leader-elect"):
        namespace = raw.optional_text("--leader-elect-namespace")
        if namespace is None:
            raise SettingsError("--leader-elect needs --leader-elect-namespace or $POD_NAMESPACE")
        try:
            timing = LeaseTiming(
                raw.seconds("--leader-elect-lease-duration"),
                raw.seconds("--leader-elect-renew-deadline"),
                raw.seconds("--leader-elect-retry-period"),
            )
        except ValueError as error:
            raise SettingsError(str(error)) from None
        holder = env.get("POD_NAME") or hostname or "rollboot-operator"
        election = LeaderElection(namespace=namespace, identity=f"{holder}_{uuid.uuid4().hex[:8]}", timing=timing)
    return Settings(
        kubeconfig=raw.optional_text("--kubeconfig"),
        log_format=log_format,
        verbose=raw.switch("--verbose"),
        peering=raw.optional_text("--peering"),
        liveness=raw.optional_text("--liveness"),
        metrics_port=metrics_port,
        blocker_ttl=raw.seconds("--blocker-ttl"),
        orphaned_cordon_grace=raw.seconds("--orphaned-cordon-grace", zero=True),
        namespace=raw.text("--namespace"),
        leader_election=election,
    )


_OPTIONS_BY_FLAG = {option.flag: option for option in OPTIONS}


class _Raw:
    """The text of each option: its flag as given, or else its non-empty environment variable, or its default."""

    def __init__(self, values: Mapping[str, str | None], env: Mapping[str, str]) -> None:
        self._values = values
        self._env = env

    def names(self, flag: str) -> str:
        return _OPTIONS_BY_FLAG[flag].names

    def optional_text(self, flag: str) -> str | None:
        option = _OPTIONS_BY_FLAG[flag]
        value = self._values.get(option.dest)
        if value is None:
            value = self._env.get(option.env) or option.default
        return value.strip() if value is not None and value.strip() else None

    def text(self, flag: str) -> str:
        value = self.optional_text(flag)
        if value is None:
            raise SettingsError(f"{self.names(flag)} is required")
        return value

    def switch(self, flag: str) -> bool:
        value = self.text(flag).lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{self.names(flag)}: {value!r} is not true or false")

    def integer(self, flag: str) -> int:
        value = self.text(flag)
        try:
            return int(value)
        except ValueError:
            raise SettingsError(f"{self.names(flag)}: {value!r} is not a whole number") from None

    def seconds(self, flag: str, *, zero: bool = False) -> float:
        value = self.text(flag)
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number < 0 or (number == 0 and not zero):
            wanted = "a number of seconds, 0 or more" if zero else "a positive number of seconds"
            raise SettingsError(f"{self.names(flag)}: {value!r} is not {wanted}")
        return number
