#!/usr/bin/python3
"""A first client of the Aurora Network service directory (aurora.directory.v1.Directory).

Start a demo node in one terminal and run this script in another:

    build/release/aurora serve --demo ../shared/data
    /usr/bin/python3 examples/python/directory_client.py

It walks through the everyday calls: health check, a filtered and paged search, reading one
service, registering an organisation, creating a service and updating it with optimistic
concurrency, and following the change feed.

The Python modules come from the build (<build>/python, generated from protos/). They need
Debian's python3-grpcio, which only /usr/bin/python3 has.
"""

import argparse
import os
import sys
import uuid

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--target", default="127.0.0.1:50051", help="the node's gRPC address")
parser.add_argument("--python-out",
                    default=os.environ.get("AURORA_PYTHON_OUT", "build/release/python"),
                    help="the generated Python modules (default: $AURORA_PYTHON_OUT or "
                         "build/release/python)")
parser.add_argument("--page-size", type=int, default=20)
parser.add_argument("--max-pages", type=int, default=3, help="stop listing after this many pages")
args = parser.parse_args()

sys.path.insert(0, args.python_out)
try:
    import grpc
    from aurora.common.v1 import common_pb2
    from aurora.directory.v1 import directory_pb2 as pb
    from aurora.directory.v1 import directory_pb2_grpc
    from health.v1 import health_pb2, health_pb2_grpc
except ImportError as e:
    sys.exit(f"{e}: run with /usr/bin/python3 and build the project first (see --python-out)")

TIMEOUT = 10  # seconds; give every call a deadline


def name(service):
    """The service's name in English, else Finnish, else Swedish."""
    return service.name.en or service.name.fi or service.name.sv


def main():
    channel = grpc.insecure_channel(args.target)

    # 1. Is the node up? The health service has one status per component.
    health = health_pb2_grpc.HealthStub(channel)
    status = health.Check(health_pb2.HealthCheckRequest(service="aurora.directory.v1.Directory"),
                          timeout=TIMEOUT).status
    print("health:", health_pb2.HealthCheckResponse.ServingStatus.Name(status))
    if status != health_pb2.HealthCheckResponse.SERVING:
        return 1

    directory = directory_pb2_grpc.DirectoryStub(channel)

    # 2. Health and medical care (service class P5 and its subclasses) available in Helsinki
    #    (municipality 091); nationwide services are included unless you say otherwise.
    request = pb.ListServicesRequest(
        area=common_pb2.AreaFilter(municipality_codes=["091"]),
        service_classes=["P5"],
        page=common_pb2.PageRequest(page_size=args.page_size))
    first = None
    for page in range(1, args.max_pages + 1):
        response = directory.ListServices(request, timeout=TIMEOUT)
        print(f"page {page} (directory revision {response.revision}):")
        for service in response.services:
            print(f"  {service.id}  {name(service)}")
            first = first or service
        if not response.next_page_token:
            break
        request.page.page_token = response.next_page_token  # same filter, next page

    # 3. One service by id.
    if first is not None:
        service = directory.GetService(pb.GetServiceRequest(id=first.id), timeout=TIMEOUT)
        print(f"\n{name(service)}: {service.summary.en or service.summary.fi}")
        for service_channel in service.channels:  # how to reach it: web, phone, a place, ...
            print(f"  {pb.ChannelType.Name(service_channel.type)}: "
                  f"{', '.join(service_channel.urls or service_channel.phones)}")

    # 4. Register an organisation (the node assigns an id when you leave it empty) ...
    organization = directory.RegisterOrganization(pb.RegisterOrganizationRequest(
        organization=pb.Organization(name={"fi": "Esimerkkiyhdistys ry",
                                           "en": "Example association"})), timeout=TIMEOUT)
    print(f"\nregistered organisation {organization.id} at revision {organization.revision}")

    # ... and create one of its services. Codes must be in the node's code lists.
    draft = pb.Service(
        id=str(uuid.uuid4()),
        organization_id=organization.id,
        name={"fi": "Vertaistukiryhmä", "en": "Peer support group"},
        summary={"en": "Weekly peer support meetings in Helsinki."},
        service_classes=["P4"],
        area_type=pb.AREA_TYPE_LIMITED,
        municipality_codes=["091"],
        languages=["fi", "en"])
    created = directory.CreateService(pb.CreateServiceRequest(service=draft), timeout=TIMEOUT)
    print(f"created service {created.id} at revision {created.revision}")

    # 5. Update with optimistic concurrency: say which revision you read.
    created.summary.en = "Weekly peer support meetings in Helsinki, also online."
    updated = directory.UpdateService(
        pb.UpdateServiceRequest(service=created, expected_revision=created.revision),
        timeout=TIMEOUT)
    print(f"updated it: revision {created.revision} -> {updated.revision}")

    # Updating from the old revision again fails with ABORTED: someone (here: we) changed it
    # meanwhile. Re-read with GetService and retry.
    try:
        directory.UpdateService(
            pb.UpdateServiceRequest(service=created, expected_revision=created.revision),
            timeout=TIMEOUT)
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.ABORTED:
            raise
        print(f"stale update rejected: {e.code().name}: {e.details()}")

    # 6. The change feed: every change after a revision, then live changes, until we cancel.
    #    Here: our own three changes (organisation, create, update).
    feed = directory.Watch(pb.WatchRequest(after_revision=organization.revision - 1),
                           timeout=TIMEOUT)
    seen = 0
    for response in feed:
        for event in response.events:
            print(f"  revision {event.revision}: {pb.ChangeEvent.Type.Name(event.type)} "
                  f"{event.service_id or event.organization.id}")
            seen += 1
        if seen >= 3:
            feed.cancel()  # a watch stays open until the client cancels
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
