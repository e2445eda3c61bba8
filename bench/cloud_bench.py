"""Cloud provisioning benchmark: 6 instances (3 masters, 3 nodes) on the local Alibaba Cloud endpoint
(tests/support/ali_endpoint.py, real HTTP and signatures), each booting in 2-10 s (random, seeded).

    .venv/bin/python bench/cloud_bench.py [--seed 1] [--instances 6] [--runs 3] [--throttle 0.0]

Measured in the same run, on fresh endpoints with the same boot latencies:
* ours: ali_ecs_instances' logic as the module runs it: one RunInstances per group, then every
  instance polled in one DescribeInstances per round, capped backoff with jitter (~1-2 s first, x1.5,
  at most 5 s apart);
* sealer's schedule: the same network calls (made the same way), then as sealer's AliProvider does:
  per role in turn (masters, then nodes) RunInstances, then utils.Retry(TryTimes=10, TrySleepTime=1s)
  around one DescribeInstances for the role, sleeping (2i+1) s after try i. Ready means Running with
  a private IP for both (sealer itself only waited for the IP, then for SSH).
Ratios below 1.0 mean fewer calls / less time for ours.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tests.support.ali_endpoint import ZONES, AliCloud  # noqa: E402
from tests.unit.collection.conftest import load  # noqa: E402

c = load("module_utils", "_cloud")
ali = load("module_utils", "_ali_ecs")


def _cloud(seed: int, instances: int, throttle: float) -> tuple[AliCloud, str]:
    boots = random.Random(seed)
    delays = [boots.uniform(2.0, 10.0) for _ in range(instances)]
    cloud = AliCloud(seed=seed, boot_delay=lambda index: delays[index] if index < len(delays) else 2.0)
    cloud.throttle_rate = throttle
    return cloud, cloud.serve()


def _params(instances: int) -> dict:
    masters = instances // 2
    return {"cluster": "bench", "region": "cn-hangzhou", "zone": ZONES[0], "allow_from": ["203.0.113.7/32"],
            "groups": [{"role": "master", "count": masters, "cpu": 4, "memory": 8},
                       {"role": "node", "count": instances - masters, "cpu": 4, "memory": 8}],
            "password": "Bench-Pass-1"}


def ours(seed: int, instances: int, throttle: float) -> tuple[float, int, int]:
    cloud, url = _cloud(seed, instances, throttle)
    try:
        api = ali.Api("cn-hangzhou", "test-key", "test-secret", url)
        retrier = c.Retrier(ali.translate, c.Calls(), rng=random.Random(seed))
        started = time.perf_counter()
        result = ali.apply(api, retrier, _params(instances), rng=random.Random(seed))
        elapsed = time.perf_counter() - started
        assert len(result["machines"]) == instances
        return elapsed, cloud.total_calls, cloud.calls.get("DescribeInstances", 0)
    finally:
        cloud.close()


def sealer(seed: int, instances: int, throttle: float) -> tuple[float, int, int]:
    cloud, url = _cloud(seed, instances, throttle)
    try:
        api = ali.Api("cn-hangzhou", "test-key", "test-secret", url)
        retrier = c.Retrier(ali.translate, c.Calls(), rng=random.Random(seed))
        params = _params(instances)
        started = time.perf_counter()
        cluster = ali.EcsCluster(api, retrier, "bench", "cn-hangzhou")
        vpc, _ = cluster.ensure_vpc(None, "172.16.0.0/16", False)
        vswitch = cluster.ensure_vswitch(vpc, ZONES[0], [], False)
        sg = cluster.ensure_security_group(vpc, params["allow_from"], [22, 6443], False)
        image = cluster.find_image(None)
        for group in c.normalize_groups(params["groups"], c.ALI_CATALOG):
            ids = cluster.run_batch(group, list(range(group["count"])), False, image, vswitch, sg, None,
                                    params["password"])
            for i in range(10):  # utils.Retry(TryTimes, TrySleepTime): sleep (2i+1) * 1 s after a failed try
                items = cluster.describe(ids)
                if all(item != ali.GONE and item["Status"] == "Running" for item in items.values()):
                    break
                time.sleep(1.0 * (2 * i + 1))
            else:
                raise SystemExit("sealer's schedule gave up after 10 tries")
        elapsed = time.perf_counter() - started
        return elapsed, cloud.total_calls, cloud.calls.get("DescribeInstances", 0)
    finally:
        cloud.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--instances", type=int, default=6)
    parser.add_argument("--runs", type=int, default=3, help="seeds seed, seed+1, ...")
    parser.add_argument("--throttle", type=float, default=0.0, help="fraction of requests refused with Throttling")
    args = parser.parse_args()
    totals = {"ours": [0.0, 0, 0], "sealer": [0.0, 0, 0]}
    print(f"  {'seed':<6}{'boots (s)':<36}{'':<10}{'wall':>9}{'API calls':>11}{'polls':>8}")
    for seed in range(args.seed, args.seed + args.runs):
        boots = random.Random(seed)
        delays = ", ".join(f"{boots.uniform(2.0, 10.0):.1f}" for _ in range(args.instances))
        for label, fn in (("ours", ours), ("sealer", sealer)):
            wall, calls, polls = fn(seed, args.instances, args.throttle)
            for n, value in enumerate((wall, calls, polls)):
                totals[label][n] += value
            print(f"  {seed if label == 'ours' else '':<6}{delays if label == 'ours' else '':<36}{label:<10}"
                  f"{wall:8.2f}s{calls:11d}{polls:8d}")
    o, s = totals["ours"], totals["sealer"]
    print(f"  total over {args.runs} runs: ours {o[0]:.1f} s, {o[1]} calls; sealer's schedule {s[0]:.1f} s, {s[1]} calls")
    print(f"  ratio ours/sealer: wall {o[0] / s[0]:.3f}, API calls {o[1] / s[1]:.3f}, polls {o[2] / s[2]:.3f}")


if __name__ == "__main__":
    main()
