"""The agent's configuration: command-line flags, each with an environment variable, checked up front.

Every option can come from its flag or its environment variable (the flag wins), so a DaemonSet can configure
the agent either way; ``NODE_NAME`` comes from the downward API. Values are parsed and checked here, and any
problem becomes one ``ConfigError`` line naming the flag and the variable, before the agent does anything.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

from sentinel_agent import __version__
from sentinel_agent.errors import ConfigError
from sentinel_agent.rebooters.command import DEFAULT_COMMAND
from sentinel_agent.rebooters.signal_pid1 import DEFAULT_SIGNAL


class RebootMethod(StrEnum):
    SIGNAL = "signal"
    COMMAND = "command"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


LOG_LEVELS = ("debug", "info", "warning", "error")


class Option(NamedTuple):
    """One setting: its flag, its environment variable, its default (as text) and its help."""

    flag: str
    env: str
    default: str | None
    help: str
    switch: bool = False

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    @property
    def names(self) -> str:
        return f"{self.flag} (or {self.env})"


OPTIONS: tuple[Option, ...] = (
    Option("--node-name", "NODE_NAME", None, "this node's name; set NODE_NAME from spec.nodeName (downward API)"),
    Option("--reboot-sentinel", "ROLLBOOT_REBOOT_SENTINEL", "/var/run/reboot-required", "sentinel file path"),
    Option(
        "--reboot-sentinel-command",
        "ROLLBOOT_REBOOT_SENTINEL_COMMAND",
        "",
        "command whose exit 0 means reboot required, 1 not required (e.g. 'needs-restarting -r'); off if empty",
    ),
    Option(
        "--sentinel-command-no-nsenter",
        "ROLLBOOT_SENTINEL_COMMAND_NO_NSENTER",
        "false",
        "run the sentinel command as is instead of in PID 1's mount namespace",
        switch=True,
    ),
    Option(
        "--sentinel-command-timeout",
        "ROLLBOOT_SENTINEL_COMMAND_TIMEOUT",
        "30s",
        "how long the sentinel command may run",
    ),
    Option("--boot-id-file", "ROLLBOOT_BOOT_ID_FILE", "/proc/sys/kernel/random/boot_id", "the boot ID file"),
    Option("--check-interval", "ROLLBOOT_CHECK_INTERVAL", "60s", "time between sentinel checks (±10%% jitter)"),
    Option("--reboot-method", "ROLLBOOT_REBOOT_METHOD", RebootMethod.SIGNAL.value, "signal or command"),
    Option(
        "--reboot-signal",
        "ROLLBOOT_REBOOT_SIGNAL",
        str(DEFAULT_SIGNAL),
        "signal sent to PID 1 by the signal method: a number, or a name like SIGRTMIN+5",
    ),
    Option(
        "--reboot-command",
        "ROLLBOOT_REBOOT_COMMAND",
        shlex.join(DEFAULT_COMMAND),
        "command run by the command method (split like a shell would, but no shell runs it)",
    ),
    Option(
        "--reboot-command-no-nsenter",
        "ROLLBOOT_REBOOT_COMMAND_NO_NSENTER",
        "false",
        "run the reboot command as is instead of in PID 1's mount namespace",
        switch=True,
    ),
    Option(
        "--reboot-guard-interval",
        "ROLLBOOT_REBOOT_GUARD_INTERVAL",
        "5m",
        "after asking for a reboot, wait this long in the same boot before asking again",
    ),
    Option(
        "--state-file",
        "ROLLBOOT_STATE_FILE",
        "",
        "file that keeps the reboot guard across restarts (e.g. on an emptyDir); memory only if empty",
    ),
    Option("--dry-run", "ROLLBOOT_DRY_RUN", "false", "log 'would reboot' instead of rebooting", switch=True),
    Option("--log-format", "ROLLBOOT_LOG_FORMAT", LogFormat.TEXT.value, "text or json"),
    Option("--log-level", "ROLLBOOT_LOG_LEVEL", "info", "debug, info, warning or error"),
    Option("--kubeconfig", "KUBECONFIG", None, "JSON kubeconfig to use instead of the in-cluster configuration"),
    Option("--server", "ROLLBOOT_SERVER", None, "API server URL, instead of a kubeconfig or in-cluster"),
    Option("--token-file", "ROLLBOOT_TOKEN_FILE", None, "bearer token file (read again for every request)"),
    Option("--ca-file", "ROLLBOOT_CA_FILE", None, "CA bundle for the API server's certificate"),
    Option(
        "--watch-timeout",
        "ROLLBOOT_WATCH_TIMEOUT",
        "30m",
        "each watch asks the server to end it after a random time between this and twice this",
    ),
    Option("--api-timeout", "ROLLBOOT_API_TIMEOUT", "30s", "timeout of one ordinary API request"),
)


class AgentConfig(NamedTuple):
    """Checked settings; durations in seconds."""

    node_name: str
    sentinel_file: Path
    sentinel_command: tuple[str, ...]
    sentinel_command_nsenter: bool
    sentinel_command_timeout: float
    boot_id_file: Path
    check_interval: float
    reboot_method: RebootMethod
    reboot_signal: int
    reboot_command: tuple[str, ...]
    reboot_command_nsenter: bool
    reboot_guard_interval: float
    state_file: Path | None
    dry_run: bool
    log_format: LogFormat
    log_level: str
    kubeconfig: Path | None
    server: str | None
    token_file: Path | None
    ca_file: Path | None
    watch_timeout: float
    api_timeout: float


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(message)


def load_config(argv: Sequence[str], env: Mapping[str, str]) -> AgentConfig:
    """Parse flags and environment; ConfigError names the first problem found."""
    parser = _Parser(
        prog="rollboot-agent",
        description="rollboot node agent: reports required reboots and reboots the node when approved.",
    )
    parser.add_argument("--version", action="version", version=f"rollboot-agent {__version__}")
    for option in OPTIONS:
        default = "unset" if not option.default else option.default.replace("%", "%%")
        help_text = f"{option.help} [env {option.env}; default: {default}]"
        if option.switch:
            parser.add_argument(option.flag, dest=option.dest, action="store_const", const="true", help=help_text)
        else:
            parser.add_argument(option.flag, dest=option.dest, metavar="VALUE", help=help_text)
    values = vars(parser.parse_args(list(argv)))
    raw = _Raw(values, env)

    method_text = raw.text("--reboot-method")
    try:
        method = RebootMethod(method_text)
    except ValueError:
        raise ConfigError(
            f"{raw.names('--reboot-method')}: unknown reboot method {method_text!r}; use signal or command"
        ) from None
    reboot_command = raw.argv("--reboot-command")
    if method is RebootMethod.COMMAND and not reboot_command:
        raise ConfigError(f"{raw.names('--reboot-command')}: the command method needs a command")
    log_format_text = raw.text("--log-format")
    try:
        log_format = LogFormat(log_format_text)
    except ValueError:
        raise ConfigError(f"{raw.names('--log-format')}: {log_format_text!r} is not text or json") from None
    log_level = raw.text("--log-level").lower()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"{raw.names('--log-level')}: {log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    return AgentConfig(
        node_name=_node_name(raw),
        sentinel_file=raw.path("--reboot-sentinel"),
        sentinel_command=raw.argv("--reboot-sentinel-command"),
        sentinel_command_nsenter=not raw.switch("--sentinel-command-no-nsenter"),
        sentinel_command_timeout=raw.duration("--sentinel-command-timeout"),
        boot_id_file=raw.path("--boot-id-file"),
        check_interval=raw.duration("--check-interval"),
        reboot_method=method,
        reboot_signal=_signal_number(raw),
        reboot_command=reboot_command,
        reboot_command_nsenter=not raw.switch("--reboot-command-no-nsenter"),
        reboot_guard_interval=raw.duration("--reboot-guard-interval"),
        state_file=raw.optional_path("--state-file"),
        dry_run=raw.switch("--dry-run"),
        log_format=log_format,
        log_level=log_level,
        kubeconfig=_kubeconfig(raw),
        server=raw.optional_text("--server"),
        token_file=raw.optional_path("--token-file"),
        ca_file=raw.optional_path("--ca-file"),
        watch_timeout=raw.duration("--watch-timeout"),
        api_timeout=raw.duration("--api-timeout"),
    )


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``1.5m``, ``1h30m`` or ``500ms``; ValueError when malformed or not positive."""
    text = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        seconds = float(text)
    else:
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(number + unit for number, unit in parts) != text:
            raise ValueError(text)
        seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    if seconds <= 0:
        raise ValueError(text)
    return seconds


