# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.
"""Private to the sealer.cluster collection: what the cloud modules share, whatever the cloud.

* :class:`CloudError`: one failure of a cloud call, with the cloud's own code and message and the
  resource it was about; ``retryable`` says whether trying again can help.
* :class:`Calls`: every API call made, counted per resource type (``instance``, ``vpc``...).
* :func:`delays` / :class:`Retrier`: capped exponential backoff with jitter; throttling and transient
  errors are retried, everything else (quota, stock, permission, bad parameter) stops at once.
* :func:`wait_all`: poll many resources with one describe call per round, backing off between rounds.
* :func:`choose_instance_type`: the smallest catalogued type with at least the cores and memory asked.
* :func:`plan_groups`: which instances a group keeps, which it lacks, which are surplus.

Standard library only: the modules run on the controller (localhost) but stay importable without
Ansible or the cloud SDKs, so this is unit-tested directly.
"""

from __future__ import annotations

import random
import time

#: Error codes that mean "try again later" on AWS or Alibaba Cloud.
RETRYABLE_CODES = frozenset((
    "Throttling", "ThrottlingException", "Throttling.User", "Throttling.Api", "Throttling.Resource",
    "RequestLimitExceeded", "RequestThrottled", "TooManyRequestsException", "ServiceUnavailable",
    "ServiceUnavailableException", "Unavailable", "InternalError", "InternalFailure", "InternalError.Unknown",
    "ServiceBusy", "SDK.HttpError", "SDK.ServerUnreachable",
))
#: Prefixes of retryable codes (Alibaba Cloud qualifies throttling codes: Throttling.Api, Throttling.User...).
RETRYABLE_PREFIXES = ("Throttling.",)
#: Codes saying a zone has no stock of the instance type (another zone may have some).
STOCK_CODES = frozenset((
    "OperationDenied.NoStock", "InvalidResourceType.NotSupported", "Zone.NotOnSale", "InvalidZoneId.NotSupported",
    "InsufficientInstanceCapacity", "Unsupported", "InvalidInstanceType.ValueNotSupported",
    "InvalidVSwitchId.NotFound.Zone",
))

TAG_CLUSTER = "sealer.io/cluster"
TAG_ROLE = "sealer.io/role"
TAG_INDEX = "sealer.io/index"  # the index of the first instance its RunInstances call made


class CloudError(Exception):
    """A cloud call failed. ``str()`` is ``<resource>: <operation>: <code>: <the cloud's message>``."""

    def __init__(self, message, code="", resource="", operation="", retryable=False, stock=False):
        self.message = message
        self.code = code
        self.resource = resource
        self.operation = operation
        self.retryable = retryable
        self.stock = stock
        parts = [p for p in (resource, operation, code, message) if p]
        super().__init__(": ".join(parts))


def classify(code, status=None):
    """(retryable, stock) for an error code (and HTTP status, when known)."""
    code = code or ""
    retryable = code in RETRYABLE_CODES or code.startswith(RETRYABLE_PREFIXES) or (
        status is not None and int(status) >= 500 and code not in STOCK_CODES)
    return retryable, code in STOCK_CODES


class Calls:
    """API calls made, per resource type; ``retries`` counts the calls that were retried."""

    def __init__(self):
        self.by_resource = {}
        self.retries = 0

    def add(self, resource):
        self.by_resource[resource] = self.by_resource.get(resource, 0) + 1

    @property
    def total(self):
        return sum(self.by_resource.values())

    def as_dict(self):
        return dict(sorted(self.by_resource.items()), total=self.total, retries=self.retries)


def delays(base=0.5, cap=8.0, rng=None, factor=2.0):
    """Endless backoff delays: ``min(cap, base * factor**n)``, each scaled by a random factor in [0.5, 1)
    ("equal jitter"), so that many clients throttled together do not come back together."""
    rng = rng or random.Random()
    n = 0
    while True:
        yield min(cap, base * (factor ** n)) * (0.5 + rng.random() / 2)
        n += 1


