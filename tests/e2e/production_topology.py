"""The production topology of k8s/overlays/production as processes on loopback, with the flags the
manifests give (used by e2e.production_topology, the fault tests and bench/load).

The overlay is rendered with `kubectl kustomize`; every Deployment and StatefulSet that runs
`aurora` becomes as many processes as it has replicas, started with the container's own `args`.
Only what a cluster provides is translated: Service names (`directory:50051`) become the
loopback address of the process behind them, the pod's listen addresses free loopback ports, the
mounted paths (data volume, TLS Secret, CRL, code lists) folders of the topology, and an identity
provider nobody can reach here a JWKS file. Each TLS Secret gets a certificate from a network CA
made here (`aurora ca`), for the organisation the workload belongs to.

Usage:
    topology = ProductionTopology(folder, catalogue_services=400)
    topology.start()                      # directory, catalogue import, then everything else
    topology.first("gateway").ports["http"]
    topology.kill(p); topology.restart(p) # SIGKILL, then the same process on the same data/ports
    topology.stop_all()                   # SIGTERM, front first; {name: exit code}
"""

import json
import os
import re
import shutil
import signal
import subprocess
import unittest
import uuid

import aurora_node
from aurora_node import (AURORA_BIN, CODELISTS_DIR, DATA_DIR, child_env, curl, eventually,
                         free_port, read_bytes)

import grpc  # noqa: E402  (after aurora_node, which puts the generated modules on sys.path)
import yaml  # noqa: E402  (Debian's python3-yaml)
from aurora.directory.v1 import directory_pb2 as dpb, directory_pb2_grpc as dpb_grpc  # noqa: E402
from health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OVERLAY = os.path.join(REPO, "k8s", "overlays", "production")
TIMEOUT = 30


def render(overlay):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise unittest.SkipTest("kubectl not found: run scripts/setup")
    done = subprocess.run([kubectl, "kustomize", overlay], capture_output=True, text=True,
                          timeout=120, check=False)
    if done.returncode != 0:
        raise AssertionError(f"kubectl kustomize {overlay}: {done.stderr}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


class Workload:
    """A Deployment or StatefulSet that runs aurora: its container's command and args, replicas,
    labels and the Secret mounted at /etc/aurora/tls."""

    def __init__(self, doc):
        self.kind = doc["kind"]
        self.name = doc["metadata"]["name"]
        spec = doc["spec"]
        self.replicas = spec.get("replicas", 1)
        pod = spec["template"]
        self.labels = pod["metadata"].get("labels", {})
        self.component = self.labels.get("app.kubernetes.io/component", "")
        self.organization = self.labels.get("aurora.network/organization", "")
        containers = [c for c in pod["spec"]["containers"]
                      if c.get("command", [""])[0] == "aurora"]
        assert len(containers) == 1, f"{self.name}: expected one aurora container"
        self.command = containers[0]["command"][1:]
        self.args = list(containers[0].get("args", []))
        mounts = {m["name"]: m["mountPath"] for m in containers[0].get("volumeMounts", [])}
        self.tls_secret = None
        for volume in pod["spec"].get("volumes", []):
            if mounts.get(volume["name"]) == "/etc/aurora/tls" and "secret" in volume:
                self.tls_secret = volume["secret"]["secretName"]

    def flag(self, name):
        for arg in self.args:
            if arg.startswith(f"--{name}="):
                return arg.split("=", 1)[1]
        return None


class Process:
    """One replica of a workload, on loopback ports of its own."""

    def __init__(self, workload, index, folder):
        self.workload = workload
        self.name = f"{workload.name}-{index}"
        self.folder = os.path.join(folder, self.name)
        os.makedirs(os.path.join(self.folder, "data"), exist_ok=True)
        self.ports = {"grpc": free_port(), "probe": free_port(), "http": free_port(),
                      "metrics": free_port()}
        self.args = None
        self.process = None
        self.log_path = os.path.join(self.folder, "log")

    def start(self, args):
        self.args = args
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([AURORA_BIN, *self.workload.command, *args],
                                            env=child_env(), stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=log)

    def log_tail(self, lines=30):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def check_alive(self):
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n"
                                 f"{self.log_tail()}")

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
            return "killed"

    def metric(self, name):
        status, _, body = curl(f"http://127.0.0.1:{self.ports['metrics']}/metrics")
        assert status == 200, f"{self.name} /metrics: {status}"
        match = re.search(rf"^{re.escape(name)} (\S+)$", body.decode(), re.MULTILINE)
        return float(match.group(1)) if match else None


