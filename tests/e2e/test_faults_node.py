"""Faults of one node, with real `aurora` processes:

  * a full disk: the data directory on a small tmpfs that the test fills. Writes fail at once with
    RESOURCE_EXHAUSTED saying the disk is full (no crash, no hang), reads go on, and once the
    filler is deleted writes work again without a restart; after a restart every acknowledged
    write is there. Needs root (mount); skipped otherwise.
  * a hung upstream behind `aurora gateway`: a Python gRPC server whose Search never answers, and
    a TCP port that accepts but never speaks HTTP/2. Requests end with 504 at their deadline;
    after hundreds of them, 20 at a time, the gateway's threads and file descriptors are back at
    their baseline, and it serves again when the upstream answers.
  * certificates: a node with mutual TLS (re-reading its files every second) has its certificate
    and key replaced one after the other, seconds apart, and a client its own, while client
    threads call on new and existing channels: not one call fails, new connections see the new
    serial once both files are in place, the node logs it, the expiry metric follows the file.
    Expired certificates are refused: a client's at the handshake, one the node is renewed with
    by mistake (it keeps its current one and says why), the node's own at start-up, and Aurora's
    own clients say why before calling.
"""

import concurrent.futures
import datetime
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

import aurora_node
from aurora_node import (AuroraNode, curl, eventually, issue_network, list_all_services,
                         member_credentials, member_node, pb, read_bytes, run_aurora)

import grpc  # noqa: E402  (after aurora_node, which puts the generated modules on sys.path)
from aurora.directory.v1 import directory_pb2_grpc as pb_grpc  # noqa: E402
from health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
except ImportError:  # python3-cryptography: only the expiry test needs it
    x509 = None

CALL_TIMEOUT_S = 10


def metric_value(body, name):
    """The value of the unlabelled metric `name` in a Prometheus text body, or None."""
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def make_service(organization_id, name):
    return pb.Service(id=str(uuid.uuid4()), organization_id=organization_id,
                      name={"fi": name}, summary={"fi": "Vikatestin palvelu. " * 10},
                      area_type=pb.AREA_TYPE_NATIONWIDE, languages=["fi"])


# -- 1. a full disk ---------------------------------------------------------------------------

