#!/usr/bin/python3
"""Join the Aurora Network as an organisation, from Python, over mutual TLS.

An organisation runs its own node (`aurora serve --directory-target … --tls-…`) and holds the
node certificate the network's CA issued to it (`aurora ca issue`: node.crt, node.key, ca.crt).
With that certificate this program

  (a) sets where the organisation's node answers, in the network registry (at the directory);
  (b) publishes the organisation's gRPC service fi.example.benefits.v1.Benefits with the access
      rights given on the command line (only with --backend: the organisation offers it);
  (c) waits until the organisation's own node has the new registry copy, so that the node
      already enforces the new rights;
  (d) with --call-node/--call-org: lists what the organisation may call at another member's node
      and calls GetDecision there;
  (e) asks the directory's recommender which services fit a person's life situation;
  (f) with --transfer-link/--client-id: receives a session transfer. A person at another
      member's node sent their attributes to a channel of this organisation's service; the link
      the person arrived with names the token and the organisation whose node holds it. The
      organisation's own node redeems it there over mutual TLS and keeps the attributes, under a
      pseudonym of its own for the service's API client, which then reads them back.

Run again, it changes nothing but the rights (publishing replaces the service at its current
revision). examples/node/join_network.mjs does the same from Node.js. For example:

    /usr/bin/python3 examples/python/benefits_backend.py --port 7001 &
    /usr/bin/python3 examples/python/join_network.py --python-out build/release/python \\
        --directory directory.example.fi:50051 --node node.example.fi:50051 \\
        --org 0f6f1c1e-3b4a-4c2d-9e8f-5a6b7c8d9e0f --cert-dir org-a --backend 127.0.0.1:7001 \\
        --open-method GetDecision --allow Apply=5d0c2a7e-1111-4a2b-8c3d-000000000001 \\
        --client-id 3f0e… --transfer-link 'https://…?auroraai_access_token=…&aurora_transfer_source=…'

The Python modules come from the build (<build>/python, generated from protos/ and
examples/protos). They need Debian's python3-grpcio, which only /usr/bin/python3 has.
"""

import argparse
import json
import os
import sys
import time
import urllib.parse

SERVICE = "fi.example.benefits.v1.Benefits"
TIMEOUT = 10  # seconds; every call gets a deadline

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--directory", required=True, metavar="HOST:PORT",
                    help="the gRPC address of the node that runs the directory (the registry)")
parser.add_argument("--node", required=True, metavar="HOST:PORT",
                    help="the organisation's own node, as other members dial it")
parser.add_argument("--org", required=True, metavar="ID",
                    help="the organisation's id in the directory (the one its certificate names)")
parser.add_argument("--cert-dir", required=True, metavar="DIR",
                    help="node.crt, node.key and ca.crt from `aurora ca issue`")
parser.add_argument("--backend", metavar="HOST:PORT",
                    help=f"where the organisation's {SERVICE} backend answers (its node's "
                         "--service-backends): publish the service; without it, (b) and (c) "
                         "are skipped")
parser.add_argument("--open-method", action="append", default=[], metavar="METHOD",
                    help="a method every member may call (repeatable)")
parser.add_argument("--allow", action="append", default=[], metavar="METHOD=ORG",
                    help="a method this organisation may call (repeatable); methods named "
                         "nowhere stay with the provider only")
parser.add_argument("--call-node", metavar="HOST:PORT", help="another member's node to call")
parser.add_argument("--call-org", metavar="ID", help="the organisation of --call-node")
parser.add_argument("--life-situation", default="I lost my job and need money for rent",
                    help="free text in Finnish, Swedish or English")
parser.add_argument("--municipality", default="091",
                    help="the person's home municipality code (default: 091 Helsinki)")
parser.add_argument("--top", type=int, default=5, help="how many recommendations to print")
parser.add_argument("--transfer-link", metavar="URL",
                    help="the link a person arrived with at the organisation's service "
                         "(…?auroraai_access_token=…&aurora_transfer_source=…)")
parser.add_argument("--client-id", metavar="ID",
                    help="the organisation's API client that the transfer channel names")
parser.add_argument("--wait-seconds", type=float, default=30,
                    help="how long (c) waits for the node's registry copy")
parser.add_argument("--python-out",
                    default=os.environ.get("AURORA_PYTHON_OUT", "build/release/python"),
                    help="the generated Python modules (default: $AURORA_PYTHON_OUT or "
                         "build/release/python)")
args = parser.parse_args()
if bool(args.call_node) != bool(args.call_org):
    parser.error("--call-node and --call-org go together")
if bool(args.transfer_link) != bool(args.client_id):
    parser.error("--transfer-link and --client-id go together")

