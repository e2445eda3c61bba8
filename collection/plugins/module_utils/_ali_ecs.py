# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.
"""Private to the sealer.cluster collection: a cluster's machines on Alibaba Cloud ECS, through
aliyun-python-sdk-ecs and aliyun-python-sdk-vpc (RPC API, HMAC-SHA1 signed by aliyun-python-sdk-core).

Everything created carries the tag ``sealer.io/cluster=<name>`` (instances also ``sealer.io/role`` and
``sealer.io/index``); only what carries it is reused or released. A VPC given by id is never deleted.
A zone out of stock for the instance type is left for the next zone (a vSwitch per zone used).
"""

from __future__ import annotations

import importlib
import ipaddress
import json
import logging
import os
import uuid

from . import _cloud as c

VERSIONS = {"ecs": "v20140526", "vpc": "v20160428"}
#: Where tests and private clouds point the SDK: one URL for both ECS and VPC (``http://127.0.0.1:8080``).
ENDPOINT_ENV = "ALIBABA_CLOUD_ENDPOINT_URL"
#: Credentials: sealer's names first, then the SDK's standard ones.
KEY_ENVS = ("ACCESSKEYID", "ALIBABA_CLOUD_ACCESS_KEY_ID")
SECRET_ENVS = ("ACCESSKEYSECRET", "ALIBABA_CLOUD_ACCESS_KEY_SECRET")
REGION_ENVS = ("RegionID", "ALIBABA_CLOUD_REGION_ID")
#: System images tried in order when none is given (by name, newest first).
DEFAULT_IMAGES = ("debian_12_*", "ubuntu_24_04_x64*", "ubuntu_22_04_x64*")
GONE = "gone"


def env_first(names):
    return next((os.environ[n] for n in names if os.environ.get(n)), None)


class Api:
    """Calls ECS and VPC RPC actions through the SDK's request classes, with one client."""

    def __init__(self, region, access_key=None, secret_key=None, endpoint_url=None):
        from aliyunsdkcore.client import AcsClient

        access_key = access_key or env_first(KEY_ENVS)
        secret_key = secret_key or env_first(SECRET_ENVS)
        if not access_key or not secret_key:
            raise c.CloudError("no Alibaba Cloud credentials: set ACCESSKEYID and ACCESSKEYSECRET "
                               "(or ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET)", "NoCredentials", "credentials", "")
        self.client = AcsClient(access_key, secret_key, region, auto_retry=False, timeout=60, connect_timeout=10)
        # the SDK logs every refused call at ERROR; ours are retried or reported with the cloud's message
        logging.getLogger("aliyunsdkcore").setLevel(logging.CRITICAL)
        self.region = region
        endpoint_url = endpoint_url or os.environ.get(ENDPOINT_ENV)
        self.scheme, self.host = None, None
        if endpoint_url:
            scheme, host = endpoint_url.split("://", 1) if "://" in endpoint_url else ("https", endpoint_url)
            self.scheme, self.host = scheme, host.rstrip("/")

    def __call__(self, product, action, params):
        module = importlib.import_module("aliyunsdk%s.request.%s.%sRequest" % (product, VERSIONS[product], action))
        request = getattr(module, action + "Request")()
        request.set_accept_format("json")
        for key, value in params.items():
            if value is not None:
                request.add_query_param(key, value)
        if self.host:
            request.set_endpoint(self.host)
            request.set_protocol_type(self.scheme)
        return json.loads(self.client.do_action_with_exception(request))


def translate(exc, resource, operation):
    code = getattr(exc, "get_error_code", None)
    if code is None:
        return None
    code = str(exc.get_error_code() or "")
    status = exc.get_http_status() if hasattr(exc, "get_http_status") else None
    retryable, stock = c.classify(code, status)
    return c.CloudError(str(exc.get_error_msg() or exc), code, resource, operation, retryable, stock)


def _tags(cluster, extra=None):
    pairs = [(c.TAG_CLUSTER, cluster)] + list((extra or {}).items())
    params = {}
    for n, (key, value) in enumerate(pairs, 1):
        params["Tag.%d.Key" % n] = key
        params["Tag.%d.Value" % n] = value
    return params