class DiskFullTest(unittest.TestCase):
    TMPFS_SIZE = "8m"

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="aurora-e2e-faults-disk-")
        self.addCleanup(self.tmp.cleanup)
        # The mount point is the node's data dir; AuroraNode writes the node's log beside it, off
        # the small filesystem.
        self.mount = os.path.join(self.tmp.name, "data")
        os.makedirs(self.mount)
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.TMPFS_SIZE}",
                                  "tmpfs", self.mount], capture_output=True, text=True)
        if mounted.returncode != 0:
            raise unittest.SkipTest(
                f"mounting a {self.TMPFS_SIZE} tmpfs for the data dir needs root (uid "
                f"{os.getuid()}): mount said {mounted.stderr.strip()!r}")
        self.addCleanup(self.unmount)
        self.node = AuroraNode(self.mount, extra_args=["--components", "directory"])
        self.addCleanup(self.node.close)
        self.filler = os.path.join(self.mount, "filler")

    def unmount(self):
        if subprocess.run(["umount", self.mount], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", self.mount], capture_output=True)

    def fill_disk(self):
        """Writes the filler until the filesystem has not one byte left."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for chunk in (1 << 20, 1 << 12, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * chunk)
                except OSError as error:
                    self.assertEqual(error.errno, 28, error)  # ENOSPC
        finally:
            os.close(fd)
        stats = os.statvfs(self.mount)
        self.assertEqual(stats.f_bavail, 0, "the filler left space")

    def test_writes_fail_clearly_while_the_disk_is_full_and_work_again_once_space_returns(self):
        node = self.node.start()
        stub = node.directory()
        org_id = str(uuid.uuid4())
        stub.RegisterOrganization(pb.RegisterOrganizationRequest(
            organization=pb.Organization(id=org_id, name={"fi": "Levyn täyttäjät"})),
            timeout=CALL_TIMEOUT_S)
        acked = {}  # service id -> name, of every acknowledged create
        failed = set()  # ids of creates that failed: they may have happened or not
        maybe_renamed = {}  # service id -> the name of an update that failed (it may have happened)

        def has_acked_name(sid, name):
            return name in (acked[sid], maybe_renamed.get(sid))

        def create(name):
            service = make_service(org_id, name)
            try:
                created = stub.CreateService(pb.CreateServiceRequest(service=service),
                                             timeout=CALL_TIMEOUT_S)
            except grpc.RpcError:
                failed.add(service.id)
                raise
            acked[created.id] = name
            return created

        for i in range(20):
            create(f"Ennen täyttöä {i}")
        self.fill_disk()

        # The WAL's last page may still take a few writes; then every write fails, at once.
        first_error = None
        for i in range(500):
            try:
                create(f"Täyttymässä {i}")
            except grpc.RpcError as error:
                first_error = error
                break
        self.assertIsNotNone(first_error, "500 writes succeeded on a full disk")
        errors = [first_error]
        for i in range(5):
            started = time.monotonic()
            with self.assertRaises(grpc.RpcError) as refused:
                create(f"Täynnä {i}")
            self.assertLess(time.monotonic() - started, 5, "a write on a full disk hung")
            errors.append(refused.exception)
        # Updates too.
        service = stub.GetService(pb.GetServiceRequest(id=next(iter(acked))),
                                  timeout=CALL_TIMEOUT_S)
        revision = service.revision
        service.name.fi = "Muutos täydelle levylle"
        maybe_renamed[service.id] = service.name.fi
        with self.assertRaises(grpc.RpcError) as refused:
            stub.UpdateService(pb.UpdateServiceRequest(service=service,
                                                       expected_revision=revision),
                               timeout=CALL_TIMEOUT_S)
        errors.append(refused.exception)
        for error in errors:
            self.assertEqual(error.code(), grpc.StatusCode.RESOURCE_EXHAUSTED, error.details())
            self.assertIn("the data directory's disk is full", error.details())
            self.assertIn("No space left on device", error.details())
            self.assertIn(self.mount, error.details())  # the file that could not grow
            self.assertIn("once space is freed", error.details())
        self.assertTrue(node.running, "the node died on a full disk:\n" + node.log_tail())

        # Reads go on: every acknowledged service, the listing, health.
        self.assertEqual(aurora_node.check_health(node.health(), aurora_node.DIRECTORY_SERVICE),
                         health_pb2.HealthCheckResponse.SERVING)
        for sid in acked:
            self.assertTrue(has_acked_name(sid, stub.GetService(
                pb.GetServiceRequest(id=sid), timeout=CALL_TIMEOUT_S).name.fi), sid)
        listed = {s.id for s in list_all_services(stub)[0]}
        self.assertLessEqual(set(acked), listed)
        self.assertLessEqual(listed - set(acked), failed)
        # The log says what happened, where; the metrics show the filesystem full.
        full = [e for e in node.logs() if isinstance(e, dict)
                and e.get("message", "").startswith("the data directory's disk is full")]
        self.assertTrue(full, node.log_tail())
        self.assertIn(self.mount, full[0]["data_dir"])
        status, _, body = curl(node.metrics_url)
        self.assertEqual(status, 200)
        self.assertEqual(metric_value(body, "aurora_data_dir_available_bytes"), 0)

        # Space returns: writes work again without a restart, within moments.
        os.remove(self.filler)
        freed = time.monotonic()
        eventually(lambda: create("Tilaa taas"), timeout=20,
                   what="a write after the disk had space again", alive=[self.alive])
        aurora_node.record_figure("disk full: from space freed until a write is acknowledged "
                                  "again (no restart)", time.monotonic() - freed)
        for i in range(20):
            create(f"Tilaa taas {i}")
        self.assertTrue(any(isinstance(e, dict) and e.get("message", "").startswith(
            "writes resumed") for e in node.logs()), node.log_tail())

        # A restart opens the database as it is: every acknowledged write, nothing else but
        # writes whose call failed.
        node.stop()
        node.start()
        stub = node.directory()
        services = {s.id: s.name.fi for s in list_all_services(stub)[0]}
        missing = {sid for sid in acked if not has_acked_name(sid, services.get(sid))}
        self.assertFalse(missing, f"{len(missing)} acknowledged services lost or changed")
        self.assertLessEqual(set(services) - set(acked), failed)
        create("Uudelleenkäynnistyksen jälkeen")
        node.stop()

    def alive(self):
        if not self.node.running:
            raise AssertionError("the node died:\n" + self.node.log_tail())


# -- 2. a slow or hung upstream behind the gateway ----------------------------------------------

class HungSearch:
    """A gRPC server on 127.0.0.1 serving aurora.recommender.v1.Recommender/Search: each call waits
    until its caller goes away, or answers an empty SearchResponse once `recovered` is set."""

    def __init__(self):
        self.recovered = threading.Event()
        self.calls = 0
        self.lock = threading.Lock()
        handler = grpc.method_handlers_generic_handler(
            "aurora.recommender.v1.Recommender",
            {"Search": grpc.unary_unary_rpc_method_handler(self.search)})
        self.server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=64),
                                  handlers=[handler])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def search(self, request, context):
        with self.lock:
            self.calls += 1
        while context.is_active() and not self.recovered.is_set():
            time.sleep(0.02)
        return b""  # an empty SearchResponse

    def stop(self):
        self.server.stop(0)


class SilentPort:
    """A TCP port that accepts connections and never says a word (no HTTP/2 settings)."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.port = self.socket.getsockname()[1]
        self.connections = []
        self.closed = threading.Event()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.closed.is_set():
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.connections.append(connection)

    def close(self):
        self.closed.set()
        self.socket.close()
        for connection in self.connections:
            connection.close()


class GatewayProcess:
    """`aurora gateway` on 127.0.0.1 with its log in `folder`/<name>.log."""

    def __init__(self, folder, name, args):
        self.log_path = os.path.join(folder, f"{name}.log")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [aurora_node.AURORA_BIN, "gateway", *args, "--http-listen", "127.0.0.1:0"],
                env=aurora_node.child_env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while True:
            serving = [e for e in aurora_node.read_log(self.log_path)
                       if isinstance(e, dict) and e.get("message") == "serving"]
            if serving:
                self.port = int(serving[0]["http_port"])
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"aurora gateway did not start:\n{self.log_tail()}")
            time.sleep(0.05)

    @property
    def pid(self):
        return self.process.pid

    def threads(self):
        return len(os.listdir(f"/proc/{self.pid}/task"))

    def fds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def log_tail(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-30:])

    def alive(self):
        if self.process.poll() is not None:
            raise AssertionError(f"aurora gateway exited with {self.process.returncode}:\n"
                                 f"{self.log_tail()}")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError("aurora gateway did not stop within 30 s of SIGTERM")
        return self.process.returncode