sys.path.insert(0, args.python_out)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benefits_backend.py
try:
    import grpc
    from google.protobuf import json_format
    from aurora.network.v1 import network_pb2 as npb, network_pb2_grpc as npb_grpc
    from aurora.profile.v1 import profile_pb2 as ppb, profile_pb2_grpc as ppb_grpc
    from aurora.recommender.v1 import recommender_pb2 as rpb, recommender_pb2_grpc as rpb_grpc
    from fi.example.benefits.v1 import benefits_pb2, benefits_pb2_grpc
    import benefits_backend  # its descriptor_set(): what the registry needs to know the service
except ImportError as e:
    sys.exit(f"{e}: run with /usr/bin/python3 and build the project first (see --python-out)")


class Failed(Exception):
    """A step that failed for a reason other than a gRPC status."""


def mtls_credentials(cert_dir):
    """The organisation's node certificate: every node takes the caller's organisation from it."""
    files = {}
    for name in ("ca.crt", "node.key", "node.crt"):
        path = os.path.join(cert_dir, name)
        try:
            with open(path, "rb") as f:
                files[name] = f.read()
        except OSError as e:
            raise Failed(f"--cert-dir: cannot read {path}: {e.strerror}") from None
    return grpc.ssl_channel_credentials(root_certificates=files["ca.crt"],
                                        private_key=files["node.key"],
                                        certificate_chain=files["node.crt"])


def requested_rights():
    """--open-method and --allow as the registry's per-method rights (MethodAccess)."""
    rights = {}
    for method in args.open_method:
        rights[method] = npb.AccessRights(open_to_members=True)
    for entry in args.allow:
        method, _, org = entry.partition("=")
        if not method or not org:
            raise Failed(f"--allow {entry!r}: expected METHOD=ORGANISATION_ID")
        if method in args.open_method:
            raise Failed(f"--allow {entry!r}: {method} is already open to every member")
        rights.setdefault(method, npb.AccessRights()).allowed_organizations.append(org)
    return [npb.MethodAccess(method=m, access=a) for m, a in rights.items()]


def describe(access):
    if access.open_to_members:
        return "open to members"
    if access.allowed_organizations:
        return "allowed: " + ", ".join(access.allowed_organizations)
    return "the provider only"


def check_backend():
    """Do not publish a service nobody answers: the node forwards other members' calls to the
    backend over the organisation's private network, in plaintext."""
    backend = grpc.insecure_channel(args.backend)
    try:
        grpc.channel_ready_future(backend).result(timeout=TIMEOUT)
    except grpc.FutureTimeoutError:
        raise Failed(f"--backend {args.backend}: no {SERVICE} backend answers there "
                     f"(start examples/python/benefits_backend.py)") from None
    finally:
        backend.close()


def set_node_address(registry):
    """(a) Other members learn from the registry where to call this organisation."""
    member = registry.SetNodeAddress(npb.SetNodeAddressRequest(
        organization_id=args.org, node_address=args.node), timeout=TIMEOUT)
    print(f"(a) node address of {member.organization_id}: {member.node_address} "
          f"(registry revision {member.revision})")


def publish(registry, directory_discovery, rights):
    """(b) Publishes the service, or replaces it at the revision it has now (idempotent)."""
    # The directory's node has the newest registry; its revision of the service is the one to
    # replace. 0 creates the service (ALREADY_EXISTS if another organisation took the name).
    mine = directory_discovery.ListMemberServices(
        npb.ListMemberServicesRequest(organization_id=args.org), timeout=TIMEOUT).services
    current = next((s.revision for s in mine if s.name == SERVICE), 0)

    published = registry.PublishService(npb.PublishServiceRequest(
        service=npb.NetworkService(
            name=SERVICE, organization_id=args.org, title={"en": "Benefit decisions"},
            descriptor_set=benefits_backend.descriptor_set(),
            method_access=rights),
        expected_revision=current), timeout=TIMEOUT)
    action = f"replaced revision {current}" if current else "created"
    print(f"(b) published {published.name}: revision {published.revision} ({action})")
    granted = {m.method: m.access for m in published.method_access}
    for method in published.methods:
        print(f"    {method}: {describe(granted.get(method, published.access))}")
    return published


def wait_for_own_node(own_discovery, published):
    """(c) Our node enforces the rights from its registry copy: wait until it has this revision."""
    deadline = time.monotonic() + args.wait_seconds
    while True:
        answer = own_discovery.ListMemberServices(
            npb.ListMemberServicesRequest(organization_id=args.org), timeout=TIMEOUT)
        if any(s.name == SERVICE and s.revision >= published.revision for s in answer.services):
            print(f"(c) node {args.node} lists {SERVICE} "
                  f"(registry version {answer.registry_version})")
            return
        if time.monotonic() > deadline:
            raise Failed(f"node {args.node} did not list {SERVICE} revision {published.revision} "
                         f"within {args.wait_seconds:g} s (its registry version is "
                         f"{answer.registry_version}): does it follow the directory "
                         "(--directory-target)?")
        time.sleep(0.2)


