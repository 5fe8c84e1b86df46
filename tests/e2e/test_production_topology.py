"""The production topology of k8s/overlays/production as processes on loopback, with the flags the
manifests give.

The overlay is rendered with `kubectl kustomize`; every Deployment and StatefulSet that runs
`aurora` becomes as many processes as it has replicas, started with the container's own `args`.
Only what a cluster provides is translated: Service names (`directory:50051`) become the
loopback address of the process behind them, the pod's listen addresses free loopback ports, the
mounted paths (data volume, TLS Secret, CRL, code lists) folders of this test, and an identity
provider the test cannot reach a JWKS file. Each TLS Secret gets a certificate from a network CA
made here (`aurora ca`), for the organisation the workload belongs to.

The test then checks what the topology promises: every process is ready on its probe port
(plaintext gRPC health, as the kubelet asks), the recommender replicas each follow the directory's
change feed and answer the same after the catalogue changes (a service created through the
gateway, then deleted), the gateway serves the directory's and the recommender's routes and keeps
/metrics off its public port, and the organisations' profile nodes join the network.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest
import uuid

import aurora_node
from aurora_node import (AURORA_BIN, CODELISTS_DIR, DATA_DIR, child_env, curl, eventually,
                         free_port, read_bytes)

import grpc  # noqa: E402  (after aurora_node, which puts the generated modules on sys.path)
import yaml  # noqa: E402  (Debian's python3-yaml)
from aurora.directory.v1 import directory_pb2 as dpb, directory_pb2_grpc as dpb_grpc  # noqa: E402
from aurora.recommender.v1 import recommender_pb2 as rpb  # noqa: E402
from aurora.recommender.v1 import recommender_pb2_grpc as rpb_grpc  # noqa: E402
from health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OVERLAY = os.path.join(REPO, "k8s", "overlays", "production")
TIMEOUT = 30
# The catalogue the directory starts with: a slice of the demo data (imported as an operator
# would, with `aurora import` over mutual TLS).
CATALOGUE_SERVICES = 400
NEW_SERVICE_NAME = "Revontulikuvauksen iltakurssi Inarissa"


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
        with open(self.log_path, "wb") as log:
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


class ProductionTopologyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="aurora-e2e-production-")
        cls.processes = []
        try:
            cls.start_topology()
        except BaseException:
            cls.stop_all()
            cls.tmp.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        codes = cls.stop_all()
        cls.tmp.cleanup()
        assert all(code == 0 for code in codes.values()), f"exit codes after SIGTERM: {codes}"

    @classmethod
    def stop_all(cls):
        # Front first, the directory last, as a rolling shutdown would.
        return {p.name: p.stop() for p in reversed(cls.processes)}

    # -- the topology ---------------------------------------------------------------------------

    @classmethod
    def start_topology(cls):
        docs = render(OVERLAY)
        workloads = [Workload(d) for d in docs if d["kind"] in ("Deployment", "StatefulSet")
                     and any(c.get("command", [""])[0] == "aurora"
                             for c in d["spec"]["template"]["spec"]["containers"])]
        by_component = {}
        for w in workloads:
            by_component.setdefault(w.component, []).append(w)
        cls.by_component = by_component
        # What the topology asks of the overlay itself.
        kinds = {w.component: w.kind for w in workloads}
        assert kinds.get("directory") == "StatefulSet", kinds
        assert kinds.get("recommender") == "Deployment", kinds
        assert kinds.get("gateway") == "Deployment", kinds
        assert len(by_component.get("profile-node", [])) >= 2, kinds
        assert all(w.kind == "StatefulSet" for w in by_component["profile-node"])
        assert by_component["recommender"][0].replicas >= 2, "two recommender replicas"

        cls.processes_of = {}
        for w in workloads:
            cls.processes_of[w.name] = [Process(w, i, cls.tmp.name) for i in range(w.replicas)]
        # Services: name -> the processes behind them (by selector), for address translation.
        cls.service_targets = {}
        for doc in docs:
            if doc["kind"] != "Service":
                continue
            selector = doc["spec"].get("selector", {})
            behind = [p for w in workloads if labels_match(selector, w.labels)
                      for p in cls.processes_of[w.name]]
            if behind:
                cls.service_targets[doc["metadata"]["name"]] = behind

        # The network CA and one certificate per TLS Secret: the directory's signs the registry;
        # the operator's components share the operator's organisation; each profile node has its
        # organisation's.
        cls.ca = os.path.join(cls.tmp.name, "ca")
        run(["ca", "init", "--dir", cls.ca, "--name", "Production topology e2e"])
        cls.operator = str(uuid.uuid4())
        cls.organizations = {w.organization: str(uuid.uuid4())
                             for w in by_component["profile-node"]}
        cls.secret_folders = {}
        for w in workloads:
            assert w.tls_secret, f"{w.name}: no TLS Secret mounted at /etc/aurora/tls"
            if w.tls_secret in cls.secret_folders:
                continue
            folder = os.path.join(cls.tmp.name, "secrets", w.tls_secret)
            org = cls.organizations.get(w.organization, cls.operator)
            run(["ca", "issue", "--dir", cls.ca, "--org", org, "--out", folder,
                 "--dns", "localhost", "--ip", "127.0.0.1"]
                + (["--role", "registry"] if w.component == "directory" else []))
            cls.secret_folders[w.tls_secret] = folder
        cls.operator_credentials = credentials(
            cls.secret_folders[by_component["directory"][0].tls_secret])

        # The directory, then the operator's catalogue and the member organisations.
        directory = cls.first("directory")
        cls.launch(directory)
        cls.wait_ready(directory)
        cls.directory_channel = grpc.secure_channel(f"127.0.0.1:{directory.ports['grpc']}",
                                                    cls.operator_credentials)
        stub = dpb_grpc.DirectoryStub(cls.directory_channel)
        for name, org in [("operator", cls.operator), *cls.organizations.items()]:
            stub.RegisterOrganization(dpb.RegisterOrganizationRequest(
                organization=dpb.Organization(id=org, name={"fi": name})), timeout=TIMEOUT)
        catalogue = os.path.join(cls.tmp.name, "catalogue.ndjson")
        with open(os.path.join(DATA_DIR, "services.ndjson"), encoding="utf-8") as source, \
                open(catalogue, "w", encoding="utf-8") as out:
            for _, line in zip(range(CATALOGUE_SERVICES), source):
                out.write(line)
        folder = cls.secret_folders[by_component["directory"][0].tls_secret]
        run(["import", catalogue, "--grpc-target", f"127.0.0.1:{directory.ports['grpc']}",
             "--codelists", CODELISTS_DIR, "--tls-cert", os.path.join(folder, "node.crt"),
             "--tls-key", os.path.join(folder, "node.key"),
             "--tls-ca", os.path.join(folder, "ca.crt"),
             "--tls-crl-dir", os.path.join(cls.ca, "crl")])

        # The rest, in the order a rollout brings them up (none depends on it but the waits).
        rest = [p for w in workloads if w.component != "directory"
                for p in cls.processes_of[w.name]]
        for p in rest:
            cls.launch(p)
        for p in rest:
            cls.wait_ready(p)

    @classmethod
    def first(cls, component):
        """The first replica of the component's (single) workload."""
        (workload,) = cls.by_component[component]
        return cls.processes_of[workload.name][0]

    @classmethod
    def replicas(cls, component):
        return [p for w in cls.by_component[component] for p in cls.processes_of[w.name]]

    @classmethod
    def launch(cls, process):
        process.start([cls.translate(process, arg) for arg in process.workload.args])
        cls.processes.append(process)

    @classmethod
    def translate(cls, process, arg):
        """A manifest argument as this process runs it on loopback."""
        name, _, value = arg.partition("=")
        listen = {"--grpc-listen": "grpc", "--probe-listen": "probe", "--http-listen": "http",
                  "--metrics-listen": "metrics"}
        if name in listen:
            return value if value == "off" else f"{name}=127.0.0.1:{process.ports[listen[name]]}"
        if name == "--jwks-url":  # the identity provider is outside the cluster and this test
            return f"--jwks-file={cls.jwks_file()}"
        if name == "--public-url":
            return f"--public-url=http://127.0.0.1:{process.ports['http']}"
        secret = cls.secret_folders[process.workload.tls_secret]
        paths = [("/etc/aurora/tls", secret), ("/etc/aurora/crl", os.path.join(cls.ca, "crl")),
                 ("/var/lib/aurora", os.path.join(process.folder, "data")),
                 ("/usr/share/aurora/codelists", CODELISTS_DIR),
                 ("/usr/share/aurora/demo", DATA_DIR)]
        for mounted, local in paths:
            value = value.replace(mounted, local)

        def address(match):
            behind = cls.service_targets.get(match.group(1))
            if behind is None:
                return match.group(0)
            if name == "--recommender-peers":  # a headless Service: every replica's address
                return ",".join(f"127.0.0.1:{p.ports['grpc']}" for p in behind)
            # A Service spreads connections over its pods; one address here: the first replica.
            return f"127.0.0.1:{behind[0].ports['grpc']}"

        value = re.sub(r"(?<![\w.-])([a-z0-9][a-z0-9-]*)(?:\.[a-z0-9.-]+)?:50051\b", address,
                       value)
        return f"{name}={value}" if value or "=" in arg else name

    @classmethod
    def jwks_file(cls):
        path = os.path.join(cls.tmp.name, "jwks.json")
        if not os.path.exists(path):
            with open(path, "w", encoding="utf-8") as f:
                json.dump({"keys": []}, f)
        return path

    @classmethod
    def wait_ready(cls, process, timeout=120):
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

    # -- the checks -----------------------------------------------------------------------------

    def search(self, process, text):
        with grpc.secure_channel(f"127.0.0.1:{process.ports['grpc']}",
                                 self.operator_credentials) as channel:
            return rpb_grpc.RecommenderStub(channel).Search(
                rpb.SearchRequest(text=text, language="fi", limit=10), timeout=TIMEOUT)

    def answers(self, process, text):
        response = self.search(process, text)
        return response.revision, [s.service.id for s in response.services]

    def directory_revision(self):
        request = dpb.ListServicesRequest()
        request.page.page_size = 1
        return dpb_grpc.DirectoryStub(self.directory_channel).ListServices(
            request, timeout=TIMEOUT).revision

    def assert_replicas_agree(self, texts, what):
        """Both replicas at the directory's revision, with the same answers to `texts`."""
        replicas = self.replicas("recommender")
        revision = self.directory_revision()
        eventually(lambda: all(self.search(p, "kirjasto").revision == revision for p in replicas),
                   30, f"every replica at revision {revision} ({what})",
                   [p.check_alive for p in replicas])
        for text in texts:
            answers = [self.answers(p, text) for p in replicas]
            self.assertTrue(answers[0][1], f"{text!r}: no answer ({what})")
            for other in answers[1:]:
                self.assertEqual(other, answers[0], f"{text!r}: the replicas differ ({what})")

    def api_client(self):
        """HTTP Basic credentials of an API client of the first member organisation."""
        if not hasattr(type(self), "basic"):
            client = dpb_grpc.DirectoryStub(self.directory_channel).RegisterApiClient(
                dpb.RegisterApiClientRequest(organization_id=self.member(), display_name="e2e"),
                timeout=TIMEOUT)
            type(self).basic = f"{client.client.client_id}:{client.client_secret}"
        return self.basic

    def member(self):
        return next(iter(self.organizations.values()))

    def create_service(self, fields):
        """Creates a nationwide Finnish service of the first member through the gateway (REST ->
        the directory); returns its id."""
        body = {"organization_id": self.member(), "kind": "SERVICE_KIND_SERVICE",
                "area_type": "AREA_TYPE_NATIONWIDE", "languages": ["fi"], **fields}
        gateway = f"http://127.0.0.1:{self.first('gateway').ports['http']}"
        status, _, raw = curl("-u", self.api_client(), "-X", "POST", "-H",
                              "Content-Type: application/json", "--data-binary",
                              json.dumps(body), gateway + "/v1/services")
        self.assertEqual(status, 200, raw)
        return json.loads(raw)["id"]

    def test_1_every_process_ready_and_metrics_only_for_monitoring(self):
        for p in self.processes:
            p.check_alive()
            self.assertEqual(curl(f"http://127.0.0.1:{p.ports['metrics']}/metrics")[0], 200,
                             p.name)
        for gateway in self.replicas("gateway"):
            status, _, _ = curl(f"http://127.0.0.1:{gateway.ports['http']}/metrics")
            self.assertEqual(status, 404, f"{gateway.name}'s public port serves /metrics")
        # The gRPC ports take only mutual TLS; the probe ports only health.
        directory = self.first("directory")
        with grpc.insecure_channel(f"127.0.0.1:{directory.ports['grpc']}") as channel:
            with self.assertRaises(grpc.RpcError):
                health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                          timeout=5)
        with grpc.insecure_channel(f"127.0.0.1:{directory.ports['probe']}") as channel:
            with self.assertRaises(grpc.RpcError) as refused:
                dpb_grpc.DirectoryStub(channel).ListOrganizations(
                    dpb.ListOrganizationsRequest(), timeout=5)
            self.assertEqual(refused.exception.code(), grpc.StatusCode.UNIMPLEMENTED)

    def test_2_replicas_follow_the_directory_and_agree_after_a_change(self):
        texts = ["kirjasto", "toimeentulotuki", "nuorisotyö", NEW_SERVICE_NAME]
        self.assert_replicas_agree(texts[:3], "the imported catalogue")
        for p in self.replicas("recommender"):
            self.assertEqual(p.metric("aurora_recommender_index_services"), CATALOGUE_SERVICES)

        # An organisation's API client creates a service through the gateway (REST ->
        # directory); both replicas take it from the change feed.
        created = self.create_service({
            "name": {"fi": NEW_SERVICE_NAME},
            "summary": {"fi": "Revontulien valokuvaus aloittelijoille."}})
        gateway = f"http://127.0.0.1:{self.first('gateway').ports['http']}"
        self.assert_replicas_agree(texts, "after the create")
        for p in self.replicas("recommender"):
            self.assertEqual(self.answers(p, NEW_SERVICE_NAME)[1][0], created, p.name)
        # ... and the gateway's recommender route answers with it too.
        status, _, raw = curl("-X", "POST", "--data-binary",
                              json.dumps({"text": NEW_SERVICE_NAME, "language": "fi"}),
                              gateway + "/v1/search")
        self.assertEqual(status, 200, raw)
        self.assertEqual(json.loads(raw)["services"][0]["service"]["id"], created)

        # Deleted: gone from both.
        status, _, raw = curl("-u", self.api_client(), "-X", "DELETE",
                              gateway + f"/v1/services/{created}")
        self.assertEqual(status, 200, raw)
        self.assert_replicas_agree(texts[:3], "after the delete")
        for p in self.replicas("recommender"):
            self.assertNotIn(created, self.answers(p, NEW_SERVICE_NAME)[1], p.name)
            self.assertEqual(p.metric("aurora_recommender_index_services"), CATALOGUE_SERVICES)

    def test_3_feedback_and_clicks_reach_the_replica_that_answered(self):
        from aurora.compat.v1 import compat_pb2, compat_pb2_grpc
        first, second = self.replicas("recommender")[:2]
        name = "Tähtitieteellisen yhdistyksen havaintoillat"
        created = self.create_service({
            "name": {"fi": name},
            "channels": [{"id": str(uuid.uuid4()), "type": "CHANNEL_TYPE_ELECTRONIC",
                          "name": {"fi": "Ilmoittaudu"},
                          "urls": ["https://tahtitiede.example.fi/ilmoittaudu"]}]})
        self.assert_replicas_agree([name], "after the create")
        with grpc.secure_channel(f"127.0.0.1:{first.ports['grpc']}",
                                 self.operator_credentials) as channel:
            answer = rpb_grpc.RecommenderStub(channel).Search(
                rpb.SearchRequest(text=name, language="fi", limit=5), timeout=TIMEOUT)
        service = answer.services[0].service
        self.assertEqual(service.id, created)
        counted = {p.name: p.metric('aurora_recommender_feedback_total{score="positive"}')
                   for p in (first, second)}
        clicks = {p.name: p.metric("aurora_recommender_redirects_total") for p in (first, second)}
        # The second replica never saw the recommendation: it forwards to its peers.
        with grpc.secure_channel(f"127.0.0.1:{second.ports['grpc']}",
                                 self.operator_credentials) as channel:
            recommender = rpb_grpc.RecommenderStub(channel)
            recorded = recommender.RecordFeedback(rpb.RecordFeedbackRequest(
                recommendation_id=answer.recommendation_id,
                services=[rpb.ServiceFeedback(service_id=service.id, score=1)]), timeout=TIMEOUT)
            self.assertEqual(recorded.recorded, 1)
            url = recommender.RecordRedirect(rpb.RecordRedirectRequest(
                recommendation_id=answer.recommendation_id, service_id=service.id,
                channel_id=service.channels[0].id, link_index=0), timeout=TIMEOUT).url
            self.assertEqual(url, service.channels[0].urls[0])
            # The AuroraAI-compatible API, with its own answer format, likewise.
            compat = compat_pb2_grpc.ServiceRecommenderStub(channel)
            body = compat.RecommendationFeedback(compat_pb2.RecommendationFeedbackRequest(
                auroraai_recommendation_id=answer.recommendation_id, feedback_score=1),
                timeout=TIMEOUT)
            self.assertEqual(body.data, b"OK")
            # A recommendation no replica holds is still NOT_FOUND.
            with self.assertRaises(grpc.RpcError) as unknown:
                recommender.RecordFeedback(rpb.RecordFeedbackRequest(
                    recommendation_id=answer.recommendation_id ^ 1, score=1), timeout=TIMEOUT)
            self.assertEqual(unknown.exception.code(), grpc.StatusCode.NOT_FOUND)
        # Recorded once, where the recommendation is.
        self.assertEqual(first.metric('aurora_recommender_feedback_total{score="positive"}'),
                         counted[first.name] + 2)
        self.assertEqual(second.metric('aurora_recommender_feedback_total{score="positive"}'),
                         counted[second.name])
        self.assertEqual(first.metric("aurora_recommender_redirects_total"),
                         clicks[first.name] + 1)
        self.assertEqual(second.metric("aurora_recommender_redirects_total"), clicks[second.name])

    def test_4_profile_nodes_join_the_network(self):
        from aurora.network.v1 import network_pb2, network_pb2_grpc
        expected = {self.operator, *self.organizations.values()}
        for w in self.by_component["profile-node"]:
            folder = self.secret_folders[w.tls_secret]
            for p in self.processes_of[w.name]:
                with grpc.secure_channel(f"127.0.0.1:{p.ports['grpc']}",
                                         credentials(folder)) as channel:
                    discovery = network_pb2_grpc.DiscoveryStub(channel)

                    def members():
                        listed = discovery.ListMembers(network_pb2.ListMembersRequest(),
                                                       timeout=5).members
                        return expected <= {m.organization_id for m in listed}
                    eventually(members, 30, f"{p.name}'s registry copy lists the members",
                               [p.check_alive])
                if w.flag("http-listen") is not None:
                    status, _, raw = curl(f"http://127.0.0.1:{p.ports['http']}/readyz")
                    self.assertEqual(status, 200, raw)


def run(args):
    done = aurora_node.run_aurora(args)
    assert done.returncode == 0, f"aurora {' '.join(args)}: {done.stderr}"
    return done


def credentials(folder):
    return grpc.ssl_channel_credentials(
        root_certificates=read_bytes(os.path.join(folder, "ca.crt")),
        private_key=read_bytes(os.path.join(folder, "node.key")),
        certificate_chain=read_bytes(os.path.join(folder, "node.crt")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