_OPTIONS_BY_FLAG = {option.flag: option for option in OPTIONS}
_NODE_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


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
            # An empty variable counts as unset, as manifests often write `value: ""`.
            value = self._env.get(option.env) or option.default
        return value.strip() if value is not None and value.strip() else None

    def text(self, flag: str) -> str:
        value = self.optional_text(flag)
        if value is None:
            raise ConfigError(f"{self.names(flag)} is required")
        return value

    def optional_path(self, flag: str) -> Path | None:
        value = self.optional_text(flag)
        return Path(value) if value is not None else None

    def path(self, flag: str) -> Path:
        return Path(self.text(flag))

    def switch(self, flag: str) -> bool:
        value = self.text(flag).lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{self.names(flag)}: {value!r} is not true or false")

    def duration(self, flag: str) -> float:
        value = self.text(flag)
        try:
            return parse_duration(value)
        except ValueError:
            raise ConfigError(
                f"{self.names(flag)}: {value!r} is not a positive duration (use e.g. 90s, 5m, 1h30m)"
            ) from None

    def argv(self, flag: str) -> tuple[str, ...]:
        value = self.optional_text(flag)
        if value is None:
            return ()
        try:
            return tuple(shlex.split(value))
        except ValueError as error:
            raise ConfigError(f"{self.names(flag)}: cannot split {value!r} into words: {error}") from None


