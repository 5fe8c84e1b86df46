"""Runs a real `aurora serve` process for the end-to-end tests, and small client helpers.

The tests run with /usr/bin/python3 (Debian's grpcio) and read three environment variables,
which ctest sets (tests/e2e/CMakeLists.txt):
  AURORA_BIN         the `aurora` binary
  AURORA_PYTHON_OUT  the generated Python modules (<build>/python)
  AURORA_SHARED_DATA    the shared data folder (services.ndjson, codelists/, raw/)

AuroraNode starts the node on 127.0.0.1 with port 0 for gRPC and /metrics, a data dir of the
caller's choosing, `--drain-seconds 0` and a cheap secret hash, captures stderr (one JSON object
per line) to a file per start, and waits for the "serving" line to learn the ports. stop() sends
SIGTERM and checks the exit code is 0; kill() sends SIGKILL. Every wait has a deadline.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

AURORA_BIN = os.environ.get("AURORA_BIN", "")
PYTHON_OUT = os.environ.get("AURORA_PYTHON_OUT", "")
DATA_DIR = os.environ.get("AURORA_SHARED_DATA", "")
CODELISTS_DIR = os.path.join(DATA_DIR, "codelists")

for _name, _value in (("AURORA_BIN", AURORA_BIN), ("AURORA_PYTHON_OUT", PYTHON_OUT),
                      ("AURORA_SHARED_DATA", DATA_DIR)):
    if not _value:
        sys.exit(f"aurora_node: set {_name} (ctest does; see tests/e2e/CMakeLists.txt)")
if PYTHON_OUT not in sys.path:
    sys.path.insert(0, PYTHON_OUT)

import grpc  # noqa: E402  (needs /usr/bin/python3)
from aurora.directory.v1 import directory_pb2 as pb  # noqa: E402
from aurora.directory.v1 import directory_pb2_grpc as pb_grpc  # noqa: E402
from health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

DIRECTORY_SERVICE = "aurora.directory.v1.Directory"
START_TIMEOUT_S = 120  # the demo import of 3,088 services happens before "serving"
RPC_TIMEOUT_S = 30


def child_env():
    """The environment for aurora processes, without AURORA_* variables.

    The node reads AURORA_<OPTION> as option values; the tests' own AURORA_* variables must not
    reach it (and a developer's shell may have some set).
    """
    return {k: v for k, v in os.environ.items() if not k.startswith("AURORA_")}


def run_aurora(args, timeout=300):
    """Runs `aurora ARGS...` to completion; returns the CompletedProcess (text stdout/stderr)."""
    return subprocess.run([AURORA_BIN, *args], env=child_env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout, check=False)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def free_port():
    """A loopback port free now: for nodes whose address must stay the same across restarts."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def issue_network(folder, organizations, registry=None, name="E2E network"):
    """A network CA in `folder`/ca (`aurora ca init`) and a node certificate for each
    organisation in `folder`/cert-<its id's first character> (`aurora ca issue`); `registry`'s
    with the role registry (the directory's node signs the registry with it). Returns the CA's
    folder and {organisation: its certificate folder}."""
    ca = os.path.join(folder, "ca")
    certs = {org: os.path.join(folder, f"cert-{org[0]}") for org in organizations}
    commands = [["ca", "init", "--dir", ca, "--name", name]]
    for org, out in certs.items():
        commands.append(["ca", "issue", "--dir", ca, "--org", org, "--out", out]
                        + (["--role", "registry"] if org == registry else []))
    for args in commands:
        done = run_aurora(args)
        assert done.returncode == 0, f"aurora {' '.join(args)}: {done.stderr}"
    return ca, certs


def member_node(data_dir, ca, cert_folder, args=(), grpc_port=None):
    """An AuroraNode of a network member: mutual TLS with the node certificate in `cert_folder`
    (from issue_network), the CA of `ca` and its CRL folder; gRPC on `grpc_port` when given (a
    node address in the registry stays valid across restarts), else any free port."""
    listen = ["--grpc-listen", f"127.0.0.1:{grpc_port}"] if grpc_port else []
    return AuroraNode(
        data_dir,
        extra_args=[*listen,
                    "--tls-cert", os.path.join(cert_folder, "node.crt"),
                    "--tls-key", os.path.join(cert_folder, "node.key"),
                    "--tls-ca", os.path.join(ca, "ca.crt"),
                    "--tls-crl-dir", os.path.join(ca, "crl"), *args],
        channel_credentials=member_credentials(cert_folder))


def eventually(check, timeout=10, what="the condition", alive=()):
    """Polls `check` until it returns a truthy value (a gRPC error, a failed assertion or an
    OSError counts as not yet) and returns that value; fails after `timeout` seconds with the
    last error. Each callable in `alive` is called every round and raises if what the wait
    depends on has died (so a crashed process fails the wait at once)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        for check_alive in alive:
            check_alive()
        try:
            result = check()
            if result:
                return result
        except grpc.RpcError as error:
            last = f"{error.code()}: {error.details()}"
        except (AssertionError, OSError) as error:
            last = error
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout} s (last error: {last})")


def wait_for_members(channel, organizations, timeout=30):
    """Until the node behind `channel` lists every one of `organizations` as a member in its
    registry copy: another organisation's calls are admitted only from then on (the copy follows
    the directory within moments)."""
    from aurora.network.v1 import network_pb2, network_pb2_grpc
    discovery = network_pb2_grpc.DiscoveryStub(channel)
    deadline = time.monotonic() + timeout
    while True:
        try:
            members = discovery.ListMembers(network_pb2.ListMembersRequest(), timeout=5).members
            if set(organizations) <= {m.organization_id for m in members}:
                return
        except grpc.RpcError:
            pass
        if time.monotonic() > deadline:
            raise NodeError(f"the registry copy did not list {organizations} within {timeout} s")
        time.sleep(0.05)


def member_credentials(folder):
    """Channel credentials presenting the node certificate in `folder` (ca.crt, node.key,
    node.crt, as `aurora ca issue` writes them)."""
    return grpc.ssl_channel_credentials(
        root_certificates=read_bytes(os.path.join(folder, "ca.crt")),
        private_key=read_bytes(os.path.join(folder, "node.key")),
        certificate_chain=read_bytes(os.path.join(folder, "node.crt")))


CURL = shutil.which("curl")


def http(method, url, body=None, token=None, basic=None, timeout=30):
    """curl `method` `url` with an optional JSON `body`, bearer `token` or HTTP Basic `basic`
    ("id:secret"); returns (status, headers, raw body) as curl() does."""
    args = ["-X", method, url]
    if token is not None:
        args += ["-H", f"Authorization: Bearer {token}"]
    if basic is not None:
        args += ["-u", basic]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
    return curl(*args, timeout=timeout)


def curl(*args, timeout=30):
    """Runs the real curl; returns (HTTP status, headers dict with lowercase names, body bytes).

    curl's exit code 28 (--max-time reached) is not an error: streams are read that way."""
    with tempfile.NamedTemporaryFile() as headers_file:
        result = subprocess.run(
            [CURL, "-sS", "-D", headers_file.name, "--max-time", str(timeout), *args],
            capture_output=True, timeout=timeout + 10)
        if result.returncode not in (0, 28):
            raise AssertionError(f"curl {args} failed: {result.stderr.decode()}")
        headers_file.seek(0)
        status, headers = 0, {}
        for line in headers_file.read().decode("latin-1").splitlines():
            if line.startswith("HTTP/"):
                status, headers = int(line.split()[1]), {}
            elif ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        return status, headers, result.stdout


