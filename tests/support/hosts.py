"""Real Debian test hosts on this machine: systemd-nspawn containers that boot systemd, run sshd, and have their
own hostname, machine-id and IP address on a private bridge. Ansible reaches them over SSH like any server.

No pytest here (tests/e2e/conftest.py wraps this in fixtures). See docs/testing.md for how it works and why.

    with TestHosts(3, workdir) as th:
        th.hosts[0].ssh("hostname")
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import queue
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import NamedTuple, TypeVar

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# Bump when PACKAGES, DISABLED_UNITS or _customize() change: the cached tarball is rebuilt under the new name.
RECIPE_VERSION = 3
# openssl, etcd-server, etcd-client: the Kubernetes stand-ins make a real TLS etcd cluster with them
# (kube_standins/_etcd.py); etcd.service, Debian's own etcd, is disabled below.
PACKAGES = ("systemd", "systemd-sysv", "openssh-server", "iproute2", "python3", "dbus", "ca-certificates",
            "procps", "kmod", "sudo", "openssl", "etcd-server", "etcd-client")
# Not needed in a test host, and the apt/fstrim/e2scrub timers would only make noise (there is no route out anyway).
DISABLED_UNITS = ("apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer", "e2scrub_all.timer",
                  "fstrim.timer", "e2scrub_reap.service", "etcd.service")
CACHE_ENV = "SEALER_RUNNER_TEST_CACHE"
DEFAULT_CACHE = Path("/var/cache/sealer_runner-tests")
TOOLS = ("debootstrap", "systemd-nspawn", "ssh", "ssh-keygen", "ip", "tar", "setpriv", "chroot", "mount")
APT_HINT = "apt-get install debootstrap debian-archive-keyring systemd-container openssh-client iproute2"
NSPAWN_RUN = Path("/run/systemd/nspawn")
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "ConnectTimeout=5", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
               "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR")
_TAR_FLAGS = ("--numeric-owner", "--xattrs", "--xattrs-include=*")

T = TypeVar("T")


class HostError(RuntimeError):
    """A test host could not be built, booted, reached or removed."""


# ---------------------------------------------------------------------------------------------------------------
# small helpers


def _which(tool: str) -> str | None:
    return shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def _tool(tool: str) -> str:
    path = _which(tool)
    if path is None:
        raise HostError(f"{tool} not found ({APT_HINT})")
    return path


def _run(argv: Sequence[str | Path], *, timeout: float | None = 300) -> str:
    """Run a machine-side command; return its stdout, or raise with its stderr."""
    args = [str(a) for a in argv]
    try:
        done = subprocess.run([_tool(args[0]), *args[1:]], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise HostError(f"{shlex.join(args)}: timed out after {timeout}s") from e
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-2000:]
        raise HostError(f"{shlex.join(args)}: exit {done.returncode}: {tail}")
    return done.stdout


def _parallel(fn: Callable[[T], object], items: Sequence[T], label: Callable[[T], str] = str) -> None:
    """Call *fn* on every item at once; raise one HostError naming every item that failed."""
    if not items:
        return
    pool = ThreadPoolExecutor(max_workers=len(items))
    try:
        try:
            futures = [(item, pool.submit(fn, item)) for item in items]
        except RuntimeError:  # at interpreter exit (our atexit hook) no new thread may start: one by one
            outcomes = [(item, _call(fn, item)) for item in items]
        else:
            outcomes = [(item, fut.exception()) for item, fut in futures]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    errors = [_prefixed(label(item), exc) for item, exc in outcomes if exc is not None]
    if errors:
        raise HostError("; ".join(errors))


def _call(fn: Callable[[T], object], item: T) -> BaseException | None:
    try:
        fn(item)
    except Exception as e:  # noqa: BLE001 - collected and reported by _parallel
        return e
    return None


def _prefixed(label: str, exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if text.startswith(f"{label}:") else f"{label}: {text}"


class _Mount(NamedTuple):
    point: Path  # where it is mounted
    root: str  # which directory of its filesystem is mounted there
    dev: str  # major:minor of the filesystem
    fstype: str
    options: str  # the filesystem's own options ("rw,name=systemd" for systemd's cgroup v1 hierarchy)


def _mounts(pid: int | str = "self") -> list[_Mount]:
    """The mount table as process *pid* sees it."""
    result = []
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = line.split()
        fstype, _source, options = fields[fields.index("-") + 1:][:3]
        result.append(_Mount(Path(_unescape(fields[4])), _unescape(fields[3]), fields[2], fstype, options))
    return result


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape")


def _mount_of(path: Path, mounts: list[_Mount]) -> _Mount:
    """The mount *path* is on: the last one mounted at the deepest mount point above it."""
    above = [m for m in mounts if m.point == path or m.point in path.parents]
    deepest = max(len(m.point.parts) for m in above)
    return [m for m in above if len(m.point.parts) == deepest][-1]


def _mounts_below(path: Path) -> list[Path]:
    points = {m.point for m in _mounts() if m.point == path or path in m.point.parents}
    return sorted(points, key=lambda p: len(p.parts), reverse=True)


def _remove_tree(path: Path) -> None:
    """rm -rf *path*, after unmounting anything below it (a half-finished debootstrap leaves proc/sys mounted)."""
    for point in _mounts_below(path):
        _run(["umount", "--lazy", point])
    if _mounts_below(path):
        raise HostError(f"refusing to remove {path}: something is still mounted below it")
    if path.exists():
        shutil.rmtree(path)


@contextlib.contextmanager
def _locked(lock: Path) -> Iterator[None]:
    with lock.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _port_open(ip: str, port: int, timeout: float) -> bool:
    with socket.socket() as s:
        s.settimeout(timeout)
        return s.connect_ex((ip, port)) == 0


# ---------------------------------------------------------------------------------------------------------------
# can hosts be made here?


def available() -> str | None:
    """None when test hosts can be made on this machine, else the reason why not (for pytest.skip).

    Under CI (CI=true) this is always None: CI installs everything, so a missing piece must fail, not skip.
    """
    if os.environ.get("CI", "").lower() == "true":
        return None
    if not sys.platform.startswith("linux"):
        return "test hosts need Linux (systemd-nspawn)"
    if os.geteuid() != 0:
        return "test hosts need root (systemd-nspawn, a bridge, a tmpfs mount)"
    missing = [t for t in TOOLS if _which(t) is None]
    if missing:
        return f"test hosts need {', '.join(missing)}: {APT_HINT}"
    return None


# ---------------------------------------------------------------------------------------------------------------
# the base rootfs, built once and cached as a tarball


def cache_dir(explicit: Path | str | None = None) -> Path:
    """The tarball cache: *explicit*, else $SEALER_RUNNER_TEST_CACHE, else /var/cache/sealer_runner-tests."""
    return Path(explicit or os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


def rootfs_tarball(cache: Path | str | None = None) -> Path:
    return cache_dir(cache) / f"rootfs-{SUITE}-v{RECIPE_VERSION}.tar"


def ensure_base_rootfs(cache: Path | str | None = None) -> Path:
    """The cached base rootfs tarball; debootstrap it first if this recipe version was never built here."""
    tarball = rootfs_tarball(cache)
    if tarball.is_file():
        return tarball
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with _locked(tarball.parent / ".lock"):
        if tarball.is_file():  # another process built it while we waited
            return tarball
        _remove_leftovers(tarball.parent)
        build = Path(tempfile.mkdtemp(prefix=".build-", dir=tarball.parent))
        try:
            _build_tarball(build, tarball)
        finally:
            _remove_tree(build)
    return tarball


def _remove_leftovers(directory: Path) -> None:
    """Older recipe versions and builds that died half-way (we hold the lock: nobody else is building)."""
    for old in directory.glob(".build-*"):
        _remove_tree(old)
    for old in directory.glob(f"rootfs-{SUITE}-v*.tar"):
        old.unlink()


def _build_tarball(build: Path, tarball: Path) -> None:
    rootfs = build / "rootfs"
    _run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, rootfs, MIRROR],
         timeout=1800)
    _customize(rootfs)
    _run(["tar", *_TAR_FLAGS, "-C", rootfs, "-cf", build / "rootfs.tar", "."])
    os.replace(build / "rootfs.tar", tarball)  # same directory: atomic


def _customize(root: Path) -> None:
    """Make the debootstrapped tree a template: per-host identity removed, networkd on, noisy timers off."""
    (root / "etc/machine-id").write_text("")  # each host writes its own (an empty one would mean "first boot")
    dbus_id = root / "var/lib/dbus/machine-id"  # a copy, not a link, after debootstrap: would be shared by all
    dbus_id.unlink(missing_ok=True)
    dbus_id.symlink_to("/etc/machine-id")
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()  # each host gets its own
    (root / "etc/ssh/sshd_config.d/10-test-host.conf").write_text(  # RSA keys take 1 s each to generate
        "HostKey /etc/ssh/ssh_host_ed25519_key\n")
    (root / "etc/resolv.conf").unlink(missing_ok=True)  # debootstrap copied the machine's: no DNS in test hosts
    (root / "etc/resolv.conf").write_text("# test hosts have no DNS; see /etc/hosts\n")
    (root / "etc/hostname").write_text("localhost\n")
    _run(["chroot", root, "systemctl", "enable", "systemd-networkd.service"])
    _run(["chroot", root, "systemctl", "disable", *DISABLED_UNITS])
    for junk in [*root.glob("var/cache/apt/archives/*.deb"), *root.glob("var/cache/apt/*.bin"),
                 *(p for p in root.glob("var/lib/apt/lists/*") if p.is_file())]:
        junk.unlink()  # ~100 MB the hosts never use: a third of every unpack


# ---------------------------------------------------------------------------------------------------------------
# machine-side plumbing: bridge, tmpfs, key, process spawning


class Bridge:
    """A Linux bridge on the machine holding the hosts' gateway address. Shared by reference count: up() by each
    user, down() by each; the last down() removes the bridge, and only if an up() of this object created it."""

    def __init__(self, name: str = "srbr0", address: str = "10.248.0.1/24") -> None:
        self.name = name
        self.address = address
        self.created = False
        self._users = 0
        self._lock = threading.Lock()

    def up(self) -> Bridge:
        with self._lock:
            addrs = self._addresses()
            if addrs is None:
                self._check_subnet_free()
                _run(["ip", "link", "add", self.name, "type", "bridge"])
                self.created = True
                addrs = []
            if self.address not in addrs:
                _run(["ip", "addr", "add", self.address, "dev", self.name])
            _run(["ip", "link", "set", self.name, "up"])
            self._users += 1
        return self

    def down(self) -> None:
        with self._lock:
            self._users = max(0, self._users - 1)
            if self._users == 0 and self.created:
                _run(["ip", "link", "del", self.name])
                self.created = False

    def exists(self) -> bool:
        return self._addresses() is not None

    def _addresses(self) -> list[str] | None:
        done = subprocess.run([_tool("ip"), "-j", "addr", "show", "dev", self.name], capture_output=True, text=True)
        if done.returncode != 0:
            return None
        return [f"{a['local']}/{a['prefixlen']}" for link in json.loads(done.stdout) for a in link["addr_info"]]

    def _check_subnet_free(self) -> None:
        prefix = self.address.rsplit(".", 1)[0] + "."
        for link in json.loads(_run(["ip", "-j", "addr", "show"])):
            for a in link.get("addr_info", []):
                if a.get("family") == "inet" and a["local"].startswith(prefix):
                    raise HostError(f"{link['ifname']} already has {a['local']}: pick another subnet for {self.name}")


def ensure_nspawn_tmpfs() -> None:
    """nspawn refuses "Attempted to remove disk file system" when /run/systemd/nspawn is not on tmpfs.

    Left mounted afterwards: other nspawn users on the machine may rely on it, and it costs nothing.
    """
    NSPAWN_RUN.mkdir(parents=True, exist_ok=True)
    with _locked(NSPAWN_RUN.parent / ".sealer_runner-tests.lock"):  # two sessions must not stack two mounts
        if _mount_of(NSPAWN_RUN, _mounts()).fstype not in ("tmpfs", "ramfs"):
            _run(["mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", NSPAWN_RUN])


def ensure_key(path: Path) -> Path:
    """An ed25519 key pair at *path* / *path*.pub, generated if absent; returns the private key path."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sealer_runner-tests", "-f", path])
    pub = Path(f"{path}.pub")
    if not pub.exists():
        pub.write_text(_run(["ssh-keygen", "-y", "-f", path]))
    return path