def _node_name(raw: _Raw) -> str:
    name = raw.optional_text("--node-name")
    if name is None:
        raise ConfigError(
            f"{raw.names('--node-name')} is required: set NODE_NAME from the downward API (spec.nodeName)"
        )
    if not _NODE_NAME.fullmatch(name):
        raise ConfigError(f"{raw.names('--node-name')}: {name!r} is not a valid node name")
    return name


def _signal_number(raw: _Raw) -> int:
    text = raw.text("--reboot-signal")
    upper = text.upper()
    number: int | None = None
    if text.isdigit():
        number = int(text)
    elif match := re.fullmatch(r"(?:SIG)?RTMIN\+(\d+)", upper):
        number = int(signal.SIGRTMIN) + int(match.group(1))
    elif match := re.fullmatch(r"(?:SIG)?RTMAX-(\d+)", upper):
        number = int(signal.SIGRTMAX) - int(match.group(1))
    else:
        name = upper if upper.startswith("SIG") else f"SIG{upper}"
        if name in signal.Signals.__members__:
            number = int(signal.Signals[name])
    if number is None or not 1 <= number <= int(signal.SIGRTMAX):
        raise ConfigError(f"{raw.names('--reboot-signal')}: {text!r} is not a signal (e.g. 39 or SIGRTMIN+5)")
    return number


def _kubeconfig(raw: _Raw) -> Path | None:
    path = raw.optional_path("--kubeconfig")
    if path is not None and os.pathsep in str(path):
        raise ConfigError(f"{raw.names('--kubeconfig')}: {str(path)!r} names several files; give one")
    return path
