"""Mutual TLS between organisations' nodes, with the real CLI and a real Python gRPC client:
`aurora ca init` makes a network root, `aurora ca issue --org` node certificates, a node started
with --tls-* accepts only callers with a certificate from that root (Python's grpcio presenting
one), `aurora import` reaches it over mTLS, `aurora ca revoke` shuts a member out on its next
connection without restarting the node, and the gateway's HTTP side is unaffected.
"""

import os
import tempfile
import time
import unittest

import aurora_node
from aurora_node import AuroraNode, curl, run_aurora

import grpc  # noqa: E402  (after aurora_node, which puts the generated modules on sys.path)
from aurora.directory.v1 import directory_pb2 as pb  # noqa: E402
from aurora.directory.v1 import directory_pb2_grpc as pb_grpc  # noqa: E402
from health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

ORG_A = "aaaaaaaa-0000-4000-8000-00000000000a"
ORG_B = "bbbbbbbb-0000-4000-8000-00000000000b"


def read(path):
    with open(path, "rb") as f:
        return f.read()


def credentials_of(folder, with_identity=True):
    root = read(os.path.join(folder, "ca.crt"))
    if not with_identity:
        return grpc.ssl_channel_credentials(root_certificates=root)
    return grpc.ssl_channel_credentials(root_certificates=root,
                                        private_key=read(os.path.join(folder, "node.key")),
                                        certificate_chain=read(os.path.join(folder, "node.crt")))


class NetworkTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="aurora-e2e-tls-")
        cls.ca = os.path.join(cls.tmp.name, "ca")
        cls.a = os.path.join(cls.tmp.name, "org-a")
        cls.b = os.path.join(cls.tmp.name, "org-b")
        for args in (["ca", "init", "--dir", cls.ca, "--name", "E2E network"],
                     # A's node runs the directory, which signs the network registry.
                     ["ca", "issue", "--dir", cls.ca, "--org", ORG_A, "--out", cls.a,
                      "--role", "registry"],
                     ["ca", "issue", "--dir", cls.ca, "--org", ORG_B, "--out", cls.b]):
            done = run_aurora(args)
            assert done.returncode == 0, f"aurora {' '.join(args)}: {done.stderr}"
        cls.probe_port = aurora_node.free_port()
        cls.node = AuroraNode(
            os.path.join(cls.tmp.name, "node"),
            extra_args=["--components", "directory,gateway",
                        "--tls-cert", os.path.join(cls.a, "node.crt"),
                        "--tls-key", os.path.join(cls.a, "node.key"),
                        "--tls-ca", os.path.join(cls.ca, "ca.crt"),
                        "--tls-crl-dir", os.path.join(cls.ca, "crl"),
                        "--tls-refresh-seconds", "1",
                        # the kubelet's gRPC probes present no certificate
                        "--probe-listen", f"127.0.0.1:{cls.probe_port}"],
            channel_credentials=credentials_of(cls.a)).start()
        # B is a member of the network: its node may call A's (the registry lists it).
        pb_grpc.DirectoryStub(cls.node.channel).RegisterOrganization(
            pb.RegisterOrganizationRequest(
                organization=pb.Organization(id=ORG_B, name={"fi": "Organisaatio B"})),
            timeout=aurora_node.RPC_TIMEOUT_S)
        # ... as soon as the node's registry copy has the registration (milliseconds).
        deadline = time.monotonic() + 10
        while True:
            try:
                with grpc.secure_channel(cls.node.target, credentials_of(cls.b)) as channel:
                    health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                              timeout=5)
                break
            except grpc.RpcError as error:
                assert time.monotonic() < deadline, f"B never became a member: {error}"
                time.sleep(0.05)

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()
        cls.tmp.cleanup()

    def check(self, credentials):
        with grpc.secure_channel(self.node.target, credentials) as channel:
            return health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=aurora_node.RPC_TIMEOUT_S).status

    def test_probe_port_answers_health_only_in_plaintext(self):
        with grpc.insecure_channel(f"127.0.0.1:{self.probe_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", "aurora.directory.v1.Directory"):
                self.assertEqual(
                    health.Check(health_pb2.HealthCheckRequest(service=service),
                                 timeout=aurora_node.RPC_TIMEOUT_S).status,
                    health_pb2.HealthCheckResponse.SERVING, service)
            with self.assertRaises(grpc.RpcError) as unknown:
                health.Check(health_pb2.HealthCheckRequest(service="aurora.profile.v1.Profile"),
                             timeout=aurora_node.RPC_TIMEOUT_S)
            self.assertEqual(unknown.exception.code(), grpc.StatusCode.NOT_FOUND)
            # Nothing but health is served there: the directory stays behind mutual TLS.
            with self.assertRaises(grpc.RpcError) as refused:
                pb_grpc.DirectoryStub(channel).ListOrganizations(
                    pb.ListOrganizationsRequest(), timeout=aurora_node.RPC_TIMEOUT_S)
            self.assertEqual(refused.exception.code(), grpc.StatusCode.UNIMPLEMENTED)

    def test_ca_cli_output_and_bad_input(self):
        done = run_aurora(["ca", "issue", "--dir", self.ca, "--org", "Org A", "--out",
                           os.path.join(self.tmp.name, "nope")])
        self.assertEqual(done.returncode, 2)
        self.assertIn('--org: "Org A" is not an organisation id', done.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp.name, "nope")))
        done = run_aurora(["ca", "init", "--dir", self.ca])
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("already holds a network CA", done.stderr)
        self.assertEqual(os.stat(os.path.join(self.a, "node.key")).st_mode & 0o777, 0o600)

    def test_members_call_over_mutual_tls_and_others_are_refused(self):
        self.assertEqual(self.check(credentials_of(self.b)),
                         health_pb2.HealthCheckResponse.SERVING)
        directory = pb_grpc.DirectoryStub(self.node.channel)
        organization = directory.RegisterOrganization(pb.RegisterOrganizationRequest(
            organization=pb.Organization(name={"fi": "TLS-kunta"})),
            timeout=aurora_node.RPC_TIMEOUT_S)
        self.assertTrue(organization.id)
        for name, credentials in (("no client certificate", credentials_of(self.a, False)),
                                  ("plaintext", None)):
            with self.subTest(name):
                with (grpc.insecure_channel(self.node.target) if credentials is None
                      else grpc.secure_channel(self.node.target, credentials)) as channel:
                    with self.assertRaises(grpc.RpcError) as refused:
                        health_pb2_grpc.HealthStub(channel).Check(
                            health_pb2.HealthCheckRequest(), timeout=5)
                    self.assertEqual(refused.exception.code(), grpc.StatusCode.UNAVAILABLE)
        # The public HTTP side is not behind mTLS.
        status, _, body = curl(self.node.http_url("/healthz"))
        self.assertEqual(status, 200, body)
        # The certificate's expiry is a metric (a year from now).
        status, _, body = curl(self.node.metrics_url)
        self.assertEqual(status, 200, body)
        expiry = [float(line.split()[-1]) for line in body.decode().splitlines()
                  if line.startswith("aurora_tls_certificate_expiry_timestamp_seconds")]
        self.assertEqual(len(expiry), 1, body)
        self.assertGreater(expiry[0], time.time() + 360 * 86400)
        self.assertLess(expiry[0], time.time() + 370 * 86400)

    def test_import_over_mutual_tls(self):
        sample = os.path.join(self.tmp.name, "sample.ndjson")
        with open(os.path.join(aurora_node.DATA_DIR, "services.ndjson"), "rb") as source, \
                open(sample, "wb") as out:
            for _ in range(5):
                out.write(source.readline())
        def tls(org):
            return ["--tls-cert", os.path.join(org, "node.crt"),
                    "--tls-key", os.path.join(org, "node.key"),
                    "--tls-ca", os.path.join(self.ca, "ca.crt")]

        def run_import(*extra):
            return run_aurora(["import", sample, "--grpc-target", self.node.target,
                               "--codelists", aurora_node.CODELISTS_DIR, *extra])

        # The node's own organisation (its operators' tools) imports the catalogue.
        done = run_import(*tls(self.a))
        self.assertEqual(done.returncode, 0, done.stderr + done.stdout)
        self.assertIn("services created: 5", done.stdout)
        # Another organisation's node acts only for its own organisation: it cannot import
        # services of others.
        done = run_import(*tls(self.b))
        self.assertEqual(done.returncode, 3, done.stderr + done.stdout)
        self.assertIn("rejected: 5", done.stdout)
        self.assertIn("is not the caller's organisation", done.stdout)
        done = run_import()
        self.assertNotEqual(done.returncode, 0, "a plaintext import must not reach a TLS node")
        mismatched = tls(self.b)
        mismatched[3] = os.path.join(self.a, "node.key")  # B's certificate with A's key
        done = run_import(*mismatched)
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertIn("does not belong to the certificate", done.stderr)

    def test_a_member_node_acts_only_for_its_own_organisation(self):
        operator = pb_grpc.DirectoryStub(self.node.channel)  # A's own certificate
        other = operator.RegisterOrganization(pb.RegisterOrganizationRequest(
            organization=pb.Organization(name={"fi": "Joku muu"})),
            timeout=aurora_node.RPC_TIMEOUT_S)

        def service(service_id, organization_id):
            return pb.Service(id=service_id, organization_id=organization_id,
                              name={"fi": "Jäsenen palvelu"}, summary={"fi": "Testi."},
                              area_type=pb.AREA_TYPE_NATIONWIDE, languages=["fi"])

        with grpc.secure_channel(self.node.target, credentials_of(self.b)) as channel:
            member = pb_grpc.DirectoryStub(channel)
            created = member.CreateService(pb.CreateServiceRequest(
                service=service("8e500000-0000-4000-8000-00000000000b", ORG_B)),
                timeout=aurora_node.RPC_TIMEOUT_S)
            self.assertEqual(created.organization_id, ORG_B)
            # Claiming another organisation in the metadata changes nothing: the certificate
            # says who calls.
            with self.assertRaises(grpc.RpcError) as denied:
                member.CreateService(pb.CreateServiceRequest(
                    service=service("8e500000-0000-4000-8000-00000000000c", other.id)),
                    metadata=[("x-aurora-organization-id", other.id)],
                    timeout=aurora_node.RPC_TIMEOUT_S)
            self.assertEqual(denied.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
            self.assertIn(other.id, denied.exception.details())
            self.assertIn(ORG_B, denied.exception.details())
            with self.assertRaises(grpc.RpcError) as denied:
                member.RegisterOrganization(pb.RegisterOrganizationRequest(
                    organization=pb.Organization(name={"fi": "Luvaton"})),
                    timeout=aurora_node.RPC_TIMEOUT_S)
            self.assertEqual(denied.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
            # Reading the registry is open to members.
            self.assertEqual(member.GetService(pb.GetServiceRequest(
                id="8e500000-0000-4000-8000-00000000000b"),
                timeout=aurora_node.RPC_TIMEOUT_S).organization_id, ORG_B)
        with self.assertRaises(grpc.RpcError) as missing:
            operator.GetService(pb.GetServiceRequest(id="8e500000-0000-4000-8000-00000000000c"),
                                timeout=aurora_node.RPC_TIMEOUT_S)
        self.assertEqual(missing.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_recommender_follows_another_organisations_directory_over_mtls(self):
        # Organisation B's node runs a recommender fed by A's directory: the watch stream crosses
        # organisations over mutual TLS, with B's own certificate.
        follower = AuroraNode(
            os.path.join(self.tmp.name, "node-b"),
            extra_args=["--components", "recommender,gateway", "--dictionary-dir", "off",
                        "--directory-target", self.node.target,
                        "--tls-cert", os.path.join(self.b, "node.crt"),
                        "--tls-key", os.path.join(self.b, "node.key"),
                        "--tls-ca", os.path.join(self.ca, "ca.crt"),
                        "--tls-crl-dir", os.path.join(self.ca, "crl")],
            channel_credentials=credentials_of(self.b)).start()
        try:
            directory = pb_grpc.DirectoryStub(self.node.channel)
            organization = directory.RegisterOrganization(pb.RegisterOrganizationRequest(
                organization=pb.Organization(name={"fi": "Seurattava kunta"})),
                timeout=aurora_node.RPC_TIMEOUT_S)
            directory.CreateService(pb.CreateServiceRequest(service=pb.Service(
                id="7e500000-0000-4000-8000-000000000001", organization_id=organization.id,
                name={"fi": "Zyxwvutsonkimus", "en": "Zyxwvut probe"},
                summary={"fi": "Verkon yli seurattu palvelu."},
                area_type=pb.AREA_TYPE_NATIONWIDE, languages=["fi"])),
                timeout=aurora_node.RPC_TIMEOUT_S)
            deadline = time.monotonic() + 20
            while True:
                status, _, raw = curl("-X", "POST", follower.http_url("/v1/search"),
                                      "-H", "Content-Type: application/json",
                                      "--data-binary", '{"text": "zyxwvutsonkimus"}')
                self.assertEqual(status, 200, raw)
                if b"7e500000-0000-4000-8000-000000000001" in raw:
                    break
                self.assertLess(time.monotonic(), deadline,
                                f"B's recommender never saw A's new service:\n"
                                f"{follower.log_tail()}")
                time.sleep(0.1)
        finally:
            follower.stop()

    def test_zz_revoked_member_is_refused_without_a_restart(self):
        # Runs last (unittest sorts by name): B stays revoked afterwards.
        self.assertEqual(self.check(credentials_of(self.b)),
                         health_pb2.HealthCheckResponse.SERVING)
        done = run_aurora(["ca", "revoke", "--dir", self.ca, os.path.join(self.b, "node.crt")])
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("revoked serial", done.stdout)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.check(credentials_of(self.b))
            except grpc.RpcError as refused:
                self.assertEqual(refused.code(), grpc.StatusCode.UNAVAILABLE)
                break
            self.assertLess(time.monotonic(), deadline, "the revoked certificate still works")
            time.sleep(0.2)
        self.assertIsNotNone(self.node.find_log("refused a revoked certificate"))
        self.assertEqual(self.check(credentials_of(self.a)),
                         health_pb2.HealthCheckResponse.SERVING)
        self.assertTrue(self.node.running)


if __name__ == "__main__":
    unittest.main(verbosity=2)
