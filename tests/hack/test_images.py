"""The offline images: named as the chart pulls them, rebuilt when their inputs change, and working when run.

The fast tests read names, Dockerfiles and stamps. The rest build the images through ``ensure_images()`` (cached:
``make images`` usually built them already), import each archive into a throwaway containerd as a node would, and
run the images' own entry points there with runc. They need root, buildah, mmdebstrap, containerd and runc
(``make images-deps`` installs Debian's); without them they fail, they never skip.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hack.images import AGENT_IMAGE, BASE_IMAGE, OPERATOR_IMAGE, PAUSE_IMAGE, ensure_images
from hack.images.archive import ImageConfig, image_config, image_name, layer_files
from hack.images.base import BaseRootfs, installed_packages
from hack.images.build import IMAGES, stamp_of
from hack.images.containerd import Containerd, throwaway_containerd
from hack.images.dockerfile import copied_sources
from tests.manifests.render import chart, container, one

# -- names, inputs, stamps ------------------------------------------------------------------------------------


def test_the_images_are_named_as_the_chart_pulls_them_by_default() -> None:
    rendered = chart()
    assert container(one(rendered, "Deployment", "rollboot-operator"))["image"] == OPERATOR_IMAGE
    assert container(one(rendered, "DaemonSet", "rollboot-agent"))["image"] == AGENT_IMAGE
    assert PAUSE_IMAGE.startswith("localhost/") and BASE_IMAGE.startswith("localhost/")


@pytest.mark.parametrize(
    ("image", "sources"),
    [
        pytest.param(
            OPERATOR_IMAGE, ["pyproject.toml", "README.md", "reboot_operator", "sentinel_agent"], id="operator"
        ),
        pytest.param(AGENT_IMAGE, ["sentinel_agent"], id="agent"),
    ],
)
def test_the_files_a_stamp_hashes_are_those_the_dockerfile_copies(image: str, sources: list[str]) -> None:
    (spec,) = [spec for spec in IMAGES if spec.name == image]
    assert copied_sources(spec.dockerfile) == sources


def _rootfs(recipe: str = "recipe", packages: str = "python3=3.11.2-1\n") -> BaseRootfs:
    return BaseRootfs(tarball=Path("/nonexistent"), recipe=recipe, packages=packages)


def test_new_base_packages_or_recipe_rebuild_the_images_on_the_base_and_not_pause() -> None:
    operator, agent, pause = IMAGES
    for changed in (_rootfs(packages="python3=3.11.2-2\n"), _rootfs(recipe="another")):
        assert stamp_of(operator, rootfs=changed) != stamp_of(operator, rootfs=_rootfs())
        assert stamp_of(agent, rootfs=changed) != stamp_of(agent, rootfs=_rootfs())
        assert stamp_of(pause, rootfs=changed) == stamp_of(pause, rootfs=_rootfs())
    assert len({stamp_of(spec, rootfs=_rootfs()) for spec in IMAGES}) == 3


def test_the_base_package_list_is_read_from_the_dpkg_database_in_the_tarball(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text(
        "Package: python3\nStatus: install ok installed\nVersion: 3.11.2-1\nDescription: x\n multi-line\n\n"
        "Package: removed\nStatus: deinstall ok config-files\nVersion: 1\n\n"
        "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2\n"
    )
    tarball = tmp_path / "rootfs.tar"
    with tarfile.open(tarball, "w") as archive:
        archive.add(status, arcname="./var/lib/dpkg/status")
    assert installed_packages(tarball) == "bash=5.2.15-2\npython3=3.11.2-1\n"


# -- the built images in a real runtime -----------------------------------------------------------------------

# The first use builds the base and the images when no `make images` did: minutes, not the default 300 s.
slow = pytest.mark.timeout(1200)


@pytest.fixture(scope="module")
def archives() -> dict[str, Path]:
    assert os.geteuid() == 0, "building images (buildah, mmdebstrap) and running them (containerd) needs root"
    return ensure_images()


@pytest.fixture(scope="module")
def containerd(archives: dict[str, Path]) -> Iterator[Containerd]:
    with throwaway_containerd() as daemon:
        for archive in archives.values():
            daemon.import_archive(archive)
        yield daemon


def _config(archives: dict[str, Path], image: str) -> ImageConfig:
    return image_config(archives[image])


def _run(
    containerd: Containerd, image: str, name: str, argv: list[str], *, read_only: bool = False, tmpfs: bool = False
) -> subprocess.Popen[str]:
    """Start a container in the foreground of a ``ctr run`` child (removed when it ends)."""
    args = containerd.run_args(image, name, argv, read_only=read_only, tmpfs=["/tmp"] if tmpfs else [])
    return subprocess.Popen(
        containerd.ctr_argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
    )


def _finish(process: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr


@slow
def test_every_archive_imports_into_containerd_under_its_name(
    archives: dict[str, Path], containerd: Containerd
) -> None:
    assert {name: image_name(path) for name, path in archives.items()} == {name: name for name in archives}
    assert set(containerd.image_names()) >= {OPERATOR_IMAGE, AGENT_IMAGE, PAUSE_IMAGE}


@slow
def test_the_operator_prints_its_usage_as_65532_on_a_read_only_root(
    archives: dict[str, Path], containerd: Containerd
) -> None:
    config = _config(archives, OPERATOR_IMAGE)
    # As the Deployment runs it: a read-only root with an emptyDir (here a tmpfs) on /tmp.
    argv = [*config.entrypoint, "--help"]
    code, out, err = _finish(_run(containerd, OPERATOR_IMAGE, "operator-help", argv, read_only=True, tmpfs=True))
    assert (code, err) == (0, "")
    assert out.startswith("usage: rollboot-operator")

    probe = (
        "import os; os.open('/tmp/x', os.O_CREAT | os.O_WRONLY); print(os.getuid(), os.getgid()); os.mkdir('/opt/x')"
    )
    argv = ["python", "-c", probe]
    code, out, err = _finish(_run(containerd, OPERATOR_IMAGE, "operator-probe", argv, read_only=True, tmpfs=True))
    assert out.split() == ["65532", "65532"]
    assert code == 1 and "Read-only file system: '/opt/x'" in err


@slow
def test_the_operator_image_user_has_a_passwd_entry(archives: dict[str, Path], containerd: Containerd) -> None:
    # Kopf names its peer with getpass.getuser() when POD_ID is unset, which fails for a uid with no name.
    probe = "import getpass, os; print(os.getuid(), getpass.getuser())"
    code, out, err = _finish(_run(containerd, OPERATOR_IMAGE, "operator-user", ["python", "-c", probe]))
    assert code == 0, err
    assert out.split()[0] == "65532"


@slow
def test_the_agent_prints_its_usage(archives: dict[str, Path], containerd: Containerd) -> None:
    config = _config(archives, AGENT_IMAGE)
    code, out, err = _finish(
        _run(containerd, AGENT_IMAGE, "agent-help", [*config.entrypoint, "--help"], read_only=True)
    )
    assert (code, err) == (0, "")
    assert out.startswith("usage: rollboot-agent")


# Runs the agent's module (`--help`, output swallowed) and imports every one of its submodules, then names each
# loaded module that did not come from the standard library's folder (site- or dist-packages are not it) or from
# sentinel_agent's; a module with no file (built in, frozen) must bear a standard library name.
_STDLIB_ONLY_PROBE = """
import contextlib, io, pkgutil, runpy, sys, sysconfig
sys.argv = ["sentinel_agent", "--help"]
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    runpy.run_module("sentinel_agent", run_name="__main__", alter_sys=True)
import sentinel_agent
for module in pkgutil.walk_packages(sentinel_agent.__path__, "sentinel_agent."):
    __import__(module.name)
