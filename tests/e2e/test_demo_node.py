"""`aurora serve --demo <AURORA_SHARED_DATA>` on a fresh data dir, driven as a user would: health,
paging through the whole catalogue, area and class filters on the real data, the demo
credentials, reflection, /metrics, the Python example client, restart and SIGTERM.
"""

import csv
import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

import aurora_node
from aurora_node import AuroraNode, DIRECTORY_SERVICE, pb, pb_grpc
import grpc
from aurora.common.v1 import common_pb2
from health.v1 import health_pb2, health_pb2_grpc

DEMO_RECORDS = 3088
RPC_TIMEOUT_S = 30
EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples",
                       "python", "directory_client.py")
NATIONWIDE = (pb.AREA_TYPE_NATIONWIDE, pb.AREA_TYPE_NATIONWIDE_EXCEPT_ALAND_ISLANDS)


def municipalities_of_region(region):
    path = os.path.join(aurora_node.CODELISTS_DIR, "municipalities.csv")
    with open(path, newline="", encoding="utf-8") as f:
        return {row["code"] for row in csv.DictReader(f) if row["region_code"].strip() == region}


def scrape(url):
    """Prometheus text format -> {(name, frozenset(labels.items())): value}."""
    with urllib.request.urlopen(url, timeout=RPC_TIMEOUT_S) as response:
        text = response.read().decode("utf-8")
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)", line)
        if m is None:
            raise AssertionError(f"unparsable metrics line: {line!r}")
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                                      m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def sample(samples, name, **labels):
    """The value of the sample with this name whose labels include `labels` (0 if none)."""
    wanted = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n == name and wanted <= set(ls)]
    assert len(found) <= 1, f"{name}{labels} is ambiguous"
    return found[0] if found else 0.0


def generate_reflection_module(out_dir):
    """Generates grpc.reflection.v1alpha Python modules (Debian ships the proto, not the module)."""
    subprocess.run(
        ["protoc", "-I", "/usr/share/grpc-proto/grpc", f"--python_out={out_dir}",
         f"--grpc_out={out_dir}", "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin",
         "/usr/share/grpc-proto/grpc/reflection/v1alpha/reflection.proto"],
        check=True, capture_output=True, timeout=60)
    if out_dir not in sys.path:
        sys.path.insert(0, out_dir)
    from reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
    return reflection_pb2, reflection_pb2_grpc


