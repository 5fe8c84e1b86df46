"""The citizen's profile through the gateway with the real curl: `aurora serve --dev-issuer`, a
person signs in with the development issuer, stores attributes, consents to a service, the
service reads under that consent with its API client credentials (HTTP Basic), the person reads
the access log, exports everything and erases it all; bad input is refused and stores nothing.
Session transfer to a channel that declares it in the directory: natively and through AuroraAI's
session_attributes paths, single use, only the accepted attributes.
"""

import base64
import json
import os
import tempfile
import unittest

import aurora_node
from aurora_node import AuroraNode, curl, http

import grpc  # noqa: E402  (after aurora_node, which puts the generated modules on sys.path)
from aurora.directory.v1 import directory_pb2 as pb  # noqa: E402
from aurora.directory.v1 import directory_pb2_grpc as pb_grpc  # noqa: E402


def b64url_json(segment):
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


class ProfileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="aurora-e2e-profile-")
        cls.node = AuroraNode(os.path.join(cls.tmp.name, "node"),
                              extra_args=["--dev-issuer"]).start()
        directory = pb_grpc.DirectoryStub(grpc.insecure_channel(cls.node.target))
        organization = directory.RegisterOrganization(pb.RegisterOrganizationRequest(
            organization=pb.Organization(name={"fi": "Testikunta", "en": "Test town"})),
            timeout=aurora_node.RPC_TIMEOUT_S)
        credentials = directory.RegisterApiClient(pb.RegisterApiClientRequest(
            organization_id=organization.id, display_name="Youth services chatbot"),
            timeout=aurora_node.RPC_TIMEOUT_S)
        cls.client_id = credentials.client.client_id
        cls.client_basic = f"{cls.client_id}:{credentials.client_secret}"
        # A service whose first channel takes session transfers (age and meters) for the client.
        cls.transfer_channel = "c4a00000-0000-4000-8000-000000000001"
        cls.plain_channel = "c4a00000-0000-4000-8000-000000000002"
        cls.service_id = "5e500000-0000-4000-8000-000000000001"
        service = pb.Service(
            id=cls.service_id, organization_id=organization.id,
            name={"fi": "Nuorten neuvonta"}, area_type=pb.AREA_TYPE_NATIONWIDE, languages=["fi"],
            channels=[
                pb.ServiceChannel(
                    id=cls.transfer_channel, type=pb.CHANNEL_TYPE_ELECTRONIC,
                    name={"fi": "Chat"}, urls=["https://nuoret.example/aloitus"],
                    session_transfer=pb.SessionTransfer(
                        client_id=cls.client_id,
                        accepted_attributes=["age", "life_situation_meters"])),
                pb.ServiceChannel(id=cls.plain_channel, type=pb.CHANNEL_TYPE_ELECTRONIC,
                                  name={"fi": "Verkkosivu"}, urls=["https://nuoret.example/"])])
        directory.CreateService(pb.CreateServiceRequest(service=service),
                                timeout=aurora_node.RPC_TIMEOUT_S)
        cls.directory = directory
        cls.organization_id = organization.id

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()
        cls.tmp.cleanup()

    def call(self, method, path, body=None, token=None, basic=None, expect=200):
        status, headers, raw = http(method, self.node.http_url(path), body, token, basic)
        self.assertEqual(status, expect, f"{method} {path}: {raw.decode(errors='replace')}")
        return json.loads(raw) if raw and headers.get("content-type", "").startswith(
            ("application/json", "application/jwk-set+json")) else raw

    def sign_in(self, subject):
        token = self.call("POST", "/v1/dev-identity/token", {"subject": subject})
        self.assertEqual(token["token_type"], "Bearer")
        self.assertEqual(token["expires_in"], 900)
        return token["access_token"]

    def test_citizen_flow(self):
        token = self.sign_in("e2e-person-1")
        claims = b64url_json(token.split(".")[1])
        self.assertEqual(claims["sub"], "e2e-person-1")
        self.assertEqual(claims["aud"], "aurora")

        profile = self.call("PATCH", "/v1/profile/attributes", {"attributes": {
            "age": 34, "municipality_code": "091",
            "life_situation_meters": {"health": [3, 5], "housing": [2]}}}, token=token)
        self.assertEqual([a["name"] for a in profile["attributes"]],
                         ["age", "life_situation_meters", "municipality_code"])
        self.assertEqual(profile["attributes"][0]["value"], 34)
        self.assertEqual(profile["attributes"][0]["source"], "user")

        receipt = self.call("POST", "/v1/profile/consents", {
            "client_id": self.client_id, "attributes": ["age", "municipality_code"],
            "purpose": "recommend services", "access": "ACCESS_READ"}, token=token)
        consent = receipt["consent"]
        user_id = consent["user_id"]
        self.assertEqual(receipt["event"], "grant")
        self.assertEqual(receipt["controller_name"], "Testikunta")
        self.assertEqual(consent["client_name"], "Youth services chatbot")
        # The receipt is a JWS whose payload says the same, under the service's pseudonym.
        header, payload, _ = receipt["signed_receipt"].split(".")
        self.assertEqual(b64url_json(header)["alg"], "ES256")
        signed = b64url_json(payload)
        self.assertEqual(signed["receipt_id"], receipt["receipt_id"])
        self.assertEqual(signed["principal"], user_id)
        self.assertNotIn("e2e-person-1", receipt["signed_receipt"])
        keys = self.call("GET", "/v1/profile/receipt-keys")
        self.assertEqual(keys["keys"][0]["kid"], b64url_json(header)["kid"])

        # The service reads with its own credentials, by its pseudonym for the person.
        read = self.call("POST", "/v1/profile-access/attributes:read", {
            "user_id": user_id, "attributes": ["age", "municipality_code"],
            "purpose": "recommend services"}, basic=self.client_basic)
        self.assertEqual({a["name"]: a["value"] for a in read["attributes"]},
                         {"age": 34, "municipality_code": "091"})
        # Not the meters (no consent), not for another purpose, not without credentials.
        for body in ({"user_id": user_id, "attributes": ["life_situation_meters"],
                      "purpose": "recommend services"},
                     {"user_id": user_id, "attributes": ["age"], "purpose": "marketing"}):
            refused = self.call("POST", "/v1/profile-access/attributes:read", body,
                                basic=self.client_basic, expect=403)
            self.assertIn("no live read consent", refused["message"])
        self.call("POST", "/v1/profile-access/attributes:read",
                  {"user_id": user_id, "attributes": ["age"], "purpose": "recommend services"},
                  expect=401)

        log = self.call("GET", "/v1/profile/access-log", token=token)
        self.assertEqual(len(log["entries"]), 1)
        entry = log["entries"][0]
        self.assertEqual(entry["client_name"], "Youth services chatbot")
        self.assertEqual(entry["attributes"], ["age", "municipality_code"])
        self.assertEqual(entry["purpose"], "recommend services")
        self.assertEqual(entry["operation"], "read")

        exported = self.call("GET", "/v1/profile:export", token=token)
        self.assertEqual(len(exported["attributes"]), 3)
        self.assertEqual(exported["services"][0]["user_id"], user_id)
        self.assertEqual(len(exported["consents"]), 1)
        self.assertEqual(len(exported["receipts"]), 1)
        self.assertEqual(len(exported["access_log"]), 1)

        # Withdrawal stops the service at once.
        withdrawn = self.call("POST", f"/v1/profile/consents/{consent['consent_id']}:withdraw",
                              token=token)
        self.assertEqual(withdrawn["event"], "withdrawal")
        self.call("POST", "/v1/profile-access/attributes:read",
                  {"user_id": user_id, "attributes": ["age"], "purpose": "recommend services"},
                  basic=self.client_basic, expect=403)

        erased = self.call("DELETE", "/v1/profile", token=token)
        self.assertGreaterEqual(int(erased["deleted_records"]), 8)
        after = self.call("GET", "/v1/profile", token=token)
        self.assertEqual(after.get("attributes", []), [])
        self.assertEqual(after.get("services", []), [])

    def test_session_transfer_compat(self):
        link = self.call("POST", "/service-recommender/v1/session_attributes", {
            "service_channel_id": self.transfer_channel,
            "session_attributes": {"age": 17, "municipality_code": "091"}},
            basic=self.client_basic).decode()
        prefix = "https://nuoret.example/aloitus?auroraai_access_token="
        self.assertTrue(link.startswith(prefix), link)
        token = link[len(prefix):]
        self.assertRegex(token, "^[0-9a-f]{64}$")
        # The landing page reads it without credentials, as in AuroraAI; only what the channel
        # accepts (not the municipality); once.
        path = f"/service-recommender/v1/session_attributes?access_token={token}"
        self.assertEqual(self.call("GET", path), {"age": 17})
        refused = self.call("GET", path, expect=404)
        self.assertIn("unknown, used or expired", refused["message"])
        self.call("GET", "/service-recommender/v1/session_attributes?access_token=xyz",
                  expect=400)
        self.call("GET", "/service-recommender/v1/session_attributes", expect=400)
        # Through the recommender's click tracking when a recommendation is named.
        tracked = self.call("POST", "/service-recommender/v1/session_attributes", {
            "service_channel_id": self.transfer_channel, "service_id": self.service_id,
            "auroraai_recommendation_id": 12345, "session_attributes": {"age": 30}},
            basic=self.client_basic).decode()
        self.assertTrue(tracked.startswith(self.node.http_url(
            f"/service-recommender/v1/redirect?service_id={self.service_id}"
            f"&service_channel_id={self.transfer_channel}&link_id=0&recommendation_id=12345"
            "&auroraai_access_token=")), tracked)
        # A channel that takes no transfers; credentials are required to send.
        refused = self.call("POST", "/service-recommender/v1/session_attributes", {
            "service_channel_id": self.plain_channel, "session_attributes": {"age": 17}},
            basic=self.client_basic, expect=404)
        self.assertIn("takes no session transfers", refused["message"])
        self.call("POST", "/service-recommender/v1/session_attributes", {
            "service_channel_id": self.transfer_channel, "session_attributes": {"age": 17}},
            expect=401)
        self.call("POST", "/service-recommender/v1/session_attributes", {
            "service_channel_id": self.transfer_channel, "session_attributes": {"age": "17"}},
            basic=self.client_basic, expect=400)

    def test_session_transfer_native(self):
        token = self.sign_in("e2e-person-3")
        self.call("PATCH", "/v1/profile/attributes", {"attributes": {
            "age": 19, "municipality_code": "564",
            "life_situation_meters": {"working_studying": [2]}}}, token=token)
        transfer = self.call("POST", "/v1/profile/transfers", {
            "service_channel_id": self.transfer_channel,
            "attribute_names": ["age", "municipality_code", "life_situation_meters"]},
            token=token)
        self.assertEqual(transfer["attributes"], ["age", "life_situation_meters"])
        self.assertEqual(transfer["client_name"], "Youth services chatbot")
        redeemed = self.call("POST", "/v1/profile-access/transfers:redeem",
                             {"access_token": transfer["access_token"]}, basic=self.client_basic)
        self.assertEqual({a["name"]: a["value"] for a in redeemed["attributes"]},
                         {"age": 19, "life_situation_meters": {"working_studying": [2]}})
        self.call("POST", "/v1/profile-access/transfers:redeem",
                  {"access_token": transfer["access_token"]}, basic=self.client_basic, expect=404)
        log = self.call("GET", "/v1/profile/access-log", token=token)
        self.assertEqual(log["entries"][0]["operation"], "transfer")
        self.assertEqual(log["entries"][0]["attributes"], ["age", "life_situation_meters"])

    def test_a_channel_names_only_its_own_organisations_client(self):
        other = self.directory.RegisterOrganization(pb.RegisterOrganizationRequest(
            organization=pb.Organization(name={"fi": "Toinen"})),
            timeout=aurora_node.RPC_TIMEOUT_S)
        service = pb.Service(
            organization_id=other.id, name={"fi": "Vieras"}, area_type=pb.AREA_TYPE_NATIONWIDE,
            languages=["fi"], channels=[pb.ServiceChannel(
                type=pb.CHANNEL_TYPE_ELECTRONIC, name={"fi": "Chat"}, urls=["https://x.example/"],
                session_transfer=pb.SessionTransfer(client_id=self.client_id,
                                                    accepted_attributes=["age"]))])
        with self.assertRaises(grpc.RpcError) as caught:
            self.directory.CreateService(pb.CreateServiceRequest(service=service),
                                         timeout=aurora_node.RPC_TIMEOUT_S)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("channels[0].session_transfer.client_id", caught.exception.details())

    def test_a_node_trusts_an_identity_provider_by_its_jwks_url(self):
        # A second node takes the first node's development issuer as its identity provider,
        # fetching the keys from its published JWKS (over loopback http).
        jwks_url = self.node.http_url("/v1/dev-identity/jwks.json")
        other = AuroraNode(os.path.join(self.tmp.name, "other"), extra_args=[
            "--token-issuer", "urn:aurora:dev-issuer", "--jwks-url", jwks_url]).start()
        try:
            token = self.sign_in("e2e-person-4")
            status, _, body = curl("-X", "PATCH", other.http_url("/v1/profile/attributes"),
                                   "-H", f"Authorization: Bearer {token}",
                                   "--data-binary", json.dumps({"attributes": {"age": 61}}))
            self.assertEqual(status, 200, body)
            self.assertEqual(json.loads(body)["attributes"][0]["value"], 61)
            # It has no development issuer of its own.
            status, _, _body = curl("-X", "POST", other.http_url("/v1/dev-identity/token"),
                                "--data-binary", json.dumps({"subject": "x"}))
            self.assertEqual(status, 501, _body)
        finally:
            other.stop()

    def test_bad_input_is_refused_and_stores_nothing(self):
        token = self.sign_in("e2e-person-2")
        refused = self.call("PATCH", "/v1/profile/attributes",
                            {"attributes": {"age": 30,
                                            "life_situation_meters": {"health": [11]}}},
                            token=token, expect=400)
        self.assertIn("value.health[0] is 11", refused["message"])
        refused = self.call("PATCH", "/v1/profile/attributes",
                            {"attributes": {"shoe_size": 42}}, token=token, expect=400)
        self.assertIn("shoe_size", refused["message"])
        refused = self.call("PATCH", "/v1/profile/attributes", {"attributes": {"age": "30"}},
                            token=token, expect=400)
        self.assertIn("age", refused["message"])
        self.assertEqual(self.call("GET", "/v1/profile", token=token).get("attributes", []), [])

        self.call("GET", "/v1/profile", expect=401)
        self.call("GET", "/v1/profile", token="not-a-jwt", expect=401)
        header, payload, signature = token.split(".")
        forged = b64url_json(payload)
        forged["sub"] = "someone-else"
        forged_payload = base64.urlsafe_b64encode(
            json.dumps(forged).encode()).decode().rstrip("=")
        refused = self.call("GET", "/v1/profile",
                            token=f"{header}.{forged_payload}.{signature}", expect=401)
        self.assertIn("signature", refused["message"])
        self.call("POST", "/v1/dev-identity/token", {"subject": ""}, expect=400)


if __name__ == "__main__":
    unittest.main(verbosity=2)