def call_member(credentials):
    """(d) Another member's node answers from its own registry copy what we may call there, and
    admits our call only if our organisation (from our certificate) holds the right."""
    with grpc.secure_channel(args.call_node, credentials) as channel:
        allowed = npb_grpc.DiscoveryStub(channel).ListAllowedMethods(
            npb.ListAllowedMethodsRequest(), timeout=TIMEOUT)
        print(f"(d) {allowed.organization_id} may call at {args.call_node} "
              f"(organisation {args.call_org}):")
        for method in allowed.methods:
            if method.organization_id == args.call_org:
                print(f"    {method.path} ({method.grant})")
        decision = benefits_pb2_grpc.BenefitsStub(channel).GetDecision(
            benefits_pb2.GetDecisionRequest(decision_id="example-1"), timeout=TIMEOUT)
        print(f"    GetDecision answered: decision {decision.decision_id}: {decision.outcome}")


def recommend(directory_channel):
    """(e) The recommender ranks every service of the directory for a life situation."""
    answer = rpb_grpc.RecommenderStub(directory_channel).Recommend(rpb.RecommendRequest(
        text=args.life_situation, municipality_code=args.municipality, limit=args.top),
        timeout=TIMEOUT)
    print(f"(e) recommendations for \"{args.life_situation}\" in {args.municipality}:")
    for found in answer.services:
        service = found.service
        name = service.name.en or service.name.fi or service.name.sv
        where = f" at node {found.provider_node_address}" if found.provider_node_address else ""
        print(f"    {found.rank}. {name} [{service.id}]{where}")
    if not answer.services:
        print("    (none)")


def transfer_from_link(link):
    """The token and the organisation whose node holds it, from the link's query."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
    token = query.get("auroraai_access_token", [""])[0]
    if not token:
        raise Failed(f"--transfer-link {link!r}: has no auroraai_access_token")
    # Without aurora_transfer_source the token is held at the organisation's own node.
    return token, query.get("aurora_transfer_source", [""])[0]


def format_value(value):
    """An attribute's value (google.protobuf.Value) as compact JSON; whole numbers without .0."""
    def plain(v):
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v
    return json.dumps(plain(json_format.MessageToDict(value)), separators=(",", ":"),
                      ensure_ascii=False)


def receive_transfer(own_node, token, source):
    """(f) The service's own node redeems the token where it is held and keeps what it carried.

    The node takes the organisation from the certificate; the API client the transfer is for is
    named in x-aurora-client-id (the node believes it only from its own organisation)."""
    as_client = (("x-aurora-client-id", args.client_id),)
    access = ppb_grpc.ProfileAccessStub(own_node)
    received = access.ReceiveTransfer(ppb.ReceiveTransferRequest(
        access_token=token, source_organization_id=source), timeout=TIMEOUT, metadata=as_client)
    print(f"(f) received a session transfer from organisation "
          f"{received.source_organization_id or args.org} for client {args.client_id}:")
    print(f"    person {received.user_id} at {args.node}")
    for attribute in received.attributes:
        print(f"    {attribute.name} = {format_value(attribute.value)}")
    # It came with a read and a store consent of the person to the client, for one purpose.
    purpose = received.consents[0].purpose
    read = access.ReadAttributes(ppb.ReadAttributesRequest(
        user_id=received.user_id, attributes=[a.name for a in received.attributes],
        purpose=purpose), timeout=TIMEOUT, metadata=as_client)
    print(f"    read back at {args.node} for \"{purpose}\": "
          + ", ".join(f"{a.name} = {format_value(a.value)}" for a in read.attributes))


def main():
    credentials = mtls_credentials(args.cert_dir)
    rights = requested_rights()  # checked before anything changes
    transfer = transfer_from_link(args.transfer_link) if args.transfer_link else None
    if args.backend:
        check_backend()
    step = "?"
    try:
        with grpc.secure_channel(args.directory, credentials) as directory, \
                grpc.secure_channel(args.node, credentials) as own_node:
            registry = npb_grpc.NetworkRegistryStub(directory)
            step = "(a) SetNodeAddress"
            set_node_address(registry)
            if args.backend:
                step = "(b) PublishService"
                published = publish(registry, npb_grpc.DiscoveryStub(directory), rights)
                step = "(c) Discovery at the own node"
                wait_for_own_node(npb_grpc.DiscoveryStub(own_node), published)
            if args.call_node:
                step = f"(d) calling {args.call_node}"
                call_member(credentials)
            step = "(e) Recommend"
            recommend(directory)
            if transfer:
                step = "(f) ReceiveTransfer"
                receive_transfer(own_node, *transfer)
    except grpc.RpcError as e:
        print(f"error: {step}: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
