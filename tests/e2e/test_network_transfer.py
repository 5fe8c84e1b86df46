"""Session transfer across organisations, and unlinkability across organisations' nodes.

Organisation A's node runs the directory (the network's registry), the profile with the
development identity issuer, and the gateway: the citizen signs in there. Organisation B's node
runs the profile and the gateway; it follows A's directory and trusts A's issuer by its JWKS URL,
as every node trusts the same national identity provider. B describes a service in the directory
whose web channel takes session transfers for B's API client. Every node-to-node call is mutual
TLS with certificates from one network CA; the people and services use the gateways with curl.

Checked:
  * the citizen at A sends consented attributes to B's service. The link names A as where the
    token is held. B's service hands the token to its own node (ReceiveTransfer, through B's
    gateway with its HTTP Basic credentials); B's node redeems it at A's node over mutual TLS,
    with its certificate, and stores the attributes at B only, under a pseudonym of B's own.
    B's service reads them at once. The token is single use, A keeps no transfer record (RocksDB's
    `ldb`), and A's access log tells the person where their attributes went;
  * refused, and using nothing up: another organisation's node (C's certificate) asking A for
    B's transfer, a client of another organisation at B, a malformed token or source, a source
    that is not a member;
  * B restarted: what it received is still there;
  * unlinkability: the same person (the same subject from the same identity provider) also signs
    in at B and consents to B's service there. With both nodes stopped, the two data directories,
    dumped with `ldb` column family by column family, share no identifier but the network's
    public ones (organisations, API clients, services and channels: what A's directory holds),
    and neither holds the person's subject.
"""

import json
import os
import re
import tempfile
import unittest

import aurora_node
from aurora_node import (free_port, http, issue_network, member_credentials, member_node,
                         read_bytes)

import grpc  # noqa: E402  (after aurora_node, which puts the generated modules on sys.path)
from aurora.directory.v1 import directory_pb2 as dpb  # noqa: E402
from aurora.directory.v1 import directory_pb2_grpc as dpb_grpc  # noqa: E402
from aurora.network.v1 import network_pb2 as npb  # noqa: E402
from aurora.network.v1 import network_pb2_grpc as npb_grpc  # noqa: E402
from aurora.profile.v1 import profile_pb2 as ppb  # noqa: E402
from aurora.profile.v1 import profile_pb2_grpc as ppb_grpc  # noqa: E402

ORG_A = "aaaaaaaa-0000-4000-8000-00000000000a"
ORG_B = "bbbbbbbb-0000-4000-8000-00000000000b"
ORG_C = "cccccccc-0000-4000-8000-00000000000c"  # a member without a node: only its certificate
NOT_A_MEMBER = "eeeeeeee-0000-4000-8000-00000000000e"
B_SERVICE = "b5e00000-0000-4000-8000-0000000000b5"
B_CHANNEL = "b5c00000-0000-4000-8000-0000000000b5"
B_PAGE = "https://etuudet-b.example/hae"
SUBJECT = "010190-987X"  # the person's identifier at the identity provider
TIMEOUT = aurora_node.RPC_TIMEOUT_S
PURPOSE = "session transfer"
# Identifiers a store may hold: UUIDs, and runs of hex digits (hashes, tokens, pseudonyms).
IDENTIFIER = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|"
                        rb"[0-9a-fA-F]{32,}")





def dump(data_dir, family):
    """Every key and value of one column family of a stopped node's RocksDB, as bytes."""
    return aurora_node.ldb_scan(os.path.join(data_dir, "rocksdb"), family)


def identifiers(records):
    found = set()
    for key, value in records:
        for blob in (key, value):
            found.update(match.lower() for match in IDENTIFIER.findall(blob))
    return found


class NetworkTransferTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if aurora_node.LDB is None:
            raise AssertionError("ldb (Debian's rocksdb-tools) is missing: run scripts/setup")
        cls.tmp = tempfile.TemporaryDirectory(prefix="aurora-e2e-transfer-")
        cls.ca, cls.certs = issue_network(cls.tmp.name, (ORG_A, ORG_B, ORG_C), registry=ORG_A,
                                          name="E2E transfer")
        cls.ports = {ORG_A: free_port(), ORG_B: free_port()}
        cls.a = cls.node(ORG_A, ["--components", "directory,profile,gateway", "--dev-issuer"])
        cls.b = None
        try:
            cls.a.start()
            directory = dpb_grpc.DirectoryStub(cls.a.channel)
            for org, name in ((ORG_A, "Kunta A"), (ORG_B, "Kela B"), (ORG_C, "Yhdistys C")):
                directory.RegisterOrganization(dpb.RegisterOrganizationRequest(
                    organization=dpb.Organization(id=org, name={"fi": name})), timeout=TIMEOUT)
            cls.registry_as(ORG_A).SetNodeAddress(npb.SetNodeAddressRequest(
                organization_id=ORG_A, node_address=cls.a.target), timeout=TIMEOUT)
            # A's own service (a chatbot) that the person also uses at A.
            a_client = directory.RegisterApiClient(dpb.RegisterApiClientRequest(
                organization_id=ORG_A, display_name="Kunta A chatbot"), timeout=TIMEOUT)
            cls.a_client_id = a_client.client.client_id

            # Members' calls are admitted once A's registry copy lists them.
            aurora_node.wait_for_members(cls.a.channel, (ORG_A, ORG_B, ORG_C))
            # B, with its own certificate at the directory: its API client and its service,
            # whose channel takes session transfers for that client.
            with grpc.secure_channel(cls.a.target, member_credentials(cls.certs[ORG_B])) as channel:
                b_directory = dpb_grpc.DirectoryStub(channel)
                b_client = b_directory.RegisterApiClient(dpb.RegisterApiClientRequest(
                    organization_id=ORG_B, display_name="Kela B benefits desk"), timeout=TIMEOUT)
                b_directory.CreateService(dpb.CreateServiceRequest(service=dpb.Service(
                    id=B_SERVICE, organization_id=ORG_B, name={"fi": "Asumistuki B"},
                    area_type=dpb.AREA_TYPE_NATIONWIDE, languages=["fi"],
                    channels=[dpb.ServiceChannel(
                        id=B_CHANNEL, type=dpb.CHANNEL_TYPE_ELECTRONIC, name={"fi": "Hae"},
                        urls=[B_PAGE],
                        session_transfer=dpb.SessionTransfer(
                            client_id=b_client.client.client_id,
                            accepted_attributes=["age", "municipality_code"]))])),
                    timeout=TIMEOUT)
            cls.b_client_id = b_client.client.client_id
            cls.b_basic = f"{cls.b_client_id}:{b_client.client_secret}"
            cls.a_basic = f"{cls.a_client_id}:{a_client.client_secret}"

            cls.b = cls.node(ORG_B, [
                "--components", "profile,gateway", "--directory-target", cls.a.target,
                "--token-issuer", "urn:aurora:dev-issuer",
                "--jwks-url", cls.a.http_url("/v1/dev-identity/jwks.json")])
            cls.b.start()
            cls.registry_as(ORG_B).SetNodeAddress(npb.SetNodeAddressRequest(
                organization_id=ORG_B, node_address=cls.b.target), timeout=TIMEOUT)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for node in (cls.b, cls.a):
            if node is not None and node.running:
                node.stop()
        cls.tmp.cleanup()

    @classmethod
    def node(cls, org, args):
        return member_node(os.path.join(cls.tmp.name, f"node-{org[0]}"), cls.ca, cls.certs[org],
                           args, grpc_port=cls.ports[org])

    @classmethod
    def registry_as(cls, org):
        return npb_grpc.NetworkRegistryStub(
            grpc.secure_channel(cls.a.target, member_credentials(cls.certs[org])))

    def call(self, node, method, path, body=None, token=None, basic=None, expect=200):
        status, _, raw = http(method, node.http_url(path), body, token, basic)
        self.assertEqual(status, expect, f"{method} {path}: {raw.decode(errors='replace')}")
        return json.loads(raw) if raw else {}

    def sign_in(self):
        """A token from A's issuer; B trusts it too."""
        return self.call(self.a, "POST", "/v1/dev-identity/token",
                         {"subject": SUBJECT})["access_token"]

    def send_to_b(self, token, attributes=("age", "municipality_code")):
        """The person at A sends their stored attributes to B's channel: the transfer."""
        return self.call(self.a, "POST", "/v1/profile/transfers", {
            "service_channel_id": B_CHANNEL, "attribute_names": list(attributes)}, token=token)

    def receive_at_b(self, access_token, source=ORG_A, basic=None, expect=200):
        return self.call(self.b, "POST", "/v1/profile-access/transfers:receive",
                         {"access_token": access_token, "source_organization_id": source},
                         basic=basic or self.b_basic, expect=expect)

    # -- the tests run in name order; test_3 stops both nodes -----------------------------------

    def test_1_transfer_from_a_to_b_is_redeemed_at_a_and_kept_only_at_b(self):
        token = self.sign_in()
        self.call(self.a, "PATCH", "/v1/profile/attributes", {"attributes": {
            "age": 28, "municipality_code": "564",
            "life_situation_meters": {"housing": [2]}}}, token=token)
        # The person also uses A's own chatbot, under A's pseudonym for them.
        consent = self.call(self.a, "POST", "/v1/profile/consents", {
            "client_id": self.a_client_id, "attributes": ["age"], "purpose": "chat",
            "access": "ACCESS_READ"}, token=token)["consent"]
        type(self).a_pseudonym = consent["user_id"]

        transfer = self.send_to_b(token, ["age", "municipality_code", "life_situation_meters"])
        self.assertEqual(transfer["attributes"], ["age", "municipality_code"])
        self.assertEqual(transfer["client_id"], self.b_client_id)
        self.assertEqual(transfer["source_organization_id"], ORG_A)
        self.assertEqual(transfer["redirect_url"],
                         f"{B_PAGE}?auroraai_access_token={transfer['access_token']}"
                         f"&aurora_transfer_source={ORG_A}")

        received = self.receive_at_b(transfer["access_token"])
        user_id = received["user_id"]
        self.assertRegex(user_id, r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
        self.assertNotEqual(user_id, self.a_pseudonym)
        self.assertEqual(received["source_organization_id"], ORG_A)
        self.assertEqual(received["service_channel_id"], B_CHANNEL)
        self.assertEqual({a["name"]: a["value"] for a in received["attributes"]},
                         {"age": 28, "municipality_code": "564"})
        self.assertEqual(sorted(c["access"] for c in received["consents"]),
                         ["ACCESS_READ", "ACCESS_STORE"])
        self.assertEqual({c["purpose"] for c in received["consents"]}, {PURPOSE})
        # B's service works with it at once, at B.
        read_back = self.call(self.b, "POST", "/v1/profile-access/attributes:read", {
            "user_id": user_id, "attributes": ["age", "municipality_code"],
            "purpose": PURPOSE}, basic=self.b_basic)
        self.assertEqual({a["name"]: a["value"] for a in read_back["attributes"]},
                         {"age": 28, "municipality_code": "564"})
        type(self).received_user_id = user_id

        # Once only: at B again, and at A's node by B's node.
        refused = self.receive_at_b(transfer["access_token"], expect=404)
        self.assertIn(ORG_A, refused["message"])
        self.assertIn("unknown, used or expired", refused["message"])
        # A logged the redemption by B's node; the person sees the transfer in A's access log.
        redeemed = [e for e in self.a.logs()
                    if e.get("message") == "session transfer redeemed by another organisation's node"]
        self.assertEqual([(e["caller_organization"], e["client_id"]) for e in redeemed],
                         [(ORG_B, self.b_client_id)])
        for node in (self.a, self.b):
            with open(node.log_path, encoding="utf-8") as log:
                self.assertNotIn(transfer["access_token"], log.read())
        log = self.call(self.a, "GET", "/v1/profile/access-log", token=token)["entries"]
        self.assertEqual([(e["operation"], e["client_id"]) for e in log][:1],
                         [("transfer", self.b_client_id)])

    def test_2_refusals_use_nothing_up(self):
        token = self.sign_in()
        transfer = self.send_to_b(token, ["age"])
        access_token = transfer["access_token"]

        # Another member's node asking A for B's transfer, naming B's client: refused by A.
        with grpc.secure_channel(self.a.target, member_credentials(self.certs[ORG_C])) as channel:
            with self.assertRaises(grpc.RpcError) as caught:
                ppb_grpc.ProfileAccessStub(channel).RedeemTransfer(ppb.RedeemTransferRequest(
                    access_token=access_token, client_id=self.b_client_id), timeout=TIMEOUT)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertIn(ORG_C, caught.exception.details())
        self.assertIn(ORG_B, caught.exception.details())
        # B's node may not redeem it for A's client either.
        with grpc.secure_channel(self.a.target, member_credentials(self.certs[ORG_B])) as channel:
            with self.assertRaises(grpc.RpcError) as caught:
                ppb_grpc.ProfileAccessStub(channel).RedeemTransfer(ppb.RedeemTransferRequest(
                    access_token=access_token, client_id=self.a_client_id), timeout=TIMEOUT)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.PERMISSION_DENIED)

        # At B: A's client (another organisation's), malformed input, a source not a member.
        refused = self.receive_at_b(access_token, basic=self.a_basic, expect=403)
        self.assertIn(self.a_client_id, refused["message"])
        refused = self.receive_at_b(access_token.upper(), expect=400)
        self.assertIn("access_token", refused["message"])
        self.assertNotIn(access_token.upper(), refused["message"])
        refused = self.receive_at_b(access_token, source="kunta-a", expect=400)
        self.assertIn("source_organization_id", refused["message"])
        self.assertIn("kunta-a", refused["message"])
        refused = self.receive_at_b(access_token, source=NOT_A_MEMBER, expect=400)
        self.assertIn(NOT_A_MEMBER, refused["message"])
        # Held at A, not at B: B's own store does not have it.
        self.receive_at_b(access_token, source="", expect=404)
        self.call(self.b, "POST", "/v1/profile-access/transfers:receive",
                  {"access_token": access_token, "source_organization_id": ORG_A}, expect=401)

        # After all that, B's service still receives it.
        received = self.receive_at_b(access_token)
        self.assertEqual(received["attributes"][0]["value"], 28)
        self.assertNotEqual(received["user_id"], self.received_user_id)

    def test_3_b_keeps_it_across_a_restart_and_the_nodes_share_no_identifier(self):
        self.b.stop()
        self.b.start()
        read_back = self.call(self.b, "POST", "/v1/profile-access/attributes:read", {
            "user_id": self.received_user_id, "attributes": ["age"], "purpose": PURPOSE},
            basic=self.b_basic)
        self.assertEqual(read_back["attributes"][0]["value"], 28)

        # The same person signs in at B (the same identity provider, the same subject) and uses
        # B's service there directly.
        token = self.sign_in()
        self.call(self.b, "PATCH", "/v1/profile/attributes",
                  {"attributes": {"age": 28}}, token=token)
        consent = self.call(self.b, "POST", "/v1/profile/consents", {
            "client_id": self.b_client_id, "attributes": ["age"], "purpose": "benefits",
            "access": "ACCESS_READ"}, token=token)["consent"]
        b_pseudonym = consent["user_id"]
        self.assertNotIn(b_pseudonym, (self.a_pseudonym, self.received_user_id))

        self.b.stop()
        self.a.stop()
        public = identifiers(dump(self.a.data_dir, "directory"))
        self.assertIn(self.b_client_id.encode(), public)
        held = {}
        for node in (self.a, self.b):
            records = [record for family in ("profile", "recommender", "default")
                       for record in dump(node.data_dir, family)]
            self.assertTrue(records, node.data_dir)
            for key, value in records:
                self.assertNotIn(SUBJECT.encode(), key + value)
            held[node] = identifiers(records)
        # The dumps do show pseudonyms: each node holds its own services' ones.
        self.assertIn(self.a_pseudonym.encode(), held[self.a])
        self.assertIn(b_pseudonym.encode(), held[self.b])
        shared = (held[self.a] & held[self.b]) - public
        self.assertEqual(shared, set(), "identifiers held at both A and B")
        # Every pseudonym the services saw stays at its own node.
        self.assertNotIn(self.a_pseudonym.encode(), held[self.b])
        for pseudonym in (b_pseudonym, self.received_user_id):
            self.assertNotIn(pseudonym.encode(), held[self.a])
        # Not even the raw files hold the subject (all of it is sealed or pseudonymous).
        for node in (self.a, self.b):
            for folder, _, files in os.walk(node.data_dir):
                for name in files:
                    self.assertNotIn(SUBJECT.encode(), read_bytes(os.path.join(folder, name)),
                                     os.path.join(folder, name))


if __name__ == "__main__":
    unittest.main(verbosity=2)
