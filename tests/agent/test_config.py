"""Configuration: flags, environment variables, defaults, and one clear line for each bad setting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sentinel_agent.__main__ import EXIT_CONFIG, main
from sentinel_agent.config import OPTIONS, LogFormat, RebootMethod, load_config, parse_duration
from sentinel_agent.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for option in OPTIONS:
        monkeypatch.delenv(option.env, raising=False)
    for name in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    config = load_config(["--node-name", "n1"], {})

    assert config.node_name == "n1"
    assert config.sentinel_file == Path("/var/run/reboot-required")
    assert config.sentinel_command == ()
    assert config.boot_id_file == Path("/proc/sys/kernel/random/boot_id")
    assert config.check_interval == 60
    assert config.reboot_method is RebootMethod.SIGNAL
    assert config.reboot_signal == 39
    assert config.reboot_command == ("systemctl", "reboot")
    assert config.reboot_command_nsenter
    assert config.sentinel_command_nsenter
    assert config.reboot_guard_interval == 300
    assert config.state_file is None
    assert not config.dry_run
    assert config.log_format is LogFormat.TEXT
    assert config.watch_timeout == 1800


def test_environment_variables_configure_and_flags_win() -> None:
    env = {
        "NODE_NAME": "from-env",
        "ROLLBOOT_CHECK_INTERVAL": "2m",
        "ROLLBOOT_DRY_RUN": "true",
        "ROLLBOOT_REBOOT_SENTINEL_COMMAND": "needs-restarting -r",
        "ROLLBOOT_REBOOT_METHOD": "command",
        "ROLLBOOT_REBOOT_COMMAND": "python -m hack.nodesim reboot --root '/tmp/sim root' n1",
        "ROLLBOOT_REBOOT_COMMAND_NO_NSENTER": "yes",
    }

    config = load_config(["--node-name", "from-flag", "--check-interval", "30s"], env)

    assert config.node_name == "from-flag"
    assert config.check_interval == 30
    assert config.dry_run
    assert config.sentinel_command == ("needs-restarting", "-r")
    assert config.reboot_method is RebootMethod.COMMAND
    assert config.reboot_command == ("python", "-m", "hack.nodesim", "reboot", "--root", "/tmp/sim root", "n1")
    assert not config.reboot_command_nsenter


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("1.5m", 90), ("1h30m", 5400), ("500ms", 0.5), ("2h", 7200)],
    ids=["bare-number", "seconds", "fractional-minutes", "hours-and-minutes", "milliseconds", "hours"],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0s", "-5s", "5 minutes", "5d", "m5", "1h 30m"])
def test_malformed_durations(text: str) -> None:
    with pytest.raises(ValueError, match=r".*"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "number"),
    [("39", 39), ("SIGRTMIN+5", 39), ("rtmin+5", 39), ("SIGTERM", 15), ("term", 15)],
    ids=["number", "rtmin-name", "short-rtmin", "classic-name", "short-classic"],
)
def test_reboot_signal_by_number_or_name(text: str, number: int) -> None:
    assert load_config(["--node-name", "n1", "--reboot-signal", text], {}).reboot_signal == number


BAD = [
    # (id, argv, extra env, words the one line must contain)
    ("unknown-reboot-method", ["--reboot-method", "ssh"], {}, "unknown reboot method 'ssh'"),
    ("missing-node-name", [], {"NODE_NAME": ""}, "--node-name (or NODE_NAME) is required"),
    ("invalid-node-name", ["--node-name", "Node_1"], {}, "not a valid node name"),
    ("malformed-check-interval", ["--check-interval", "5 minutes"], {}, "--check-interval"),
    ("malformed-interval-from-env", [], {"ROLLBOOT_REBOOT_GUARD_INTERVAL": "soon"}, "ROLLBOOT_REBOOT_GUARD_INTERVAL"),
    ("bad-log-format", ["--log-format", "xml"], {}, "not text or json"),
    ("bad-log-level", ["--log-level", "loud"], {}, "--log-level"),
    ("bad-signal", ["--reboot-signal", "SIGBOGUS"], {}, "not a signal"),
    ("bad-switch-value", [], {"ROLLBOOT_DRY_RUN": "maybe"}, "not true or false"),
    ("empty-reboot-command", ["--reboot-method", "command", "--reboot-command", " "], {}, "needs a command"),
    ("unbalanced-quotes", ["--reboot-sentinel-command", "needs-restarting 'r"], {}, "cannot split"),
    ("unknown-flag", ["--reboot-days", "mon"], {}, "unrecognized arguments: --reboot-days"),
    ("several-kubeconfigs", [], {"KUBECONFIG": "/a:/b"}, "names several files"),
]


@pytest.mark.parametrize(("argv", "env", "words"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_settings_are_config_errors(argv: list[str], env: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(argv, {"NODE_NAME": "n1", **env})

    assert words in str(raised.value)


@pytest.fixture
def boot_id(tmp_path: Path) -> Path:
    path = tmp_path / "boot_id"
    path.write_text("0d3c2a1e-0000-4000-8000-000000000001\n")
    return path


START_ERRORS = [
    # (id, argv beyond --node-name and --boot-id-file, words the one line must contain)
    ("unreadable-token", ["--server", "https://127.0.0.1:6443", "--token-file", "/nonexistent/token"], "--token-file"),
    ("unreadable-ca", ["--server", "https://127.0.0.1:6443", "--ca-file", "/nonexistent/ca.crt"], "--ca-file"),
    ("no-api-server", [], "no API server configured"),
    ("kubeconfig-not-json", ["--kubeconfig", "KUBECONFIG_YAML"], "is not JSON"),
    ("unknown-reboot-method", ["--server", "http://127.0.0.1:1", "--reboot-method", "kexec"], "unknown reboot method"),
    ("malformed-interval", ["--server", "http://127.0.0.1:1", "--check-interval", "often"], "--check-interval"),
]


@pytest.mark.parametrize(("argv", "words"), [c[1:] for c in START_ERRORS], ids=[c[0] for c in START_ERRORS])
def test_main_exits_2_with_one_clear_line(
    argv: list[str], words: str, boot_id: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    yaml = tmp_path / "kubeconfig.yaml"
    yaml.write_text("apiVersion: v1\nkind: Config\n")
    argv = [str(yaml) if arg == "KUBECONFIG_YAML" else arg for arg in argv]

    code = main(["--node-name", "n1", "--boot-id-file", str(boot_id), *argv])

    lines = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_CONFIG
    assert len(lines) == 1, lines
    assert lines[0].startswith("rollboot-agent: error: ")
    assert words in lines[0]


def test_main_exits_2_when_the_boot_id_cannot_be_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--node-name", "n1", "--server", "http://127.0.0.1:1", "--boot-id-file", str(tmp_path / "nope")])

    assert code == EXIT_CONFIG
    assert "cannot read the boot ID" in capsys.readouterr().err


def test_the_module_entry_point_exits_2_with_one_line(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "sentinel_agent", "--node-name", "n1", "--reboot-method", "ssh"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin"},
    )

    assert finished.returncode == EXIT_CONFIG
    assert finished.stderr.strip().splitlines() == [
        "rollboot-agent: error: --reboot-method (or ROLLBOOT_REBOOT_METHOD): unknown reboot method 'ssh'; "
        "use signal or command"
    ]
    assert finished.stdout == ""