def _tag(item, key):
    for tag in (item.get("Tags") or {}).get("Tag") or ():
        if tag.get("TagKey", tag.get("Key")) == key:
            return tag.get("TagValue", tag.get("Value"))
    return None


class EcsCluster:
    def __init__(self, api, call, cluster, region, rng=None, sleep=None, wait_timeout=900.0):
        self.api = api
        self.call = call
        self.cluster = cluster
        self.region = region
        self.rng = rng
        self.sleep = sleep or call.sleep
        self.wait_timeout = wait_timeout
        self.created = {}
        self.plan = []

    def _do(self, resource, product, action, **params):
        params.setdefault("RegionId", self.region)
        return self.call(resource, action, self.api, product, action, params)

    def _note(self, resource, ident):
        self.created.setdefault(resource, []).append(ident)

    def _wait_available(self, resource, describe, ident):
        c.wait_all(lambda ids: {ident: describe(ident)}, [ident], lambda item: item and item.get("Status") == "Available",
                   sleep=self.sleep, rng=self.rng, timeout=self.wait_timeout, base=0.5, cap=4.0, what=resource)

    # ---- network ---------------------------------------------------------------------------------

    def _vpc(self, vpc_id):
        found = self._do("vpc", "vpc", "DescribeVpcs", VpcId=vpc_id)["Vpcs"]["Vpc"]
        return found[0] if found else None

    def ensure_vpc(self, vpc_id, cidr, check):
        if vpc_id:
            vpc = self._vpc(vpc_id)
            if vpc is None:
                raise c.CloudError("VPC not found", "InvalidVpcId.NotFound", vpc_id, "DescribeVpcs")
            return vpc, False
        found = self._do("vpc", "vpc", "DescribeVpcs", **{"Tag.1.Key": c.TAG_CLUSTER, "Tag.1.Value": self.cluster})
        found = found["Vpcs"]["Vpc"]
        if found:
            return found[0], True
        self.plan.append("create vpc %s" % cidr)
        if check:
            return {"VpcId": "(new vpc)", "CidrBlock": cidr}, True
        vpc_id = self._do("vpc", "vpc", "CreateVpc", CidrBlock=cidr, VpcName="sealer-" + self.cluster,
                          ClientToken=uuid.uuid4().hex, **_tags(self.cluster))["VpcId"]
        self._note("vpc", vpc_id)
        self._wait_available("vpc", self._vpc, vpc_id)
        return {"VpcId": vpc_id, "CidrBlock": cidr, "_new": True}, True

    def vswitches(self, vpc):
        if vpc["VpcId"].startswith("("):
            return []
        return self._do("vswitch", "vpc", "DescribeVSwitches", VpcId=vpc["VpcId"], PageSize=50,
                        **{"Tag.1.Key": c.TAG_CLUSTER, "Tag.1.Value": self.cluster})["VSwitches"]["VSwitch"]

    def ensure_vswitch(self, vpc, zone, known, check):
        for vsw in known:
            if vsw["ZoneId"] == zone:
                return vsw
        cidr = self._free_cidr(vpc)
        self.plan.append("create vswitch %s in %s" % (cidr, zone))
        if check:
            vsw = {"VSwitchId": "(new vswitch)", "ZoneId": zone, "CidrBlock": cidr}
            known.append(vsw)
            return vsw
        vsw_id = self._do("vswitch", "vpc", "CreateVSwitch", VpcId=vpc["VpcId"], ZoneId=zone, CidrBlock=cidr,
                          VSwitchName="sealer-%s-%s" % (self.cluster, zone), ClientToken=uuid.uuid4().hex,
                          **_tags(self.cluster))["VSwitchId"]
        self._note("vswitch", vsw_id)

        def describe(ident):
            found = self._do("vswitch", "vpc", "DescribeVSwitches", VSwitchId=ident)["VSwitches"]["VSwitch"]
            return found[0] if found else None
        self._wait_available("vswitch", describe, vsw_id)
        vsw = {"VSwitchId": vsw_id, "ZoneId": zone, "CidrBlock": cidr}
        known.append(vsw)
        return vsw

    def _free_cidr(self, vpc):
        net = ipaddress.ip_network(vpc["CidrBlock"])
        used = []
        if not vpc["VpcId"].startswith("(") and not vpc.get("_new"):  # a VPC made in this run holds only ours
            used = [ipaddress.ip_network(v["CidrBlock"]) for v in self._do(
                "vswitch", "vpc", "DescribeVSwitches", VpcId=vpc["VpcId"], PageSize=50)["VSwitches"]["VSwitch"]]
        used += [ipaddress.ip_network(cidr) for cidr in getattr(self, "_taken", ())]
        for candidate in net.subnets(new_prefix=max(net.prefixlen, 20)):
            if not any(candidate.overlaps(u) for u in used):
                self._taken = list(getattr(self, "_taken", ())) + [str(candidate)]
                return str(candidate)
        raise c.CloudError("no free /20 left in %s" % vpc["CidrBlock"], "InvalidParameter", "vswitch", "choose cidr")

    def zone_names(self):
        """The region's zones (one call, made only when a zone must be chosen or one is out of stock)."""
        return sorted(z["ZoneId"] for z in self._do("zone", "ecs", "DescribeZones")["Zones"]["Zone"])

    def ensure_security_group(self, vpc, allow_from, ports, check):
        groups = [] if vpc["VpcId"].startswith("(") else self._do(
            "security group", "ecs", "DescribeSecurityGroups", VpcId=vpc["VpcId"],
            **{"Tag.1.Key": c.TAG_CLUSTER, "Tag.1.Value": self.cluster})["SecurityGroups"]["SecurityGroup"]
        if groups:
            sg = groups[0]["SecurityGroupId"]
            have = _rules(self._do("security group", "ecs", "DescribeSecurityGroupAttribute", SecurityGroupId=sg,
                                   Direction="ingress")["Permissions"]["Permission"])
        else:
            self.plan.append("create security group sealer-%s (ports %s from %s; all traffic inside)" % (
                self.cluster, ",".join(map(str, ports)), ",".join(allow_from) or "nowhere outside"))
            if check:
                return "(new security group)"
            sg = self._do("security group", "ecs", "CreateSecurityGroup", VpcId=vpc["VpcId"],
                          SecurityGroupName="sealer-" + self.cluster, ClientToken=uuid.uuid4().hex,
                          **_tags(self.cluster))["SecurityGroupId"]
            self._note("security group", sg)
            have = set()
        # inside the group: everything; from the controller's CIDRs: the ports asked for
        wanted = {("ALL", "-1/-1", "sg:" + sg)} | {("TCP", "%d/%d" % (p, p), cidr) for p in ports for cidr in allow_from}
        missing = sorted(wanted - have)
        managed = {"%d/%d" % (p, p) for p in ports}
        stale = sorted(r for r in have - wanted if r[0] == "TCP" and r[1] in managed and not r[2].startswith("sg:"))
        if missing and groups:
            self.plan.append("open %s on %s" % (", ".join(_rule_text(r) for r in missing), sg))
        if stale:
            self.plan.append("close %s on %s" % (", ".join(_rule_text(r) for r in stale), sg))
        if missing and not check:
            self._do("security group", "ecs", "AuthorizeSecurityGroup", SecurityGroupId=sg, **_permissions(missing))
        if stale and not check:
            self._do("security group", "ecs", "RevokeSecurityGroup", SecurityGroupId=sg, **_permissions(stale))
        return sg

    def ensure_key_pair(self, public_key, check):
        if not public_key:
            return None
        name = "sealer-" + self.cluster
        found = self._do("key pair", "ecs", "DescribeKeyPairs", KeyPairName=name)["KeyPairs"]["KeyPair"]
        if found:
            return name
        self.plan.append("import key pair %s" % name)
        if not check:
            self._do("key pair", "ecs", "ImportKeyPair", KeyPairName=name, PublicKeyBody=public_key,
                     **_tags(self.cluster))
            self._note("key pair", name)
        return name

    def find_image(self, image_id):
        if image_id:
            return image_id
        for pattern in DEFAULT_IMAGES:
            images = self._do("image", "ecs", "DescribeImages", ImageOwnerAlias="system", ImageName=pattern,
                              OSType="linux", Architecture="x86_64", PageSize=50)["Images"]["Image"]
            if images:
                return max(images, key=lambda i: (i.get("CreationTime") or "", i["ImageId"]))["ImageId"]
        raise c.CloudError("no Debian 12 or Ubuntu LTS system image in the region; set the machine image",
                           "InvalidImageId.NotFound", "image", "DescribeImages")

    # ---- instances --------------------------------------------------------------------------------

    def _instances(self, **filters):
        out, page = [], 1
        while True:
            found = self._do("instance", "ecs", "DescribeInstances", PageSize=100, PageNumber=page, **filters)
            out.extend(found["Instances"]["Instance"])
            if len(out) >= int(found.get("TotalCount") or 0) or not found["Instances"]["Instance"]:
                return out
            page += 1

    def existing(self):
        out = []
        for inst in self._instances(**{"Tag.1.Key": c.TAG_CLUSTER, "Tag.1.Value": self.cluster}):
            batch = _tag(inst, c.TAG_INDEX) or ""
            out.append({"id": inst["InstanceId"], "role": _tag(inst, c.TAG_ROLE) or "",
                        "batch": int(batch) if batch.isdigit() else 0, "raw": inst})
        return out

    def run_batch(self, group, indexes, public, image_id, vswitch, sg, key_name, password):
        params = {"ImageId": image_id, "InstanceType": group["instance_type"], "Amount": len(indexes),
                  "MinAmount": len(indexes), "VSwitchId": vswitch["VSwitchId"], "ZoneId": vswitch["ZoneId"],
                  "SecurityGroupId": sg, "InstanceName": "sealer-%s-%s" % (self.cluster, group["role"]),
                  "SystemDisk.Size": group["system_disk"], "SystemDisk.Category": "cloud_essd",
                  "InternetMaxBandwidthOut": 10 if public else 0, "ClientToken": uuid.uuid4().hex,
                  "KeyPairName": key_name, "Password": password}
        for n, size in enumerate(group["data_disks"], 1):
            params.update({"DataDisk.%d.Size" % n: size, "DataDisk.%d.Category" % n: "cloud_essd",
                           "DataDisk.%d.DeleteWithInstance" % n: "true"})
        params.update(_tags(self.cluster, {c.TAG_ROLE: group["role"], c.TAG_INDEX: str(indexes[0])}))
        ids = self._do("instance", "ecs", "RunInstances", **params)["InstanceIdSets"]["InstanceIdSet"]
        self.created.setdefault("instance", []).extend(ids)
        return ids

    def describe(self, ids):
        found = {i["InstanceId"]: i for i in self._instances(InstanceIds=json.dumps(list(ids)))}
        return {ident: found.get(ident, GONE) for ident in ids}

    def wait(self, ids, public_ids, gone=False, settle=False):
        def ready(inst):
            if gone:
                return inst == GONE
            if inst == GONE:
                return False
            if inst["Status"] == "Stopped":
                raise c.CloudError("instance stopped while starting", "IncorrectInstanceStatus", inst["InstanceId"],
                                   "wait")
            private = (inst.get("VpcAttributes") or {}).get("PrivateIpAddress", {}).get("IpAddress") or []
            public = (inst.get("PublicIpAddress") or {}).get("IpAddress") or []
            return inst["Status"] == "Running" and bool(private) and (inst["InstanceId"] not in public_ids or bool(public))
        return c.wait_all(self.describe, ids, ready, sleep=self.sleep, rng=self.rng, timeout=self.wait_timeout,
                          settle=settle)