def search(port, headers=None, timeout=30):
    """POST /v1/search on a new connection; returns (HTTP status, body bytes, seconds taken)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = time.monotonic()
    try:
        connection.request("POST", "/v1/search", body=json.dumps({"text": "sauna"}),
                           headers={"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        body = response.read()
        return response.status, body, time.monotonic() - started
    finally:
        connection.close()


class HungUpstreamTest(unittest.TestCase):
    DEADLINE_S = 1  # --http-timeout-seconds
    MARGIN_S = 3  # a loaded 2-core machine

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="aurora-e2e-faults-gateway-")
        cls.upstream = HungSearch()
        cls.silent = SilentPort()
        cls.gateways = []

    @classmethod
    def tearDownClass(cls):
        for gateway in cls.gateways:
            gateway.stop()
        cls.upstream.stop()
        cls.silent.close()
        cls.tmp.cleanup()

    def gateway(self, name, upstream_port):
        gateway = GatewayProcess(self.tmp.name, name, [
            "--upstream", f"127.0.0.1:{upstream_port}",
            "--http-timeout-seconds", str(self.DEADLINE_S), "--grace-seconds", "1",
            "--http-io-threads", "2"])
        self.gateways.append(gateway)
        return gateway

    def assert_deadline_exceeded(self, status, body, seconds, deadline=DEADLINE_S):
        self.assertEqual(status, 504, body)
        self.assertEqual(json.loads(body)["code"], 4, body)  # DEADLINE_EXCEEDED
        self.assertGreaterEqual(seconds, deadline * 0.9)
        self.assertLess(seconds, deadline + self.MARGIN_S)

    def burst(self, port, requests, threads):
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            return list(pool.map(lambda _: search(port), range(requests)))

    def test_hung_upstream_calls_end_at_their_deadline_without_leaking(self):
        gateway = self.gateway("hung", self.upstream.port)
        # Warm up at the concurrency of the burst: the upstream connection, and gRPC's timer
        # threads, which grow to what the load needs and stay, exist from here on.
        for result in self.burst(gateway.port, 100, 20):
            self.assert_deadline_exceeded(*result)
        time.sleep(1)
        baseline_threads, baseline_fds = gateway.threads(), gateway.fds()

        started = time.monotonic()
        results = self.burst(gateway.port, 300, 20)
        elapsed = time.monotonic() - started
        for result in results:
            self.assert_deadline_exceeded(*result)
        self.assertLess(elapsed, 15 * (self.DEADLINE_S + self.MARGIN_S))
        # The caller's own, shorter deadline is kept too.
        self.assert_deadline_exceeded(*search(gateway.port, {"X-Request-Timeout": "0.5"}),
                                      deadline=0.5)
        self.assertGreaterEqual(self.upstream.calls, 300)

        def back_to_baseline():
            gateway.alive()
            threads, fds = gateway.threads(), gateway.fds()
            assert threads <= baseline_threads + 3, f"threads {threads} > {baseline_threads}+3"
            assert fds <= baseline_fds + 3, f"fds {fds} > {baseline_fds}+3"
            return True
        eventually(back_to_baseline, timeout=20, what="threads and descriptors back at baseline")

        # The upstream answers again: so does the gateway, on the same upstream connection.
        self.upstream.recovered.set()
        try:
            status, body, _ = search(gateway.port)
            self.assertEqual(status, 200, body)
            status, _, body = curl(f"http://127.0.0.1:{gateway.port}/metrics")
            self.assertIn(b'aurora_http_requests_total{code="504",route="POST /v1/search"} 401',
                          body)
        finally:
            self.upstream.recovered.clear()
        self.assertEqual(gateway.stop(), 0)

    def test_an_upstream_that_never_speaks_http2_fails_at_the_deadline(self):
        gateway = self.gateway("silent", self.silent.port)
        for result in self.burst(gateway.port, 40, 10):
            self.assert_deadline_exceeded(*result)
        status, _, body = curl(f"http://127.0.0.1:{gateway.port}/readyz")
        self.assertEqual(status, 503, body)
        self.assertIn(b"the upstream is not ready", body)
        self.assertEqual(gateway.stop(), 0)


# -- 3. certificates: rotation under load, expiry ----------------------------------------------

ORG_A = "aaaaaaaa-0000-4000-8000-0000000000fa"  # the node's (it runs the directory)
ORG_B = "bbbbbbbb-0000-4000-8000-0000000000fb"  # a member calling it


def certificate(path):
    return x509.load_pem_x509_certificate(read_bytes(path))


def timestamp(naive_utc):
    return naive_utc.replace(tzinfo=datetime.timezone.utc).timestamp()


def peer_serial(port, client_folder):
    """The serial of the certificate the node presents on a new TLS connection to `port`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(os.path.join(client_folder, "ca.crt"))
    context.load_cert_chain(os.path.join(client_folder, "node.crt"),
                            os.path.join(client_folder, "node.key"))
    context.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number