class DemoNodeTest(unittest.TestCase):
    """One demo node shared by read-only checks."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="aurora-e2e-demo-")
        cls.addClassCleanup(cls.tmp.cleanup)
        cls.node = AuroraNode(os.path.join(cls.tmp.name, "data"),
                              extra_args=["--demo", aurora_node.DATA_DIR])
        cls.addClassCleanup(cls.node.close)
        cls.node.start()
        cls.stub = cls.node.directory()
        cls.loaded = cls.node.find_log("demo catalogue loaded")
        cls.all_services, cls.all_pages, cls.all_revisions = aurora_node.list_all_services(
            cls.stub, page_size=100)

    def list_ids(self, request):
        services, _, _ = aurora_node.list_all_services(self.stub, request, page_size=1000)
        ids = [s.id for s in services]
        self.assertEqual(len(ids), len(set(ids)), "a service was listed twice")
        return set(ids)

    def expect_invalid(self, request, *fragments):
        with self.assertRaises(grpc.RpcError) as ctx:
            self.stub.ListServices(request, timeout=RPC_TIMEOUT_S)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        for fragment in fragments:
            self.assertIn(fragment, ctx.exception.details())

    def test_health_is_serving_per_component(self):
        health = self.node.health()
        for service in ("", DIRECTORY_SERVICE):
            self.assertEqual(aurora_node.check_health(health, service),
                             health_pb2.HealthCheckResponse.SERVING, f"health of {service!r}")
        with self.assertRaises(grpc.RpcError) as ctx:
            aurora_node.check_health(health, "no.such.Service")
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_demo_import_counts_and_paging_through_everything(self):
        self.assertIsNotNone(self.loaded, "no 'demo catalogue loaded' log line")
        created, rejected = int(self.loaded["created"]), int(self.loaded["rejected"])
        self.assertEqual(int(self.loaded["records"]), DEMO_RECORDS)
        self.assertEqual(created + rejected, DEMO_RECORDS)
        warnings = [e for e in self.node.logs()
                    if isinstance(e, dict) and e.get("message") == "demo record not loaded"]
        self.assertEqual(len(warnings), rejected, "each rejected record is logged")

        ids = [s.id for s in self.all_services]
        self.assertEqual(len(ids), created)
        self.assertEqual(len(set(ids)), len(ids), "a service appeared on two pages")
        self.assertEqual(ids, sorted(ids), "services are ordered by id")
        self.assertEqual(self.all_pages, (created + 99) // 100)
        serving_revision = int(self.node.serving_entry["revision"])
        self.assertEqual(set(self.all_revisions), {serving_revision})

        # The default page size is 50; every page but the last is full.
        first = self.stub.ListServices(pb.ListServicesRequest(), timeout=RPC_TIMEOUT_S)
        self.assertEqual([s.id for s in first.services], ids[:50])
        self.assertTrue(first.next_page_token)

        # Bad paging input is rejected and names the field.
        request = pb.ListServicesRequest()
        request.page.page_size = 1001
        self.expect_invalid(request, "page_size")
        request = pb.ListServicesRequest()
        request.page.page_token = "not-a-token"
        self.expect_invalid(request, "page_token")
        # A token only works with the filter it was issued for.
        request = pb.ListServicesRequest(service_classes=["P5"])
        request.page.page_token = first.next_page_token
        self.expect_invalid(request, "page_token")

    def test_area_filters_on_the_real_data(self):
        everything = {s.id: s for s in self.all_services}
        nationwide = {i for i, s in everything.items() if s.area_type in NATIONWIDE}
        helsinki = {i for i, s in everything.items() if "091" in s.municipality_codes}
        self.assertTrue(nationwide and helsinki)

        # Helsinki: its own services and the nationwide ones, nothing else.
        got = self.list_ids(pb.ListServicesRequest(
            area=common_pb2.AreaFilter(municipality_codes=["091"])))
        for sid in got:
            s = everything[sid]
            self.assertTrue(s.area_type in NATIONWIDE or "091" in s.municipality_codes,
                            f"{sid} ({s.name.fi}) is neither nationwide nor in Helsinki")
        self.assertEqual(got, nationwide | helsinki)

        got = self.list_ids(pb.ListServicesRequest(area=common_pb2.AreaFilter(
            municipality_codes=["091"], include_national_services=False)))
        self.assertEqual(got, helsinki)

        # Uusimaa (region 01) includes Helsinki and the other Uusimaa municipalities.
        uusimaa = municipalities_of_region("01")
        self.assertIn("091", uusimaa)
        got = self.list_ids(pb.ListServicesRequest(
            area=common_pb2.AreaFilter(region_codes=["01"])))
        self.assertTrue(helsinki <= got, "region 01 misses Helsinki services")
        self.assertEqual(got, nationwide | {i for i, s in everything.items()
                                            if uusimaa & set(s.municipality_codes)})

        # The Helsinki wellbeing services county (90) is Helsinki alone.
        got = self.list_ids(pb.ListServicesRequest(
            area=common_pb2.AreaFilter(wellbeing_service_county_codes=["90"])))
        self.assertEqual(got, nationwide | helsinki)

        got = self.list_ids(pb.ListServicesRequest(
            area=common_pb2.AreaFilter(only_national_services=True)))
        self.assertEqual(got, nationwide)

        self.expect_invalid(pb.ListServicesRequest(
            area=common_pb2.AreaFilter(municipality_codes=["999"])), '"999"')
        self.expect_invalid(pb.ListServicesRequest(area=common_pb2.AreaFilter(
            municipality_codes=["091"], only_national_services=True)), "only_national_services")

    def test_class_and_target_group_filters_match_subcodes(self):
        everything = {s.id: s for s in self.all_services}

        def in_helsinki(s):
            return s.area_type in NATIONWIDE or "091" in s.municipality_codes

        def under(codes, parent):
            return any(c == parent or c.startswith(parent + ".") for c in codes)

        got = self.list_ids(pb.ListServicesRequest(
            area=common_pb2.AreaFilter(municipality_codes=["091"]), service_classes=["P5"]))
        expected = {i for i, s in everything.items()
                    if in_helsinki(s) and under(s.service_classes, "P5")}
        self.assertTrue(expected)
        self.assertTrue(any("P5" not in everything[i].service_classes for i in expected),
                        "the data should exercise subclass matching")
        self.assertEqual(got, expected)

        got = self.list_ids(pb.ListServicesRequest(target_groups=["KR1"]))
        expected = {i for i, s in everything.items() if under(s.target_groups, "KR1")}
        self.assertTrue(expected)
        self.assertEqual(got, expected)

        self.expect_invalid(pb.ListServicesRequest(service_classes=["P999"]), '"P999"')

    def test_demo_credentials_file_and_client_in_watch_snapshot(self):
        path = os.path.join(self.node.data_dir, "demo-credentials.json")
        self.assertTrue(os.path.isfile(path))
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path, encoding="utf-8") as f:
            credentials = json.load(f)
        self.assertEqual(set(credentials), {"client_id", "client_secret", "organization_id"})
        self.assertRegex(credentials["client_secret"], r"^[A-Za-z0-9_-]{43}$")

        responses = aurora_node.watch_until(self.stub, pb.WatchRequest(snapshot=True), 0)
        self.assertTrue(responses[-1].snapshot_complete)
        self.assertEqual(responses[-1].revision, int(self.node.serving_entry["revision"]))
        events = [e for r in responses for e in r.events]
        clients = [e.api_client for e in events if e.type == pb.ChangeEvent.TYPE_API_CLIENT_PUT]
        matching = [c for c in clients if c.client_id == credentials["client_id"]]
        self.assertEqual(len(matching), 1, "the demo client is not in the snapshot")
        self.assertEqual(matching[0].organization_id, credentials["organization_id"])
        self.assertEqual(matching[0].state, pb.ApiClient.STATE_ACTIVE)
        organizations = {e.organization.id for e in events
                         if e.type == pb.ChangeEvent.TYPE_ORGANIZATION_PUT}
        self.assertIn(credentials["organization_id"], organizations)
        services = [e for e in events if e.type == pb.ChangeEvent.TYPE_SERVICE_PUT]
        self.assertEqual(len(services), len(self.all_services))
        # No secret (nor its hash) anywhere in the feed.
        raw = b"".join(r.SerializeToString() for r in responses)
        self.assertNotIn(credentials["client_secret"].encode(), raw)
        self.assertNotIn(b"pbkdf2", raw)

        listed = self.stub.ListApiClients(
            pb.ListApiClientsRequest(organization_id=credentials["organization_id"]),
            timeout=RPC_TIMEOUT_S)
        self.assertEqual([c.client_id for c in listed.clients], [credentials["client_id"]])

    def test_reflection_lists_the_directory(self):
        with tempfile.TemporaryDirectory(prefix="aurora-e2e-reflection-") as out:
            reflection_pb2, reflection_pb2_grpc = generate_reflection_module(out)
        stub = reflection_pb2_grpc.ServerReflectionStub(self.node.channel)
        requests = [reflection_pb2.ServerReflectionRequest(list_services=""),
                    reflection_pb2.ServerReflectionRequest(
                        file_containing_symbol=DIRECTORY_SERVICE)]
        responses = list(stub.ServerReflectionInfo(iter(requests), timeout=RPC_TIMEOUT_S))
        self.assertEqual(len(responses), 2)
        names = {s.name for s in responses[0].list_services_response.service}
        self.assertIn(DIRECTORY_SERVICE, names)
        self.assertIn("grpc.health.v1.Health", names)

        from google.protobuf import descriptor_pb2
        files = [descriptor_pb2.FileDescriptorProto.FromString(b)
                 for b in responses[1].file_descriptor_response.file_descriptor_proto]
        directory = [f for f in files if f.name == "aurora/directory/v1/directory.proto"]
        self.assertEqual(len(directory), 1, [f.name for f in files])
        methods = {m.name for s in directory[0].service if s.name == "Directory" for m in s.method}
        self.assertTrue({"ListServices", "Watch", "ImportServices", "UpdateService"} <= methods)

    def test_metrics_count_calls_and_services(self):
        before = scrape(self.node.metrics_url)
        # grpc_code values are the codes' CamelCase names, as in go-grpc-prometheus.
        ok_labels = dict(grpc_service=DIRECTORY_SERVICE, grpc_method="ListServices",
                         grpc_code="OK")
        bad_labels = dict(ok_labels, grpc_code="InvalidArgument")
        calls = 7
        for _ in range(calls):
            self.stub.ListServices(pb.ListServicesRequest(), timeout=RPC_TIMEOUT_S)
        with self.assertRaises(grpc.RpcError):
            self.stub.ListServices(pb.ListServicesRequest(
                area=common_pb2.AreaFilter(municipality_codes=["999"])), timeout=RPC_TIMEOUT_S)

        # The counter may be bumped just after the reply is sent: poll briefly.
        deadline = time.monotonic() + 10
        while True:
            after = scrape(self.node.metrics_url)
            ok = sample(after, "grpc_server_handled_total", **ok_labels) - \
                sample(before, "grpc_server_handled_total", **ok_labels)
            bad = sample(after, "grpc_server_handled_total", **bad_labels) - \
                sample(before, "grpc_server_handled_total", **bad_labels)
            if (ok >= calls and bad >= 1) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(ok, calls)
        self.assertEqual(bad, 1)
        self.assertGreaterEqual(sample(after, "grpc_server_handled_total", **ok_labels),
                                self.all_pages + calls)
        self.assertGreaterEqual(
            sample(after, "grpc_server_handling_seconds_count", grpc_service=DIRECTORY_SERVICE,
                   grpc_method="ListServices"), calls + 1)
        self.assertEqual(sample(after, "aurora_directory_services"), len(self.all_services))
        self.assertEqual(sample(after, "aurora_directory_revision"),
                         aurora_node.current_revision(self.stub))
        self.assertTrue(any(name.startswith("aurora_rocksdb_") for name, _ in after),
                        "no RocksDB metrics")


class DemoNodeLifecycleTest(unittest.TestCase):
    """The example client, restart without re-import, and a clean SIGTERM."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="aurora-e2e-demo-life-")
        self.addCleanup(self.tmp.cleanup)

    def test_example_client_restart_and_sigterm(self):
        node = AuroraNode(os.path.join(self.tmp.name, "data"),
                          extra_args=["--demo", aurora_node.DATA_DIR])
        self.addCleanup(node.close)
        node.start()
        stub = node.directory()
        loaded_revision = int(node.serving_entry["revision"])
        services = len(aurora_node.list_all_services(stub)[0])
        credentials_path = os.path.join(node.data_dir, "demo-credentials.json")
        with open(credentials_path, "rb") as f:
            credentials = f.read()

        # The README's example client runs against the demo node.
        example = subprocess.run(
            [sys.executable, EXAMPLE, "--target", node.target, "--python-out",
             aurora_node.PYTHON_OUT, "--page-size", "5", "--max-pages", "2"],
            capture_output=True, text=True, timeout=120, check=False)
        self.assertEqual(example.returncode, 0, example.stdout + example.stderr)
        self.assertIn("health: SERVING", example.stdout)
        self.assertEqual(len(re.findall(r"^page \d+ ", example.stdout, re.M)), 2)
        self.assertIn("stale update rejected: ABORTED", example.stdout)
        for offset, kind in ((1, "ORGANIZATION_PUT"), (2, "SERVICE_PUT"), (3, "SERVICE_PUT")):
            self.assertIn(f"revision {loaded_revision + offset}: TYPE_{kind}", example.stdout)
        self.assertEqual(aurora_node.current_revision(stub), loaded_revision + 3)

        node.stop()
        self.assertIsNotNone(node.find_log("stopped"))

        # Restarting with --demo on the same data dir imports nothing.
        node.start()
        stub = node.directory()
        self.assertIsNotNone(
            node.find_log("the data dir is not empty; the demo catalogue is not loaded again"))
        self.assertIsNone(node.find_log("loading the demo catalogue"))
        self.assertEqual(int(node.serving_entry["revision"]), loaded_revision + 3)
        self.assertEqual(aurora_node.current_revision(stub), loaded_revision + 3)
        self.assertEqual(len(aurora_node.list_all_services(stub)[0]), services + 1)
        with open(credentials_path, "rb") as f:
            self.assertEqual(f.read(), credentials, "the demo credentials changed")
        node.stop()

        # SIGTERM: health turns NOT_SERVING while the node drains, open directory watchers get
        # UNAVAILABLE (they resume with after_revision), and the node exits 0 within
        # drain + grace (+ the metrics exposer's 2 s, toolchain.md pitfall 9), logging "stopped".
        # The clients close their channels when their calls end, as real clients do: gRPC waits
        # for client connections to go away (an idle one only goes after up to ~5 s).
        drain, grace, exposer = 1, 5, 2.5
        node = AuroraNode(node.data_dir, extra_args=["--demo", aurora_node.DATA_DIR],
                          drain_seconds=drain, grace_seconds=grace)
        self.addCleanup(node.close)
        node.start()
        watch = StreamFollower(node.target, lambda channel: pb_grpc.DirectoryStub(channel).Watch(
            pb.WatchRequest(after_revision=loaded_revision + 2), timeout=60), lambda r: r.revision)
        self.assertTrue(watch.first.wait(30), "the watch stream did not open")
        statuses = set()
        with grpc.insecure_channel(node.target) as probe:
            health_stub = health_pb2_grpc.HealthStub(probe)
            self.assertEqual(aurora_node.check_health(health_stub, ""),
                             health_pb2.HealthCheckResponse.SERVING)
            node.terminate()
            deadline = time.monotonic() + drain + grace
            while time.monotonic() < deadline and len(statuses) < 2:
                try:
                    for name in ("", DIRECTORY_SERVICE):
                        status = aurora_node.check_health(health_stub, name)
                        if status == health_pb2.HealthCheckResponse.NOT_SERVING:
                            statuses.add(name)
                except grpc.RpcError:
                    break  # the server stopped accepting calls
                time.sleep(0.02)  # poll interval
        elapsed = node.wait_exit(timeout=60)
        watch.join(self)
        self.assertEqual(statuses, {"", DIRECTORY_SERVICE}, "health never said NOT_SERVING")
        self.assertEqual(watch.messages, [loaded_revision + 3])
        self.assertEqual(watch.code, grpc.StatusCode.UNAVAILABLE)
        self.assertIn("after_revision", watch.details)
        self.assertIsNotNone(node.find_log("stopped"), node.log_tail())
        self.assertLess(elapsed, drain + exposer, f"SIGTERM took {elapsed:.1f} s")
        timings = [f"SIGTERM with a directory watcher: exit 0 after {elapsed:.2f} s"]

        # The same with a grpc.health.v1.Health/Watch stream open (as client-side health checking
        # keeps one): the watcher is told NOT_SERVING and the node still exits 0.
        node.start()
        health = StreamFollower(node.target, lambda channel: health_pb2_grpc.HealthStub(
            channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=60),
            lambda r: r.status)
        self.assertTrue(health.first.wait(30), "the health watch did not open")
        elapsed = node.stop(timeout=60)
        health.join(self)
        self.assertEqual(health.messages[0], health_pb2.HealthCheckResponse.SERVING)
        self.assertIn(health_pb2.HealthCheckResponse.NOT_SERVING, health.messages[1:],
                      "the health watcher was not told NOT_SERVING")
        self.assertIsNotNone(node.find_log("stopped"), node.log_tail())
        # The node's health service ends Watch streams at shutdown: no wait for the grace deadline.
        self.assertLess(elapsed, drain + exposer, f"SIGTERM took {elapsed:.1f} s")
        self.assertEqual(health.code, grpc.StatusCode.OK)
        timings.append(f"SIGTERM with a health watcher: exit 0 after {elapsed:.2f} s")
        print(f"\n{'; '.join(timings)} (drain {drain} s, grace {grace} s)")