def _rules(permissions):
    """ECS ingress permissions as a set of (protocol, port range, source), the source a CIDR or ``sg:<id>``."""
    out = set()
    for perm in permissions:
        if perm.get("Direction", "ingress") != "ingress":
            continue
        source = perm.get("SourceCidrIp") or perm.get("Ipv6SourceCidrIp") or (
            "sg:" + perm["SourceGroupId"] if perm.get("SourceGroupId") else "")
        if source:
            out.add((str(perm.get("IpProtocol", "")).upper(), perm.get("PortRange", ""), source))
    return out


def _permissions(rules):
    params = {}
    for n, (proto, ports, source) in enumerate(rules, 1):
        params["Permissions.%d.IpProtocol" % n] = proto
        params["Permissions.%d.PortRange" % n] = ports
        key = "SourceGroupId" if source.startswith("sg:") else "Ipv6SourceCidrIp" if ":" in source else "SourceCidrIp"
        params["Permissions.%d.%s" % (n, key)] = source[3:] if source.startswith("sg:") else source
    return params


def _rule_text(rule):
    proto, ports, source = rule
    what = "all traffic" if proto == "ALL" else "%s %s" % (proto, ports.split("/")[0])
    return "%s from %s" % (what, "the group itself" if source.startswith("sg:") else source)