def issue(ca, org, out, days):
    done = run_aurora(["ca", "issue", "--dir", ca, "--org", org, "--out", out, "--days", str(days)]
                      + (["--role", "registry"] if org == ORG_A else []))
    assert done.returncode == 0, done.stderr


def replace_files(source, target, names=("node.crt", "node.key")):
    """Puts source's `names` in place of target's, each with an atomic rename (a pair changes in
    two steps, as a renewal script would do it)."""
    for name in names:
        staged = os.path.join(target, f".{name}.new")
        shutil.copyfile(os.path.join(source, name), staged)
        os.replace(staged, os.path.join(target, name))


def backdated(ca, cert_folder, out, days_ago):
    """A copy of the certificate in `cert_folder` (same key, names and extensions) that the CA
    signed again with a validity that ended `days_ago` days ago, in `out`."""
    original = certificate(os.path.join(cert_folder, "node.crt"))
    ca_key = serialization.load_pem_private_key(read_bytes(os.path.join(ca, "ca.key")), None)
    now = datetime.datetime.utcnow()
    builder = (x509.CertificateBuilder()
               .subject_name(original.subject).issuer_name(original.issuer)
               .public_key(original.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=days_ago + 30))
               .not_valid_after(now - datetime.timedelta(days=days_ago)))
    for extension in original.extensions:
        if extension.oid != x509.ExtensionOID.AUTHORITY_KEY_IDENTIFIER:
            builder = builder.add_extension(extension.value, extension.critical)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False)
    expired = builder.sign(ca_key, hashes.SHA256())
    os.makedirs(out, exist_ok=True)
    for name in ("ca.crt", "node.key"):
        shutil.copyfile(os.path.join(cert_folder, name), os.path.join(out, name))
    with open(os.path.join(out, "node.crt"), "wb") as f:
        f.write(expired.public_bytes(serialization.Encoding.PEM))
    return expired


