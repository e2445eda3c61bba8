# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.
"""Private to the sealer.cluster collection: IPVS rules for the apiserver VIP, and the care loop that
keeps them pointing at healthy masters (what sealer's lvscare does).

On every node that is not a master, one IPVS virtual server ``VIP:6443`` balances over the masters'
apiservers, so a node reaches the control plane through one address whichever master is up. Two
parts, both here and both standard-library Python (this runs on hosts):

* **Rules**: :func:`plan` compares the wanted virtual servers and real servers with what a
  :class:`Backend` reports, and returns the changes; :func:`apply` makes them. The real backend is
  :class:`IpvsadmBackend` (``ipvsadm`` and ``ip``), which also puts the VIP on a dummy link so the
  node's kernel accepts traffic for it. :class:`MemoryBackend` keeps rules in memory: check mode uses
  it to report without changing anything, and the unit tests drive it (test kernels may lack IPVS).
* **Care**: :class:`Care` health-checks every master (HTTPS ``/healthz``, certificate not verified,
  as lvscare does: the check is about liveness, the client verifies the apiserver itself; see
  :func:`https_healthy` for which answers count) and turns
  the results into wanted rules: a master that fails ``fall`` checks in a row is removed, one that
  passes ``rise`` checks in a row is added back, and when every master is down the rules are kept
  as they are (removing the last one would only turn a slow apiserver into a refused connection).

Run as a script, it is the long-running loop a systemd unit starts::

    python3 _lvscare.py care --vs 10.103.97.2:6443 --rs 10.0.0.1:6443 --rs 10.0.0.2:6443
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time

DUMMY_LINK = "sealer-ipvs"
SCHEDULER = "rr"


class LvscareError(Exception):
    """Raised for any rule or care problem; the module's main() turns it into fail_json."""


def endpoint(text):
    """``"10.0.0.1:6443"`` / ``"[fd00::1]:6443"`` -> ``("10.0.0.1", 6443)`` (address normalised)."""
    text = str(text).strip()
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
    else:
        host, sep, port = text.rpartition(":")
    try:
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("no port")
        return str(ipaddress.ip_address(host)), int(port)
    except ValueError as exc:
        raise LvscareError("not an IP:port endpoint: %r (%s)" % (text, exc)) from exc


def show(ep):
    host, port = ep
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def virtual_server(vip, port):
    """The endpoint ``VIP:port`` (an IPv6 VIP in brackets)."""
    return endpoint(("[%s]:%d" if ":" in vip else "%s:%d") % (vip, int(port)))


def real_servers(masters, port):
    """The masters' apiserver endpoints."""
    return [endpoint(("[%s]:%d" if ":" in ip else "%s:%d") % (ip, int(port))) for ip in masters]


CARE_UNIT = """\
# Written by sealer_runner: keeps the apiserver VIP on healthy masters (sealer's lvscare).
[Unit]
Description=sealer lvscare: IPVS {vs} over the masters' apiservers
After=network-online.target
Wants=network-online.target

[Service]
ExecStart={python} {script} care --vs {vs} {real_servers} --health-path {health_path} --interval {interval}
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
"""


def care_files(vip, port, masters, script, unit, python="/usr/bin/python3", health_path="/healthz", interval=5):
    """The care loop's files, as ``{path, content, mode}``: this module's own source as the script, and the
    systemd unit that runs it over *masters*. The lvscare module writes them on nodes; ``run --dry-run``
    renders them on the controller."""
    import inspect

    vs = virtual_server(vip, port)
    unit_text = CARE_UNIT.format(python=python, script=script, vs=show(vs),
                                 real_servers=" ".join("--rs " + show(rs) for rs in real_servers(masters, port)),
                                 health_path=health_path, interval=interval)
    return [{"path": script, "content": inspect.getsource(sys.modules[__name__]), "mode": "0755"},
            {"path": unit, "content": unit_text, "mode": "0644"}]


def plan(wanted, current):
    """The changes that turn *current* into *wanted* (both ``{vs: set(rs)}``), in the order they must
    be made: ``[("add-vs", vs, None), ("add-rs", vs, rs), ("del-rs", vs, rs), ("del-vs", vs, None)]``.
    Real servers are added before others are removed, so a virtual server never goes empty on the way.
    Only virtual servers named in *wanted* are touched: other IPVS rules on the host are not ours."""
    ops = []
    for vs in sorted(wanted):
        have = current.get(vs)
        if have is None:
            ops.append(("add-vs", vs, None))
            have = set()
        for rs in sorted(wanted[vs] - have):
            ops.append(("add-rs", vs, rs))
        for rs in sorted(have - wanted[vs]):
            ops.append(("del-rs", vs, rs))
    return ops


def apply(backend, ops):
    for op, vs, rs in ops:
        if op == "add-vs":
            backend.add_service(vs)
        elif op == "del-vs":
            backend.del_service(vs)
        elif op == "add-rs":
            backend.add_real(vs, rs)
        else:
            backend.del_real(vs, rs)


