"""Three organisations' nodes on one machine, working together as they would across the country.

Organisation A runs the directory (the network's registry; its certificate carries the role
"registry"), B and C run member nodes that follow it. C offers its own gRPC service
(fi.example.benefits.v1.Benefits, examples/python/benefits_backend.py) through its node: GetDecision
and ListDecisions open to every member, Apply to organisation A only. Every node-to-node call is
mutual TLS with certificates from one network CA (`aurora ca`), and every client is Python's
grpcio presenting its organisation's certificate.

Checked: registration and node addresses; discovery at a member node (members, a member's services
and methods, the methods a caller may call, a service's descriptor set and OpenAPI) over gRPC and
through the gateway; the open methods callable by all members, the restricted one by A only (B gets
PERMISSION_DENIED naming the missing right, and C logs the decision); a foreign certificate and a
revoked one refused at the handshake; the directory stopped while the member nodes keep serving
and deciding from their signed registry copies; a member node restarted with the directory still
down, deciding from its copy on disk; the directory back, and a change of rights reaching C.
"""

import base64
import json
import os
import sys
import tempfile
import time
import unittest

import aurora_node
from aurora_node import (curl, eventually, free_port, issue_network, member_credentials,
                         member_node, run_aurora)

import grpc  # noqa: E402  (after aurora_node, which puts the generated modules on sys.path)
from aurora.directory.v1 import directory_pb2 as dpb  # noqa: E402
from aurora.directory.v1 import directory_pb2_grpc as dpb_grpc  # noqa: E402
from aurora.network.v1 import network_pb2 as npb  # noqa: E402
from aurora.network.v1 import network_pb2_grpc as npb_grpc  # noqa: E402
from aurora.recommender.v1 import recommender_pb2 as rpb  # noqa: E402
from aurora.recommender.v1 import recommender_pb2_grpc as rpb_grpc  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "examples", "python"))
import benefits_backend  # noqa: E402
from fi.example.benefits.v1 import benefits_pb2, benefits_pb2_grpc  # noqa: E402

ORG_A = "aaaaaaaa-0000-4000-8000-00000000000a"
ORG_B = "bbbbbbbb-0000-4000-8000-00000000000b"
ORG_C = "cccccccc-0000-4000-8000-00000000000c"
ORG_D = "dddddddd-0000-4000-8000-00000000000d"  # a member whose certificate gets revoked
BENEFITS = "fi.example.benefits.v1.Benefits"
TIMEOUT = aurora_node.RPC_TIMEOUT_S





class NetworkTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="aurora-e2e-network-")
        cls.ca, cls.certs = issue_network(cls.tmp.name, (ORG_A, ORG_B, ORG_C, ORG_D),
                                          registry=ORG_A)
        cls.foreign_ca = os.path.join(cls.tmp.name, "foreign-ca")
        cls.foreign = os.path.join(cls.tmp.name, "cert-foreign-b")
        for args in (["ca", "init", "--dir", cls.foreign_ca],
                     ["ca", "issue", "--dir", cls.foreign_ca, "--org", ORG_B, "--out",
                      cls.foreign]):
            done = run_aurora(args)
            assert done.returncode == 0, f"aurora {' '.join(args)}: {done.stderr}"

        cls.backend, backend_port = benefits_backend.serve()
        cls.ports = {org: free_port() for org in (ORG_A, ORG_B, ORG_C)}
        cls.a = cls.node(ORG_A, ["--components", "directory,recommender,gateway",
                                 "--dictionary-dir", "off"])
        cls.a.start()
        # The operator (A's own certificate) registers the members.
        directory = dpb_grpc.DirectoryStub(cls.a.channel)
        for org, name in ((ORG_A, "Digivirasto"), (ORG_B, "Kunta B"), (ORG_C, "Kela C"),
                          (ORG_D, "Yhdistys D")):
            directory.RegisterOrganization(dpb.RegisterOrganizationRequest(
                organization=dpb.Organization(id=org, name={"fi": name})), timeout=TIMEOUT)
        aurora_node.wait_for_members(cls.a.channel, (ORG_A, ORG_B, ORG_C, ORG_D))
        cls.b = cls.node(ORG_B, ["--components", "gateway", "--directory-target", cls.a.target])
        cls.c = cls.node(ORG_C, ["--components", "gateway", "--directory-target", cls.a.target,
                                 "--service-backends",
                                 f"{BENEFITS}=127.0.0.1:{backend_port}"])
        cls.b.start()
        cls.c.start()
        # Each member sets its own node's address, with its own certificate.
        for org, node in ((ORG_A, cls.a), (ORG_B, cls.b), (ORG_C, cls.c)):
            cls.registry_as(org).SetNodeAddress(npb.SetNodeAddressRequest(
                organization_id=org, node_address=node.target), timeout=TIMEOUT)
        # C publishes its service: GetDecision and ListDecisions open to members, Apply to A.
        cls.published = cls.registry_as(ORG_C).PublishService(npb.PublishServiceRequest(
            service=npb.NetworkService(
                name=BENEFITS, organization_id=ORG_C, title={"en": "Benefit decisions"},
                descriptor_set=benefits_backend.descriptor_set(),
                method_access=[
                    npb.MethodAccess(method="GetDecision",
                                     access=npb.AccessRights(open_to_members=True)),
                    npb.MethodAccess(method="ListDecisions",
                                     access=npb.AccessRights(open_to_members=True)),
                    npb.MethodAccess(method="Apply",
                                     access=npb.AccessRights(allowed_organizations=[ORG_A]))])),
            timeout=TIMEOUT)

    @classmethod
    def tearDownClass(cls):
        for node in (cls.c, cls.b, cls.a):
            if node.running:
                node.stop()
        cls.backend.stop(None)
        cls.tmp.cleanup()

    @classmethod
    def node(cls, org, args):
        return member_node(os.path.join(cls.tmp.name, f"node-{org[0]}"), cls.ca, cls.certs[org],
                           ["--tls-refresh-seconds", "1", *args], grpc_port=cls.ports[org])

    @classmethod
    def channel(cls, org, node):
        """A channel to `node` presenting organisation `org`'s certificate."""
        return grpc.secure_channel(node.target, member_credentials(cls.certs[org]))

    @classmethod
    def registry_as(cls, org):
        return npb_grpc.NetworkRegistryStub(cls.channel(org, cls.a))

    def benefits_as(self, org, node=None):
        return benefits_pb2_grpc.BenefitsStub(self.channel(org, node or self.c))

    def wait_for_registry(self, node, version):
        """Until `node`'s registry copy has reached `version` (discovery answers from it)."""
        discovery = npb_grpc.DiscoveryStub(node.channel)
        eventually(lambda: discovery.ListMembers(npb.ListMembersRequest(), timeout=5)
                   .registry_version >= version, what=f"registry version {version} at a node")

    # -- the tests run in name order: the directory stops in test_5 -----------------------------

    def test_1_discovery_at_a_member_node(self):
        self.wait_for_registry(self.b, self.published.revision)
        discovery = npb_grpc.DiscoveryStub(self.b.channel)
        members = discovery.ListMembers(npb.ListMembersRequest(), timeout=TIMEOUT)
        addresses = {m.organization_id: m.node_address for m in members.members}
        self.assertEqual(addresses, {ORG_A: self.a.target, ORG_B: self.b.target,
                                     ORG_C: self.c.target, ORG_D: ""})
        services = discovery.ListMemberServices(
            npb.ListMemberServicesRequest(organization_id=ORG_C), timeout=TIMEOUT).services
        self.assertEqual([s.name for s in services], [BENEFITS])
        self.assertEqual(list(services[0].methods), ["GetDecision", "ListDecisions", "Apply"])
        self.assertEqual(services[0].descriptor_set, b"")  # lists leave the descriptors out
        description = discovery.GetServiceDescription(
            npb.GetServiceDescriptionRequest(name=BENEFITS), timeout=TIMEOUT)
        self.assertEqual(description.provider.node_address, self.c.target)
        self.assertEqual(description.service.descriptor_set, benefits_backend.descriptor_set())
        openapi = json.loads(description.openapi_json)
        self.assertIn(f"/{BENEFITS}/Apply", openapi["paths"])

        # What each caller may call at C: its certificate says who it is.
        def allowed(org):
            with self.channel(org, self.c) as channel:
                answer = npb_grpc.DiscoveryStub(channel).ListAllowedMethods(
                    npb.ListAllowedMethodsRequest(), timeout=TIMEOUT)
            self.assertEqual(answer.organization_id, org)
            return sorted(m.path for m in answer.methods)
        self.wait_for_registry(self.c, self.published.revision)
        self.assertEqual(allowed(ORG_B), [f"/{BENEFITS}/GetDecision",
                                          f"/{BENEFITS}/ListDecisions"])
        self.assertEqual(allowed(ORG_A), [f"/{BENEFITS}/Apply", f"/{BENEFITS}/GetDecision",
                                          f"/{BENEFITS}/ListDecisions"])

        # The same through B's gateway.
        status, _, body = curl(self.b.http_url("/v1/network/members"))
        self.assertEqual(status, 200, body)
        self.assertEqual(len(json.loads(body)["members"]), 4)
        status, _, body = curl(self.b.http_url(f"/v1/network/members/{ORG_C}/services"))
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["services"][0]["name"], BENEFITS)
        status, _, body = curl(self.b.http_url(f"/v1/network/services/{BENEFITS}"))
        self.assertEqual(status, 200, body)
        described = json.loads(body)
        self.assertEqual(base64.b64decode(described["service"]["descriptor_set"]),
                         benefits_backend.descriptor_set())
        self.assertIn(f"/{BENEFITS}/Apply", json.loads(described["openapi_json"])["paths"])
        self.assertEqual(described["provider"]["node_address"], self.c.target)
        status, _, body = curl(self.b.http_url("/v1/network/members/not-a-uuid/services"))
        self.assertEqual(status, 400, body)
        self.assertIn("not-a-uuid", body.decode())

    def test_1b_recommendations_link_to_the_providers_node(self):
        # C describes a service of its own in the catalogue (with its certificate: only its own
        # organisation's); A's recommender sees it and links to C's node.
        with self.channel(ORG_C, self.a) as channel:
            dpb_grpc.DirectoryStub(channel).CreateService(dpb.CreateServiceRequest(
                service=dpb.Service(
                    id="c0000000-0000-4000-8000-00000000000c", organization_id=ORG_C,
                    name={"fi": "Kelan Zyxwvut-etuus", "en": "Zyxwvut benefit"},
                    summary={"fi": "Etuus, jota haetaan C:n palvelusta."},
                    area_type=dpb.AREA_TYPE_NATIONWIDE, languages=["fi"])), timeout=TIMEOUT)
        recommender = rpb_grpc.RecommenderStub(self.channel(ORG_B, self.a))

        def found():
            answer = recommender.Search(rpb.SearchRequest(text="zyxwvut etuus"), timeout=5)
            return [s for s in answer.services if s.service.organization_id == ORG_C]
        hits = eventually(found, what="C's service in A's recommendations")
        self.assertEqual(hits[0].provider_node_address, self.c.target)

    def test_2_open_methods_for_all_members_restricted_for_the_allowed(self):
        self.wait_for_registry(self.c, self.published.revision)
        for org in (ORG_A, ORG_B):
            decision = self.benefits_as(org).GetDecision(
                benefits_pb2.GetDecisionRequest(decision_id="d-1"), timeout=TIMEOUT)
            # The backend learns the caller from C's node, which took it from the certificate.
            self.assertEqual(decision.outcome, f"granted; asked by {org}")
        listed = list(self.benefits_as(ORG_B).ListDecisions(benefits_pb2.ListDecisionsRequest(),
                                                             timeout=TIMEOUT))
        self.assertEqual([d.outcome for d in listed], [f"listed for {ORG_B}"] * 3)
        applied = self.benefits_as(ORG_A).Apply(benefits_pb2.ApplyRequest(benefit="housing"),
                                                timeout=TIMEOUT)
        self.assertEqual(applied.outcome, f"received from {ORG_A}")
        with self.assertRaises(grpc.RpcError) as denied:
            self.benefits_as(ORG_B).Apply(benefits_pb2.ApplyRequest(benefit="housing"),
                                          timeout=TIMEOUT)
        self.assertEqual(denied.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertIn(ORG_B, denied.exception.details())
        self.assertIn(f"/{BENEFITS}/Apply", denied.exception.details())
        # The backend's own errors come back as they are.
        with self.assertRaises(grpc.RpcError) as invalid:
            self.benefits_as(ORG_B).GetDecision(benefits_pb2.GetDecisionRequest(),
                                                timeout=TIMEOUT)
        self.assertEqual(invalid.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(invalid.exception.details(), "decision_id: is required")
        # B's node does not offer C's service: B's own organisation may call it there, but the
        # node has nothing to forward it to.
        with self.assertRaises(grpc.RpcError) as elsewhere:
            self.benefits_as(ORG_A, self.b).GetDecision(
                benefits_pb2.GetDecisionRequest(decision_id="d-1"), timeout=TIMEOUT)
        self.assertEqual(elsewhere.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        # C logged both decisions, and counted them.
        allowed = [e for e in self.c.logs() if e.get("message") == "access allowed"]
        denied_logs = [e for e in self.c.logs() if e.get("message") == "access refused"]
        self.assertTrue(any(e.get("caller_organization") == ORG_B for e in allowed), allowed)
        self.assertTrue(any(e.get("caller_organization") == ORG_B and
                            e.get("path") == f"/{BENEFITS}/Apply" for e in denied_logs),
                        denied_logs)
        status, _, body = curl(self.c.metrics_url)
        self.assertEqual(status, 200)
        self.assertIn('aurora_network_access_decisions_total{decision="denied"}', body.decode())

    def test_3_foreign_and_revoked_certificates_are_refused_at_the_handshake(self):
        foreign = benefits_pb2_grpc.BenefitsStub(
            grpc.secure_channel(self.c.target, member_credentials(self.foreign)))
        with self.assertRaises(grpc.RpcError) as refused:
            foreign.GetDecision(benefits_pb2.GetDecisionRequest(decision_id="d"), timeout=5)
        self.assertEqual(refused.exception.code(), grpc.StatusCode.UNAVAILABLE)
        # D is a member: it may call the open method, until its certificate is revoked.
        self.wait_for_registry(self.c, self.published.revision)
        self.assertTrue(self.benefits_as(ORG_D).GetDecision(
            benefits_pb2.GetDecisionRequest(decision_id="d"), timeout=TIMEOUT).outcome)
        done = run_aurora(["ca", "revoke", "--dir", self.ca,
                           os.path.join(self.certs[ORG_D], "node.crt")])
        self.assertEqual(done.returncode, 0, done.stderr)

        def refused_now():
            try:
                self.benefits_as(ORG_D).GetDecision(
                    benefits_pb2.GetDecisionRequest(decision_id="d"), timeout=5)
                return False
            except grpc.RpcError as error:
                return error.code() == grpc.StatusCode.UNAVAILABLE
        eventually(refused_now, timeout=15, what="the revoked certificate refused")

    def test_4_rights_change_reaches_the_provider(self):
        # C opens Apply to every member; B may call it as soon as C's copy has the new version.
        service = self.registry_as(ORG_C).PublishService(npb.PublishServiceRequest(
            service=npb.NetworkService(
                name=BENEFITS, organization_id=ORG_C,
                descriptor_set=benefits_backend.descriptor_set(),
                access=npb.AccessRights(open_to_members=True)),
            expected_revision=self.published.revision), timeout=TIMEOUT)
        type(self).published = service
        started = time.monotonic()
        eventually(lambda: self.benefits_as(ORG_B).Apply(
            benefits_pb2.ApplyRequest(benefit="b"), timeout=5).outcome, timeout=10,
            what="B allowed to Apply")
        self.assertLess(time.monotonic() - started, 5)

    def test_5_directory_down_members_serve_from_their_copies_and_restart(self):
        self.wait_for_registry(self.c, self.published.revision)
        self.wait_for_registry(self.b, self.published.revision)
        self.a.stop()
        try:
            self.assertEqual(self.benefits_as(ORG_B).Apply(
                benefits_pb2.ApplyRequest(benefit="x"), timeout=TIMEOUT).outcome,
                f"received from {ORG_B}")
            discovery = npb_grpc.DiscoveryStub(self.b.channel)
            self.assertEqual(len(discovery.ListMembers(npb.ListMembersRequest(),
                                                       timeout=TIMEOUT).members), 4)
            # C restarts while the directory is still down: it decides from its copy on disk.
            self.c.stop()
            self.c.start()
            self.assertEqual(self.benefits_as(ORG_B).GetDecision(
                benefits_pb2.GetDecisionRequest(decision_id="after"), timeout=TIMEOUT).outcome,
                f"granted; asked by {ORG_B}")
            loaded = [e for e in self.c.logs() if "registry" in e.get("message", "")]
            self.assertTrue(loaded, "C logged nothing about its registry copy")
        finally:
            self.a.start()
        # The directory is back: C follows it again (a withdrawal reaches C).
        withdrawn = self.registry_as(ORG_C).WithdrawService(
            npb.WithdrawServiceRequest(name=BENEFITS), timeout=TIMEOUT)

        def withdrawn_at_c():
            try:
                self.benefits_as(ORG_B).GetDecision(
                    benefits_pb2.GetDecisionRequest(decision_id="gone"), timeout=5)
                return False
            except grpc.RpcError as error:
                return error.code() == grpc.StatusCode.PERMISSION_DENIED
        eventually(withdrawn_at_c, timeout=15, what="the withdrawal reaching C")
        self.wait_for_registry(self.c, withdrawn.revision)


if __name__ == "__main__":
    unittest.main(verbosity=2)
