"""The operator's settings: each flag, its environment variable, its default, and the problems refused up front."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from reboot_operator.blockers.cache import DEFAULT_TTL
from reboot_operator.coordinator.supervise import ORPHAN_GRACE
from reboot_operator.runtime.errors import SettingsError
from reboot_operator.runtime.settings import (
    OPTIONS,
    LeaseTiming,
    LogFormat,
    Settings,
    load_settings,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operator.md"


def test_no_flag_and_no_variable_gives_the_defaults() -> None:
    assert load_settings([], {}) == Settings()


def test_the_defaults_are_those_of_the_layers_that_use_them() -> None:
    settings = Settings()
    assert settings.blocker_ttl == DEFAULT_TTL
    assert datetime.timedelta(seconds=settings.orphaned_cordon_grace) == ORPHAN_GRACE
    assert (settings.metrics_port, settings.namespace, settings.standalone) == (8000, "rollboot-system", True)


@pytest.mark.parametrize(
    ("argv", "env", "field", "expected"),
    [
        pytest.param(["--metrics-port", "9090"], {}, "metrics_port", 9090, id="a-flag"),
        pytest.param([], {"ROLLBOOT_METRICS_PORT": "0"}, "metrics_port", 0, id="its-variable"),
        pytest.param(["--metrics-port=1"], {"ROLLBOOT_METRICS_PORT": "2"}, "metrics_port", 1, id="the-flag-wins"),
        pytest.param([], {"ROLLBOOT_METRICS_PORT": ""}, "metrics_port", 8000, id="an-empty-variable-is-unset"),
        pytest.param([], {"ROLLBOOT_LOG_FORMAT": "json"}, "log_format", LogFormat.JSON, id="log-format"),
        pytest.param(["--verbose"], {}, "verbose", True, id="verbose-switch"),
        pytest.param([], {"ROLLBOOT_VERBOSE": "yes"}, "verbose", True, id="verbose-variable"),
        pytest.param(["--blocker-ttl", "2"], {}, "blocker_ttl", 2.0, id="blocker-ttl"),
        pytest.param([], {"ROLLBOOT_BLOCKER_TTL": "7.5"}, "blocker_ttl", 7.5, id="blocker-ttl-variable"),
        pytest.param(["--orphaned-cordon-grace", "0"], {}, "orphaned_cordon_grace", 0.0, id="grace-may-be-zero"),
        pytest.param([], {"ROLLBOOT_ORPHANED_CORDON_GRACE": "60"}, "orphaned_cordon_grace", 60.0, id="grace-var"),
        pytest.param([], {"POD_NAMESPACE": "ops"}, "namespace", "ops", id="namespace-from-the-pod"),
        pytest.param(["--namespace", "x"], {"POD_NAMESPACE": "ops"}, "namespace", "x", id="namespace-flag-wins"),
        pytest.param(["--peering", "p"], {}, "standalone", False, id="peering-is-not-standalone"),
        pytest.param(
            [],
            {"ROLLBOOT_LIVENESS": "http://0.0.0.0:8080/healthz"},
            "liveness",
            "http://0.0.0.0:8080/healthz",
            id="liveness-variable",
        ),
        pytest.param(["--kubeconfig", "/k"], {"KUBECONFIG": "/other"}, "kubeconfig", "/k", id="kubeconfig-flag-wins"),
        pytest.param([], {"KUBECONFIG": "/k"}, "kubeconfig", "/k", id="kubeconfig-variable"),
    ],
)
def test_a_setting_comes_from_its_flag_else_its_variable_else_its_default(
    argv: list[str], env: dict[str, str], field: str, expected: Any
) -> None:
    assert getattr(load_settings(argv, env), field) == expected


def test_leader_election_takes_the_pods_namespace_name_and_the_timing_flags() -> None:
    settings = load_settings(
        ["--leader-elect", "--leader-elect-lease-duration", "3", "--leader-elect-renew-deadline=2"],
        {"POD_NAMESPACE": "ops", "POD_NAME": "op-1", "ROLLBOOT_LEADER_ELECT_RETRY_PERIOD": "0.5"},
    )
    election = settings.leader_election
    assert election is not None
    assert election.namespace == "ops"
    assert election.identity.startswith("op-1_") and len(election.identity) == len("op-1_") + 8
    assert election.timing == LeaseTiming(duration=3.0, renew_deadline=2.0, retry=0.5)


def test_leader_election_from_the_variable_and_the_hostname_outside_a_pod() -> None:
    settings = load_settings(["--leader-elect-namespace", "ns"], {"ROLLBOOT_LEADER_ELECT": "true"}, hostname="laptop")
    assert settings.leader_election is not None
    assert settings.leader_election.identity.startswith("laptop_")
    assert settings.leader_election.timing == LeaseTiming()


def test_no_leader_election_unless_asked() -> None:
    assert load_settings([], {"POD_NAMESPACE": "ops", "ROLLBOOT_LEADER_ELECT": "false"}).leader_election is None


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        pytest.param(["--leader-elect"], {}, "needs --leader-elect-namespace", id="election-without-namespace"),
        pytest.param(
            ["--leader-elect", "--leader-elect-namespace=n", "--leader-elect-retry-period=20"],
            {},
            "retry < renew deadline",
            id="election-timing-out-of-order",
        ),
        pytest.param([], {"ROLLBOOT_LEADER_ELECT": "maybe"}, "ROLLBOOT_LEADER_ELECT", id="not-a-switch"),
        pytest.param([], {"ROLLBOOT_METRICS_PORT": "x"}, "ROLLBOOT_METRICS_PORT", id="port-not-a-number"),
        pytest.param(["--metrics-port", "70000"], {}, "not a port", id="port-out-of-range"),
        pytest.param(["--blocker-ttl", "0"], {}, "positive", id="ttl-zero-would-ask-in-a-busy-loop"),
        pytest.param(["--blocker-ttl", "nan"], {}, "positive", id="ttl-nan"),
        pytest.param(["--orphaned-cordon-grace", "-1"], {}, "0 or more", id="grace-negative"),
        pytest.param(["--log-format", "xml"], {}, "not text or json", id="log-format"),
        pytest.param(["--no-such-flag"], {}, "unrecognized arguments", id="unknown-flag"),
    ],
)
def test_a_setting_that_cannot_be_used_is_refused_naming_it(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(argv, env)


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.metrics_port = 1  # type: ignore[misc]


@pytest.mark.parametrize("option", OPTIONS, ids=lambda option: option.flag)
def test_every_flag_is_documented_with_its_variable(option: Any) -> None:
    rows = [line for line in DOCS.read_text().splitlines() if line.startswith("|") and f"`{option.flag}" in line]
    assert rows, f"{option.flag} is not in docs/operator.md's table"
    assert any(f"${option.env}" in row for row in rows), f"{option.flag}'s row does not name ${option.env}"
