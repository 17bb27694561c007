"""Pure parts of the node simulator: kernel bumps and the sentinel files."""

from __future__ import annotations

from pathlib import Path

import pytest

from hack.nodesim import files
from hack.nodesim.simulator import next_kernel


@pytest.mark.parametrize(
    ("kernel", "expected"),
    [
        pytest.param("6.8.0-1001-azure", "6.8.0-1002-azure", id="azure"),
        pytest.param("5.15.0-100-generic", "5.15.0-101-generic", id="generic"),
        pytest.param("6.1.0", "6.1.1", id="plain"),
        pytest.param("custom", "custom.1", id="no-number"),
    ],
)
def test_next_kernel_bumps_the_last_number(kernel: str, expected: str) -> None:
    assert next_kernel(kernel) == expected


def test_require_reboot_writes_the_sentinel_and_package_list_and_clear_removes_both(tmp_path: Path) -> None:
    files.require_reboot(tmp_path, "n1", ["linux-image-6.8.0-1002-azure", "libc6"])
    assert files.sentinel_path(tmp_path, "n1").exists()
    assert (tmp_path / "n1" / files.PACKAGES).read_text() == "linux-image-6.8.0-1002-azure\nlibc6\n"
    files.clear_sentinel(tmp_path, "n1")
    assert not files.sentinel_path(tmp_path, "n1").exists()
    assert not (tmp_path / "n1" / files.PACKAGES).exists()