class Retrier:
    """Calls cloud operations, counting each attempt, retrying retryable failures with backoff.

    *translate* turns an SDK exception into a :class:`CloudError` (or returns None: not a cloud error,
    re-raised as it is). A call gives up after *attempts* tries or *deadline* seconds of backoff."""

    def __init__(self, translate, calls=None, attempts=8, base=0.5, cap=8.0, sleep=time.sleep, rng=None):
        self.translate = translate
        self.calls = calls if calls is not None else Calls()
        self.attempts = attempts
        self.base = base
        self.cap = cap
        self.sleep = sleep
        self.rng = rng or random.Random()

    def __call__(self, resource, operation, fn, *args, **kwargs):
        backoff = delays(self.base, self.cap, self.rng)
        for attempt in range(1, self.attempts + 1):
            self.calls.add(resource)
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # the SDKs raise their own types: translate decides
                error = self.translate(exc, resource, operation)
                if error is None:
                    raise
                if not error.retryable or attempt == self.attempts:
                    if error.retryable:
                        error = CloudError("%s (gave up after %d attempts)" % (error.message, attempt), error.code,
                                           error.resource, error.operation, True, error.stock)
                    raise error from None
                self.calls.retries += 1
                self.sleep(next(backoff))
        raise AssertionError("unreachable")


#: Polling machines that boot: a first look after ~1-2 s, then every 1.5x longer, never more than 5 s apart.
#: Boots take seconds to minutes; a slower growth than doubling keeps the wait past the last boot short
#: (under a quarter of the boot time on average) for few more calls (bench/cloud_bench.py).
POLL = {"base": 2.0, "factor": 1.5, "cap": 5.0}


def wait_all(describe, pending, ready, sleep=time.sleep, rng=None, timeout=600.0, base=POLL["base"],
             cap=POLL["cap"], factor=POLL["factor"], clock=time.monotonic, what="instances", settle=False):
    """Poll until every id in *pending* is ready: ``describe(ids)`` returns ``{id: item}`` for the ids it
    knows (one API call for all of them), ``ready(item)`` says whether one is done (it may raise to
    stop the wait, e.g. an instance that stopped). Backoff between rounds; returns ``{id: item}``.
    *settle*: wait one delay before the first look (what was just created is never ready at once)."""
    pending = list(pending)
    done = {}
    backoff = delays(base, cap, rng, factor)
    started = clock()
    if settle and pending:
        sleep(next(backoff))
    while pending:
        items = describe(pending)
        for ident in list(pending):
            item = items.get(ident)
            if item is not None and ready(item):
                done[ident] = item
                pending.remove(ident)
        if not pending:
            break
        if clock() - started > timeout:
            raise CloudError("%d of %d not ready after %ds: %s" % (len(pending), len(pending) + len(done),
                             int(timeout), ", ".join(pending)), resource=what, operation="wait")
        sleep(next(backoff))
    return done


def choose_instance_type(catalog, cpu=None, memory=None):
    """The cheapest-looking type of *catalog* (``[(name, cores, GiB)]``, in preference order) with at
    least *cpu* cores and *memory* GiB: fewest cores, then least memory, then catalog order."""
    cpu = cpu or 2
    memory = memory or 4
    fits = [(cores, mem, i, name) for i, (name, cores, mem) in enumerate(catalog) if cores >= cpu and mem >= memory]
    if not fits:
        raise CloudError("no instance type with %d cores and %d GiB is known; set instanceType" % (cpu, memory),
                         resource="instance type", code="InvalidParameter")
    return min(fits)[3]


#: General-purpose, compute and memory families, smallest first; prices rise with cores, then memory.
AWS_CATALOG = [("t3.medium", 2, 4), ("t3.large", 2, 8), ("c5.xlarge", 4, 8), ("m5.xlarge", 4, 16),
               ("r5.xlarge", 4, 32), ("c5.2xlarge", 8, 16), ("m5.2xlarge", 8, 32), ("r5.2xlarge", 8, 64),
               ("c5.4xlarge", 16, 32), ("m5.4xlarge", 16, 64), ("r5.4xlarge", 16, 128), ("c5.9xlarge", 36, 72),
               ("m5.8xlarge", 32, 128), ("r5.8xlarge", 32, 256), ("m5.16xlarge", 64, 256), ("r5.16xlarge", 64, 512)]
ALI_CATALOG = [("ecs.c6.large", 2, 4), ("ecs.g6.large", 2, 8), ("ecs.r6.large", 2, 16), ("ecs.c6.xlarge", 4, 8),
               ("ecs.g6.xlarge", 4, 16), ("ecs.r6.xlarge", 4, 32), ("ecs.c6.2xlarge", 8, 16),
               ("ecs.g6.2xlarge", 8, 32), ("ecs.r6.2xlarge", 8, 64), ("ecs.c6.4xlarge", 16, 32),
               ("ecs.g6.4xlarge", 16, 64), ("ecs.r6.4xlarge", 16, 128), ("ecs.c6.8xlarge", 32, 64),
               ("ecs.g6.8xlarge", 32, 128), ("ecs.r6.8xlarge", 32, 256), ("ecs.g6.16xlarge", 64, 256)]


