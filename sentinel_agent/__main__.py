"""``rollboot-agent``: read the configuration, build the parts, run until SIGTERM.

Exit status: 0 after SIGTERM or SIGINT, 2 for a bad configuration (one line on stderr saying what is wrong),
1 after a bug (a traceback in the log), so that the kubelet restarts the container.
Everything that can be checked before running is checked here, so a broken DaemonSet fails at once and
visibly instead of running blind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from sentinel_agent import __version__
from sentinel_agent.agent import Agent
from sentinel_agent.bootid import read_boot_id
from sentinel_agent.checkers import Checker
from sentinel_agent.checkers.sentinel_command import SentinelCommandChecker
from sentinel_agent.checkers.sentinel_file import SentinelFileChecker
from sentinel_agent.config import AgentConfig, RebootMethod, load_config
from sentinel_agent.errors import BootIdError, ConfigError, Stopping
from sentinel_agent.guard import GuardStore
from sentinel_agent.kube.client import ApiClient
from sentinel_agent.kube.credentials import resolve_credentials
from sentinel_agent.logs import configure_logging, fields
from sentinel_agent.rebooters import Rebooter
from sentinel_agent.rebooters.command import CommandRebooter
from sentinel_agent.rebooters.dry_run import DryRunRebooter
from sentinel_agent.rebooters.signal_pid1 import HOST_INIT_PID, SignalRebooter
from sentinel_agent.resource import RequestResource
from sentinel_agent.watcher import RequestWatcher

log = logging.getLogger("sentinel_agent")

EXIT_CRASH = 1
EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the agent; see the module docstring for the exit status."""
    try:
        config = load_config(sys.argv[1:] if argv is None else argv, os.environ)
        configure_logging(log_format=config.log_format, level=config.log_level)
        stop = threading.Event()
        credentials = resolve_credentials(
            server=config.server,
            token_file=config.token_file,
            ca_file=config.ca_file,
            kubeconfig=config.kubeconfig,
            env=os.environ,
        )
        boot_id = read_boot_id(config.boot_id_file)
        rebooter = build_rebooter(config)
        checkers = build_checkers(config)
    except (ConfigError, BootIdError) as error:
        print(f"rollboot-agent: error: {error}", file=sys.stderr)
        return EXIT_CONFIG

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise Stopping()

    api = ApiClient(credentials, timeout=config.api_timeout, sleep=sleep)
    resource = RequestResource(api, config.node_name)
    agent = Agent(
        node_name=config.node_name,
        checkers=checkers,
        rebooter=rebooter,
        writer=resource,
        boot_id_file=config.boot_id_file,
        guard=GuardStore(config.state_file),
        check_interval=config.check_interval,
        guard_interval=config.reboot_guard_interval,
        stop=stop,
    )
    watcher = RequestWatcher(resource=resource, deliver=agent.offer, watch_timeout=config.watch_timeout, stop=stop)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        agent.stop()
        watcher.abort()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info(
        "agent starting",
        extra=fields(
            version=__version__,
            node=config.node_name,
            server=credentials.server,
            boot_id=boot_id,
            checks=[checker.describe() for checker in checkers],
            reboot=rebooter.describe(),
        ),
    )
    watcher_crashed = threading.Event()

    def watch() -> None:
        # A bug in the watch must not leave the agent running blind: stop, exit 1, let the kubelet restart us.
        try:
            watcher.run()
        except BaseException:
            log.exception("the watch crashed; stopping")
            watcher_crashed.set()
            agent.stop()

    thread = threading.Thread(target=watch, name="watch", daemon=True)
    thread.start()
    with contextlib.suppress(Stopping):  # a retry's wait interrupted by the shutdown
        agent.run()
    watcher.abort()
    thread.join(timeout=5)
    log.info("agent stopped", extra=fields(api_requests=api.requests_sent))
    return EXIT_CRASH if watcher_crashed.is_set() else 0


def build_checkers(config: AgentConfig) -> list[Checker]:
    """The sentinel file always; the sentinel command when one is configured."""
    checkers: list[Checker] = [SentinelFileChecker(config.sentinel_file)]
    if config.sentinel_command:
        checkers.append(
            SentinelCommandChecker(
                config.sentinel_command,
                nsenter=config.sentinel_command_nsenter,
                timeout=config.sentinel_command_timeout,
            )
        )
    return checkers


def build_rebooter(config: AgentConfig) -> Rebooter:
    """The configured reboot method, wrapped in a dry run when asked."""
    rebooter: Rebooter
    if config.reboot_method is RebootMethod.SIGNAL:
        _check_signal_target(dry_run=config.dry_run)
        rebooter = SignalRebooter(signal_number=config.reboot_signal)
    else:
        rebooter = CommandRebooter(config.reboot_command, nsenter=config.reboot_command_nsenter)
    return DryRunRebooter(rebooter) if config.dry_run else rebooter


def _check_signal_target(*, dry_run: bool) -> None:
    """Refuse to signal ourselves: without hostPID the agent may be PID 1, and the signal would be lost."""
    if os.getpid() == HOST_INIT_PID and not dry_run:
        raise ConfigError(
            "--reboot-method=signal: the agent itself is PID 1, so it does not share the host's PID namespace; "
            "set hostPID: true in the pod spec, or use --reboot-method=command"
        )
    try:
        init = Path(f"/proc/{HOST_INIT_PID}/comm").read_text(encoding="utf-8").strip()
    except OSError:
        return
    if init not in ("systemd", "init"):
        log.warning(
            "PID 1 does not look like systemd; the reboot signal may be ignored",
            extra=fields(pid1=init),
        )


if __name__ == "__main__":
    sys.exit(main())