class StreamFollower(threading.Thread):
    """Reads a server stream on a channel of its own in the background: the messages (through
    `pick`), then the final code; closes the channel when the stream ends."""

    def __init__(self, target, open_call, pick):
        super().__init__(daemon=True)
        self.channel = grpc.insecure_channel(target)
        self.call, self.pick = open_call(self.channel), pick
        self.messages, self.code, self.details = [], None, None
        self.first = threading.Event()
        self.start()

    def run(self):
        try:
            for response in self.call:
                self.messages.append(self.pick(response))
                self.first.set()
            self.code = grpc.StatusCode.OK
        except grpc.RpcError as e:
            self.code, self.details = e.code(), e.details()
        finally:
            self.channel.close()

    def join(self, testcase, timeout=60):
        super().join(timeout)
        testcase.assertFalse(self.is_alive(), "the stream did not end")

class DemoResumeTest(unittest.TestCase):
    """A node stopped during its first demo import completes the import on the next start."""

    def test_pending_demo_import_is_completed(self):
        with tempfile.TemporaryDirectory(prefix="aurora-e2e-resume-") as tmp:
            data_dir = os.path.join(tmp, "data")
            # What a crash during the first import leaves: some data and the pending marker.
            node = AuroraNode(data_dir)
            node.start()
            org = node.directory().RegisterOrganization(
                pb.RegisterOrganizationRequest(
                    organization=pb.Organization(name={"fi": "Keskeytynyt"})),
                timeout=RPC_TIMEOUT_S)
            node.stop()
            marker = os.path.join(data_dir, "demo-import.pending")
            with open(marker, "w") as f:
                f.write("loading the demo catalogue\n")

            node = AuroraNode(data_dir, extra_args=["--demo", aurora_node.DATA_DIR])
            try:
                node.start()
                loaded = node.find_log("demo catalogue loaded")
                self.assertIsNotNone(loaded, node.log_tail())
                self.assertEqual(int(loaded["created"]) + int(loaded["unchanged"]) +
                                 int(loaded["rejected"]), 3088)
                self.assertFalse(os.path.exists(marker), "the marker outlived the import")
                services, _, _ = aurora_node.list_all_services(node.directory())
                self.assertEqual(len(services), int(loaded["created"]))
                # Earlier data is kept.
                fetched = node.directory().GetOrganization(
                    pb.GetOrganizationRequest(id=org.id), timeout=RPC_TIMEOUT_S)
                self.assertEqual(fetched.name.fi, "Keskeytynyt")
                node.stop()
                # Without the marker, a non-empty data dir is not imported into again.
                node.start()
                self.assertIsNone(node.find_log("demo catalogue loaded"))
                self.assertIsNotNone(node.find_log(
                    "the data dir is not empty; the demo catalogue is not loaded again"))
            finally:
                node.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