def normalize_groups(groups, catalog):
    """Each group as given (role, count, cpu, memory, system_disk, data_disks, instance_type), with its
    instance type chosen when none is given, in the order given. Roles must be unique."""
    out, seen = [], set()
    for group in groups:
        role = str(group["role"])
        if role in seen:
            raise CloudError("role %s is listed twice" % role, resource="groups", code="InvalidParameter")
        seen.add(role)
        instance_type = group.get("instance_type") or choose_instance_type(catalog, group.get("cpu"),
                                                                           group.get("memory"))
        out.append({"role": role, "count": int(group.get("count") or 0), "instance_type": instance_type,
                    "system_disk": int(group.get("system_disk") or 40),
                    "data_disks": [int(d) for d in group.get("data_disks") or []],
                    "public_ip": group.get("public_ip") or "none"})
    return out


def plan_groups(groups, existing):
    """Per group: the indexes to create and the existing instances to release.

    *existing* is ``[{"id", "role", "batch", ...}]`` (ours, alive), ``batch`` being the index of the first
    instance of the RunInstances call that made it (its ``sealer.io/index`` tag). A role's instances are
    ordered by (batch, id); their position is their index. A group of count n keeps its first n and
    creates the indexes it lacks; the rest (and every instance of a role no group has) is surplus,
    released from the end. Sets ``index`` on each existing instance."""
    plan = {"create": [], "release": [], "keep": []}
    by_role = {}
    for inst in sorted(existing, key=lambda i: (i["role"], i["batch"], i["id"])):
        inst["index"] = len(by_role.setdefault(inst["role"], []))
        by_role[inst["role"]].append(inst)
    wanted = {g["role"]: g for g in groups}
    for role, instances in by_role.items():
        count = wanted[role]["count"] if role in wanted else 0
        plan["keep"].extend(instances[:count])
        plan["release"].extend(instances[count:])
    for group in groups:
        have = min(len(by_role.get(group["role"], ())), group["count"])
        plan["create"].extend((group, index) for index in range(have, group["count"]))
    return plan


def public_for(group, index):
    """Whether instance *index* of *group* gets a public IP: ``all``, ``first`` (index 0) or ``none``."""
    return group["public_ip"] == "all" or (group["public_ip"] == "first" and index == 0)


def batches(creates):
    """Instances to create, batched: one batch per (group, public or not), in index order; each batch is
    one RunInstances call (``(group, [indexes], public)``)."""
    out = []
    for group, index in creates:
        public = public_for(group, index)
        if out and out[-1][0]["role"] == group["role"] and out[-1][2] == public:
            out[-1][1].append(index)
        else:
            out.append((group, [index], public))
    return out


def plan_instances(groups, existing, log):
    """`plan_groups`, with a line in *log* (the module's ``plan``) for each instance it creates or releases."""
    plan = plan_groups(groups, existing)
    for group, index in plan["create"]:
        log.append("create instance %s-%d (%s)" % (group["role"], index, group["instance_type"]))
    for inst in plan["release"]:
        log.append("release instance %s (%s-%d)" % (inst["id"], inst["role"], inst["index"]))
    return plan


def ready_machines(plan, new, public_ids, groups, wait, describe):
    """The cluster's machines once ready, ordered by group then index: those *plan* keeps and the *new*
    ones ((role, index, id) tuples). Only new machines wait for a public IP (*public_ids*): one kept from
    before keeps what it has (a changed publicIP applies to machines created from then on). *wait* is the
    cloud's ``wait(ids, public_ids, settle)``; *describe* gives an instance's (private IP, public IP, zone,
    instance type)."""
    wanted = [i["id"] for i in plan["keep"]] + [item[2] for item in new]
    ready = wait(wanted, public_ids, settle=bool(new)) if wanted else {}
    indexes = {i["id"]: (i["role"], i["index"]) for i in plan["keep"]}
    indexes.update({iid: (role, idx) for role, idx, iid in new})
    order = {g["role"]: n for n, g in enumerate(groups)}
    out = []
    for iid in sorted(ready, key=lambda x: (order[indexes[x][0]], indexes[x][1])):
        role, index = indexes[iid]
        out.append(machine(role, index, iid, *describe(ready[iid])))
    return out


def machine(role, index, instance_id, private_ip, public_ip, zone, instance_type):
    return {"role": role, "index": index, "instance_id": instance_id, "private_ip": private_ip or "",
            "public_ip": public_ip or "", "zone": zone or "", "instance_type": instance_type or ""}