class _Spawner:
    """Starts every nspawn from one long-lived thread.

    nspawn runs under `setpriv --pdeathsig TERM`, so if this Python process dies without cleaning up (SIGKILL,
    a CI timeout) each nspawn gets SIGTERM and powers its host off. The kernel sends that signal when the *thread*
    that forked exits, not the process: forking from a pool thread would kill hosts as soon as the pool ended.
    """

    def __init__(self) -> None:
        self._requests: queue.Queue[tuple[list[str], Path, Future[subprocess.Popen[bytes]]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def popen(self, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="nspawn-spawner", daemon=True)
                self._thread.start()
        result: Future[subprocess.Popen[bytes]] = Future()
        self._requests.put((argv, log, result))
        return result.result()

    def _loop(self) -> None:
        while True:
            argv, log, result = self._requests.get()
            try:
                with log.open("ab") as out:
                    result.set_result(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                                       stderr=subprocess.STDOUT, start_new_session=True))
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                result.set_exception(e)


_SPAWNER = _Spawner()


def _cgroup_parents() -> list[Path]:
    """Where this process sits in each cgroup hierarchy nspawn uses: systemd's v1 one and/or the v2 one."""
    mine: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hierarchy, controllers, path = line.split(":", 2)
        if controllers == "name=systemd":
            mine["cgroup"] = path
        elif hierarchy == "0" and not controllers:
            mine["cgroup2"] = path
    parents: dict[str, Path] = {}
    for m in _mounts():
        systemd_v1 = m.fstype == "cgroup" and "name=systemd" in m.options.split(",")
        if (systemd_v1 or m.fstype == "cgroup2") and m.fstype in mine and m.fstype not in parents:
            parents[m.fstype] = m.point / mine[m.fstype].lstrip("/")
    return list(parents.values())


def _make_cgroups(name: str) -> list[Path]:
    """A fresh cgroup per nspawn, in every hierarchy nspawn uses.

    With --keep-unit and no systemd on the machine, nspawn puts the host's systemd in <its own cgroup>/payload.
    Started from the same cgroup, every host would share one payload tree: their systemds create and remove the
    same system.slice/*.service groups, and units fail at random with status=219/CGROUP once several boot at once.
    """
    cgroups = [parent / name for parent in _cgroup_parents()]
    for cgroup in cgroups:
        try:
            cgroup.mkdir()
        except OSError as e:
            raise HostError(f"cannot make cgroup {cgroup} for a host: {e}") from e
    return cgroups


def _remove_cgroup(cgroup: Path) -> None:
    """rmdir a cgroup and everything below it, deepest first (their files are not real files: only rmdir)."""
    if not cgroup.exists():
        return
    for current, _dirs, _files in os.walk(cgroup, topdown=False):
        try:
            os.rmdir(current)
        except FileNotFoundError:
            pass
        except OSError as e:  # EBUSY: a process is still in it
            raise HostError(f"cannot remove cgroup {current}: {e}") from e


def _leader(nspawn_pid: int) -> int | None:
    """The container's PID 1 as the machine sees it: the child of nspawn that is PID 1 in its own namespace."""
    try:
        tasks = list(Path(f"/proc/{nspawn_pid}/task").iterdir())
    except FileNotFoundError:
        return None
    for task in tasks:
        with contextlib.suppress(FileNotFoundError):
            for child in (task / "children").read_text().split():
                status = Path(f"/proc/{child}/status").read_text()
                nspid = next((ln.split()[1:] for ln in status.splitlines() if ln.startswith("NSpid:")), [])
                if len(nspid) > 1 and nspid[-1] == "1":
                    return int(child)
    return None


# ---------------------------------------------------------------------------------------------------------------
# one host


@dataclass
class Host:
    """One booted (or stopped) test host. `pid` is its systemd-nspawn process, None while stopped."""

    name: str
    ip: str
    rootfs: Path
    key: Path
    bridge: str
    console_log: Path
    boot_timeout: float = 120.0
    allow_degraded: bool = False
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _cgroups: list[Path] = field(default_factory=list, repr=False)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def veth(self) -> str:
        """The machine-side end of the host's network cable (nspawn names it vb-MACHINE)."""
        return f"vb-{self.name}"

    def ssh(self, cmd: str | Sequence[str], *, check: bool = False, timeout: float | None = 60,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run *cmd* on the host as root (a list is shell-quoted). Raises only if *check* fails, or on timeout."""
        remote = cmd if isinstance(cmd, str) else shlex.join(cmd)
        argv = [_tool("ssh"), "-i", str(self.key), *SSH_OPTIONS, f"root@{self.ip}", remote]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input, check=check)

    def start(self) -> None:
        """Boot (again) from the same rootfs and wait until systemd says `running`."""
        self.spawn()
        self.wait_running()

    def spawn(self) -> None:
        """Start systemd-nspawn without waiting for the boot (see wait_running)."""
        if self.running:
            raise HostError(f"{self.name} is already running (pid {self.pid})")
        self._cgroups = _make_cgroups(f"sealer_runner-{self.name}-{uuid.uuid4().hex[:8]}")
        join = "".join(f"echo $$ > {shlex.quote(str(cg / 'cgroup.procs'))} && " for cg in self._cgroups)
        argv = [_tool("setpriv"), "--pdeathsig", "TERM", "--", "/bin/sh", "-c", join + 'exec "$@"', "sh",
                _tool("systemd-nspawn"), "--boot", f"--directory={self.rootfs}", f"--machine={self.name}",
                f"--network-bridge={self.bridge}", "--register=no", "--keep-unit", "--console=read-only"]
        try:
            self._process = _SPAWNER.popen(argv, self.console_log)
        except BaseException:
            self._remove_cgroups()
            raise

    def wait_running(self) -> None:
        """Wait for sshd, then for the end of the boot; raise unless systemd says `running`."""
        deadline = time.monotonic() + self.boot_timeout
        while not _port_open(self.ip, 22, timeout=1.0):
            self._check_booting(deadline, "sshd never listened")
            time.sleep(0.1)
        state = self._system_state(deadline)
        if state == "running" or (state == "degraded" and self.allow_degraded):
            return
        failed = self.ssh("systemctl --failed --no-legend --plain", timeout=30).stdout.strip()
        raise HostError(f"{self.name}: system is {state!r}; failed units: {failed or 'none'}")

    def _system_state(self, deadline: float) -> str:
        last = ""
        while True:
            self._check_booting(deadline, f"boot did not finish (last ssh: {last or 'timed out'})")
            remaining = max(1.0, deadline - time.monotonic())
            with contextlib.suppress(subprocess.TimeoutExpired):
                done = self.ssh("systemctl is-system-running --wait", timeout=remaining)
                state = done.stdout.strip()
                if state and state not in ("initializing", "starting"):
                    return state
                last = f"{state} {done.stderr.strip()}".strip()
            time.sleep(0.2)

    def _check_booting(self, deadline: float, what: str) -> None:
        if self._process is None or self._process.poll() is not None:
            code = None if self._process is None else self._process.returncode
            raise HostError(f"{self.name}: systemd-nspawn exited ({code}); console: {self.console_tail()}")
        if time.monotonic() > deadline:
            raise HostError(f"{self.name}: {what} within {self.boot_timeout}s; console: {self.console_tail()}")

    def console_tail(self, chars: int = 1500) -> str:
        with contextlib.suppress(FileNotFoundError):
            return self.console_log.read_text(errors="replace")[-chars:]
        return ""

    def stop(self, *, graceful: bool = True, timeout: float = 30.0) -> None:
        """Stop the host by PID. graceful: SIGTERM to nspawn, which powers the host off (about 2 s).
        Otherwise (or if that times out) SIGKILL the host's PID 1, which ends its whole PID namespace:
        a power cut. Killing only nspawn would leave the host running, orphaned."""
        proc = self._process
        if proc is None:
            return
        if proc.poll() is None and graceful:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        if proc.poll() is None:
            self._kill_leader(proc.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        self._process = None
        self._remove_cgroups()

    def _remove_cgroups(self) -> None:
        for cgroup in self._cgroups:
            _remove_cgroup(cgroup)
        self._cgroups = []

    def _kill_leader(self, nspawn_pid: int) -> None:
        leader = _leader(nspawn_pid)  # fresh: a remembered PID might have been reused
        if leader is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(leader, signal.SIGKILL)

    def cut(self) -> None:
        """Unplug the host's network cable (machine side); the host keeps running."""
        _run(["ip", "link", "set", self.veth, "down"])

    def restore(self) -> None:
        _run(["ip", "link", "set", self.veth, "up"])


def copy_in(host: Host, src: Path | str, dest: str, *, mode: int | None = None) -> Path:
    """Copy a machine file or directory to *dest* (an absolute path as the host sees it); works while it runs.

    Symlinks in *dest* resolve as inside the host, so an absolute link in the rootfs never leads onto the machine.
    Returns the machine-side path written.
    """
    if not dest.startswith("/"):
        raise HostError(f"copy_in: {dest!r} must be an absolute path inside the host")
    target = resolve_inside(host.rootfs, dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    src = Path(src)
    if src.is_dir():
        shutil.copytree(src, target, symlinks=True, dirs_exist_ok=True)
    else:
        shutil.copy2(src, target)
    if mode is not None:
        target.chmod(mode)
    return target


def resolve_inside(root: Path, path: str) -> Path:
    """The machine path of *path* inside *root*, following symlinks the way the host itself would."""
    parts = [p for p in PurePosixPath(path).parts if p != "/"]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        if candidate.is_symlink():
            hops += 1
            if hops > 40:
                raise HostError(f"{path}: too many levels of symbolic links inside {root}")
            target = PurePosixPath(os.readlink(candidate))
            resolved = [] if target.is_absolute() else resolved
            parts = [p for p in target.parts if p != "/"] + parts
            continue
        resolved.append(part)
    return root.joinpath(*resolved)


def _prepare(host: Host, tarball: Path, authorized_key: str, etc_hosts: str, gateway: str) -> None:
    """Unpack the base rootfs for *host* and give it its identity: hostname, machine-id, address, keys."""
    root = host.rootfs
    if root.exists():
        raise HostError(f"{root} already exists")
    root.mkdir(parents=True)
    root.chmod(0o755)  # a 0700 root makes systemd-networkd fail with status=200/CHDIR: no address
    _run(["tar", *_TAR_FLAGS, "-C", root, "-xpf", tarball])
    (root / "etc/hostname").write_text(f"{host.name}\n")
    (root / "etc/machine-id").write_text(f"{uuid.uuid4().hex}\n")
    (root / "etc/hosts").write_text(etc_hosts)
    (root / "etc/systemd/network/10-host0.network").write_text(  # 10- sorts before 80-container-host0.network
        f"[Match]\nName=host0\n\n[Network]\nAddress={host.ip}/24\nGateway={gateway}\n")
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(authorized_key)
    (ssh_dir / "authorized_keys").chmod(0o600)
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{host.name}",
          "-f", root / "etc/ssh/ssh_host_ed25519_key"])


# ---------------------------------------------------------------------------------------------------------------
# a set of hosts


_OPEN: set[TestHosts] = set()


@atexit.register
def _close_leftovers() -> None:
    """Last resort: a TestHosts that was never closed (a crashed session) still gets stopped and removed."""
    for hosts in list(_OPEN):
        with contextlib.suppress(Exception):
            hosts.close()


class TestHosts:
    """N booted hosts `sr-host-<i>` at SUBNET.<first+i-1>, i from start_index; a context manager.

    Teardown (close(), __exit__, or atexit as a last resort) stops every host it started, removes the host
    directories, and removes the bridge if it created it. *bridge* may be a name or a Bridge shared with other sets.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, n: int, workdir: Path | str, key: Path | None = None, subnet: str = "10.248.0",
                 first: int = 11, *, start_index: int = 1, bridge: str | Bridge = "srbr0",
                 tarball: Path | None = None, boot_timeout: float = 120.0, allow_degraded: bool = False,
                 tmpfs: bool = True) -> None:
        if n < 1 or start_index < 1 or first < 2 or first + start_index + n - 2 > 254:
            raise HostError(f"{n} hosts from index {start_index} do not fit in {subnet}.{first}-254")
        self.workdir = Path(workdir).absolute()
        self.subnet = subnet
        self.key = Path(key) if key is not None else self.workdir / "id_ed25519"
        self.roots = self.workdir / "roots"  # every host's rootfs, on its own tmpfs unless tmpfs=False
        self._tmpfs = tmpfs
        self._tarball = tarball
        self._bridge = bridge if isinstance(bridge, Bridge) else Bridge(bridge, f"{subnet}.1/24")
        self._bridge_up = False
        self._closed = False
        self.timings: dict[str, float] = {}  # seconds spent in each phase of boot(): setup, unpack, boot
        self.hosts = [self._host(i, first, boot_timeout, allow_degraded)
                      for i in range(start_index, start_index + n)]

    def _host(self, index: int, first: int, boot_timeout: float, allow_degraded: bool) -> Host:
        name = f"sr-host-{index}"  # veth vb-<name> must fit in 15 characters
        return Host(name=name, ip=f"{self.subnet}.{first + index - 1}", rootfs=self.roots / name,
                    key=self.key, bridge=self._bridge.name,
                    console_log=self.workdir / f"{name}.console.log", boot_timeout=boot_timeout,
                    allow_degraded=allow_degraded)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def gateway(self) -> str:
        """This machine's address on the hosts' bridge: where they reach a server the test runs here."""
        return self._bridge.address.split("/")[0]

    def __enter__(self) -> TestHosts:
        return self.boot()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def boot(self) -> TestHosts:
        """Unpack, configure and boot every host in parallel; return once all are `running`."""
        if self._closed or self in _OPEN:
            raise HostError("a TestHosts boots once; make a new one")
        _OPEN.add(self)
        try:
            self._boot()
        except BaseException as e:
            try:
                self.close()
            except Exception as teardown:  # noqa: BLE001 - the boot error stays the one raised
                e.add_note(f"and then {teardown}")
            raise
        return self

    def _boot(self) -> None:
        t0 = time.monotonic()
        tarball = self._tarball or ensure_base_rootfs()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._make_roots()
        ensure_key(self.key)
        self._bridge.up()
        self._bridge_up = True
        ensure_nspawn_tmpfs()
        authorized = Path(f"{self.key}.pub").read_text()
        etc_hosts = "127.0.0.1 localhost\n::1 localhost\n" + "".join(f"{h.ip} {h.name}\n" for h in self.hosts)
        t1 = time.monotonic()
        _parallel(lambda h: _prepare(h, tarball, authorized, etc_hosts, self.gateway), self.hosts, _name)
        t2 = time.monotonic()
        for host in self.hosts:
            host.spawn()
        _parallel(Host.wait_running, self.hosts, _name)
        self.timings = {"setup": t1 - t0, "unpack": t2 - t1, "boot": time.monotonic() - t2}

    def _make_roots(self) -> None:
        """On tmpfs, both unpacking and removal are fast. On the ext4 without a journal of these VMs, creating
        files is ~10x slower for about half a minute after many were deleted (ext4 skips "recently deleted"
        inodes one by one): unpacking right after a teardown took 7-14 s instead of 1 s."""
        self.roots.mkdir()
        if self._tmpfs:
            _run(["mount", "-t", "tmpfs", "-o", "mode=755", "sealer_runner-test-hosts", self.roots])

    def close(self) -> None:
        """Stop every host, remove their directories, and the bridge if this set created it. Idempotent."""
        if self._closed:
            return
        errors: list[str] = []
        for step in (self._stop_all, self._remove_all, self._bridge_down):
            try:
                step()
            except Exception as e:  # noqa: BLE001 - every step runs; all errors are reported together
                errors.append(str(e))
        self._closed = True
        _OPEN.discard(self)
        if errors:
            raise HostError("teardown: " + "; ".join(errors))

    def _stop_all(self) -> None:
        _parallel(lambda h: h.stop(graceful=False), self.hosts, _name)

    def _remove_all(self) -> None:
        running = [h.name for h in self.hosts if h.running]
        if running:
            raise HostError(f"not removing {self.roots}: {', '.join(running)} still running")
        _remove_tree(self.roots)  # unmounts the tmpfs first

    def _bridge_down(self) -> None:
        if self._bridge_up:
            self._bridge_up = False
            self._bridge.down()

    copy_in = staticmethod(copy_in)

    def __iter__(self) -> Iterator[Host]:
        return iter(self.hosts)

    def __len__(self) -> int:
        return len(self.hosts)

    def __getitem__(self, i: int) -> Host:
        return self.hosts[i]


def _name(host: Host) -> str:
    return host.name


class HostsFactory:
    """Hands out host sets that share one bridge and one key; sets open at the same time get disjoint
    names and addresses. The bridge goes when the last open set closes (if it was made here); close()
    closes any set still open."""

    def __init__(self, workdir: Path | str, *, tarball: Path | None = None, subnet: str = "10.248.0",
                 first: int = 11, bridge: str = "srbr0") -> None:
        self.workdir = Path(workdir).absolute()
        self.subnet = subnet
        self.first = first
        self.tarball = tarball
        self.bridge = Bridge(bridge, f"{subnet}.1/24")
        self.key = self.workdir / "id_ed25519"
        self._sets: list[TestHosts] = []

    def __call__(self, n: int, *, boot_timeout: float = 120.0, allow_degraded: bool = False,
                 tmpfs: bool = True) -> TestHosts:
        """A TestHosts of *n* hosts, not yet booted: use it as `with factory(3) as hosts:`. tmpfs=False keeps
        the hosts' files on disk (for data larger than half the machine's memory, which tmpfs may take)."""
        start = self._free_range(n)
        hosts = TestHosts(n, self.workdir / f"set-{len(self._sets) + 1}", key=ensure_key(self.key),
                          subnet=self.subnet, first=self.first, start_index=start, bridge=self.bridge,
                          tarball=self.tarball, boot_timeout=boot_timeout, allow_degraded=allow_degraded,
                          tmpfs=tmpfs)
        self._sets.append(hosts)
        return hosts

    def _free_range(self, n: int) -> int:
        used = {int(h.name.rsplit("-", 1)[1]) for s in self._sets if not s.closed for h in s.hosts}
        start = 1
        while any(i in used for i in range(start, start + n)):
            start += 1
        return start

    def close(self) -> None:
        errors: list[str] = []
        for hosts in self._sets:
            try:
                hosts.close()
            except HostError as e:
                errors.append(str(e))
        if errors:
            raise HostError("; ".join(errors))


def leftover_processes(roots: Iterable[Path]) -> list[int]:
    """PIDs still running on any of *roots*: systemd-nspawn processes, and any process whose own "/" is one of
    them (a host's systemd orphaned by a killed nspawn). For teardown checks."""
    roots = [Path(r).absolute() for r in roots]
    mounts = _mounts()
    wanted = set()
    for root in roots:
        m = _mount_of(root, mounts)
        wanted.add((m.dev, str(PurePosixPath(m.root) / root.relative_to(m.point))))
    nspawn_args = {f"--directory={r}" for r in roots}
    return [pid for pid in _pids() if _runs_on(pid, wanted, nspawn_args)]


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _runs_on(pid: int, roots: set[tuple[str, str]], nspawn_args: set[str]) -> bool:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        if Path(args[0]).name == "systemd-nspawn" and nspawn_args.intersection(args):
            return True
        slash = [m for m in _mounts(pid) if m.point == Path("/")]
    except OSError:  # gone meanwhile, or a kernel thread
        return False
    return bool(slash) and (slash[-1].dev, slash[-1].root) in roots
