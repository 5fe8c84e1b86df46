"""Acknowledged writes survive `kill -9`, and revisions continue without gaps after a restart.

Each round: several threads create, update and delete services as fast as they can (each thread
owns the services it creates, so the expected final state of every service follows from that
thread's acknowledged results); the node is SIGKILLed while calls are in flight and restarted on
the same data dir. Then:
  * every acknowledged create/update is present with exactly the acknowledged revision and
    content, every acknowledged delete is absent; the one call per thread that was in flight may
    have happened or not, but nothing else;
  * Watch(after_revision=0) replays revisions 1..N exactly once each, N >= every acknowledged
    revision, each acknowledged revision carries the acknowledged change, and the only changes
    nobody acknowledged are the calls that were in flight;
  * the replayed log and the live services agree;
  * new writes get N+1, N+2, N+3.
"""

import os
import tempfile
import threading
import time
import unittest
import uuid

import aurora_node
from aurora_node import AuroraNode, pb
import grpc

# Crash rounds whose kill hit writes in flight; a round whose kill happened to fall between
# calls (possible on a loaded machine) is repeated, up to MAX_ROUNDS in all.
ROUNDS = 2
MAX_ROUNDS = 6
WRITER_THREADS = 3
WRITE_SECONDS = 2.0
MIN_ACKS_PER_ROUND = 60
CALL_TIMEOUT_S = 10


def make_service(service_id, organization_id, name):
    return pb.Service(
        id=service_id,
        organization_id=organization_id,
        name={"fi": name, "en": name},
        summary={"fi": "Kaatumistestin palvelu."},
        area_type=pb.AREA_TYPE_LIMITED,
        municipality_codes=["091"],
        languages=["fi"],
    )


class Writer(threading.Thread):
    """Creates, updates and (every third service) deletes its own services until stopped.

    acks: (kind, service_id, revision, name) of every acknowledged call, in order.
    pending: (kind, service_id, name) of the call in flight, or None.
    """

    def __init__(self, number, stub, organization_id, killed, stop):
        super().__init__(name=f"writer-{number}", daemon=True)
        self.number = number
        self.stub = stub
        self.organization_id = organization_id
        self.killed = killed
        self.stop = stop
        self.acks = []
        self.pending = None
        self.pending_sent_at = 0.0  # time.monotonic() when the call in flight was sent
        self.unexpected_errors = []

    def _call(self, kind, service_id, name, fn):
        self.pending = (kind, service_id, name)
        self.pending_sent_at = time.monotonic()
        try:
            revision = fn()
        except (grpc.RpcError, ValueError) as e:  # ValueError: the channel was closed
            if not self.killed.is_set():
                self.unexpected_errors.append(f"{kind} {service_id}: {e!r}")
                self.pending = None
            return None  # after the kill: the outcome of `pending` is unknown
        self.acks.append((kind, service_id, revision, name))
        self.pending = None
        return revision

    def run(self):
        stub, timeout = self.stub, CALL_TIMEOUT_S
        for i in range(1_000_000):
            if self.stop.is_set():
                return
            sid = str(uuid.uuid4())
            name = f"Kaatumistesti {self.number}-{i} v1"
            service = make_service(sid, self.organization_id, name)
            revision = self._call("create", sid, name, lambda: stub.CreateService(
                pb.CreateServiceRequest(service=service), timeout=timeout).revision)
            if revision is None:
                return
            service.name.fi = name = f"Kaatumistesti {self.number}-{i} v2"
            prior = revision
            revision = self._call("update", sid, name, lambda: stub.UpdateService(
                pb.UpdateServiceRequest(service=service, expected_revision=prior),
                timeout=timeout).revision)
            if revision is None:
                return
            if i % 3 == 0:
                prior = revision
                if self._call("delete", sid, None, lambda: stub.DeleteService(
                        pb.DeleteServiceRequest(id=sid, expected_revision=prior),
                        timeout=timeout).revision) is None:
                    return


class CrashRecoveryTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="aurora-e2e-crash-")
        self.addCleanup(self.tmp.cleanup)
        self.node = AuroraNode(os.path.join(self.tmp.name, "data"))
        self.addCleanup(self.node.close)
        # service id -> ("live", revision, name, create_revision) | ("deleted", revision)
        self.expected = {}
        self.acked_revisions = {}  # revision -> (kind, service_id, name)
        self.unacknowledged_commits = 0  # calls in flight at a kill that turned out committed

    def record_ack(self, kind, sid, revision, name):
        self.assertNotIn(revision, self.acked_revisions,
                         f"two acknowledged writes got revision {revision}")
        self.acked_revisions[revision] = (kind, sid, name)
        if kind == "create":
            self.expected[sid] = ("live", revision, name, revision)
        elif kind == "update":
            self.assertEqual(self.expected[sid][0], "live")
            self.expected[sid] = ("live", revision, name, self.expected[sid][3])
        else:
            self.expected[sid] = ("deleted", revision)

    def get_service(self, stub, sid):
        try:
            return stub.GetService(pb.GetServiceRequest(id=sid), timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as e:
            self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND, f"GetService {sid}: {e}")
            return None

    def run_writers_and_kill(self, stub, organization_id):
        """Writes from several threads, SIGKILLs the node mid-write; returns the in-flight calls."""
        killed, stop = threading.Event(), threading.Event()
        writers = [Writer(n, stub, organization_id, killed, stop) for n in range(WRITER_THREADS)]
        for w in writers:
            w.start()
        started = time.monotonic()
        deadline = started + 60
        while time.monotonic() < deadline:
            # Polls the writers' progress; the node is killed in the middle of their writes.
            if (time.monotonic() - started >= WRITE_SECONDS and
                    sum(len(w.acks) for w in writers) >= MIN_ACKS_PER_ROUND):
                break
            if not all(w.is_alive() for w in writers):
                break
            stop.wait(0.05)
        alive = [w.name for w in writers if w.is_alive()]
        killed.set()
        kill_at = self.node.kill()
        stop.set()
        for w in writers:
            w.join(timeout=CALL_TIMEOUT_S + 20)
            self.assertFalse(w.is_alive(), f"{w.name} did not end after the kill")
        for w in writers:
            self.assertEqual(w.unexpected_errors, [], f"{w.name} failed before the kill")
        self.assertEqual(len(alive), WRITER_THREADS, "every writer was still writing at the kill")
        acks = sum(len(w.acks) for w in writers)
        self.assertGreaterEqual(acks, MIN_ACKS_PER_ROUND, "too few writes before the kill")
        for w in writers:
            # A thread's acknowledged revisions increase (its calls are sequential).
            revisions = [a[2] for a in w.acks]
            self.assertEqual(revisions, sorted(revisions), f"{w.name}: revisions went backwards")
            for kind, sid, revision, name in w.acks:
                self.record_ack(kind, sid, revision, name)
        in_flight = [w.pending for w in writers if w.pending is not None]
        # Writers loop without pause, so they are almost always blocked in a call. A call sent
        # before SIGKILL that got no answer was in flight when the node died.
        sent_before_kill = sum(1 for w in writers if w.pending and w.pending_sent_at < kill_at)
        return in_flight, acks, sent_before_kill

    def verify_after_restart(self, stub, in_flight):
        """Checks the recovered state against the acknowledged writes; returns N."""
        n = int(self.node.serving_entry["revision"])
        self.assertEqual(aurora_node.current_revision(stub), n)
        max_acked = max(self.acked_revisions)
        self.assertGreaterEqual(n, max_acked, "an acknowledged revision was lost")

        # 1. Every service: exactly as acknowledged, unless a call on it was in flight.
        uncertain = {sid: (kind, name) for kind, sid, name in in_flight}
        for sid, state in self.expected.items():
            got = self.get_service(stub, sid)
            if sid in uncertain:
                continue
            if state[0] == "deleted":
                self.assertIsNone(got, f"acknowledged delete of {sid} (r{state[1]}) undone")
            else:
                self.assertIsNotNone(got, f"acknowledged write of {sid} (r{state[1]}) lost")
                self.assertEqual(got.revision, state[1], f"{sid}: wrong revision")
                self.assertEqual(got.name.fi, state[2], f"{sid}: wrong content")
                self.assertEqual(got.create_revision, state[3], f"{sid}: wrong create_revision")
        for sid, (kind, name) in uncertain.items():
            got = self.get_service(stub, sid)
            before = self.expected.get(sid)
            if kind == "create":
                self.assertIsNone(before)
                if got is not None:  # the create was committed but not acknowledged
                    self.assertEqual(got.name.fi, name)
                    self.assertGreater(got.revision, 0)
                    self.record_ack("create", sid, got.revision, name)
                    self.unacknowledged_commits += 1
            elif kind == "update":
                self.assertIsNotNone(got, f"{sid} vanished while an update was in flight")
                if got.revision == before[1]:
                    self.assertEqual(got.name.fi, before[2])
                else:
                    self.assertGreater(got.revision, before[1])
                    self.assertEqual(got.name.fi, name)
                    self.record_ack("update", sid, got.revision, name)
                    self.unacknowledged_commits += 1
            else:  # delete
                if got is not None:
                    self.assertEqual((got.revision, got.name.fi), (before[1], before[2]))
                else:
                    self.expected[sid] = ("deleted", None)  # revision: from the log below

        # 2. The change log: revisions 1..N, each once; acknowledged ones carry their change.
        responses = aurora_node.watch_until(stub, pb.WatchRequest(after_revision=0), n)
        events = [e for r in responses for e in r.events]
        revisions = [e.revision for e in events]
        self.assertEqual(revisions, list(range(1, n + 1)),
                         "the change log has gaps, duplicates or is out of order")
        self.assertEqual(events[0].type, pb.ChangeEvent.TYPE_ORGANIZATION_PUT)
        for revision, (kind, sid, name) in self.acked_revisions.items():
            event = events[revision - 1]
            self.assertEqual(event.service_id if kind != "organization" else event.organization.id,
                             sid, f"r{revision} is not the acknowledged change")
            if kind in ("create", "update"):
                self.assertEqual(event.type, pb.ChangeEvent.TYPE_SERVICE_PUT)
                self.assertEqual(event.service.name.fi, name)
            elif kind == "delete":
                self.assertEqual(event.type, pb.ChangeEvent.TYPE_SERVICE_DELETE)
        unacknowledged = [e for e in events if e.revision not in self.acked_revisions]
        # Only an in-flight delete can have been committed without our knowing its revision.
        for e in unacknowledged:
            self.assertEqual(e.type, pb.ChangeEvent.TYPE_SERVICE_DELETE,
                             f"unexplained change r{e.revision}: {e}")
            self.assertIn(e.service_id, uncertain)
            self.assertEqual(uncertain[e.service_id][0], "delete")
            self.record_ack("delete", e.service_id, e.revision, None)
            self.unacknowledged_commits += 1
        for sid, state in self.expected.items():
            self.assertIsNotNone(state[1], f"{sid} is gone but the log has no delete for it")

        # 3. Replaying the log gives the live services.
        live = {}
        for e in events:
            if e.type == pb.ChangeEvent.TYPE_SERVICE_PUT:
                live[e.service_id] = e.revision
            elif e.type == pb.ChangeEvent.TYPE_SERVICE_DELETE:
                self.assertIn(e.service_id, live, f"r{e.revision} deletes a service not live")
                del live[e.service_id]
        listed, _, _ = aurora_node.list_all_services(stub)
        self.assertEqual({s.id: s.revision for s in listed}, live)
        self.assertEqual(live, {sid: s[1] for sid, s in self.expected.items() if s[0] == "live"})
        return n

    def test_acknowledged_writes_survive_kill_and_revisions_continue(self):
        node = self.node
        node.start()
        stub = node.directory()
        org_id = str(uuid.uuid4())
        org = stub.RegisterOrganization(pb.RegisterOrganizationRequest(
            organization=pb.Organization(id=org_id, name={"fi": "Kaatumistestin organisaatio"})),
            timeout=CALL_TIMEOUT_S)
        self.assertEqual(org.revision, 1, "revisions start at 1")
        self.acked_revisions[1] = ("organization", org_id, None)

        summary = []
        rounds_hitting_writes = 0
        for round_number in range(1, MAX_ROUNDS + 1):
            if rounds_hitting_writes >= ROUNDS:
                break
            in_flight, acks, sent_before_kill = self.run_writers_and_kill(stub, org_id)
            started = time.monotonic()
            node.start()
            restart_s = time.monotonic() - started
            stub = node.directory()
            n = self.verify_after_restart(stub, in_flight)

            # New writes continue right after N, one revision each.
            sid = str(uuid.uuid4())
            service = make_service(sid, org_id, f"Uusi palvelu kierroksella {round_number}")
            created = stub.CreateService(pb.CreateServiceRequest(service=service),
                                         timeout=CALL_TIMEOUT_S)
            self.assertEqual((created.revision, created.create_revision), (n + 1, n + 1))
            self.record_ack("create", sid, created.revision, service.name.fi)
            service.name.fi += " (muutettu)"
            updated = stub.UpdateService(pb.UpdateServiceRequest(
                service=service, expected_revision=n + 1), timeout=CALL_TIMEOUT_S)
            self.assertEqual(updated.revision, n + 2)
            self.record_ack("update", sid, updated.revision, service.name.fi)
            with self.assertRaises(grpc.RpcError) as stale:
                stub.UpdateService(
                    pb.UpdateServiceRequest(service=service, expected_revision=n + 1),
                    timeout=CALL_TIMEOUT_S)
            self.assertEqual(stale.exception.code(), grpc.StatusCode.ABORTED)
            deleted = stub.DeleteService(pb.DeleteServiceRequest(id=sid), timeout=CALL_TIMEOUT_S)
            self.assertEqual(deleted.revision, n + 3)
            self.record_ack("delete", sid, deleted.revision, None)
            self.assertEqual(aurora_node.current_revision(stub), n + 3)
            rounds_hitting_writes += 1 if sent_before_kill else 0
            summary.append(f"round {round_number}: {acks} acks, {sent_before_kill} in flight at "
                           f"the kill, N={n}, restart {restart_s:.2f} s")

        self.assertGreaterEqual(rounds_hitting_writes, ROUNDS,
                                f"fewer than {ROUNDS} of {MAX_ROUNDS} kills hit a write in flight")
        summary.append(f"in-flight calls found committed after the kills: "
                       f"{self.unacknowledged_commits}")
        node.stop()
        # A clean restart after the crashes keeps everything as well.
        node.start()
        self.verify_after_restart(node.directory(), [])
        node.stop()
        print("\n" + "\n".join(summary))


if __name__ == "__main__":
    unittest.main(verbosity=2)
