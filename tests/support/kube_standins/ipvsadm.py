#!/usr/bin/python3
"""**Stand-in** for ipvsadm (tests only): the test hosts are systemd-nspawn containers whose kernel has
no IPVS, so the e2e tests put this in /usr/local/sbin of the hosts. It keeps the IPVS table in
/var/lib/kube-standin/ipvs.json, understands what collection/plugins/module_utils/_lvscare.py runs
(-S -n, -A, -D, -a, -d) with ipvsadm's argument checks, and logs every call to /var/log/kube-standin.log."""

import fcntl
import json
import os
import socket
import sys
import time

STATE = "/var/lib/kube-standin/ipvs.json"
LOG = "/var/log/kube-standin.log"


def main(argv):
    os.makedirs(os.path.dirname(STATE), exist_ok=True)
    with open(STATE + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(STATE) as handle:
                table = json.load(handle)
        except (OSError, ValueError):
            table = {}
        code, out = apply(table, argv)
        with open(STATE + ".tmp", "w") as handle:
            json.dump(table, handle, indent=1, sort_keys=True)
        os.replace(STATE + ".tmp", STATE)
    with open(LOG, "a") as log:
        log.write(json.dumps({"host": socket.gethostname(), "time": time.time(), "tool": "ipvsadm", "argv": argv,
                              "rc": code}) + "\n")
    sys.stdout.write(out)
    return code


def apply(table, argv):
    if argv == ["-S", "-n"] or argv == ["-Sn"]:
        lines = []
        for vs in sorted(table):
            lines.append("-A -t %s -s %s" % (vs, table[vs]["scheduler"]))
            for rs in sorted(table[vs]["real"]):
                lines.append("-a -t %s -r %s -m -w %s" % (vs, rs, table[vs]["real"][rs]))
        return 0, "".join(line + "\n" for line in lines)
    op, args = argv[0], argv[1:]
    if len(args) < 2 or args[0] != "-t":
        return 2, "ipvsadm: only TCP services (-t) are known to the stand-in: %r\n" % argv
    vs = args[1]
    if op == "-A":
        if vs in table:
            return 1, "Service already exists\n"
        scheduler = args[args.index("-s") + 1] if "-s" in args else "wlc"
        table[vs] = {"scheduler": scheduler, "real": {}}
    elif op == "-D":
        if table.pop(vs, None) is None:
            return 1, "No such service\n"
    elif op in ("-a", "-d"):
        if vs not in table:
            return 1, "No such service\n"
        if "-r" not in args:
            return 2, "ipvsadm: -r is required\n"
        rs = args[args.index("-r") + 1]
        if op == "-a":
            if rs in table[vs]["real"]:
                return 1, "Destination already exists\n"
            table[vs]["real"][rs] = args[args.index("-w") + 1] if "-w" in args else "1"
        elif table[vs]["real"].pop(rs, None) is None:
            return 1, "No such destination\n"
    else:
        return 2, "ipvsadm: the stand-in does not know %r\n" % argv
    return 0, ""


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
