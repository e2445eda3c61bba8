#!/usr/bin/python3
"""**Stand-in** wrapper of ``ip`` for the dummy link the lvscare module puts the VIP on (tests only): the
kernel of the systemd-nspawn test hosts cannot make dummy links, so the e2e tests put this in
/usr/local/sbin. Calls about the link ``sealer-ipvs`` are kept in /var/lib/kube-standin/links.json and
logged; every other call runs the real ip unchanged."""

import json
import os
import socket
import sys
import time

LINK = "sealer-ipvs"
STATE = "/var/lib/kube-standin/links.json"
LOG = "/var/log/kube-standin.log"
REAL = next(p for p in ("/usr/bin/ip", "/bin/ip", "/usr/sbin/ip", "/sbin/ip") if os.path.exists(p))


def main(argv):
    if LINK not in argv:
        os.execv(REAL, [REAL] + argv)
    try:
        with open(STATE) as handle:
            links = json.load(handle)
    except (OSError, ValueError):
        links = {}
    code, out = 0, ""
    if argv[:2] == ["link", "add"] and argv[3:] == ["type", "dummy"]:
        if LINK in links:
            code, out = 2, "RTNETLINK answers: File exists\n"
        links[LINK] = []
    elif LINK not in links:
        code, out = 1, 'Device "%s" does not exist.\n' % LINK
    elif argv[:2] == ["link", "show"]:
        out = "9: %s: <BROADCAST,NOARP,UP,LOWER_UP> mtu 1500 qdisc noqueue state UNKNOWN\n" % LINK
    elif argv[:3] == ["-o", "addr", "show"]:
        out = "".join("9: %s    inet %s scope global %s\n" % (LINK, a, LINK) for a in links[LINK])
    elif argv[:2] == ["addr", "add"]:
        links[LINK].append(argv[2])
    elif argv[:2] == ["addr", "del"]:
        links[LINK].remove(argv[2])
    else:
        code, out = 2, "the ip stand-in does not know %r\n" % argv
    os.makedirs(os.path.dirname(STATE), exist_ok=True)
    with open(STATE, "w") as handle:
        json.dump(links, handle)
    with open(LOG, "a") as log:
        log.write(json.dumps({"host": socket.gethostname(), "time": time.time(), "tool": "ip", "argv": argv,
                              "rc": code}) + "\n")
    (sys.stderr if code else sys.stdout).write(out)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
