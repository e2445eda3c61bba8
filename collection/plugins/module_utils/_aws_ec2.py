# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.
"""Private to the sealer.cluster collection: a cluster's machines on AWS EC2, through boto3.

Everything created carries ``sealer.io/cluster=<name>`` (and instances ``sealer.io/role``), and only
what carries it is ever reused or deleted. A VPC given by id is used as it is and never deleted.
boto3 is imported by :func:`client`, so the logic here is testable with a stand-in client.
"""

from __future__ import annotations

import ipaddress
import uuid

from . import _cloud as c

#: Debian's official AMIs (owner 136693071363), then Ubuntu LTS (Canonical, 099720109477).
DEFAULT_IMAGES = (("136693071363", "debian-12-amd64-*"),
                  ("099720109477", "ubuntu/images/hvm-ssd*/ubuntu-*-24.04-amd64-server-*"),
                  ("099720109477", "ubuntu/images/hvm-ssd*/ubuntu-*-22.04-amd64-server-*"))
AUTH_CODES = ("AuthFailure", "UnauthorizedOperation", "InvalidClientTokenId", "SignatureDoesNotMatch",
              "AccessDenied", "OptInRequired", "NoCredentials")
ALIVE = ("pending", "running", "stopping", "stopped")


def client(region, endpoint_url=None, access_key=None, secret_key=None, session_token=None):
    """An EC2 client without botocore's own retries (ours count and classify every attempt). The
    standard credential chain and ``AWS_ENDPOINT_URL`` apply unless given here."""
    import boto3
    from botocore.config import Config

    kwargs = {"region_name": region, "config": Config(retries={"total_max_attempts": 1, "mode": "standard"},
                                                      connect_timeout=10, read_timeout=60)}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    if access_key:
        kwargs.update(aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                      aws_session_token=session_token)
    return boto3.client("ec2", **kwargs)