def read_log(path):
    """The JSON log lines of a file (lines that are not JSON objects are returned as text)."""
    entries = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                entries.append(json.loads(line))
            except ValueError:
                entries.append(line)
    return entries


class NodeError(AssertionError):
    pass


class AuroraNode:
    """One `aurora serve` process at a time on `data_dir`; start() again after stop()/kill()."""

    def __init__(self, data_dir, extra_args=(), drain_seconds=0, grace_seconds=None,
                 channel_credentials=None):
        """`channel_credentials`: grpc.ssl_channel_credentials(...) for a node started with
        --tls-*; None: plaintext."""
        self.data_dir = data_dir
        self.channel_credentials = channel_credentials
        self.extra_args = list(extra_args)
        self.drain_seconds = drain_seconds
        self.grace_seconds = grace_seconds
        self.process = None
        self.grpc_port = None
        self.metrics_port = None
        self.http_port = None
        self.serving_entry = None
        self.log_path = None
        self.starts = 0
        self._channel = None
        self._terminated_at = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, timeout=START_TIMEOUT_S):
        assert self.process is None, "the node is already running"
        self.starts += 1
        self.log_path = os.path.join(os.path.dirname(os.path.abspath(self.data_dir)),
                                     f"{os.path.basename(self.data_dir)}.log.{self.starts}")
        args = [AURORA_BIN, "serve",
                "--data-dir", self.data_dir,
                "--grpc-listen", "127.0.0.1:0",
                "--metrics-listen", "127.0.0.1:0",
                "--http-listen", "127.0.0.1:0",
                "--codelists", CODELISTS_DIR,
                "--drain-seconds", str(self.drain_seconds),
                "--secret-hash-iterations", "1000",
                *self.extra_args]
        if self.grace_seconds is not None:
            args += ["--grace-seconds", str(self.grace_seconds)]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(args, env=child_env(), stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while True:
            entry = self.find_log("serving")
            if entry is not None:
                break
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise NodeError(f"aurora serve exited with {code} before serving:\n"
                                f"{self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise NodeError(f"aurora serve did not log 'serving' within {timeout} s:\n"
                                f"{self.log_tail()}")
            time.sleep(0.05)
        self.serving_entry = entry
        self.grpc_port = int(entry["grpc_port"])
        self.metrics_port = int(entry["metrics_port"])
        self.http_port = int(entry.get("http_port", 0))
        self._channel = (grpc.insecure_channel(self.target) if self.channel_credentials is None
                         else grpc.secure_channel(self.target, self.channel_credentials))
        return self

    def stop(self, timeout=60):
        """SIGTERM; waits for the exit, requires exit code 0; returns the seconds it took."""
        self.terminate()
        return self.wait_exit(timeout)

    def terminate(self):
        """Closes this object's channel and sends SIGTERM without waiting (see wait_exit).

        The channel goes first because gRPC's shutdown waits for client connections to close
        (an idle one closes only after up to ~5 s); tests that watch the shutdown from a client
        use channels of their own."""
        assert self.process is not None, "the node is not running"
        self._close_channel()
        self._terminated_at = time.monotonic()
        self.process.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout=60):
        """After terminate(): waits for the exit, requires exit code 0; returns the seconds since
        SIGTERM."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise NodeError(f"aurora serve did not exit within {timeout} s of SIGTERM:\n"
                            f"{self.log_tail()}")
        elapsed = time.monotonic() - self._terminated_at
        self.process = None
        if code != 0:
            raise NodeError(f"aurora serve exited with {code} after SIGTERM:\n{self.log_tail()}")
        return elapsed

    def kill(self):
        """SIGKILL (nothing is flushed or closed) and reap the process.

        Returns time.monotonic() right after the signal was sent (None if nothing was running)."""
        killed_at = None
        if self.process is not None:
            self.process.kill()  # first, so that calls in flight see the node die
            killed_at = time.monotonic()
            self.process.wait(timeout=30)
            self.process = None
        self._close_channel()
        return killed_at

    def close(self):
        """For cleanups: kills the node if a test left it running."""
        self.kill()

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    # -- logs -----------------------------------------------------------------------------------

    def logs(self):
        return read_log(self.log_path) if self.log_path and os.path.exists(self.log_path) else []

    def find_log(self, message):
        """The first log entry of this start with this message, or None."""
        for entry in self.logs():
            if isinstance(entry, dict) and entry.get("message") == message:
                return entry
        return None

    def log_tail(self, lines=40):
        if not self.log_path or not os.path.exists(self.log_path):
            return "(no log)"
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    # -- clients --------------------------------------------------------------------------------

    @property
    def target(self):
        return f"127.0.0.1:{self.grpc_port}"

    def http_url(self, path=""):
        return f"http://127.0.0.1:{self.http_port}{path}"

    @property
    def metrics_url(self):
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def channel(self):
        assert self._channel is not None, "the node is not running"
        return self._channel

    def directory(self):
        return pb_grpc.DirectoryStub(self.channel)

    def health(self):
        return health_pb2_grpc.HealthStub(self.channel)

    def _close_channel(self):
        if self._channel is not None:
            self._channel.close()
            self._channel = None


# -- client helpers used by several tests ----------------------------------------------------------

def list_all_services(stub, request=None, page_size=1000):
    """Every service matching `request` (a ListServicesRequest), following next_page_token.

    Returns (services, pages, revisions read at)."""
    request = request or pb.ListServicesRequest()
    services, pages, revisions = [], 0, []
    token = ""
    for _ in range(10000):  # bounded: far more pages than any test creates
        req = pb.ListServicesRequest()
        req.CopyFrom(request)
        req.page.page_size = page_size
        req.page.page_token = token
        resp = stub.ListServices(req, timeout=RPC_TIMEOUT_S)
        services.extend(resp.services)
        pages += 1
        revisions.append(resp.revision)
        token = resp.next_page_token
        if not token:
            return services, pages, revisions
    raise AssertionError("ListServices paging did not end")


def current_revision(stub):
    """The directory's revision, as ListServices reports it."""
    request = pb.ListServicesRequest()
    request.page.page_size = 1
    return stub.ListServices(request, timeout=RPC_TIMEOUT_S).revision


