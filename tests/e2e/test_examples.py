"""The join-the-network examples, run as an organisation's developer runs them.

examples/python/join_network.py (Debian's grpcio) and examples/node/join_network.mjs
(@grpc/grpc-js with @grpc/proto-loader, installed by scripts/setup) each set their organisation's
node address, publish fi.example.benefits.v1.Benefits with access rights from the command line,
wait for their own node's registry copy, call another member's service, ask the directory's
recommender for services and receive a session transfer from a person at another member's node,
all over mutual TLS with the organisation's node certificate.

The network: A runs the directory, the recommender, the profile (with the development identity
issuer: the people sign in there) and the gateway with the demo catalogue and the registry
certificate; B runs a member node with a profile, C one that forwards Benefits to the example
backend (examples/python/benefits_backend.py). The operator (A) registers the members; B's API
client and its service, whose channel takes session transfers for that client, are set up with
B's certificate as an organisation does once; everything else is done by the examples. A service name is unique in the network, so the provider C
publishes with both examples (the second run replaces the first at its revision) and B, which
offers nothing, calls C with both.

Checked: each example's output, exit code and errors (gRPC code and details, non-zero exit);
the registry afterwards (node addresses, the service with the requested rights, its descriptor
set); the cross-member call answered by the backend as the caller's organisation; the
recommendations are services of the demo catalogue, the same from both examples; the transfer
received at B (the attributes the person sent, read back at B), used once.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import uuid

import aurora_node
from aurora_node import curl, issue_network, member_credentials, member_node, read_bytes

import grpc  # noqa: E402  (after aurora_node, which puts the generated modules on sys.path)
from aurora.directory.v1 import directory_pb2 as dpb  # noqa: E402
from aurora.directory.v1 import directory_pb2_grpc as dpb_grpc  # noqa: E402
from aurora.network.v1 import network_pb2 as npb  # noqa: E402
from aurora.network.v1 import network_pb2_grpc as npb_grpc  # noqa: E402

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")
PYTHON_EXAMPLE = os.path.join(EXAMPLES, "python", "join_network.py")
NODE_EXAMPLE = os.path.join(EXAMPLES, "node", "join_network.mjs")
sys.path.insert(0, os.path.join(EXAMPLES, "python"))
import benefits_backend  # noqa: E402

# google/api/*.proto, which the Node example loads: the build extracts them beside <build>/python.
GOOGLEAPIS = os.path.join(os.path.dirname(os.path.abspath(aurora_node.PYTHON_OUT)), "googleapis")

ORG_A = "aaaaaaaa-0000-4000-8000-00000000000a"
ORG_B = "bbbbbbbb-0000-4000-8000-00000000000b"
ORG_C = "cccccccc-0000-4000-8000-00000000000c"
BENEFITS = "fi.example.benefits.v1.Benefits"
TIMEOUT = aurora_node.RPC_TIMEOUT_S
LIFE_SITUATION = "I lost my job and need money for rent"
HELSINKI = "091"
B_CHANNEL = "b5c00000-0000-4000-8000-0000000000b5"
B_PAGE = "https://etuudet-b.example/hae"




# Catalogue ids that are not UUIDs are imported as name-based (SHA-1) UUIDs of
# "<source>:<id>" in this namespace (src/directory/catalogue_format.h, kCatalogueIdNamespace).
CATALOGUE_ID_NAMESPACE = uuid.UUID("6f0c1a52-3b1e-5c8e-9d27-4a7b2f3e8c10")


def catalogue_names():
    """{service id in the directory: its names} of the demo catalogue."""
    names = {}
    with open(os.path.join(aurora_node.DATA_DIR, "services.ndjson"), encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            try:
                service_id = str(uuid.UUID(record["id"]))
            except ValueError:
                service_id = str(uuid.uuid5(CATALOGUE_ID_NAMESPACE,
                                            f"{record['source']}:{record['id']}"))
            names[service_id] = set((record.get("names") or {}).values())
    return names


def section(output, step):
    """The lines of one step's output: its "(x) …" line and the indented lines after it."""
    lines, inside = [], False
    for line in output.splitlines():
        if line.startswith("("):
            inside = line.startswith(f"({step}) ")
        if inside:
            lines.append(line)
    return lines


class ExamplesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        node_bin = shutil.which("node")
        modules = os.path.join(EXAMPLES, "node", "node_modules", "@grpc", "grpc-js")
        if node_bin is None or not os.path.isdir(modules):
            raise AssertionError("the Node example needs node and examples/node/node_modules: "
                                 "run scripts/setup")
        if not os.path.isfile(os.path.join(GOOGLEAPIS, "google", "api", "annotations.proto")):
            raise AssertionError(f"{GOOGLEAPIS}: no google/api/annotations.proto (configure the "
                                 "build; the Node example loads it)")
        cls.node_bin = node_bin
        cls.tmp = tempfile.TemporaryDirectory(prefix="aurora-e2e-examples-")
        cls.ca, cls.certs = issue_network(cls.tmp.name, (ORG_A, ORG_B, ORG_C), registry=ORG_A,
                                          name="E2E examples")
        # The Node example publishes the descriptor set protoc writes, as a build would.
        cls.descriptor_set = os.path.join(cls.tmp.name, "benefits.pb")
        subprocess.run(["protoc", "-I", os.path.join(EXAMPLES, "protos"), "--include_imports",
                        f"--descriptor_set_out={cls.descriptor_set}",
                        "fi/example/benefits/v1/benefits.proto"],
                       check=True, capture_output=True, timeout=60)

        cls.backend, backend_port = benefits_backend.serve()
        cls.backend_target = f"127.0.0.1:{backend_port}"
        cls.a = cls.b = cls.c = None
        try:
            cls.a = cls.node(ORG_A, ["--components", "directory,recommender,profile,gateway",
                                     "--dev-issuer", "--dictionary-dir", "off",
                                     "--demo", aurora_node.DATA_DIR])
            cls.a.start()
            # The operator (A's own certificate) registers the members; the rest is the examples'.
            directory = dpb_grpc.DirectoryStub(cls.a.channel)
            for org, name in ((ORG_A, "Digivirasto"), (ORG_B, "Kunta B"), (ORG_C, "Kela C")):
                directory.RegisterOrganization(dpb.RegisterOrganizationRequest(
                    organization=dpb.Organization(id=org, name={"fi": name})), timeout=TIMEOUT)
            # Where A's node answers: B's node redeems transfers held there.
            npb_grpc.NetworkRegistryStub(cls.a.channel).SetNodeAddress(npb.SetNodeAddressRequest(
                organization_id=ORG_A, node_address=cls.a.target), timeout=TIMEOUT)
            # Members' calls are admitted once A's registry copy lists them.
            aurora_node.wait_for_members(cls.a.channel, (ORG_A, ORG_B, ORG_C))
            # B's API client, and its service whose channel takes transfers for that client.
            with grpc.secure_channel(cls.a.target, member_credentials(cls.certs[ORG_B])) as channel:
                b_directory = dpb_grpc.DirectoryStub(channel)
                cls.b_client_id = b_directory.RegisterApiClient(dpb.RegisterApiClientRequest(
                    organization_id=ORG_B, display_name="Kunta B benefits desk"),
                    timeout=TIMEOUT).client.client_id
                b_directory.CreateService(dpb.CreateServiceRequest(service=dpb.Service(
                    organization_id=ORG_B, name={"fi": "Toimeentulotuki B"},
                    area_type=dpb.AREA_TYPE_NATIONWIDE, languages=["fi"],
                    channels=[dpb.ServiceChannel(
                        id=B_CHANNEL, type=dpb.CHANNEL_TYPE_ELECTRONIC, name={"fi": "Hae"},
                        urls=[B_PAGE], session_transfer=dpb.SessionTransfer(
                            client_id=cls.b_client_id,
                            accepted_attributes=["age", "municipality_code"]))])),
                    timeout=TIMEOUT)
            follow = ["--components", "gateway", "--directory-target", cls.a.target]
            cls.b = cls.node(ORG_B, ["--components", "profile,gateway",
                                     "--directory-target", cls.a.target]).start()
            cls.c = cls.node(ORG_C, follow + ["--service-backends",
                                              f"{BENEFITS}={cls.backend_target}"]).start()
        except Exception:
            cls.tearDownClass()
            raise
        cls.catalogue = catalogue_names()
        cls.outputs = {}

    @classmethod
    def tearDownClass(cls):
        for node in (cls.c, cls.b, cls.a):
            if node is not None and node.running:
                node.stop()
        cls.backend.stop(None)
        cls.tmp.cleanup()

    @classmethod
    def node(cls, org, args):
        return member_node(os.path.join(cls.tmp.name, f"node-{org[0]}"), cls.ca, cls.certs[org],
                           args)

    # -- running the examples ---------------------------------------------------------------------

    def common_args(self, org, node):
        return ["--directory", self.a.target, "--node", node.target, "--org", org,
                "--cert-dir", self.certs[org], "--life-situation", LIFE_SITUATION,
                "--municipality", HELSINKI]

    def run_example(self, command, expect_ok=True):
        env = aurora_node.child_env()
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ in examples/python
        done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=60, check=False)
        if expect_ok:
            self.assertEqual(done.returncode, 0,
                             f"{' '.join(command)}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}")
        else:
            self.assertNotEqual(done.returncode, 0, f"{' '.join(command)} succeeded:\n"
                                                    f"{done.stdout}")
        return done

    def run_python(self, org, node, *args, expect_ok=True):
        return self.run_example(["/usr/bin/python3", PYTHON_EXAMPLE, "--python-out",
                                 aurora_node.PYTHON_OUT, *self.common_args(org, node), *args],
                                expect_ok)

    def run_node(self, org, node, *args, expect_ok=True):
        return self.run_example([self.node_bin, NODE_EXAMPLE, "--googleapis", GOOGLEAPIS,
                                 *self.common_args(org, node), *args], expect_ok)

    def transfer_link(self, subject, age):
        """A person signs in at A, keeps their age and municipality there, and sends them to B's
        channel: the link they arrive with at B's service."""
        def call(path, body, token=None):
            args = ["-X", "POST", self.a.http_url(path), "-H", "Content-Type: application/json",
                    "--data-binary", json.dumps(body)]
            if token:
                args += ["-H", f"Authorization: Bearer {token}"]
            status, _, raw = curl(*args)
            self.assertEqual(status, 200, raw)
            return json.loads(raw)
        token = call("/v1/dev-identity/token", {"subject": subject})["access_token"]
        status, _, raw = curl("-X", "PATCH", self.a.http_url("/v1/profile/attributes"),
                              "-H", f"Authorization: Bearer {token}", "--data-binary",
                              json.dumps({"attributes": {"age": age, "municipality_code": "091"}}))
        self.assertEqual(status, 200, raw)
        transfer = call("/v1/profile/transfers", {
            "service_channel_id": B_CHANNEL, "attribute_names": ["age", "municipality_code"]},
            token)
        self.assertIn("aurora_transfer_source=" + ORG_A, transfer["redirect_url"])
        return transfer["redirect_url"]

    # -- what they print and leave behind ---------------------------------------------------------

    def registered(self):
        """Benefits as the directory's registry has it now (with its descriptor set)."""
        return npb_grpc.DiscoveryStub(self.a.channel).GetServiceDescription(
            npb.GetServiceDescriptionRequest(name=BENEFITS), timeout=TIMEOUT).service

    def node_address_of(self, org):
        members = npb_grpc.DiscoveryStub(self.a.channel).ListMembers(
            npb.ListMembersRequest(), timeout=TIMEOUT).members
        return {m.organization_id: m.node_address for m in members}[org]

    def check_address_step(self, output, org, node):
        self.assertRegex(output, rf"(?m)^\(a\) node address of {org}: {re.escape(node.target)} "
                                 r"\(registry revision \d+\)$")
        self.assertEqual(self.node_address_of(org), node.target)

    def check_published(self, output, expected_rights, replaced=None):
        """The (b) and (c) steps' output and the registry's record: returns the revision."""
        registered = self.registered()
        action = f"replaced revision {replaced}" if replaced else "created"
        self.assertEqual(section(output, "b"), [
            f"(b) published {BENEFITS}: revision {registered.revision} ({action})",
            *(f"    {method}: {rights}" for method, rights in expected_rights.items())])
        self.assertRegex(output, rf"(?m)^\(c\) node {re.escape(self.c.target)} lists {BENEFITS} "
                                 r"\(registry version \d+\)$")
        self.assertEqual(registered.organization_id, ORG_C)
        self.assertEqual(list(registered.methods), ["GetDecision", "ListDecisions", "Apply"])
        rights = {m.method: m.access for m in registered.method_access}
        for method, described in expected_rights.items():
            access = rights.get(method, npb.AccessRights())
            if described == "open to members":
                self.assertTrue(access.open_to_members, method)
            elif described.startswith("allowed: "):
                self.assertFalse(access.open_to_members, method)
                self.assertEqual(list(access.allowed_organizations),
                                 described[len("allowed: "):].split(", "), method)
            else:
                self.assertEqual(access, npb.AccessRights(), method)
        # C's node already decides from that revision: (c) waited for it.
        at_c = npb_grpc.DiscoveryStub(self.c.channel).ListMemberServices(
            npb.ListMemberServicesRequest(organization_id=ORG_C), timeout=TIMEOUT).services
        self.assertEqual([(s.name, s.revision) for s in at_c], [(BENEFITS, registered.revision)])
        return registered

    def check_recommendations(self, output):
        """(e): real services of the demo catalogue, ranked 1, 2, …; returns the section."""
        lines = section(output, "e")
        self.assertEqual(lines[0], f'(e) recommendations for "{LIFE_SITUATION}" in {HELSINKI}:')
        self.assertGreater(len(lines), 1, output)
        for rank, line in enumerate(lines[1:], start=1):
            match = re.fullmatch(r"    (\d+)\. (.+) \[([0-9a-f-]{36})\]( at node \S+)?", line)
            self.assertIsNotNone(match, line)
            self.assertEqual(int(match.group(1)), rank, line)
            self.assertIn(match.group(3), self.catalogue, f"not a demo service: {line}")
            self.assertIn(match.group(2), self.catalogue[match.group(3)], line)
        return lines

    def check_received(self, output, age):
        """(f) as B: what the person sent, kept at B under B's pseudonym and read back there."""
        lines = section(output, "f")
        self.assertEqual(len(lines), 5, output)
        self.assertEqual(lines[0], f"(f) received a session transfer from organisation {ORG_A} "
                                   f"for client {self.b_client_id}:")
        self.assertRegex(lines[1], rf"^    person [0-9a-f-]{{36}} at {re.escape(self.b.target)}$")
        self.assertEqual(lines[2:], [
            f"    age = {age}", '    municipality_code = "091"',
            f'    read back at {self.b.target} for "session transfer": '
            f'age = {age}, municipality_code = "091"'])

    def check_call(self, output):
        """(d) as B at C's node: the methods B may call there, and the backend's answer."""
        self.assertEqual(section(output, "d"), [
            f"(d) {ORG_B} may call at {self.c.target} (organisation {ORG_C}):",
            f"    /{BENEFITS}/Apply (allow-list)",
            f"    /{BENEFITS}/GetDecision (open to members)",
            f"    /{BENEFITS}/ListDecisions (open to members)",
            # The backend names the caller as C's node saw it: from B's certificate.
            f"    GetDecision answered: decision example-1: granted; asked by {ORG_B}"])

    # -- the tests run in name order: each builds on the registry the one before left ------------

    def test_1_python_example_publishes_for_the_provider(self):
        done = self.run_python(ORG_C, self.c, "--backend", self.backend_target,
                               "--open-method", "GetDecision", "--allow", f"Apply={ORG_B}")
        self.check_address_step(done.stdout, ORG_C, self.c)
        registered = self.check_published(done.stdout, {
            "GetDecision": "open to members", "ListDecisions": "the provider only",
            "Apply": f"allowed: {ORG_B}"})
        self.assertEqual(registered.descriptor_set, benefits_backend.descriptor_set())
        self.assertEqual(section(done.stdout, "d"), [])
        self.check_recommendations(done.stdout)
        type(self).revision = registered.revision

    def test_2_node_example_replaces_it_at_its_revision(self):
        # Opens ListDecisions too and allows Apply to A as well: the rights change, nothing else.
        done = self.run_node(ORG_C, self.c, "--backend", self.backend_target,
                             "--descriptor-set", self.descriptor_set,
                             "--open-method", "GetDecision", "--open-method", "ListDecisions",
                             "--allow", f"Apply={ORG_B}", "--allow", f"Apply={ORG_A}")
        self.check_address_step(done.stdout, ORG_C, self.c)
        registered = self.check_published(done.stdout, {
            "GetDecision": "open to members", "ListDecisions": "open to members",
            "Apply": f"allowed: {ORG_B}, {ORG_A}"}, replaced=self.revision)
        self.assertEqual(registered.descriptor_set, read_bytes(self.descriptor_set))
        self.check_recommendations(done.stdout)
        # Run again, the Python example replaces it at the Node example's revision: idempotent.
        again = self.run_python(ORG_C, self.c, "--backend", self.backend_target,
                                "--open-method", "GetDecision", "--open-method", "ListDecisions",
                                "--allow", f"Apply={ORG_B}", "--allow", f"Apply={ORG_A}")
        self.check_published(again.stdout, {
            "GetDecision": "open to members", "ListDecisions": "open to members",
            "Apply": f"allowed: {ORG_B}, {ORG_A}"}, replaced=registered.revision)

    def test_3_python_example_calls_the_provider_as_another_member(self):
        link = self.transfer_link("e2e-example-person-1", 37)
        done = self.run_python(ORG_B, self.b, "--call-node", self.c.target, "--call-org", ORG_C,
                               "--client-id", self.b_client_id, "--transfer-link", link)
        self.check_address_step(done.stdout, ORG_B, self.b)
        self.assertEqual(section(done.stdout, "b"), [])  # B offers nothing: no --backend
        self.check_call(done.stdout)
        type(self).outputs["python"] = self.check_recommendations(done.stdout)
        self.check_received(done.stdout, 37)
        type(self).used_link = link

    def test_4_node_example_calls_the_provider_as_another_member(self):
        done = self.run_node(ORG_B, self.b, "--call-node", self.c.target, "--call-org", ORG_C,
                             "--client-id", self.b_client_id,
                             "--transfer-link", self.transfer_link("e2e-example-person-2", 52))
        self.check_address_step(done.stdout, ORG_B, self.b)
        self.assertEqual(section(done.stdout, "b"), [])
        self.check_call(done.stdout)
        self.check_received(done.stdout, 52)
        recommendations = self.check_recommendations(done.stdout)
        # The same request at the same catalogue: the same ranking, whatever the client.
        if "python" in self.outputs:
            self.assertEqual(recommendations, self.outputs["python"])

    def test_5_errors_name_the_grpc_code_and_exit_non_zero(self):
        before = self.registered()
        # B may not take over C's service name: the registry says who has it.
        done = self.run_node(ORG_B, self.b, "--backend", self.backend_target,
                             "--descriptor-set", self.descriptor_set,
                             "--open-method", "GetDecision", expect_ok=False)
        self.assertIn("error: (b) PublishService: ALREADY_EXISTS: ", done.stderr)
        self.assertIn(ORG_C, done.stderr)
        # A right for something that is not an organisation id: the field and the value.
        done = self.run_python(ORG_C, self.c, "--backend", self.backend_target,
                               "--allow", "Apply=not-a-uuid", expect_ok=False)
        self.assertRegex(done.stderr, r"error: \(b\) PublishService: INVALID_ARGUMENT: "
                                      r"service\.method_access\[0\]\.access"
                                      r"\.allowed_organizations\[0\]: .*\"not-a-uuid\"")
        # An organisation that is not the certificate's.
        done = self.run_python(ORG_A, self.c, "--cert-dir", self.certs[ORG_C], expect_ok=False)
        self.assertIn("error: (a) SetNodeAddress: PERMISSION_DENIED: ", done.stderr)
        # A node that does not offer the service refuses the call before anything sees it.
        done = self.run_node(ORG_C, self.c, "--call-node", self.b.target, "--call-org", ORG_B,
                             expect_ok=False)
        self.assertIn(f"error: (d) calling {self.b.target}: PERMISSION_DENIED: ", done.stderr)
        # Files that are not there, and arguments that do not fit, before anything changes.
        done = self.run_node(ORG_B, self.b, "--cert-dir", os.path.join(self.tmp.name, "none"),
                             expect_ok=False)
        self.assertIn("error: --cert-dir: cannot read ", done.stderr)
        done = self.run_python(ORG_C, self.c, "--backend", self.backend_target,
                               "--open-method", "Apply", "--allow", f"Apply={ORG_B}",
                               expect_ok=False)
        self.assertIn("Apply is already open to every member", done.stderr)
        # A transfer is received once: the link's token is used up at A.
        for run in (self.run_python, self.run_node):
            done = run(ORG_B, self.b, "--client-id", self.b_client_id,
                       "--transfer-link", self.used_link, expect_ok=False)
            self.assertIn("error: (f) ReceiveTransfer: NOT_FOUND: ", done.stderr)
            self.assertIn("unknown, used or expired", done.stderr)
        done = self.run_node(ORG_B, self.b, "--client-id", self.b_client_id,
                             "--transfer-link", B_PAGE, expect_ok=False)
        self.assertIn("has no auroraai_access_token", done.stderr)
        self.assertEqual(self.registered().revision, before.revision)


if __name__ == "__main__":
    unittest.main(verbosity=2)