def _ip(inst, key):
    if key == "private":
        ips = (inst.get("VpcAttributes") or {}).get("PrivateIpAddress", {}).get("IpAddress") or []
    else:
        ips = (inst.get("PublicIpAddress") or {}).get("IpAddress") or []
    return ips[0] if ips else ""


def apply(api, call, params, check=False, sleep=None, rng=None, created=None):
    """Create or reconcile the cluster's machines (see _aws_ec2.apply); out of stock in a zone moves the
    rest of the batch's instances to the next zone."""
    cluster = EcsCluster(api, call, params["cluster"], params["region"], rng=rng, sleep=sleep,
                         wait_timeout=float(params.get("wait_timeout") or 900))
    if created is not None:
        cluster.created = created
    groups = c.normalize_groups(params["groups"], c.ALI_CATALOG)
    vpc, vpc_ours = cluster.ensure_vpc(params.get("vpc_id"), params.get("vpc_cidr") or "172.16.0.0/16", check)
    known = cluster.vswitches(vpc)
    zones = ZoneOrder(cluster, params.get("zone") or (known[0]["ZoneId"] if known else None))
    sg = cluster.ensure_security_group(vpc, list(params.get("allow_from") or ()),
                                       list(params.get("ports") or (22, 6443)), check)
    key_name = cluster.ensure_key_pair(params.get("public_key"), check)
    existing = cluster.existing()
    plan = c.plan_instances(groups, existing, cluster.plan)
    machines = []
    if check:
        if plan["create"]:
            cluster.ensure_vswitch(vpc, next(zones.candidates()), known, check)
    else:
        if plan["release"]:
            ids = [i["id"] for i in plan["release"]]
            cluster._do("instance", "ecs", "DeleteInstances", Force="true",
                        **{"InstanceId.%d" % n: ident for n, ident in enumerate(ids, 1)})
        image_id = cluster.find_image(params.get("image_id")) if plan["create"] else None
        new, public_ids = [], set()
        for group, indexes, is_public in c.batches(plan["create"]):
            ids = _run_in_some_zone(cluster, vpc, zones, known, group, indexes, is_public, image_id, sg, key_name,
                                    params.get("password"))
            new.extend((group["role"], idx, iid) for idx, iid in zip(indexes, sorted(ids), strict=True))
            if is_public:
                public_ids.update(ids)
        machines = c.ready_machines(plan, new, public_ids, groups, cluster.wait, lambda inst: (
            _ip(inst, "private"), _ip(inst, "public"), inst.get("ZoneId"), inst.get("InstanceType")))
    released = {"instance": [i["id"] for i in plan["release"]]} if plan["release"] and not check else {}
    return {"changed": bool(cluster.plan), "plan": cluster.plan, "machines": machines, "created": cluster.created,
            "released": released, "network": {"vpc_id": vpc["VpcId"], "vpc_ours": vpc_ours,
                                              "vswitch_ids": [v["VSwitchId"] for v in known],
                                              "security_group_id": sg, "key_pair": key_name}}