def translate(exc, resource, operation):
    """botocore's exceptions as CloudError (None for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response.get("Error") or {}
        code = str(error.get("Code") or "")
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        retryable, stock = c.classify(code, status)
        return c.CloudError(str(error.get("Message") or exc), code, resource, operation, retryable, stock)
    name = type(exc).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return c.CloudError("no AWS credentials found (environment, ~/.aws, or instance profile)", "NoCredentials",
                            resource, operation)
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError"):
        return c.CloudError(str(exc), "SDK.ServerUnreachable", resource, operation, retryable=True)
    return None


def _tags(cluster, role=None, extra=None):
    tags = [{"Key": c.TAG_CLUSTER, "Value": cluster}, {"Key": "Name", "Value": "sealer-%s%s" % (
        cluster, "-" + role if role else "")}]
    if role:
        tags.append({"Key": c.TAG_ROLE, "Value": role})
    for key, value in (extra or {}).items():
        tags.append({"Key": key, "Value": value})
    return tags


def _tag_value(item, key):
    return next((t["Value"] for t in item.get("Tags") or () if t["Key"] == key), None)


class Ec2Cluster:
    """One cluster's resources. *call* is a :class:`_cloud.Retrier`."""

    def __init__(self, ec2, call, cluster, rng=None, sleep=None, wait_timeout=900.0):
        self.ec2 = ec2
        self.call = call
        self.cluster = cluster
        self.rng = rng
        self.sleep = sleep or call.sleep
        self.wait_timeout = wait_timeout
        self.created = {}
        self.deleted = {}
        self.plan = []
        self._zones = None
        self.skipped = set()  # zones that answered "no capacity" in this run

    def _do(self, resource, operation, **kwargs):
        return self.call(resource, operation, getattr(self.ec2, operation), **kwargs)

    def _ours(self):
        return [{"Name": "tag:" + c.TAG_CLUSTER, "Values": [self.cluster]}]

    def _note(self, what, resource, ident=None):
        getattr(self, what).setdefault(resource, [])
        if ident:
            getattr(self, what)[resource].append(ident)

    # ---- network ---------------------------------------------------------------------------------

    def find_vpc(self, vpc_id=None):
        """(vpc, ours): the VPC given by id (never ours), else the one carrying our tag, else (None, True)."""
        if vpc_id:
            found = self._do("vpc", "describe_vpcs", VpcIds=[vpc_id])["Vpcs"]
            return found[0], False
        found = self._do("vpc", "describe_vpcs", Filters=self._ours())["Vpcs"]
        return (found[0] if found else None), True

    def ensure_vpc(self, vpc_id, cidr, check):
        vpc, ours = self.find_vpc(vpc_id)
        if vpc is None:
            self.plan.append("create vpc %s" % cidr)
            if check:
                return {"VpcId": "(new vpc)", "CidrBlock": cidr}, True
            vpc = self._do("vpc", "create_vpc", CidrBlock=cidr, TagSpecifications=[
                {"ResourceType": "vpc", "Tags": _tags(self.cluster)}])["Vpc"]
            self._note("created", "vpc", vpc["VpcId"])
        return vpc, ours

    def subnets(self, vpc):
        """Our subnets in *vpc* (one per availability zone used)."""
        if vpc["VpcId"].startswith("("):
            return []
        return self._do("subnet", "describe_subnets", Filters=self._ours() + [
            {"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]

    def zones(self, first):
        """The region's available zones, *first* first (one call, made when a zone must be chosen)."""
        if self._zones is None:
            found = self._do("zone", "describe_availability_zones",
                             Filters=[{"Name": "state", "Values": ["available"]}])["AvailabilityZones"]
            self._zones = sorted(z["ZoneName"] for z in found)
        return ([first] if first else []) + [z for z in self._zones if z != first]

    def ensure_subnet(self, vpc, zone, known, cidr, check):
        """Our subnet in *zone*, made when missing (*known*: our subnets so far, updated)."""
        for subnet in known:
            if subnet["AvailabilityZone"] == zone:
                return subnet
        cidr = cidr or self._free_cidr(vpc)
        self.plan.append("create subnet %s in %s" % (cidr, zone))
        if check:
            subnet = {"SubnetId": "(new subnet)", "AvailabilityZone": zone, "CidrBlock": cidr}
        else:
            subnet = self._do("subnet", "create_subnet", VpcId=vpc["VpcId"], CidrBlock=cidr, AvailabilityZone=zone,
                              TagSpecifications=[{"ResourceType": "subnet", "Tags": _tags(self.cluster)}])["Subnet"]
            self._note("created", "subnet", subnet["SubnetId"])
        known.append(subnet)
        return subnet

    def _free_cidr(self, vpc):
        """The first /20 (or the VPC itself when smaller) of the VPC's CIDR that no subnet overlaps."""
        net = ipaddress.ip_network(vpc["CidrBlock"])
        used = []
        if not vpc["VpcId"].startswith("("):
            used = [ipaddress.ip_network(s["CidrBlock"]) for s in self._do(
                "subnet", "describe_subnets", Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]]
        for candidate in net.subnets(new_prefix=max(net.prefixlen, 20)):
            if not any(candidate.overlaps(u) for u in used):
                return str(candidate)
        raise c.CloudError("no free /20 left in %s" % vpc["CidrBlock"], "InvalidParameter", "subnet", "choose cidr")

    def ensure_gateway(self, vpc, check):
        """An internet gateway and default route, in a VPC we created (a given VPC has its own routing)."""
        if vpc["VpcId"].startswith("("):
            gateways = []
        else:
            gateways = self._do("gateway", "describe_internet_gateways", Filters=[
                {"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])["InternetGateways"]
        if gateways:
            return
        self.plan.append("create internet gateway and default route")
        if check:
            return
        gateway = self._do("gateway", "create_internet_gateway", TagSpecifications=[
            {"ResourceType": "internet-gateway", "Tags": _tags(self.cluster)}])["InternetGateway"]
        self._note("created", "gateway", gateway["InternetGatewayId"])
        self._do("gateway", "attach_internet_gateway", InternetGatewayId=gateway["InternetGatewayId"],
                 VpcId=vpc["VpcId"])
        tables = self._do("route", "describe_route_tables", Filters=[
            {"Name": "vpc-id", "Values": [vpc["VpcId"]]}, {"Name": "association.main", "Values": ["true"]}])
        self._do("route", "create_route", RouteTableId=tables["RouteTables"][0]["RouteTableId"],
                 DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway["InternetGatewayId"])

    def ensure_security_group(self, vpc, allow_from, ports, check):
        name = "sealer-%s" % self.cluster
        groups = [] if vpc["VpcId"].startswith("(") else self._do("security group", "describe_security_groups", Filters=(
            self._ours() + [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]))["SecurityGroups"]
        group = groups[0] if groups else None
        if group is None:
            self.plan.append("create security group %s (ports %s from %s; all traffic inside)" % (
                name, ",".join(map(str, ports)), ",".join(allow_from) or "nowhere outside"))
            if check:
                return "(new security group)"
            group_id = self._do("security group", "create_security_group", GroupName=name, VpcId=vpc["VpcId"],
                                Description="sealer_runner cluster %s" % self.cluster, TagSpecifications=[
                                    {"ResourceType": "security-group", "Tags": _tags(self.cluster)}])["GroupId"]
            self._note("created", "security group", group_id)
            group = {"GroupId": group_id, "IpPermissions": []}
        wanted = {("-1", None, "sg:" + group["GroupId"])} | {("tcp", p, cidr) for p in ports for cidr in allow_from}
        have = _rules(group["IpPermissions"])
        missing = sorted(wanted - have, key=str)
        # our ports from addresses no longer allowed (the controller moved); other rules are left alone
        stale = sorted((r for r in have - wanted if r[0] == "tcp" and r[1] in ports and not r[2].startswith("sg:")),
                       key=str)
        if missing and groups:
            self.plan.append("open %s on %s" % (", ".join(_rule_text(r) for r in missing), group["GroupId"]))
        if stale:
            self.plan.append("close %s on %s" % (", ".join(_rule_text(r) for r in stale), group["GroupId"]))
        if missing and not check:
            self._do("security group", "authorize_security_group_ingress", GroupId=group["GroupId"],
                     IpPermissions=[_permission(r) for r in missing])
        if stale and not check:
            self._do("security group", "revoke_security_group_ingress", GroupId=group["GroupId"],
                     IpPermissions=[_permission(r) for r in stale])
        return group["GroupId"]

    def ensure_key_pair(self, public_key, check):
        if not public_key:
            return None
        name = "sealer-%s" % self.cluster
        pairs = self._do("key pair", "describe_key_pairs", Filters=[{"Name": "key-name", "Values": [name]}])
        if pairs["KeyPairs"]:
            return name
        self.plan.append("import key pair %s" % name)
        if not check:
            self._do("key pair", "import_key_pair", KeyName=name, PublicKeyMaterial=public_key.encode(),
                     TagSpecifications=[{"ResourceType": "key-pair", "Tags": _tags(self.cluster)}])
            self._note("created", "key pair", name)
        return name

    def find_image(self, image_id):
        if image_id:
            images = self._do("image", "describe_images", ImageIds=[image_id])["Images"]
            return images[0]
        for owner, pattern in DEFAULT_IMAGES:
            images = self._do("image", "describe_images", Owners=[owner], Filters=[
                {"Name": "name", "Values": [pattern]}, {"Name": "state", "Values": ["available"]}])["Images"]
            if images:
                return max(images, key=lambda i: (i.get("CreationDate") or "", i["ImageId"]))
        raise c.CloudError("no Debian 12 or Ubuntu 24.04/22.04 image found in the region; set the machine image",
                           "InvalidAMIID.NotFound", "image", "describe_images")

    # ---- instances --------------------------------------------------------------------------------

    def existing(self):
        reservations = self._do("instance", "describe_instances", Filters=self._ours() + [
            {"Name": "instance-state-name", "Values": list(ALIVE)}])["Reservations"]
        out = []
        for reservation in reservations:
            for inst in reservation["Instances"]:
                batch = _tag_value(inst, c.TAG_INDEX)
                out.append({"id": inst["InstanceId"], "role": _tag_value(inst, c.TAG_ROLE) or "",
                            "batch": int(batch) if (batch or "").isdigit() else 0, "raw": inst})
        return out

    def run_batch(self, group, indexes, public, image, subnet, sg, key_name):
        root = image.get("RootDeviceName") or "/dev/xvda"
        disks = [{"DeviceName": root, "Ebs": {"VolumeSize": group["system_disk"], "VolumeType": "gp3",
                                              "DeleteOnTermination": True}}]
        disks += [{"DeviceName": "/dev/sd%s" % chr(ord("f") + i), "Ebs": {
            "VolumeSize": size, "VolumeType": "gp3", "DeleteOnTermination": True}}
            for i, size in enumerate(group["data_disks"])]
        tags = _tags(self.cluster, group["role"], {c.TAG_INDEX: str(indexes[0])})
        kwargs = {"ImageId": image["ImageId"], "InstanceType": group["instance_type"], "MinCount": len(indexes),
                  "MaxCount": len(indexes), "BlockDeviceMappings": disks,
                  "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": subnet["SubnetId"], "Groups": [sg],
                                         "AssociatePublicIpAddress": bool(public)}],
                  "TagSpecifications": [{"ResourceType": "instance", "Tags": tags},
                                        {"ResourceType": "volume", "Tags": _tags(self.cluster, group["role"])}],
                  "ClientToken": uuid.uuid4().hex}  # a retried call creates nothing twice
        if key_name:
            kwargs["KeyName"] = key_name
        made = self._do("instance", "run_instances", **kwargs)["Instances"]
        ids = [i["InstanceId"] for i in made]
        self.created.setdefault("instance", []).extend(ids)
        return ids

    def describe(self, ids):
        try:
            reservations = self._do("instance", "describe_instances", InstanceIds=list(ids))["Reservations"]
        except c.CloudError as exc:
            if exc.code == "InvalidInstanceID.NotFound":  # just made, not visible everywhere yet
                return {}
            raise
        return {i["InstanceId"]: i for r in reservations for i in r["Instances"]}

    def wait(self, ids, public_ids, state="running", settle=False):
        def ready(inst):
            current = inst["State"]["Name"]
            if state == "running" and current in ("terminated", "shutting-down", "stopped"):
                raise c.CloudError("instance is %s: %s" % (current, (inst.get("StateReason") or {}).get(
                    "Message", "")), "IncorrectInstanceState", inst["InstanceId"], "wait")
            if current != state:
                return False
            return state != "running" or bool(inst.get("PrivateIpAddress")) and (
                inst["InstanceId"] not in public_ids or bool(inst.get("PublicIpAddress")))
        return c.wait_all(self.describe, ids, ready, sleep=self.sleep, rng=self.rng, timeout=self.wait_timeout,
                          settle=settle)


def _rules(permissions):
    """EC2 ingress permissions as a set of (protocol, port or None, source), the source a CIDR or ``sg:<id>``."""
    out = set()
    for perm in permissions:
        proto = perm.get("IpProtocol")
        port = perm.get("FromPort") if perm.get("FromPort") == perm.get("ToPort") else ("range", perm.get("FromPort"))
        out.update((proto, port, r["CidrIp"]) for r in perm.get("IpRanges") or ())
        out.update((proto, port, r["CidrIpv6"]) for r in perm.get("Ipv6Ranges") or ())
        out.update((proto, port, "sg:" + p["GroupId"]) for p in perm.get("UserIdGroupPairs") or ())
    return out


def _permission(rule):
    proto, port, source = rule
    perm = {"IpProtocol": proto}
    if port is not None:
        perm.update(FromPort=port, ToPort=port)
    if source.startswith("sg:"):
        perm["UserIdGroupPairs"] = [{"GroupId": source[3:]}]
    elif ":" in source:
        perm["Ipv6Ranges"] = [{"CidrIpv6": source}]
    else:
        perm["IpRanges"] = [{"CidrIp": source}]
    return perm


def _rule_text(rule):
    proto, port, source = rule
    what = "all traffic" if proto == "-1" else "%s/%s" % (proto, port)
    return "%s from %s" % (what, "the group itself" if source.startswith("sg:") else source)


def apply(ec2, call, params, check=False, sleep=None, rng=None, created=None):
    """Create or reconcile the cluster's machines; returns the module's result. *created* (a dict) is
    filled as resources are made, so a caller still knows them when a later call fails."""
    cluster = Ec2Cluster(ec2, call, params["cluster"], rng=rng, sleep=sleep,
                         wait_timeout=float(params.get("wait_timeout") or 900))
    if created is not None:
        cluster.created = created
    groups = c.normalize_groups(params["groups"], c.AWS_CATALOG)
    vpc, vpc_ours = cluster.ensure_vpc(params.get("vpc_id"), params.get("vpc_cidr") or "10.0.0.0/16", check)
    known = cluster.subnets(vpc)
    zone = params.get("zone") or (known[0]["AvailabilityZone"] if known else None) or cluster.zones(None)[0]
    cluster.ensure_subnet(vpc, zone, known, params.get("subnet_cidr"), check)
    public = any(g["public_ip"] != "none" for g in groups)
    if public and vpc_ours:
        cluster.ensure_gateway(vpc, check)
    sg = cluster.ensure_security_group(vpc, list(params.get("allow_from") or ()), list(params.get("ports") or (22, 6443)),
                                       check)
    key_name = cluster.ensure_key_pair(params.get("public_key"), check)
    existing = cluster.existing()
    plan = c.plan_instances(groups, existing, cluster.plan)
    machines = []
    if not check:
        if plan["release"]:
            ids = [i["id"] for i in plan["release"]]
            call("instance", "terminate_instances", ec2.terminate_instances, InstanceIds=ids)
            cluster.deleted["instance"] = ids
        image = cluster.find_image(params.get("image_id")) if plan["create"] else None
        new, public_ids = [], set()
        for group, indexes, is_public in c.batches(plan["create"]):
            ids = _run_in_some_zone(cluster, vpc, zone, known, group, indexes, is_public, image, sg, key_name)
            new.extend((group["role"], idx, iid) for idx, iid in zip(indexes, sorted(ids), strict=True))
            if is_public:
                public_ids.update(ids)
        machines = c.ready_machines(plan, new, public_ids, groups, cluster.wait, lambda inst: (
            inst.get("PrivateIpAddress"), inst.get("PublicIpAddress"),
            (inst.get("Placement") or {}).get("AvailabilityZone"), inst.get("InstanceType")))
    return {"changed": bool(cluster.plan), "plan": cluster.plan, "machines": machines,
            "created": cluster.created, "released": cluster.deleted,
            "network": {"vpc_id": vpc["VpcId"], "vpc_ours": vpc_ours, "subnet_ids": [k["SubnetId"] for k in known],
                        "security_group_id": sg, "key_pair": key_name}}


def _run_in_some_zone(cluster, vpc, zone, known, group, indexes, public, image, sg, key_name):
    """One RunInstances call in the first zone with capacity (our subnet in it made when missing): a zone
    answering InsufficientInstanceCapacity (or not offering the type) is left for the next; any other
    error stops at once."""
    last = None
    for candidate in [z for z in cluster.zones(zone) if z not in cluster.skipped]:
        subnet = cluster.ensure_subnet(vpc, candidate, known, None, False)
        try:
            return cluster.run_batch(group, indexes, public, image, subnet, sg, key_name)
        except c.CloudError as exc:
            if not exc.stock:
                raise
            last = exc
            cluster.skipped.add(candidate)
            cluster.plan.append("zone %s has no capacity for %s (%s): next zone" % (
                candidate, group["instance_type"], exc.code))
    raise last or c.CloudError("no zone left", "InsufficientInstanceCapacity", "instance", "run_instances")


def delete(ec2, call, params, check=False, sleep=None, rng=None):
    """Release every resource carrying the cluster's tag (instances first), and nothing else; a VPC given
    by id is kept even when it carries the tag."""
    cluster = Ec2Cluster(ec2, call, params["cluster"], rng=rng, sleep=sleep,
                         wait_timeout=float(params.get("wait_timeout") or 900))
    ours = cluster._ours()
    instances = [i["id"] for i in cluster.existing()]
    vpcs = [v["VpcId"] for v in cluster._do("vpc", "describe_vpcs", Filters=ours)["Vpcs"]
            if v["VpcId"] != params.get("vpc_id")]
    sgs = [g["GroupId"] for g in cluster._do("security group", "describe_security_groups", Filters=ours)["SecurityGroups"]]
    subnets = [s["SubnetId"] for s in cluster._do("subnet", "describe_subnets", Filters=ours)["Subnets"]]
    gateways = cluster._do("gateway", "describe_internet_gateways", Filters=ours)["InternetGateways"]
    keys = [k["KeyName"] for k in cluster._do("key pair", "describe_key_pairs", Filters=[
        {"Name": "key-name", "Values": ["sealer-%s" % params["cluster"]]}])["KeyPairs"]
        if _tag_value(k, c.TAG_CLUSTER) == params["cluster"]]
    plan = (["release instance %s" % i for i in instances] + ["delete security group %s" % g for g in sgs]
            + ["delete key pair %s" % k for k in keys] + ["delete subnet %s" % s for s in subnets]
            + ["delete internet gateway %s" % g["InternetGatewayId"] for g in gateways]
            + ["delete vpc %s" % v for v in vpcs])
    if check:
        return {"changed": bool(plan), "plan": plan, "released": {}, "machines": []}
    released = {}
    if instances:
        cluster._do("instance", "terminate_instances", InstanceIds=instances)
        cluster.wait(instances, set(), state="terminated", settle=True)
        released["instance"] = instances
    for group_id in sgs:
        _dependent(cluster, "security group", "delete_security_group", GroupId=group_id)
    for name in keys:
        cluster._do("key pair", "delete_key_pair", KeyName=name)
    for subnet_id in subnets:
        _dependent(cluster, "subnet", "delete_subnet", SubnetId=subnet_id)
    for gateway in gateways:
        for attachment in gateway.get("Attachments") or ():
            cluster._do("gateway", "detach_internet_gateway", InternetGatewayId=gateway["InternetGatewayId"],
                        VpcId=attachment["VpcId"])
        cluster._do("gateway", "delete_internet_gateway", InternetGatewayId=gateway["InternetGatewayId"])
    for vpc_id in vpcs:
        _dependent(cluster, "vpc", "delete_vpc", VpcId=vpc_id)
    for key, value in (("security group", sgs), ("key pair", keys), ("subnet", subnets), ("vpc", vpcs),
                       ("gateway", [g["InternetGatewayId"] for g in gateways])):
        if value:
            released[key] = value
    return {"changed": bool(plan), "plan": plan, "released": released, "machines": []}


def _dependent(cluster, resource, operation, **kwargs):
    """A delete that may meet DependencyViolation while terminated instances' interfaces linger: retried
    with backoff for a while, then the cloud's message."""
    backoff = c.delays(2.0, 15.0, cluster.rng)
    for attempt in range(12):
        try:
            return cluster._do(resource, operation, **kwargs)
        except c.CloudError as exc:
            if exc.code != "DependencyViolation" or attempt == 11:
                raise
            cluster.sleep(next(backoff))