class CallLoad:
    """Client threads calling the node while something changes: half keep one channel each, half
    open a new channel (a new connection: no shared subchannels) for every call, reading the
    client certificate files again each time. Every failure is kept."""

    def __init__(self, target, client_folder, threads=4):
        self.target = target
        self.client_folder = client_folder
        self.stop_event = threading.Event()
        self.calls = 0
        self.new_channel_calls = 0
        self.failures = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i % 2 == 0,), daemon=True)
                        for i in range(threads)]

    def channel(self):
        return grpc.secure_channel(self.target, member_credentials(self.client_folder),
                                   options=[("grpc.use_local_subchannel_pool", 1)])

    def call(self, channel, n):
        if n % 2:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                       timeout=CALL_TIMEOUT_S)
        else:
            pb_grpc.DirectoryStub(channel).ListOrganizations(pb.ListOrganizationsRequest(),
                                                             timeout=CALL_TIMEOUT_S)

    def run(self, keep_channel):
        channel = self.channel() if keep_channel else None
        n = 0
        try:
            while not self.stop_event.is_set():
                n += 1
                try:
                    if keep_channel:
                        self.call(channel, n)
                    else:
                        with self.channel() as fresh:
                            self.call(fresh, n)
                except grpc.RpcError as error:
                    with self.lock:
                        self.failures.append(f"{'kept' if keep_channel else 'new'} channel: "
                                             f"{error.code()}: {error.details()}")
                    continue
                with self.lock:
                    self.calls += 1
                    self.new_channel_calls += 0 if keep_channel else 1
        finally:
            if channel is not None:
                channel.close()

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def wait_for_calls(self, more, timeout=30):
        with self.lock:
            target = self.calls + more
        eventually(lambda: self.calls >= target, timeout=timeout, what=f"{more} more calls")


