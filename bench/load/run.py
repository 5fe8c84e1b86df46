#!/usr/bin/python3
"""The load, soak and overload benchmark: the production topology of k8s/overlays/production as
processes on loopback (tests/e2e/production_topology.py: directory, 2 recommenders, 2 gateways,
2 organisations' profile nodes, all gRPC over mutual TLS), driven by bench/load/aurora_load with
the network's traffic mix over HTTP (recommendations 55 %, searches 25 %, feedback and clicks
10 %, profile reads and writes 7 %, session transfers 3 %).

Phases, one after another on the same topology:
  saturation  closed loop at 8, 16, 32, 64 connections (--step-seconds each); saturation is the
              highest rate of answered requests among the steps where nothing was shed or failed
  soak        70 % of saturation, paced (open loop, 256 connections), for --soak-seconds (600): zero
              errors and zero shed; the p99 of every later minute within 1.5x of the first
              minute's; RSS flat (the whole topology's RSS: its least-squares slope over the soak
              times the soak's length within 5 % of its mean, and no process above 1.25x its
              first-minute RSS)
  overload    2x saturation, paced, for --overload-seconds (60), over 512 connections:
              the excess is shed (429/503 with Retry-After: every shed answer has it), no other
              errors, admitted requests keep their service time (p99 from sending within 2x the
              soak's... printed as a ratio), peak RSS bounded (within 1.5x the soak's peak)
  recovery    70 % again for 20 s right after: the first second with no shed answer and a p99
              within 1.5x the soak's p99, counted from the end of the overload (target <= 5 s)

    build/release/bench/aurora_load must be built (cmake --build --preset release).
    bench/load/run.py [--soak-seconds 600] [--overload-seconds 60] [--step-seconds 15]
                      [--services 3088] [--json FILE] [--keep]

Environment as the e2e tests take it (defaults: build/release, ../shared): AURORA_BIN,
AURORA_PYTHON_OUT, AURORA_SHARED_DATA. Exits 1 when a target is missed, 2 on a setup failure.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(REPO, "build", "release")
os.environ.setdefault("AURORA_BIN", os.path.join(BUILD, "src", "node", "aurora"))
os.environ.setdefault("AURORA_PYTHON_OUT", os.path.join(BUILD, "python"))
os.environ.setdefault("AURORA_SHARED_DATA", os.path.join(os.path.dirname(REPO), "shared", "data"))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

import aurora_node  # noqa: E402
from aurora_node import DATA_DIR, http  # noqa: E402
from production_topology import ProductionTopology, credentials  # noqa: E402

import grpc  # noqa: E402
from aurora.directory.v1 import directory_pb2 as dpb, directory_pb2_grpc as dpb_grpc  # noqa: E402
from aurora.network.v1 import network_pb2 as npb, network_pb2_grpc as npb_grpc  # noqa: E402

LOAD_BIN = os.path.join(BUILD, "bench", "aurora_load")
PERSONS = 40
TIMEOUT = 30
MUNICIPALITIES = ["091", "049", "092", "564", "837", "853", "179", "405", "398", "286"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--soak-seconds", type=float, default=600)
    parser.add_argument("--overload-seconds", type=float, default=60)
    parser.add_argument("--step-seconds", type=float, default=15)
    parser.add_argument("--services", type=int, default=3088,
                        help="services of the demo catalogue the directory starts with")
    parser.add_argument("--json", help="write every figure here as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the topology's folder")
    return parser.parse_args()


def search_texts(limit=400):
    """Words people type: the first two words of the demo services' Finnish names."""
    texts = []
    with open(os.path.join(DATA_DIR, "services.ndjson"), encoding="utf-8") as f:
        for line in f:
            name = (json.loads(line).get("names") or {}).get("fi", "")
            words = [w for w in name.split() if len(w) > 3][:2]
            if words:
                texts.append(" ".join(words).lower())
            if len(texts) >= limit:
                break
    return texts