class ZoneOrder:
    """The zones to try: the one asked for (or already used) first, then the region's others; zones
    out of stock are skipped for the rest of the run. The region's list is fetched only when needed."""

    def __init__(self, cluster, first):
        self.cluster = cluster
        self.first = first
        self.names = None
        self.skipped = set()

    def candidates(self):
        if self.first and self.first not in self.skipped:
            yield self.first
        if self.names is None:
            self.names = self.cluster.zone_names()
        for name in self.names:
            if name != self.first and name not in self.skipped:
                yield name


def _run_in_some_zone(cluster, vpc, zones, known, group, indexes, public, image_id, sg, key_name, password):
    """One RunInstances call in the first zone with stock: a zone answering out of stock is skipped for
    the rest of this run; any other error stops at once."""
    last = None
    for zone in zones.candidates():
        vswitch = cluster.ensure_vswitch(vpc, zone, known, False)
        try:
            return cluster.run_batch(group, indexes, public, image_id, vswitch, sg, key_name, password)
        except c.CloudError as exc:
            if not exc.stock:
                raise
            last = exc
            zones.skipped.add(zone)
            cluster.plan.append("zone %s has no stock of %s (%s): next zone" % (zone, group["instance_type"], exc.code))
    raise last or c.CloudError("no zone left", "OperationDenied.NoStock", "instance", "RunInstances")