stdlib = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
def foreign(name, module):
    file = getattr(module, "__file__", None)
    if name == "sentinel_agent" or name.startswith("sentinel_agent."):
        return not file or not file.startswith(sentinel_agent.__path__[0])
    if not file:
        return name != "__main__" and name.partition(".")[0] not in sys.stdlib_module_names
    return not file.startswith(stdlib) or "-packages" in file
loaded = list(sys.modules.items())
offenders = sorted(f"{name} ({getattr(module, '__file__', None)})" for name, module in loaded if foreign(name, module))
print(len(sys.modules), *offenders, sep="\\n")
"""


@slow
def test_the_agent_loads_only_the_standard_library_and_itself_in_its_image(
    archives: dict[str, Path], containerd: Containerd
) -> None:
    code, out, err = _finish(
        _run(containerd, AGENT_IMAGE, "agent-imports", ["python", "-c", _STDLIB_ONLY_PROBE], read_only=True)
    )
    assert code == 0, err
    loaded, *offenders = out.splitlines()
    assert offenders == []
    assert int(loaded) > 100, "the probe loaded too little to prove anything"


@slow
def test_the_images_hold_no_trace_of_the_build_host(archives: dict[str, Path]) -> None:
    # The mount points of a RUN step, which buildah leaves in the layer when the base lacks them, and what the host
    # would write there: the base has each, empty (and /dev without device nodes).
    placeholders = ("dev", "etc/hosts", "etc/hostname", "etc/resolv.conf")
    mount_points = {*placeholders, "etc/ssl/certs/ca-certificates.crt"}
    for image in (OPERATOR_IMAGE, AGENT_IMAGE):
        base, top = layer_files(archives[image])
        assert mount_points & set(top) == set(), image
        assert {name: base.get(name) for name in placeholders} == dict.fromkeys(placeholders, 0)
        assert [name for name in base if name.startswith("dev/")] == []
    assert [list(layer) for layer in layer_files(archives[PAUSE_IMAGE])] == [["pause"]]


def _wait_for_task(containerd: Containerd, name: str, process: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pid = containerd.task_pid(name)
        if pid is not None:
            return pid
        if process.poll() is not None:
            raise AssertionError(f"{name} ended before it ran: {process.communicate()}")
        time.sleep(0.1)
    raise AssertionError(f"{name} did not start within 60s")


@slow
def test_pause_exits_0_on_sigterm(archives: dict[str, Path], containerd: Containerd) -> None:
    config = _config(archives, PAUSE_IMAGE)
    assert (config.entrypoint, config.user) == (("/pause",), "65535:65535")
    pause = _run(containerd, PAUSE_IMAGE, "pause-term", list(config.entrypoint), read_only=True)
    _wait_for_task(containerd, "pause-term", pause)
    # Only once it listens: a SIGTERM before that meets the runtime's default (exit 2), a race on a busy machine.
    assert pause.stderr is not None
    ready = pause.stderr.readline()  # the container's first line; ends the test by timeout if it never comes
    assert ready.strip() == "pause: ready", ready
    containerd.ctr("tasks", "kill", "--signal=SIGTERM", "pause-term")
    code, _, err = _finish(pause, timeout=30)
    assert code == 0, err
    assert "pause: terminated, exiting" in err


def _children(pid: int) -> dict[int, str]:
    """PID and state (R, S, Z, ...) of each child of ``pid``, read from the host's /proc."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # comm may hold spaces and parentheses; the fields after its closing one are fixed.
        state, parent = text.rpartition(")")[2].split()[:2]
        if int(parent) == pid:
            found[int(stat.parent.name)] = state
    return found


