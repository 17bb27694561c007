"""Detection: the sentinel file with its packages, and the sentinel command's strict exit-code contract."""

from __future__ import annotations

import os
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from sentinel_agent.checkers.sentinel_command import SentinelCommandChecker
from sentinel_agent.checkers.sentinel_file import MAX_PACKAGES_BYTES, SentinelFileChecker
from sentinel_agent.errors import DetectionError
from sentinel_agent.hostns import host_argv
from sentinel_agent.model import MAX_PACKAGES, Reason, Source


def test_no_sentinel_means_no_reboot(tmp_path: Path) -> None:
    assert SentinelFileChecker(tmp_path / "reboot-required").check() == ()


def test_a_sentinel_without_a_package_list_is_a_reason_without_packages(tmp_path: Path) -> None:
    sentinel = tmp_path / "reboot-required"
    sentinel.write_text("*** System restart required ***\n")

    assert SentinelFileChecker(sentinel).check() == (Reason(Source.SENTINEL_FILE, f"{sentinel} exists", ()),)


@pytest.mark.parametrize(
    ("pkgs", "expected"),
    [
        ("linux-image-6.8.0-1002-azure\n", ("linux-image-6.8.0-1002-azure",)),
        ("linux-base\nlibc6\n", ("linux-base", "libc6")),
        ("  linux-base  \n\n\nlibc6", ("linux-base", "libc6")),
        ("libc6\nlinux-base\nlibc6\n", ("libc6", "linux-base")),
        ("", ()),
    ],
    ids=["one-package", "two-packages", "blank-lines-and-spaces", "duplicates-once-in-order", "empty-file"],
)
def test_the_package_list_beside_the_sentinel_is_reported(tmp_path: Path, pkgs: str, expected: tuple[str, ...]) -> None:
    sentinel = tmp_path / "reboot-required"
    sentinel.write_text("")
    (tmp_path / "reboot-required.pkgs").write_text(pkgs)

    [reason] = SentinelFileChecker(sentinel).check()

    assert reason.packages == expected


def test_a_huge_package_list_is_cut_to_what_the_crd_accepts(tmp_path: Path) -> None:
    sentinel = tmp_path / "reboot-required"
    sentinel.write_text("")
    (tmp_path / "reboot-required.pkgs").write_text("".join(f"pkg{i}\n" for i in range(1000)))

    [reason] = SentinelFileChecker(sentinel).check()

    assert len(reason.packages) == MAX_PACKAGES
    assert reason.packages[0] == "pkg0"


def test_a_configured_sentinel_path_is_honoured(tmp_path: Path) -> None:
    sentinel = tmp_path / "host" / "run" / "custom-sentinel"
    sentinel.parent.mkdir(parents=True)
    sentinel.write_text("")
    (sentinel.parent / "custom-sentinel.pkgs").write_text("kernel\n")

    [reason] = SentinelFileChecker(sentinel).check()

    assert reason.detail == f"{sentinel} exists"
    assert reason.packages == ("kernel",)


def test_a_missing_sentinel_directory_is_an_error_not_a_no(tmp_path: Path) -> None:
    with pytest.raises(DetectionError, match="is the host path mounted"):
        SentinelFileChecker(tmp_path / "not-mounted" / "reboot-required").check()