@unittest.skipIf(x509 is None, "needs python3-cryptography to read and make certificates")
class CertificateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="aurora-e2e-faults-tls-")
        cls.ca, certs = issue_network(cls.tmp.name, [ORG_A, ORG_B], registry=ORG_A)
        cls.a, cls.b = certs[ORG_A], certs[ORG_B]
        cls.node = member_node(os.path.join(cls.tmp.name, "node-a"), cls.ca, cls.a,
                               args=["--components", "directory",
                                     "--tls-refresh-seconds", "1"])
        cls.node.start()
        pb_grpc.DirectoryStub(cls.node.channel).RegisterOrganization(
            pb.RegisterOrganizationRequest(
                organization=pb.Organization(id=ORG_B, name={"fi": "Jäsen B"})),
            timeout=CALL_TIMEOUT_S)
        aurora_node.wait_for_members(cls.node.channel, [ORG_B])
        with grpc.secure_channel(cls.node.target, member_credentials(cls.b)) as channel:
            eventually(lambda: health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5), timeout=20,
                what="B's calls admitted")

    @classmethod
    def tearDownClass(cls):
        cls.node.close()
        cls.tmp.cleanup()

    def expiry_metric(self):
        status, _, body = curl(self.node.metrics_url)
        self.assertEqual(status, 200)
        return metric_value(body, "aurora_tls_certificate_expiry_timestamp_seconds")

    def test_node_certificate_rotation_under_load_drops_no_call(self):
        old = certificate(os.path.join(self.a, "node.crt"))
        self.assertEqual(self.expiry_metric(), timestamp(old.not_valid_after))
        self.assertEqual(peer_serial(self.node.grpc_port, self.b), old.serial_number)
        renewed = os.path.join(self.tmp.name, "renewed-a")
        issue(self.ca, ORG_A, renewed, days=30)
        new = certificate(os.path.join(renewed, "node.crt"))
        self.assertNotEqual(new.serial_number, old.serial_number)

        with CallLoad(self.node.target, self.b) as load:
            load.wait_for_calls(50)
            # The certificate first, the key a few refreshes later: in between the files on
            # disk do not belong together.
            replace_files(renewed, self.a, ["node.crt"])
            time.sleep(2.5)
            self.assertEqual(peer_serial(self.node.grpc_port, self.b), old.serial_number)
            load.wait_for_calls(50)
            replace_files(renewed, self.a, ["node.key"])
            replaced = time.monotonic()
            eventually(lambda: peer_serial(self.node.grpc_port, self.b) == new.serial_number,
                       timeout=15, what="new connections getting the renewed certificate",
                       alive=[self.alive])
            aurora_node.record_figure("certificate rotation under load: from the files in place "
                                      "until new connections get it (--tls-refresh-seconds 1)",
                                      time.monotonic() - replaced)
            load.wait_for_calls(100)
        self.assertEqual(load.failures, [], f"{len(load.failures)} of "
                         f"{load.calls + len(load.failures)} calls failed")
        self.assertGreater(load.new_channel_calls, 20)
        # The node said what it did, and the expiry metric follows the file: 30 days now.
        self.assertIn(f"{new.serial_number:x}", [
            e.get("certificate_serial") for e in self.node.logs()
            if isinstance(e, dict) and e.get("message") == "took the renewed certificate"])
        self.assertTrue(any(
            isinstance(e, dict) and e.get("message", "").startswith("kept the current certificate")
            and "does not belong to the certificate" in e.get("error", "")
            for e in self.node.logs()), self.node.log_tail())
        self.assertEqual(self.expiry_metric(), timestamp(new.not_valid_after))

    def test_client_certificate_rotation_under_load_drops_no_call(self):
        client = os.path.join(self.tmp.name, "client-b")
        shutil.copytree(self.b, client)
        old = certificate(os.path.join(client, "node.crt"))
        renewed = os.path.join(self.tmp.name, "renewed-b")
        issue(self.ca, ORG_B, renewed, days=30)
        self.assertNotEqual(certificate(os.path.join(renewed, "node.crt")).serial_number,
                            old.serial_number)
        with CallLoad(self.node.target, client) as load:
            load.wait_for_calls(50)
            replace_files(renewed, client)
            load.wait_for_calls(100)
        self.assertEqual(load.failures, [], f"{len(load.failures)} of "
                         f"{load.calls + len(load.failures)} calls failed")
        # The renewed certificate alone works.
        with grpc.secure_channel(self.node.target, member_credentials(renewed)) as channel:
            pb_grpc.DirectoryStub(channel).ListOrganizations(pb.ListOrganizationsRequest(),
                                                             timeout=CALL_TIMEOUT_S)

    def test_expired_certificates_are_refused(self):
        # A client's: at the handshake. (The TLS stack closes the connection without an alert:
        # a foreign client sees only "Socket closed", the node's stderr gRPC's "certificate
        # verify failed".)
        expired_b = os.path.join(self.tmp.name, "expired-b")
        backdated(self.ca, self.b, expired_b, days_ago=2)
        with grpc.secure_channel(self.node.target, member_credentials(expired_b)) as channel:
            with self.assertRaises(grpc.RpcError) as refused:
                health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                          timeout=CALL_TIMEOUT_S)
        self.assertEqual(refused.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertTrue(self.node.running)
        with grpc.secure_channel(self.node.target, member_credentials(self.b)) as channel:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                      timeout=CALL_TIMEOUT_S)
        # Aurora's own clients look at their certificate first, and say why they cannot call.
        done = run_aurora(["import", os.devnull, "--grpc-target", self.node.target,
                           "--codelists", aurora_node.CODELISTS_DIR,
                           "--tls-cert", os.path.join(expired_b, "node.crt"),
                           "--tls-key", os.path.join(expired_b, "node.key"),
                           "--tls-ca", os.path.join(self.ca, "ca.crt")])
        self.assertNotEqual(done.returncode, 0)
        self.assertIn(f'--tls-cert "{os.path.join(expired_b, "node.crt")}"', done.stderr)
        self.assertIn("certificate has expired", done.stderr)

        # The node's own, renewed by mistake with an expired one (the same key): the node keeps
        # its current certificate, says why, and every call goes on.
        expired_a = os.path.join(self.tmp.name, "expired-a")
        backdated(self.ca, self.a, expired_a, days_ago=1)
        current = certificate(os.path.join(self.a, "node.crt"))
        kept = os.path.join(self.tmp.name, "kept-a")
        shutil.copytree(self.a, kept)
        with CallLoad(self.node.target, self.b) as load:
            load.wait_for_calls(20)
            replace_files(expired_a, self.a, ["node.crt"])
            eventually(lambda: any(
                isinstance(e, dict) and e.get("message", "").startswith(
                    "kept the current certificate") and "certificate has expired" in e["error"]
                for e in self.node.logs()), timeout=15, what="the expired certificate refused",
                alive=[self.alive])
            load.wait_for_calls(50)
            self.assertEqual(peer_serial(self.node.grpc_port, self.b), current.serial_number)
            replace_files(kept, self.a, ["node.crt"])
        self.assertEqual(load.failures, [])

        # ... and with one at start-up it does not start, and says which file and why.
        other = member_node(os.path.join(self.tmp.name, "node-expired"), self.ca, expired_a,
                            args=["--components", "directory"])
        with self.assertRaises(aurora_node.NodeError) as failed:
            other.start(timeout=60)
        message = str(failed.exception)
        self.assertIn(os.path.join(expired_a, "node.crt"), message)
        self.assertIn("certificate has expired", message)

    def alive(self):
        if not self.node.running:
            raise AssertionError("the node died:\n" + self.node.log_tail())


if __name__ == "__main__":
    unittest.main(verbosity=2)