@slow
def test_pause_reaps_the_orphans_of_a_container_sharing_its_pid_namespace(
    archives: dict[str, Path], containerd: Containerd
) -> None:
    # What shareProcessNamespace gives a pod: an app container's orphan is handed to pause, PID 1 of the
    # namespace, and once it exits only pause can collect its zombie (a PID 1 that does not reap keeps it as Z).
    pause = _run(containerd, PAUSE_IMAGE, "pause-reaper", list(_config(archives, PAUSE_IMAGE).entrypoint))
    pause_pid = _wait_for_task(containerd, "pause-reaper", pause)
    # The subshell leaves its sleep behind; the container's own shell lives on, so the runtime kills nothing.
    shell = ["sh", "-c", "(sleep 1 &); sleep 30"]
    namespace = f"pid:/proc/{pause_pid}/ns/pid"
    containerd.ctr(*containerd.run_args(AGENT_IMAGE, "orphans", shell, with_ns=[namespace], detach=True))

    adopted: dict[int, str] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (adopted and not _children(pause_pid)):
        adopted |= _children(pause_pid)
        time.sleep(0.05)
    assert "S" in adopted.values(), f"the orphaned sleep was never handed to pause: {adopted}"
    assert _children(pause_pid) == {}, f"pause kept its children: {_children(pause_pid)}"
    containerd.ctr("tasks", "kill", "--signal=SIGTERM", "pause-reaper")
    assert _finish(pause, timeout=30)[0] == 0