def test_an_unreadable_package_list_is_an_error(tmp_path: Path) -> None:
    sentinel = tmp_path / "reboot-required"
    sentinel.write_text("")
    (tmp_path / "reboot-required.pkgs").mkdir()

    with pytest.raises(DetectionError, match=r"reboot-required\.pkgs"):
        SentinelFileChecker(sentinel).check()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda pkgs, outside: pkgs.symlink_to(outside), "a symlink", id="symlink-out-of-the-directory"),
        pytest.param(lambda pkgs, _: pkgs.symlink_to("/dev/zero"), "a symlink", id="symlink-to-dev-zero"),
        pytest.param(lambda pkgs, _: os.mkfifo(pkgs), "not a regular file", id="fifo-nobody-writes"),
    ],
)
def test_a_package_list_that_is_no_regular_file_is_never_read(
    tmp_path: Path, make: Callable[[Path, Path], None], message: str
) -> None:
    # A symlink could publish /etc/shadow in the request; /dev/zero would exhaust the agent's memory; a FIFO would
    # hang it. Each is refused at once, naming the file, and nothing of it is reported.
    folder = tmp_path / "run"
    folder.mkdir()
    sentinel = folder / "reboot-required"
    sentinel.write_text("")
    outside = tmp_path / "shadow"
    outside.write_text("root:$6$secret:19000:0:99999:7:::\n")
    make(folder / "reboot-required.pkgs", outside)

    with pytest.raises(DetectionError, match=message) as raised:
        SentinelFileChecker(sentinel).check()
    assert "secret" not in str(raised.value)


def test_a_package_list_is_read_only_as_far_as_the_request_can_hold(tmp_path: Path) -> None:
    sentinel = tmp_path / "reboot-required"
    sentinel.write_text("")
    with (tmp_path / "reboot-required.pkgs").open("w") as pkgs:
        for i in range(200_000):  # about 2.4 MB
            pkgs.write(f"package-{i:06}\n")

    tracemalloc.start()
    try:
        [reason] = SentinelFileChecker(sentinel).check()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reason.packages[:2] == ("package-000000", "package-000001")
    assert len(reason.packages) == MAX_PACKAGES
    # About 0.6 MB for the MAX_PACKAGES_BYTES read and its lines; reading the whole 2.4 MB file takes over 15 MB.
    assert peak < 2_000_000, f"peak {peak} bytes for a {MAX_PACKAGES_BYTES}-byte read"


def python(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code)


def command(argv: tuple[str, ...], *, timeout: float = 10) -> SentinelCommandChecker:
    return SentinelCommandChecker(argv, nsenter=False, timeout=timeout)


def test_exit_0_means_a_reboot_is_required() -> None:
    [reason] = command(python("raise SystemExit(0)")).check()

    assert reason.source == Source.SENTINEL_COMMAND
    assert "exited 0" in reason.detail
    assert reason.packages == ()


def test_exit_1_means_no_reboot() -> None:
    assert command(python("raise SystemExit(1)")).check() == ()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (python("import sys; sys.stderr.write('repo metadata broken'); raise SystemExit(2)"), "exited 2"),
        (python("raise SystemExit(127)"), "exited 127"),
        (python("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"), "killed by signal 9"),
        (("/nonexistent/needs-restarting", "-r"), "not found"),
        (python("import time; time.sleep(30)"), "timed out"),
    ],
    ids=["exit-2", "exit-127-as-from-a-shell", "killed", "missing-command", "timeout"],
)
def test_anything_else_is_an_error_never_a_reboot(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(DetectionError, match=message):
        command(argv, timeout=0.5).check()


def test_the_error_says_what_the_command_printed() -> None:
    with pytest.raises(DetectionError, match="repo metadata broken"):
        command(python("import sys; sys.stderr.write('repo metadata broken'); raise SystemExit(2)")).check()


def test_nsenter_wraps_the_command_for_the_host_mount_namespace() -> None:
    assert host_argv(["needs-restarting", "-r"], nsenter=True) == [
        "nsenter",
        "--mount=/proc/1/ns/mnt",
        "--",
        "needs-restarting",
        "-r",
    ]
    assert host_argv(["needs-restarting", "-r"], nsenter=False) == ["needs-restarting", "-r"]


def test_checkers_describe_themselves_for_the_startup_log(tmp_path: Path) -> None:
    assert str(tmp_path) in SentinelFileChecker(tmp_path / "x").describe()
    assert "needs-restarting -r" in SentinelCommandChecker(("needs-restarting", "-r")).describe()