def watch_until(stub, request, until_revision, timeout=60):
    """Reads a Watch stream until it reports `until_revision` (or, for a snapshot request, until
    the snapshot is complete), then cancels it. Returns the list of WatchResponse."""
    call = stub.Watch(request, timeout=timeout)
    responses = []
    try:
        for response in call:
            responses.append(response)
            if request.snapshot:
                if response.snapshot_complete:
                    break
            elif response.revision >= until_revision:
                break
    finally:
        call.cancel()
    return responses


def check_health(stub, service=""):
    return stub.Check(health_pb2.HealthCheckRequest(service=service),
                      timeout=RPC_TIMEOUT_S).status


def record_figure(what, seconds):
    """Appends a measured time (e.g. a fault's recovery) to the file named by AURORA_FAULT_FIGURES
    as one JSON line {"what", "seconds"}, for bench/results.py's table; nothing when unset."""
    path = os.environ.get("AURORA_FAULT_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"what": what, "seconds": seconds}) + "\n")


LDB = shutil.which("ldb")  # Debian's rocksdb-tools


def ldb_scan(db, family):
    """Every (key, value) of one column family of a stopped node's RocksDB folder `db`, as
    bytes, read with RocksDB's own ldb."""
    if LDB is None:
        raise AssertionError("ldb (Debian's rocksdb-tools) is missing: run scripts/setup")
    done = subprocess.run([LDB, f"--db={db}", f"--column_family={family}", "scan", "--hex"],
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise AssertionError(f"ldb scan of {family} in {db}: {done.stderr}{done.stdout}")
    records = []
    for line in done.stdout.splitlines():
        key, separator, value = line.partition(" : ")
        if separator:
            records.append((bytes.fromhex(key[2:]), bytes.fromhex(value[2:])))
    return records