class RssSampler(threading.Thread):
    """Every second: VmRSS (MiB) of each of the topology's processes."""

    def __init__(self, processes):
        super().__init__(daemon=True)
        self.processes = processes
        self.samples = []  # (time, {name: MiB})
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.wait(1.0):
            sample = {}
            for p in self.processes:
                try:
                    with open(f"/proc/{p.process.pid}/status", encoding="ascii") as f:
                        for line in f:
                            if line.startswith("VmRSS:"):
                                sample[p.name] = int(line.split()[1]) / 1024
                except OSError:
                    pass
            self.samples.append((time.monotonic(), sample))

    def between(self, start, end):
        return [(t, s) for t, s in self.samples if start <= t < end]


def slope(points):
    """Least-squares slope of (x, y) points."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="aurora-load-")
        self.topology = ProductionTopology(self.tmp, args.services,
                                           extra_args={"profile-node": ["--dev-issuer"]})
        self.lines = os.path.join(self.tmp, "load.ndjson")
        self.figures = {}

    # -- set-up --------------------------------------------------------------------------------

    def setup(self):
        t = self.topology
        t.start()
        a_workload, b_workload = t.by_component["profile-node"][:2]
        a = t.processes_of[a_workload.name][0]
        b = t.processes_of[b_workload.name][0]
        org_a = t.organizations[a_workload.organization]
        org_b = t.organizations[b_workload.organization]
        directory = t.first("directory")
        # Each organisation publishes its node's address; B's client and its service whose
        # channel takes session transfers of age and municipality.
        for workload, node, org in ((a_workload, a, org_a), (b_workload, b, org_b)):
            with grpc.secure_channel(f"127.0.0.1:{directory.ports['grpc']}",
                                     credentials(t.secret_folders[workload.tls_secret])) as ch:
                npb_grpc.NetworkRegistryStub(ch).SetNodeAddress(npb.SetNodeAddressRequest(
                    organization_id=org, node_address=f"127.0.0.1:{node.ports['grpc']}"),
                    timeout=TIMEOUT)
        with grpc.secure_channel(f"127.0.0.1:{directory.ports['grpc']}",
                                 credentials(t.secret_folders[b_workload.tls_secret])) as ch:
            b_directory = dpb_grpc.DirectoryStub(ch)
            client = b_directory.RegisterApiClient(dpb.RegisterApiClientRequest(
                organization_id=org_b, display_name="load: benefits desk"), timeout=TIMEOUT)
            channel_id = str(uuid.uuid4())
            b_directory.CreateService(dpb.CreateServiceRequest(service=dpb.Service(
                id=str(uuid.uuid4()), organization_id=org_b, name={"fi": "Kuormitustesti B"},
                area_type=dpb.AREA_TYPE_NATIONWIDE, languages=["fi"],
                channels=[dpb.ServiceChannel(
                    id=channel_id, type=dpb.CHANNEL_TYPE_ELECTRONIC, name={"fi": "Hae"},
                    urls=["https://b.example.fi/hae"],
                    session_transfer=dpb.SessionTransfer(
                        client_id=client.client.client_id,
                        accepted_attributes=["age", "municipality_code"]))])), timeout=TIMEOUT)
        # People at A: signed in with A's development issuer, age and municipality stored.
        a_url = f"http://127.0.0.1:{a.ports['http']}"
        tokens = []
        for i in range(PERSONS):
            status, _, raw = http("POST", a_url + "/v1/dev-identity/token",
                                  {"subject": f"load-person-{i}"})
            assert status == 200, raw
            token = json.loads(raw)["access_token"]
            status, _, raw = http("PATCH", a_url + "/v1/profile/attributes", {"attributes": {
                "age": 20 + i, "municipality_code": MUNICIPALITIES[i % len(MUNICIPALITIES)]}},
                token=token)
            assert status == 200, raw
            tokens.append(token)
        # B's node redeems at A once both registry copies list the other's address.
        b_basic = f"{client.client.client_id}:{client.client_secret}"

        def transfer_works():
            status, _, raw = http("POST", a_url + "/v1/profile/transfers", {
                "service_channel_id": channel_id, "attribute_names": ["age"]}, token=tokens[0])
            if status != 200:
                return False
            status, _, raw = http("POST", f"http://127.0.0.1:{b.ports['http']}"
                                  "/v1/profile-access/transfers:receive",
                                  {"access_token": json.loads(raw)["access_token"],
                                   "source_organization_id": org_a}, basic=b_basic)
            return status == 200
        aurora_node.eventually(transfer_works, 60, "a session transfer from A to B")
        self.config = os.path.join(self.tmp, "load.json")
        with open(self.config, "w", encoding="utf-8") as f:
            json.dump({
                "gateways": [g.ports["http"] for g in t.replicas("gateway")],
                "profile_a": a.ports["http"], "profile_b": b.ports["http"], "tokens": tokens,
                "transfer": {"channel_id": channel_id, "receiver_basic": b_basic,
                             "source_organization_id": org_a},
                "search_texts": search_texts(), "municipalities": MUNICIPALITIES}, f)
        self.rss = RssSampler(t.processes)
        self.rss.start()

    # -- phases --------------------------------------------------------------------------------

    def load(self, label, seconds, connections, rate=0.0, warmup=2.0):
        """Runs aurora_load; returns (summary, per-second lines, monotonic start of its measured
        window)."""
        started = time.monotonic()
        done = subprocess.run([LOAD_BIN, "--config", self.config, "--label", label,
                               "--seconds", str(seconds), "--warmup", str(warmup),
                               "--connections", str(connections), "--rate", str(rate),
                               "--out", self.lines], capture_output=True, text=True,
                              timeout=seconds + warmup + 120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"aurora_load {label}: {done.stderr}")
        for p in self.topology.processes:
            p.check_alive()
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        with open(self.lines, encoding="utf-8") as f:
            seconds_lines = [json.loads(line) for line in f]
        seconds_lines = [s for s in seconds_lines if s["label"] == label and "second" in s]
        return summary, seconds_lines, started + warmup

    def saturation(self):
        steps = []
        for connections in (8, 16, 32, 64):
            summary, _, _ = self.load(f"saturation-{connections}", self.args.step_seconds,
                                      connections)
            steps.append(summary)
            print(f"  closed loop, {connections:3d} connections: {summary['ok_per_s']:8.1f} ok/s, "
                  f"p50 {summary['p50_ms']:.1f} ms, p99 {summary['p99_ms']:.1f} ms, "
                  f"shed {summary['shed']}, errors {summary['errors']}", flush=True)
        # Saturation: the most answered per second at a step where nothing was shed or failed
        # (a step that sheds is past saturation).
        clean = [s for s in steps if s["errors"] == 0 and s["shed"] == 0] or steps
        best = max(clean, key=lambda s: s["ok_per_s"])
        self.figures["saturation"] = {"steps": steps, "rate": best["ok_per_s"],
                                      "connections": best["connections"]}
        return best

    def soak(self, saturation):
        rate = 0.7 * saturation["ok_per_s"]
        # Enough workers that the paced load keeps its schedule even when answers slow down
        # (a worker sends one request at a time).
        connections = 256
        seconds = self.args.soak_seconds
        summary, lines, start = self.load("soak", seconds, connections, rate)
        minute = min(60, int(seconds))
        windows = [(i, min(i + minute, len(lines))) for i in range(0, len(lines), minute)]
        p99s = [percentile_of_lines(lines[a:b]) for a, b in windows if b - a >= minute // 2]
        rss = self.rss.between(start, start + seconds)
        totals = [(t - start, sum(s.values())) for t, s in rss if s]
        mean = sum(v for _, v in totals) / max(1, len(totals))
        growth = slope(totals) * seconds
        first = {}
        for t, s in rss:
            if t - start < minute:
                for name, v in s.items():
                    first[name] = max(first.get(name, 0), v)
        worst = max((s.get(name, 0) / first[name] for _, s in rss for name in first
                     if first[name]), default=1.0)
        figures = {"rate": rate, "connections": connections, "seconds": seconds,
                   "summary": summary, "minute_p99_ms": p99s,
                   "p99_ratio_to_first_minute": max(p99s[1:], default=p99s[0] if p99s else 0)
                   / p99s[0] if p99s and p99s[0] else 0,
                   "rss_mean_mib": mean, "rss_growth_mib": growth,
                   "rss_growth_share": growth / mean if mean else 0,
                   "rss_worst_process_ratio": worst,
                   "rss_peak_mib": max((v for _, v in totals), default=0)}
        self.figures["soak"] = figures
        return figures

    def overload(self, saturation, soak):
        rate = 2 * saturation["ok_per_s"]
        connections = 512
        summary, lines, start = self.load("overload", self.args.overload_seconds, connections,
                                          rate, warmup=0)
        end = start + self.args.overload_seconds
        # Recovery: 70 % again, at once.
        recovery, rlines, rstart = self.load("recovery", 20, soak["connections"], soak["rate"],
                                             warmup=0)
        target_p99 = 1.5 * soak["summary"]["p99_ms"]
        recovered_at = None
        for line in rlines:
            if line["shed"] == 0 and line["errors"] == 0 and line["p99_ms"] <= target_p99:
                recovered_at = rstart + line["second"] - end
                break
        rss = self.rss.between(start, end + 20)
        peak = max((sum(s.values()) for _, s in rss if s), default=0)
        figures = {"rate": rate, "connections": connections, "summary": summary,
                   "shed_share": summary["shed"] / max(1, summary["shed"] + summary["ok"]),
                   "admitted_service_p99_ms": summary["service_p99_ms"],
                   "admitted_service_p99_ratio_to_soak":
                       summary["service_p99_ms"] / max(1e-9, soak["summary"]["service_p99_ms"]),
                   "rss_peak_mib": peak,
                   "rss_peak_ratio_to_soak": peak / max(1e-9, soak["rss_peak_mib"]),
                   "recovery": recovery, "recovered_after_s": recovered_at}
        self.figures["overload"] = figures
        return figures

    def close(self):
        if hasattr(self, "rss"):
            self.rss.stopping.set()
        codes = self.topology.stop_all()
        if not self.args.keep:
            subprocess.run(["rm", "-rf", self.tmp], check=False)
        else:
            print(f"topology folder kept: {self.tmp}")
        return codes


def percentile_of_lines(lines):
    """The p99 of a window of per-second lines: the largest of the seconds' p99 weighted by their
    counts is not the window's p99, so take the count-weighted 99th percentile of the seconds'
    p99 values (each second's p99 stands for its calls)."""
    values = sorted((line["p99_ms"], line["ok"]) for line in lines if line["ok"])
    total = sum(n for _, n in values)
    if not total:
        return 0.0
    seen = 0
    for value, n in values:
        seen += n
        if seen >= 0.99 * total:
            return value
    return values[-1][0]


def rounded(by_op):
    return {k: round(v, 1) for k, v in by_op.items()}


def verdict(name, ok, measured):
    print(f"  {'PASS' if ok else 'FAIL'}  {name} (measured {measured})")
    return ok


def main():
    args = parse_args()
    if not os.path.exists(LOAD_BIN):
        sys.exit(f"{LOAD_BIN} not found: cmake --build --preset release --target aurora_load")
    bench = Bench(args)
    passed = True
    try:
        print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
              f"load average {open('/proc/loadavg').read().split()[:3]}", flush=True)
        print("== set-up: the production topology as processes, "
              f"{args.services} services", flush=True)
        bench.setup()
        print("== saturation (closed loop)", flush=True)
        saturation = bench.saturation()
        print(f"  saturation: {saturation['ok_per_s']:.1f} requests/s answered", flush=True)
        print(f"== soak: 70 % = {0.7 * saturation['ok_per_s']:.0f} requests/s for "
              f"{args.soak_seconds:.0f} s", flush=True)
        soak = bench.soak(saturation)
        s = soak["summary"]
        print(f"  offered {s['offered_per_s']:.0f}/s: {s['ok']} answered, {s['shed']} shed, "
              f"{s['errors']} errors; p50 "
              f"{s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms; p99 per minute "
              f"{[round(v, 1) for v in soak['minute_p99_ms']]}; RSS mean "
              f"{soak['rss_mean_mib']:.0f} MiB, trend {soak['rss_growth_mib']:+.1f} MiB over the "
              f"soak", flush=True)
        print(f"  service p99 by operation (ms): {rounded(s['service_p99_ms_by_op'])}", flush=True)
        print(f"== overload: 2x = {2 * saturation['ok_per_s']:.0f} requests/s for "
              f"{args.overload_seconds:.0f} s, then 70 % again", flush=True)
        over = bench.overload(saturation, soak)
        o = over["summary"]
        print(f"  offered {o['offered_per_s']:.0f}/s: {o['ok']} answered ({o['ok_per_s']:.0f}/s), "
              f"{o['shed']} shed "
              f"({o['shed_with_retry_after']} with Retry-After), {o['errors']} errors; admitted "
              f"service p99 {o['service_p99_ms']:.1f} ms; RSS peak {over['rss_peak_mib']:.0f} "
              f"MiB; recovered after {over['recovered_after_s']} s", flush=True)
        print(f"  admitted service p99 by operation (ms): {rounded(o['service_p99_ms_by_op'])}; "
              f"answered by operation: {o['by_op']}", flush=True)
        print("== verdicts")
        checks = [
            verdict("soak: zero errors and nothing shed", s["errors"] == 0 and s["shed"] == 0,
                    f"{s['errors']} errors, {s['shed']} shed"),
            verdict("soak: every minute's p99 <= 1.5x the first minute's",
                    soak["p99_ratio_to_first_minute"] <= 1.5,
                    f"{soak['p99_ratio_to_first_minute']:.2f}x"),
            verdict("soak: RSS flat (trend over the soak <= 5 % of the mean, no process above "
                    "1.25x its first minute)",
                    soak["rss_growth_share"] <= 0.05 and soak["rss_worst_process_ratio"] <= 1.25,
                    f"{100 * soak['rss_growth_share']:+.1f} %, worst process "
                    f"{soak['rss_worst_process_ratio']:.2f}x"),
            verdict("overload: the excess is shed, each with Retry-After, no other error",
                    o["shed"] > 0 and o["shed_with_retry_after"] == o["shed"]
                    and o["errors"] == 0,
                    f"{o['shed']} shed, {o['shed_with_retry_after']} with Retry-After, "
                    f"{o['errors']} errors"),
            verdict("overload: admitted requests' service p99 <= 2x the soak's",
                    over["admitted_service_p99_ratio_to_soak"] <= 2,
                    f"{over['admitted_service_p99_ratio_to_soak']:.2f}x"),
            verdict("overload: peak RSS <= 1.5x the soak's peak",
                    over["rss_peak_ratio_to_soak"] <= 1.5,
                    f"{over['rss_peak_ratio_to_soak']:.2f}x"),
            verdict("recovery: full service within 5 s after the overload",
                    over["recovered_after_s"] is not None and over["recovered_after_s"] <= 5,
                    f"{over['recovered_after_s']} s"),
        ]
        checks += [
            verdict("the load was offered as planned (soak and overload within 5 % of their rate)",
                    s["offered_per_s"] >= 0.95 * soak["rate"]
                    and o["offered_per_s"] >= 0.95 * over["rate"],
                    f"soak {s['offered_per_s']:.0f} of {soak['rate']:.0f}/s, overload "
                    f"{o['offered_per_s']:.0f} of {over['rate']:.0f}/s")]
        passed = all(checks)
    finally:
        codes = bench.close()
    bench.figures["exit_codes"] = codes
    bench.figures["machine"] = {"cores": os.cpu_count(), "load_average":
                                open("/proc/loadavg").read().split()[:3]}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(bench.figures, f, indent=1)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
