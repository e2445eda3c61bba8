"""Network checks of a Kubernetes cluster's shape, made before any host is touched: the pod, service
and host networks must not overlap, the VIP must not be an address the hosts' network may use, and
an even number of masters is worth a warning (etcd's quorum gains nothing from the last one)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Problem:
    severity: str  # "error" | "warning"
    message: str


def network_problems(pod_cidr: str, svc_cidr: str, host_ips: Sequence[str], vip: str,
                     masters: int, host_prefix: int | None = None) -> list[Problem]:
    """Everything wrong with these networks, errors first. *host_prefix* is the hosts' subnet length
    when known (from the hosts' facts); without it, /24 around each host is taken as in use."""
    problems: list[Problem] = []
    nets: dict[str, Network] = {}
    for name, text in (("pod subnet", pod_cidr), ("service subnet", svc_cidr)):
        for part in str(text).split(","):  # dual stack: "10.244.0.0/16,fd00:10:244::/56"
            try:
                nets[f"{name} {part.strip()}"] = ipaddress.ip_network(part.strip(), strict=True)
            except ValueError as exc:
                problems.append(Problem("error", f"{name} {part.strip()!r} is not a network: {exc}"))
    named = list(nets.items())
    for i, (a_name, a) in enumerate(named):
        for b_name, b in named[i + 1:]:
            if a.version == b.version and a.overlaps(b):
                problems.append(Problem("error", f"{a_name} overlaps {b_name}"))
    for ip in host_ips:
        address = ipaddress.ip_address(ip)
        for net_name, net in named:
            if address.version == net.version and address in net:
                problems.append(Problem("error", f"host {ip} is inside the {net_name}: its traffic would be "
                                                 "taken for the cluster's"))
    try:
        vip_address = ipaddress.ip_address(vip)
    except ValueError:
        problems.append(Problem("error", f"VIP {vip!r} is not an IP address"))
        vip_address = None
    if vip_address is not None:
        if str(vip_address) in {str(ipaddress.ip_address(ip)) for ip in host_ips}:
            problems.append(Problem("error", f"VIP {vip} is one of the hosts' addresses"))
        else:
            for ip in host_ips:
                address = ipaddress.ip_address(ip)
                if address.version != vip_address.version:
                    continue
                prefix = host_prefix if host_prefix is not None else (24 if address.version == 4 else 64)
                subnet = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
                if vip_address in subnet:
                    problems.append(Problem("error", f"VIP {vip} is inside the hosts' subnet {subnet} (host {ip}): "
                                                     "another machine may hold it; choose an address outside"))
                    break
        for net_name, net in named:
            if vip_address.version == net.version and vip_address in net:
                problems.append(Problem("error", f"VIP {vip} is inside the {net_name}"))
    if masters > 1 and masters % 2 == 0:
        problems.append(Problem("warning", f"{masters} masters: etcd tolerates no more failures than with "
                                           f"{masters - 1}; an odd number is recommended"))
    return sorted(problems, key=lambda p: p.severity != "error")