class Backend(object):
    """Where IPVS rules live. ``services()`` returns ``{vs: set(rs)}`` for the TCP virtual servers."""

    def services(self):
        raise NotImplementedError

    def add_service(self, vs):
        raise NotImplementedError

    def del_service(self, vs):
        raise NotImplementedError

    def add_real(self, vs, rs):
        raise NotImplementedError

    def del_real(self, vs, rs):
        raise NotImplementedError

    def has_address(self, vip):
        raise NotImplementedError

    def add_address(self, vip):
        raise NotImplementedError

    def del_address(self, vip):
        raise NotImplementedError


class MemoryBackend(Backend):
    """Rules in memory, with a log of every call: check mode's stand-in for the kernel, and the tests'."""

    def __init__(self, rules=None, addresses=()):
        self.rules = dict((vs, set(rss)) for vs, rss in (rules or {}).items())
        self.addresses = set(addresses)
        self.calls = []

    def services(self):
        return dict((vs, set(rss)) for vs, rss in self.rules.items())

    def add_service(self, vs):
        self.calls.append(("add-vs", vs, None))
        self.rules.setdefault(vs, set())

    def del_service(self, vs):
        self.calls.append(("del-vs", vs, None))
        self.rules.pop(vs, None)

    def add_real(self, vs, rs):
        self.calls.append(("add-rs", vs, rs))
        self.rules[vs].add(rs)

    def del_real(self, vs, rs):
        self.calls.append(("del-rs", vs, rs))
        self.rules[vs].discard(rs)

    def has_address(self, vip):
        return vip in self.addresses

    def add_address(self, vip):
        self.calls.append(("add-address", vip, None))
        self.addresses.add(vip)

    def del_address(self, vip):
        self.calls.append(("del-address", vip, None))
        self.addresses.discard(vip)


class IpvsadmBackend(Backend):
    """The kernel's IPVS table through ``ipvsadm`` (NAT forwarding, round robin), and the VIP on a dummy
    link through ``ip``."""

    def __init__(self, run=None, ipvsadm=None, ip=None):
        self._run = run or _run
        self.ipvsadm = ipvsadm or shutil.which("ipvsadm") or "ipvsadm"
        self.ip = ip or shutil.which("ip") or "ip"

    def services(self):
        out = self._run([self.ipvsadm, "-S", "-n"])
        rules = {}
        for line in out.splitlines():
            words = line.split()
            if len(words) >= 3 and words[0] == "-A" and words[1] == "-t":
                rules.setdefault(endpoint(words[2]), set())
            elif len(words) >= 5 and words[0] == "-a" and words[1] == "-t" and words[3] == "-r":
                rules.setdefault(endpoint(words[2]), set()).add(endpoint(words[4]))
        return rules

    def add_service(self, vs):
        self._run([self.ipvsadm, "-A", "-t", show(vs), "-s", SCHEDULER])

    def del_service(self, vs):
        self._run([self.ipvsadm, "-D", "-t", show(vs)])

    def add_real(self, vs, rs):
        self._run([self.ipvsadm, "-a", "-t", show(vs), "-r", show(rs), "-m", "-w", "1"])

    def del_real(self, vs, rs):
        self._run([self.ipvsadm, "-d", "-t", show(vs), "-r", show(rs)])

    def has_address(self, vip):
        try:
            out = self._run([self.ip, "-o", "addr", "show", "dev", DUMMY_LINK])
        except LvscareError:
            return False
        return any(word.split("/")[0] == vip for word in out.split())

    def add_address(self, vip):
        try:
            self._run([self.ip, "link", "show", DUMMY_LINK])
        except LvscareError:
            self._run([self.ip, "link", "add", DUMMY_LINK, "type", "dummy"])
        bits = 128 if ":" in vip else 32
        self._run([self.ip, "addr", "add", "%s/%d" % (vip, bits), "dev", DUMMY_LINK])

    def del_address(self, vip):
        bits = 128 if ":" in vip else 32
        self._run([self.ip, "addr", "del", "%s/%d" % (vip, bits), "dev", DUMMY_LINK])


def _run(argv):
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              check=False)
    except OSError as exc:
        package = {"ipvsadm": "ipvsadm", "ip": "iproute2"}.get(os.path.basename(argv[0]), "")
        hint = " (Debian package %s)" % package if package else ""
        raise LvscareError("cannot run %s%s: %s" % (argv[0], hint, exc)) from exc
    if proc.returncode != 0:
        raise LvscareError("%s failed (exit %d): %s" % (" ".join(argv), proc.returncode,
                                                        (proc.stderr or proc.stdout).strip()))
    return proc.stdout


