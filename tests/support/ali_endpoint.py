"""A local Alibaba Cloud RPC endpoint (ECS 2014-05-26 and VPC 2016-04-28) for the actions
``_ali_ecs`` calls, in memory, over real HTTP.

It checks every request's signature as the cloud does (HMAC-SHA1 over the sorted, percent-encoded
parameters with ``secret + "&"``: what aliyun-python-sdk-core's RPC signer computes), and can inject:

* ``throttle(n)``: the next *n* requests answer ``Throttling`` (HTTP 503), or ``throttle_rate`` (a seeded
  fraction of all requests);
* ``no_stock_zones``: RunInstances in these zones answers ``OperationDenied.NoStock``;
* ``boot_delay(index)``: seconds an instance stays Pending/Starting before Running (slow boots);
* unknown access keys or bad signatures: ``InvalidAccessKeyId.NotFound`` / ``SignatureDoesNotMatch``;
* ``lose_answers``: actions whose next answer is lost: the action is done, the client gets
  ``ServiceUnavailable`` (a retry with the same ClientToken must not do it twice).

``calls`` counts requests per action (including the ones answered with an injected error).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, quote, urlsplit

ZONES = ("cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j")
IMAGES = ({"ImageId": "debian_12_5_x64_20G_alibase_20240717.vhd", "ImageName": "debian_12_5_x64_20G_alibase_20240717.vhd",
           "CreationTime": "2024-07-17T00:00:00Z", "OSType": "linux", "Architecture": "x86_64"},
          {"ImageId": "debian_12_2_x64_20G_alibase_20231012.vhd", "ImageName": "debian_12_2_x64_20G_alibase_20231012.vhd",
           "CreationTime": "2023-10-12T00:00:00Z", "OSType": "linux", "Architecture": "x86_64"})


class CloudFault(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def string_to_sign(method: str, params: dict[str, str]) -> str:
    canonical = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(params.items()))
    return f"{method}&{_encode('/')}&{_encode(canonical)}"


def signature(method: str, params: dict[str, str], secret: str) -> str:
    """The RPC signature of *params* (without ``Signature``), as Alibaba Cloud computes it."""
    to_sign = string_to_sign(method, params)
    digest = hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class AliCloud:
    """The cloud's state and behaviour; :meth:`serve` puts it behind HTTP."""

    def __init__(self, keys: dict[str, str] | None = None, seed: int = 0,
                 boot_delay: Callable[[int], float] = lambda index: 0.0, clock: Callable[[], float] = time.monotonic):
        self.keys = keys if keys is not None else {"test-key": "test-secret"}
        self.rng = random.Random(seed)
        self.boot_delay = boot_delay
        self.clock = clock
        self.no_stock_zones: set[str] = set()
        self.throttle_rate = 0.0
        self.lose_answers: set[str] = set()
        self._throttle_next = 0
        self.calls: dict[str, int] = {}
        self.faults: dict[str, int] = {}
        self.lock = threading.Lock()
        self.vpcs: dict[str, dict[str, Any]] = {}
        self.vswitches: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.key_pairs: dict[str, dict[str, Any]] = {}
        self.instances: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, Any] = {}
        self._ids = itertools.count(1)
        self._booted = 0
        self.server: ThreadingHTTPServer | None = None

    # ---- faults and helpers ----------------------------------------------------------------------

    def throttle(self, n: int) -> None:
        self._throttle_next = n

    def _id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):08x}{self.rng.randrange(16 ** 8):08x}"

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def add_vpc(self, cidr: str = "10.9.0.0/16") -> str:
        """A VPC made by someone else (no tag): the module must use it when given, and never delete it."""
        vpc_id = self._id("vpc")
        self.vpcs[vpc_id] = {"VpcId": vpc_id, "CidrBlock": cidr, "Status": "Available", "Tags": {}}
        return vpc_id

    # ---- HTTP ------------------------------------------------------------------------------------

    def serve(self) -> str:
        cloud = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self._answer()

            def do_POST(self) -> None:  # noqa: N802
                self._answer()

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
                params.update(dict(parse_qsl(body, keep_blank_values=True)))
                status, answer = cloud.handle(self.command, params)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def handle(self, method: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        action = params.get("Action", "")
        request_id = self._id("req")
        with self.lock:
            self.calls[action] = self.calls.get(action, 0) + 1
            try:
                self._authenticate(method, params)
                if self._throttle_next > 0 or (self.throttle_rate and self.rng.random() < self.throttle_rate):
                    self._throttle_next = max(0, self._throttle_next - 1)
                    raise CloudFault(503, "Throttling", "Request was denied due to request throttling.")
                handler = getattr(self, "_" + action, None)
                if handler is None:
                    raise CloudFault(404, "InvalidAction.NotFound", f"Specified api {action} is not found")
                answer = handler(params)
                if action in self.lose_answers:
                    self.lose_answers.discard(action)
                    raise CloudFault(503, "ServiceUnavailable", "The request has failed due to a temporary failure.")
            except CloudFault as fault:
                self.faults[fault.code] = self.faults.get(fault.code, 0) + 1
                return fault.status, {"Code": fault.code, "Message": fault.message, "RequestId": request_id}
        answer["RequestId"] = request_id
        return 200, answer

    def _authenticate(self, method: str, params: dict[str, str]) -> None:
        given = params.pop("Signature", "")
        secret = self.keys.get(params.get("AccessKeyId", ""))
        if secret is None:
            raise CloudFault(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        if params.get("SignatureMethod") != "HMAC-SHA1" or not hmac.compare_digest(
                given, signature(method, params, secret)):
            raise CloudFault(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation. "
                             f"server string to sign is:{string_to_sign(method, params)}")

    # ---- filtering -------------------------------------------------------------------------------

    @staticmethod
    def _tags_of(params: dict[str, str]) -> dict[str, str]:
        tags = {}
        for n in range(1, 21):
            key = params.get(f"Tag.{n}.Key")
            if key:
                tags[key] = params.get(f"Tag.{n}.Value", "")
        return tags

    def _match(self, item: dict[str, Any], params: dict[str, str], fields: dict[str, str]) -> bool:
        if any(item["Tags"].get(k) != v for k, v in self._tags_of(params).items()):
            return False
        return all(params.get(p) in (None, "") or str(item.get(f)) == params[p] for p, f in fields.items())

    @staticmethod
    def _tag_list(item: dict[str, Any]) -> dict[str, Any]:
        return {"Tag": [{"TagKey": k, "TagValue": v, "Key": k, "Value": v} for k, v in item["Tags"].items()]}

    def _out(self, item: dict[str, Any]) -> dict[str, Any]:
        return {**{k: v for k, v in item.items() if k != "Tags"}, "Tags": self._tag_list(item)}

    def _idempotent(self, params: dict[str, str], make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        token = params.get("ClientToken")
        if token and token in self.tokens:
            return self.tokens[token]
        answer = make()
        if token:
            self.tokens[token] = answer
        return answer

    # ---- VPC -------------------------------------------------------------------------------------

    def _CreateVpc(self, p: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        def make() -> dict[str, Any]:
            vpc_id = self._id("vpc")
            self.vpcs[vpc_id] = {"VpcId": vpc_id, "CidrBlock": p.get("CidrBlock", "172.16.0.0/12"),
                                 "VpcName": p.get("VpcName", ""), "Status": "Pending", "Tags": self._tags_of(p),
                                 "_ready": self.clock() + 0.05}
            return {"VpcId": vpc_id}
        return self._idempotent(p, make)

    def _status(self, item: dict[str, Any]) -> dict[str, Any]:
        if item.get("Status") == "Pending" and self.clock() >= item.get("_ready", 0):
            item["Status"] = "Available"
        return {k: v for k, v in item.items() if not k.startswith("_")}

    def _DescribeVpcs(self, p: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        found = [self._out(self._status(v)) for v in self.vpcs.values() if self._match(v, p, {"VpcId": "VpcId"})]
        return {"Vpcs": {"Vpc": found}, "TotalCount": len(found)}

    def _DeleteVpc(self, p: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        vpc_id = p["VpcId"]
        if vpc_id not in self.vpcs:
            raise CloudFault(404, "InvalidVpcId.NotFound", "Specified VPC does not exist.")
        if any(v["VpcId"] == vpc_id for v in self.vswitches.values()) or any(
                g["VpcId"] == vpc_id for g in self.groups.values()):
            raise CloudFault(400, "DependencyViolation.VSwitch", "Specified VPC has vSwitches or security groups.")
        del self.vpcs[vpc_id]
        return {}

    def _CreateVSwitch(self, p: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        if p.get("VpcId") not in self.vpcs:
            raise CloudFault(404, "InvalidVpcId.NotFound", "Specified VPC does not exist.")
        if self.vpcs[p["VpcId"]]["Status"] != "Available":
            raise CloudFault(400, "IncorrectVpcStatus", "The VPC is not Available.")
        if p.get("ZoneId") not in ZONES:
            raise CloudFault(400, "InvalidZoneId.NotFound", "Specified zone does not exist.")

        def make() -> dict[str, Any]:
            vsw_id = self._id("vsw")
            self.vswitches[vsw_id] = {"VSwitchId": vsw_id, "VpcId": p["VpcId"], "ZoneId": p["ZoneId"],
                                      "CidrBlock": p["CidrBlock"], "Status": "Pending", "Tags": self._tags_of(p),
                                      "_ready": self.clock() + 0.05}
            return {"VSwitchId": vsw_id}
        return self._idempotent(p, make)

    def _DescribeVSwitches(self, p: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        found = [self._out(self._status(v)) for v in self.vswitches.values()
                 if self._match(v, p, {"VpcId": "VpcId", "VSwitchId": "VSwitchId", "ZoneId": "ZoneId"})]
        return {"VSwitches": {"VSwitch": found}, "TotalCount": len(found)}

    def _DeleteVSwitch(self, p: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        if any(i["VpcAttributes"]["VSwitchId"] == p["VSwitchId"] for i in self.instances.values()):
            raise CloudFault(400, "DependencyViolation", "Specified vSwitch has instances.")
        self.vswitches.pop(p["VSwitchId"], None)
        return {}

    # ---- ECS -------------------------------------------------------------------------------------

    def _DescribeZones(self, p: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        return {"Zones": {"Zone": [{"ZoneId": z, "LocalName": z} for z in ZONES]}}

    def _DescribeImages(self, p: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        pattern = p.get("ImageName", "").rstrip("*")
        found = [i for i in IMAGES if i["ImageName"].startswith(pattern)]
        return {"Images": {"Image": found}, "TotalCount": len(found)}

    def _CreateSecurityGroup(self, p: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        def make() -> dict[str, Any]:
            sg = self._id("sg")
            self.groups[sg] = {"SecurityGroupId": sg, "VpcId": p.get("VpcId"), "Rules": [],
                               "SecurityGroupName": p.get("SecurityGroupName", ""), "Tags": self._tags_of(p)}
            return {"SecurityGroupId": sg}
        return self._idempotent(p, make)

    def _AuthorizeSecurityGroup(self, p: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        group = self.groups.get(p.get("SecurityGroupId", ""))
        if group is None:
            raise CloudFault(404, "InvalidSecurityGroupId.NotFound", "Specified security group does not exist.")
        for n in range(1, 101):
            if f"Permissions.{n}.IpProtocol" in p:
                group["Rules"].append({k.split(".", 2)[2]: v for k, v in p.items() if k.startswith(f"Permissions.{n}.")})
        return {}

    def _DescribeSecurityGroupAttribute(self, p: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        group = self.groups.get(p.get("SecurityGroupId", ""))
        if group is None:
            raise CloudFault(404, "InvalidSecurityGroupId.NotFound", "Specified security group does not exist.")
        rules = [{"Direction": "ingress", "Policy": "Accept", "SourceCidrIp": "", "Ipv6SourceCidrIp": "",
                  "SourceGroupId": "", **rule} for rule in group["Rules"]]
        return {"SecurityGroupId": group["SecurityGroupId"], "VpcId": group["VpcId"],
                "Permissions": {"Permission": rules}}

    def _RevokeSecurityGroup(self, p: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        group = self.groups.get(p.get("SecurityGroupId", ""))
        if group is None:
            raise CloudFault(404, "InvalidSecurityGroupId.NotFound", "Specified security group does not exist.")
        for n in range(1, 101):
            if f"Permissions.{n}.IpProtocol" in p:
                rule = {k.split(".", 2)[2]: v for k, v in p.items() if k.startswith(f"Permissions.{n}.")}
                group["Rules"] = [r for r in group["Rules"] if r != rule]
        return {}

    def _DescribeSecurityGroups(self, p: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        found = [self._out(g) for g in self.groups.values() if self._match(g, p, {"VpcId": "VpcId"})]
        return {"SecurityGroups": {"SecurityGroup": found}, "TotalCount": len(found)}

    def _DeleteSecurityGroup(self, p: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        sg = p["SecurityGroupId"]
        if any(sg in i["SecurityGroupIds"]["SecurityGroupId"] for i in self.instances.values()):
            raise CloudFault(403, "DependencyViolation", "There is still instance(s) in the specified security group.")
        self.groups.pop(sg, None)
        return {}

    def _ImportKeyPair(self, p: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        name = p["KeyPairName"]
        if name in self.key_pairs:
            raise CloudFault(400, "KeyPair.AlreadyExist", "The key pair already exists.")
        self.key_pairs[name] = {"KeyPairName": name, "Tags": self._tags_of(p)}
        return {"KeyPairName": name}

    def _DescribeKeyPairs(self, p: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        found = [self._out(k) for k in self.key_pairs.values() if self._match(k, p, {"KeyPairName": "KeyPairName"})]
        return {"KeyPairs": {"KeyPair": found}, "TotalCount": len(found)}

    def _DeleteKeyPairs(self, p: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        for name in json.loads(p["KeyPairNames"]):
            self.key_pairs.pop(name, None)
        return {}

    def _RunInstances(self, p: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        vsw = self.vswitches.get(p.get("VSwitchId", ""))
        if vsw is None:
            raise CloudFault(404, "InvalidVSwitchId.NotFound", "Specified virtual switch does not exist.")
        if p.get("ZoneId") and p["ZoneId"] != vsw["ZoneId"]:
            raise CloudFault(400, "InvalidVSwitchId.NotFound.Zone", "The vSwitch is not in the zone.")
        if vsw["ZoneId"] in self.no_stock_zones:
            raise CloudFault(403, "OperationDenied.NoStock",
                             f"The resource ({p.get('InstanceType')}) is out of stock in the specified zone.")
        if p.get("SecurityGroupId") not in self.groups:
            raise CloudFault(404, "InvalidSecurityGroupId.NotFound", "Specified security group does not exist.")
        if p.get("KeyPairName") and p["KeyPairName"] not in self.key_pairs:
            raise CloudFault(404, "InvalidKeyPairName.NotFound", "Specified key pair does not exist.")

        def make() -> dict[str, Any]:
            ids = []
            subnet_base = vsw["CidrBlock"].split("/")[0].rsplit(".", 1)[0]
            for _ in range(int(p.get("Amount", "1"))):
                ident = self._id("i")
                index = self._booted
                self._booted += 1
                public = int(p.get("InternetMaxBandwidthOut", "0")) > 0
                self.instances[ident] = {
                    "InstanceId": ident, "InstanceType": p["InstanceType"], "ZoneId": vsw["ZoneId"], "Status": "Pending",
                    "VpcAttributes": {"VpcId": vsw["VpcId"], "VSwitchId": vsw["VSwitchId"],
                                      "PrivateIpAddress": {"IpAddress": [f"{subnet_base}.{10 + index}"]}},
                    "PublicIpAddress": {"IpAddress": [f"47.0.{index // 250}.{index % 250 + 1}"] if public else []},
                    "SecurityGroupIds": {"SecurityGroupId": [p["SecurityGroupId"]]}, "Tags": self._tags_of(p),
                    "ImageId": p.get("ImageId"), "_running_at": self.clock() + self.boot_delay(index)}
                ids.append(ident)
            return {"InstanceIdSets": {"InstanceIdSet": ids}}
        return self._idempotent(p, make)

    def _instance(self, item: dict[str, Any]) -> dict[str, Any]:
        if item["Status"] in ("Pending", "Starting"):
            left = item["_running_at"] - self.clock()
            item["Status"] = "Running" if left <= 0 else ("Starting" if left < 1 else "Pending")
        if item["Status"] == "Deleted":
            return {}
        out = self._out({k: v for k, v in item.items() if not k.startswith("_")})
        if out["Status"] != "Running":
            out["PublicIpAddress"] = {"IpAddress": []}
        return out

    def _DescribeInstances(self, p: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        wanted = set(json.loads(p["InstanceIds"])) if p.get("InstanceIds") else None
        found = [self._instance(i) for i in self.instances.values()
                 if (wanted is None or i["InstanceId"] in wanted) and self._match(i, p, {"ZoneId": "ZoneId"})]
        found = [f for f in found if f]
        size, page = int(p.get("PageSize", "10")), int(p.get("PageNumber", "1"))
        return {"Instances": {"Instance": found[(page - 1) * size:page * size]}, "TotalCount": len(found),
                "PageNumber": page, "PageSize": size}

    def _DeleteInstances(self, p: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        ids = [v for k, v in p.items() if k.startswith("InstanceId.")]
        for ident in ids:
            if ident not in self.instances:
                raise CloudFault(404, "InvalidInstanceId.NotFound", f"The instance {ident} does not exist.")
        for ident in ids:
            del self.instances[ident]
        return {}