def delete(api, call, params, check=False, sleep=None, rng=None):
    """Release every resource tagged with the cluster (instances first), and nothing else."""
    cluster = EcsCluster(api, call, params["cluster"], params["region"], rng=rng, sleep=sleep,
                         wait_timeout=float(params.get("wait_timeout") or 900))
    tag = {"Tag.1.Key": c.TAG_CLUSTER, "Tag.1.Value": cluster.cluster}
    instances = [i["id"] for i in cluster.existing()]
    sgs = [g["SecurityGroupId"] for g in cluster._do("security group", "ecs", "DescribeSecurityGroups",
                                                     **tag)["SecurityGroups"]["SecurityGroup"]]
    keys = [k["KeyPairName"] for k in cluster._do("key pair", "ecs", "DescribeKeyPairs", KeyPairName="sealer-" + cluster.cluster,
                                                  **tag)["KeyPairs"]["KeyPair"]]
    vswitches = [v["VSwitchId"] for v in cluster._do("vswitch", "vpc", "DescribeVSwitches", PageSize=50,
                                                     **tag)["VSwitches"]["VSwitch"]]
    vpcs = [v["VpcId"] for v in cluster._do("vpc", "vpc", "DescribeVpcs", **tag)["Vpcs"]["Vpc"]
            if v["VpcId"] != params.get("vpc_id")]
    plan = (["release instance %s" % i for i in instances] + ["delete security group %s" % g for g in sgs]
            + ["delete key pair %s" % k for k in keys] + ["delete vswitch %s" % v for v in vswitches]
            + ["delete vpc %s" % v for v in vpcs])
    if check:
        return {"changed": bool(plan), "plan": plan, "released": {}, "machines": []}
    if instances:
        cluster._do("instance", "ecs", "DeleteInstances", Force="true",
                    **{"InstanceId.%d" % n: ident for n, ident in enumerate(instances, 1)})
        cluster.wait(instances, set(), gone=True, settle=True)
    for sg in sgs:
        _dependent(cluster, "security group", "ecs", "DeleteSecurityGroup", SecurityGroupId=sg)
    if keys:
        cluster._do("key pair", "ecs", "DeleteKeyPairs", KeyPairNames=json.dumps(keys))
    for vsw in vswitches:
        _dependent(cluster, "vswitch", "vpc", "DeleteVSwitch", VSwitchId=vsw)
    for vpc in vpcs:
        _dependent(cluster, "vpc", "vpc", "DeleteVpc", VpcId=vpc)
    released = {k: v for k, v in (("instance", instances), ("security group", sgs), ("key pair", keys),
                                  ("vswitch", vswitches), ("vpc", vpcs)) if v}
    return {"changed": bool(plan), "plan": plan, "released": released, "machines": []}


def _dependent(cluster, resource, product, action, **params):
    """A delete refused while a just-released dependant lingers (DependencyViolation, Incorrect*Status):
    retried with backoff for a while."""
    backoff = c.delays(1.0, 10.0, cluster.rng)
    for attempt in range(12):
        try:
            return cluster._do(resource, product, action, **params)
        except c.CloudError as exc:
            busy = exc.code.startswith(("DependencyViolation", "IncorrectStatus", "IncorrectVSwitchStatus",
                                        "IncorrectVpcStatus", "InvalidOperation.ResourceInUse"))
            if not busy or attempt == 11:
                raise
            cluster.sleep(next(backoff))
