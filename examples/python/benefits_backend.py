"""An organisation's own gRPC service behind its Aurora node: fi.example.benefits.v1.Benefits.

The backend stays on the organisation's private network and speaks plain gRPC; the organisation's
node (`aurora serve --service-backends fi.example.benefits.v1.Benefits=HOST:PORT`) takes the other
members' calls over mutual TLS, admits those the registry's access rights allow, and forwards
them here with the calling organisation in the `x-aurora-organization-id` metadata.

Run it:  /usr/bin/python3 benefits_backend.py --port 7001
(the generated modules of examples/protos must be on PYTHONPATH: <build>/python).
"""

import argparse
import time
from concurrent import futures

import grpc
from google.protobuf import descriptor_pb2, timestamp_pb2

from fi.example.benefits.v1 import benefits_pb2, benefits_pb2_grpc

SERVICE = "fi.example.benefits.v1.Benefits"


def caller_of(context):
    """The calling organisation as the node established it (from the caller's certificate)."""
    return dict(context.invocation_metadata()).get("x-aurora-organization-id", "none")


class Benefits(benefits_pb2_grpc.BenefitsServicer):
    """Decisions are made up: the point is who may ask for them."""

    def GetDecision(self, request, context):
        if not request.decision_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "decision_id: is required")
        return benefits_pb2.Decision(decision_id=request.decision_id,
                                     outcome=f"granted; asked by {caller_of(context)}",
                                     decided_at=timestamp_pb2.Timestamp(seconds=int(time.time())))

    def ListDecisions(self, request, context):
        for number in range(3):
            yield benefits_pb2.Decision(decision_id=f"d-{number}",
                                        outcome=f"listed for {caller_of(context)}")

    def Apply(self, request, context):
        if not request.benefit:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "benefit: is required")
        return benefits_pb2.Decision(decision_id=f"application-{request.benefit}",
                                     outcome=f"received from {caller_of(context)}")


def serve(port=0, host="127.0.0.1"):
    """Starts the backend; returns (server, bound port)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    benefits_pb2_grpc.add_BenefitsServicer_to_server(Benefits(), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    server.start()
    return server, bound


def descriptor_set():
    """The service's FileDescriptorSet with every file it imports, dependencies first: what the
    registry needs to describe the service to other members (PublishService.descriptor_set)."""
    files, seen = [], set()

    def add(file_descriptor):
        if file_descriptor.name in seen:
            return
        seen.add(file_descriptor.name)
        for dependency in file_descriptor.dependencies:
            add(dependency)
        proto = descriptor_pb2.FileDescriptorProto()
        file_descriptor.CopyToProto(proto)
        files.append(proto)

    add(benefits_pb2.DESCRIPTOR)
    return descriptor_pb2.FileDescriptorSet(file=files).SerializeToString()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=7001)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    server, bound = serve(args.port, args.host)
    print(f"{SERVICE} on {args.host}:{bound}", flush=True)
    server.wait_for_termination()
