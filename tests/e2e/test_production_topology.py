"""The production topology of k8s/overlays/production as processes on loopback, with the flags the
manifests give.

production_topology.py starts it: every Deployment and StatefulSet that runs `aurora` becomes as
many processes as it has replicas, started with the container's own `args`, with only what a
cluster provides translated (Service names, listen addresses, mounted paths, the identity
provider) and a certificate per TLS Secret from a network CA made for the test.

The test then checks what the topology promises: every process is ready on its probe port
(plaintext gRPC health, as the kubelet asks), the recommender replicas each follow the directory's
change feed and answer the same after the catalogue changes (a service created through the
gateway, then deleted), the gateway serves the directory's and the recommender's routes and keeps
/metrics off its public port, and the organisations' profile nodes join the network.
"""

import json
import tempfile
import unittest
import uuid

from aurora_node import curl, eventually
from production_topology import ProductionTopology, credentials

import grpc  # noqa: E402  (after aurora_node, which puts the generated modules on sys.path)
from aurora.directory.v1 import directory_pb2 as dpb, directory_pb2_grpc as dpb_grpc  # noqa: E402
from aurora.recommender.v1 import recommender_pb2 as rpb  # noqa: E402
from aurora.recommender.v1 import recommender_pb2_grpc as rpb_grpc  # noqa: E402
from health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

TIMEOUT = 30
# The catalogue the directory starts with: a slice of the demo data (imported as an operator
# would, with `aurora import` over mutual TLS).
CATALOGUE_SERVICES = 400
NEW_SERVICE_NAME = "Revontulikuvauksen iltakurssi Inarissa"


class ProductionTopologyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="aurora-e2e-production-")
        cls.topology = ProductionTopology(cls.tmp.name, CATALOGUE_SERVICES)
        try:
            cls.topology.start()
            for name in ("processes", "by_component", "processes_of", "secret_folders", "operator",
                         "organizations", "directory_channel", "operator_credentials"):
                setattr(cls, name, getattr(cls.topology, name))
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
        return cls.topology.stop_all()

    @classmethod
    def first(cls, component):
        return cls.topology.first(component)

    @classmethod
    def replicas(cls, component):
        return cls.topology.replicas(component)

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


if __name__ == "__main__":
    unittest.main(verbosity=2)