def ensure(backend, vs, real_servers, state="present"):
    """Make the rules for *vs* be *real_servers* (``state=present``) or gone (``absent``), the VIP
    address with them; returns the changes (empty when none were needed)."""
    current = backend.services()
    if state == "absent":
        ops = [("del-vs", vs, None)] if vs in current else []
        if backend.has_address(vs[0]):
            ops.append(("del-address", vs[0], None))
    else:
        ops = plan({vs: set(real_servers)}, current)
        if not backend.has_address(vs[0]):
            ops.insert(0, ("add-address", vs[0], None))
    for op, target, _rs in ops:
        if op == "add-address":
            backend.add_address(target)
        elif op == "del-address":
            backend.del_address(target)
    apply(backend, [op for op in ops if not op[0].endswith("-address")])
    return ops


# ------------------------------------------------------------------------------------------------ care


class Care(object):
    """Health state of each real server, and the rules it implies.

    Every real server starts healthy (the rules are first applied with every master). ``fall`` failed
    checks in a row mark one down, ``rise`` passed checks in a row mark it up again."""

    def __init__(self, real_servers, fall=3, rise=2):
        self.real_servers = list(real_servers)
        self.fall, self.rise = fall, rise
        self.healthy = dict((rs, True) for rs in self.real_servers)
        self._streak = dict((rs, 0) for rs in self.real_servers)

    def observe(self, rs, ok):
        """Record one check of *rs*; returns ``"down"``/``"up"`` when its state changes, else None."""
        if ok == self.healthy[rs]:
            self._streak[rs] = 0
            return None
        self._streak[rs] += 1
        if self._streak[rs] >= (self.rise if ok else self.fall):
            self.healthy[rs] = ok
            self._streak[rs] = 0
            return "up" if ok else "down"
        return None

    def wanted(self, current):
        """The real servers the virtual server should have: the healthy ones; when none is healthy,
        *current* unchanged (rules are kept)."""
        up = set(rs for rs in self.real_servers if self.healthy[rs])
        return up if up else set(current)


def https_healthy(rs, path="/healthz", timeout=2.0, scheme="https"):
    """Whether ``scheme://rs/path`` answers within *timeout* with a status below 500 (certificate not
    verified). An apiserver with anonymous access turned off answers 401/403 and is alive; one whose
    etcd is gone answers 500 and is not (sealer's lvscare counts any answer; labring's newer one
    counts 4xx as down, which would drop every master of such a cluster)."""
    host, port = rs
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            if scheme == "https":
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                sock = context.wrap_socket(sock, server_hostname=host)
            request = "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, show(rs))
            sock.sendall(request.encode("ascii"))
            status = sock.recv(64).split(b" ", 2)
            return len(status) >= 2 and status[1].isdigit() and int(status[1]) < 500
    except (OSError, ssl.SSLError, ValueError):
        return False


def care_once(backend, vs, care, check):
    """One round: check every real server, then bring the rules in line. Returns the changes made and
    the transitions seen, for the loop's log."""
    transitions = []
    for rs in care.real_servers:
        change = care.observe(rs, check(rs))
        if change:
            transitions.append((show(rs), change))
    current = backend.services().get(vs, set())
    ops = plan({vs: care.wanted(current)}, backend.services())
    apply(backend, ops)
    return ops, transitions


def _main(argv, backend=None, sleep=time.sleep, rounds=None):
    parser = argparse.ArgumentParser(prog="lvscare", description="Keep an IPVS virtual server on healthy masters")
    sub = parser.add_subparsers(dest="command")
    care_p = sub.add_parser("care")
    care_p.add_argument("--vs", required=True)
    care_p.add_argument("--rs", action="append", required=True)
    care_p.add_argument("--health-path", default="/healthz")
    care_p.add_argument("--health-scheme", default="https", choices=("https", "http"))
    care_p.add_argument("--interval", type=float, default=5.0)
    care_p.add_argument("--fall", type=int, default=3)
    care_p.add_argument("--rise", type=int, default=2)
    args = parser.parse_args(argv)
    if args.command != "care":
        parser.print_usage(sys.stderr)
        return 2
    try:
        vs = endpoint(args.vs)
        real_servers = [endpoint(rs) for rs in args.rs]
        backend = backend or IpvsadmBackend()
        ensure(backend, vs, real_servers)
    except LvscareError as exc:
        sys.stderr.write("lvscare: %s\n" % exc)
        return 1
    care = Care(real_servers, fall=args.fall, rise=args.rise)

    def check(rs):
        return https_healthy(rs, args.health_path, scheme=args.health_scheme)

    done = 0
    while rounds is None or done < rounds:
        try:
            ops, transitions = care_once(backend, vs, care, check)
        except LvscareError as exc:  # a failed ipvsadm call is retried next round
            sys.stderr.write("lvscare: %s\n" % exc)
            ops, transitions = [], []
        for rs, change in transitions:
            sys.stdout.write(json.dumps({"real_server": rs, "now": change}) + "\n")
        for op, _vs, rs in ops:
            sys.stdout.write(json.dumps({"rule": op, "real_server": show(rs) if rs else None}) + "\n")
        sys.stdout.flush()
        done += 1
        if rounds is None or done < rounds:
            sleep(args.interval)
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    raise SystemExit(_main(sys.argv[1:]))  # sys.exit, without the call ansible-test refuses in module_utils