class ProductionTopology:
    """The overlay's workloads as processes in `folder`; the directory starts with the first
    `catalogue_services` services of the demo data. `extra_args` maps a component to arguments
    appended to its manifest's (e.g. a smaller queue for an overload test)."""

    def __init__(self, folder, catalogue_services=400, extra_args=None, overlay=OVERLAY):
        self.folder = folder
        self.catalogue_services = catalogue_services
        self.extra_args = extra_args or {}
        self.overlay = overlay
        self.processes = []

    def stop_all(self):
        # Front first, the directory last, as a rolling shutdown would.
        return {p.name: p.stop() for p in reversed(self.processes)}

    def start(self):
        docs = render(self.overlay)
        workloads = [Workload(d) for d in docs if d["kind"] in ("Deployment", "StatefulSet")
                     and any(c.get("command", [""])[0] == "aurora"
                             for c in d["spec"]["template"]["spec"]["containers"])]
        by_component = {}
        for w in workloads:
            by_component.setdefault(w.component, []).append(w)
        self.by_component = by_component
        # What the topology asks of the overlay itself.
        kinds = {w.component: w.kind for w in workloads}
        assert kinds.get("directory") == "StatefulSet", kinds
        assert kinds.get("recommender") == "Deployment", kinds
        assert kinds.get("gateway") == "Deployment", kinds
        assert len(by_component.get("profile-node", [])) >= 2, kinds
        assert all(w.kind == "StatefulSet" for w in by_component["profile-node"])
        assert by_component["recommender"][0].replicas >= 2, "two recommender replicas"

        self.processes_of = {}
        for w in workloads:
            self.processes_of[w.name] = [Process(w, i, self.folder) for i in range(w.replicas)]
        # Services: name -> the processes behind them (by selector), for address translation.
        self.service_targets = {}
        for doc in docs:
            if doc["kind"] != "Service":
                continue
            selector = doc["spec"].get("selector", {})
            behind = [p for w in workloads if labels_match(selector, w.labels)
                      for p in self.processes_of[w.name]]
            if behind:
                self.service_targets[doc["metadata"]["name"]] = behind

        # The network CA and one certificate per TLS Secret: the directory's signs the registry;
        # the operator's components share the operator's organisation; each profile node has its
        # organisation's.
        self.ca = os.path.join(self.folder, "ca")
        run(["ca", "init", "--dir", self.ca, "--name", "Production topology e2e"])
        self.operator = str(uuid.uuid4())
        self.organizations = {w.organization: str(uuid.uuid4())
                             for w in by_component["profile-node"]}
        self.secret_folders = {}
        for w in workloads:
            assert w.tls_secret, f"{w.name}: no TLS Secret mounted at /etc/aurora/tls"
            if w.tls_secret in self.secret_folders:
                continue
            folder = os.path.join(self.folder, "secrets", w.tls_secret)
            org = self.organizations.get(w.organization, self.operator)
            run(["ca", "issue", "--dir", self.ca, "--org", org, "--out", folder,
                 "--dns", "localhost", "--ip", "127.0.0.1"]
                + (["--role", "registry"] if w.component == "directory" else []))
            self.secret_folders[w.tls_secret] = folder
        self.operator_credentials = credentials(
            self.secret_folders[by_component["directory"][0].tls_secret])

        # The directory, then the operator's catalogue and the member organisations.
        directory = self.first("directory")
        self.launch(directory)
        self.wait_ready(directory)
        self.directory_channel = grpc.secure_channel(f"127.0.0.1:{directory.ports['grpc']}",
                                                    self.operator_credentials)
        stub = dpb_grpc.DirectoryStub(self.directory_channel)
        for name, org in [("operator", self.operator), *self.organizations.items()]:
            stub.RegisterOrganization(dpb.RegisterOrganizationRequest(
                organization=dpb.Organization(id=org, name={"fi": name})), timeout=TIMEOUT)
        catalogue = os.path.join(self.folder, "catalogue.ndjson")
        with open(os.path.join(DATA_DIR, "services.ndjson"), encoding="utf-8") as source, \
                open(catalogue, "w", encoding="utf-8") as out:
            for _, line in zip(range(self.catalogue_services), source):
                out.write(line)
        folder = self.secret_folders[by_component["directory"][0].tls_secret]
        run(["import", catalogue, "--grpc-target", f"127.0.0.1:{directory.ports['grpc']}",
             "--codelists", CODELISTS_DIR, "--tls-cert", os.path.join(folder, "node.crt"),
             "--tls-key", os.path.join(folder, "node.key"),
             "--tls-ca", os.path.join(folder, "ca.crt"),
             "--tls-crl-dir", os.path.join(self.ca, "crl")])

        # The rest, in the order a rollout brings them up (none depends on it but the waits).
        rest = [p for w in workloads if w.component != "directory"
                for p in self.processes_of[w.name]]
        for p in rest:
            self.launch(p)
        for p in rest:
            self.wait_ready(p)

    def first(self, component):
        """The first replica of the component's (single) workload."""
        (workload,) = self.by_component[component]
        return self.processes_of[workload.name][0]

    def replicas(self, component):
        return [p for w in self.by_component[component] for p in self.processes_of[w.name]]

    def launch(self, process):
        args = [self.translate(process, arg) for arg in process.workload.args]
        process.start(args + list(self.extra_args.get(process.workload.component, [])))
        if process not in self.processes:
            self.processes.append(process)

    def kill(self, process):
        """SIGKILL, as the kernel's OOM killer or a node failure would end the pod."""
        process.process.kill()
        process.process.wait(timeout=30)

    def restart(self, process, wait=True):
        """The same process again: same ports, data folder and arguments (a pod restarted in
        place); waits until it is ready unless `wait` is false."""
        process.start(process.args)
        if wait:
            self.wait_ready(process)

    def credentials(self, component="directory"):
        """Client credentials of the certificate in the component's TLS Secret."""
        return credentials(self.secret_folders[self.by_component[component][0].tls_secret])

    def channel(self, process, component_credentials="directory"):
        """A mutual-TLS channel to the process's gRPC port."""
        return grpc.secure_channel(f"127.0.0.1:{process.ports['grpc']}",
                                   self.credentials(component_credentials))

    def translate(self, process, arg):
        """A manifest argument as this process runs it on loopback."""
        name, _, value = arg.partition("=")
        listen = {"--grpc-listen": "grpc", "--probe-listen": "probe", "--http-listen": "http",
                  "--metrics-listen": "metrics"}
        if name in listen:
            return value if value == "off" else f"{name}=127.0.0.1:{process.ports[listen[name]]}"
        if name == "--jwks-url":  # the identity provider is outside the cluster and this test
            return f"--jwks-file={self.jwks_file()}"
        if name == "--public-url":
            return f"--public-url=http://127.0.0.1:{process.ports['http']}"
        secret = self.secret_folders[process.workload.tls_secret]
        paths = [("/etc/aurora/tls", secret), ("/etc/aurora/crl", os.path.join(self.ca, "crl")),
                 ("/var/lib/aurora", os.path.join(process.folder, "data")),
                 ("/usr/share/aurora/codelists", CODELISTS_DIR),
                 ("/usr/share/aurora/demo", DATA_DIR)]
        for mounted, local in paths:
            value = value.replace(mounted, local)

        def address(match):
            behind = self.service_targets.get(match.group(1))
            if behind is None:
                return match.group(0)
            if name == "--recommender-peers":  # a headless Service: every replica's address
                return ",".join(f"127.0.0.1:{p.ports['grpc']}" for p in behind)
            # A Service spreads connections over its pods; one address here: the first replica.
            return f"127.0.0.1:{behind[0].ports['grpc']}"

        value = re.sub(r"(?<![\w.-])([a-z0-9][a-z0-9-]*)(?:\.[a-z0-9.-]+)?:50051\b", address,
                       value)
        return f"{name}={value}" if value or "=" in arg else name

    def jwks_file(self):
        path = os.path.join(self.folder, "jwks.json")
        if not os.path.exists(path):
            with open(path, "w", encoding="utf-8") as f:
                json.dump({"keys": []}, f)
        return path

    def wait_ready(self, process, timeout=120):
        """Ready as the kubelet sees it: gRPC health SERVING on the plaintext probe port; for the
        gateway (no gRPC port), GET /readyz."""
        if process.workload.command[0] == "gateway":
            def ready():
                status, _, _ = curl(f"http://127.0.0.1:{process.ports['http']}/readyz")
                return status == 200
        else:
            assert process.workload.flag("probe-listen") not in (None, "off"), \
                f"{process.name}: no --probe-listen for the kubelet's gRPC probes"

            def ready():
                with grpc.insecure_channel(f"127.0.0.1:{process.ports['probe']}") as channel:
                    status = health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(), timeout=5).status
                return status == health_pb2.HealthCheckResponse.SERVING
        eventually(ready, timeout, f"{process.name} ready", [process.check_alive])


def run(args):
    done = aurora_node.run_aurora(args)
    assert done.returncode == 0, f"aurora {' '.join(args)}: {done.stderr}"
    return done


def credentials(folder):
    return grpc.ssl_channel_credentials(
        root_certificates=read_bytes(os.path.join(folder, "ca.crt")),
        private_key=read_bytes(os.path.join(folder, "node.key")),
        certificate_chain=read_bytes(os.path.join(folder, "node.crt")))
