"""Faults in the production topology (production_topology.py: k8s/overlays/production as processes
on loopback): `kill -9` of each kind of process under mixed writes, and the directory down.

1. Mixed writers run concurrently the whole time, each logging every write it saw acknowledged
   (and the one it had in flight; a call that failed is "uncertain": it may or may not have
   happened):
     * services created, updated and (every third) deleted directly at the directory over gRPC
       (operator credentials) and through each gateway replica over REST (an API client's HTTP
       Basic credentials);
     * profile attributes (PATCH /v1/profile/attributes with development-issuer tokens) of several
       people at both profile nodes;
     * recommendation feedback at the recommenders: searched at one replica, the feedback given at
       the same replica or at the other one (which forwards it to its peers).
   A writer that gets an error keeps going with new writes; after an uncertain write it leaves
   that service alone, so every object has at most one uncertain write, its last. Errors are
   allowed only while a process the writer uses is down or its clients reconnect (UNAVAILABLE,
   HTTP 502/503, connection refused; NOT_FOUND for feedback forwarded to the replica that holds
   the recommendation while that one is down), timeouts at any time.
   For each kind in turn - the directory, one recommender, one gateway, one profile node - the
   process is SIGKILLed while the writers are writing, restarted in place (same ports, data and
   arguments), the writers that depend on it must get acknowledgements again, and then, writers
   paused:
     * the directory's Watch from revision 0 replays revisions 1..N exactly once each; every
       acknowledged service write is there with its acknowledged revision and content, each
       uncertain one at most once (and only as its service's last change), nothing else after the
       setup; the live services are exactly what the acknowledged writes leave (revision, name,
       create_revision), each id once;
     * every person's attributes are the last acknowledged ones (value and update_time), or a
       later uncertain write's; each attribute once;
     * a service created after the restart reaches both recommender replicas, and their answers'
       `revision` reaches the directory's (their watch streams resumed);
     * after a recommender's kill, it takes feedback on a recommendation it gave just before.
   At the end, with everything stopped cleanly, the recommenders' RocksDB (`ldb`) holds each
   acknowledged feedback exactly once, at the replica that gave the recommendation, and nothing
   but acknowledged or uncertain feedback.
2. The directory down (SIGTERM, exit 0) for ~10 s: the recommenders keep answering Search and
   Recommend at the last revision with the same answers, the profile nodes keep serving profiles
   and their registry copy (Discovery.ListMembers), the gateway keeps serving searches, and every
   one of them stays ready (SERVING on its probe port / GET /readyz 200: readiness is set at start
   and cleared only at shutdown, node.cc; the follower and the registry copy keep serving their
   last state while they reconnect). The directory comes back: a service created then reaches
   both recommenders, an organisation registered then reaches both profile nodes' registry copies.
3. Everything stops cleanly (SIGTERM, exit code 0), and the feedback check above.

The drain of `aurora serve` (the manifests' 10 s, for a load balancer to stop sending) is 1 s
here: nothing balances loopback, and five drains in a row would take most of the time budget.
"""

import collections
import json
import os
import subprocess
import tempfile
import threading
import time
import traceback
import unittest
import uuid

import aurora_node
from aurora_node import LDB, curl, eventually, http, ldb_scan
from production_topology import ProductionTopology, credentials

import grpc  # noqa: E402  (after aurora_node, which puts the generated modules on sys.path)
from aurora.directory.v1 import directory_pb2 as dpb, directory_pb2_grpc as dpb_grpc  # noqa: E402
from aurora.network.v1 import network_pb2, network_pb2_grpc  # noqa: E402
from aurora.recommender.v1 import recommender_pb2 as rpb  # noqa: E402
from aurora.recommender.v1 import recommender_pb2_grpc as rpb_grpc  # noqa: E402
from health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
import test_crash_recovery  # noqa: E402  (make_service; the module, so its test is not run here)

CATALOGUE_SERVICES = 400
CALL_TIMEOUT = 15          # seconds, any one call of a writer or a check
FAILURE_PAUSE = 0.2        # a writer's pause after a failed call
WRITE_SECONDS = 2.0        # writes before each kill, at least...
MIN_ACKS_PER_WRITER = 3    # ... and this many acknowledgements of each writer using the victim
MIN_ACKS_PER_ROUND = 30    # ... and of all writers together
DOWN_SECONDS = 10          # the directory's outage
DRAIN_SECONDS = "1"

# Failures a writer may see while a process it uses is down or reconnecting (from its kill until
# FAULT_GRACE seconds after it is ready again: clients' reconnect backoff); a timeout at any time
# (a loaded machine).
TOLERATED = {"UNAVAILABLE", "CANCELLED", "http 0", "http 502", "http 503"}
TIMEOUTS = {"DEADLINE_EXCEEDED", "http 504"}
FAULT_GRACE = 30
SEARCH_TEXTS = ["kirjasto", "toimeentulotuki", "nuorisotyö", "terveysasema", "päivähoito"]
# Services created by the test itself (one per round), distinctive enough to be the first answer.
PROBE_NAMES = ["Porotilan vierailupäivä Sodankylässä", "Tunturihiihdon opastus Kilpisjärvellä",
               "Kalastuslupien neuvonta Utsjoella", "Saamenkielinen lukupiiri Inarissa",
               "Kelkkasafarien turvallisuuskoulutus Enontekiöllä",
               "Revontulikuvauksen iltakurssi Savukoskella"]
MUNICIPALITIES = ["091", "049", "092", "837", "853", "564", "179", "398"]


def grpc_channel(target, channel_credentials):
    """A channel that reconnects within a second once a restarted process is back, and takes the
    directory's big Watch messages."""
    return grpc.secure_channel(target, channel_credentials, options=[
        ("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
        ("grpc.max_receive_message_length", 256 << 20)])


class Failed(Exception):
    """A call that got no acknowledgement: `code` is a gRPC status name or "http <status>" (0: curl
    could not connect or timed out)."""

    def __init__(self, code, detail=""):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def grpc_call(fn):
    try:
        return fn()
    except grpc.RpcError as e:
        raise Failed(e.code().name, e.details()) from None
    except ValueError as e:  # a closed channel
        raise Failed("CLOSED", str(e)) from None


def http_call(method, url, body=None, token=None, basic=None):
    """curl; the parsed JSON answer, or Failed unless 200."""
    try:
        status, _, raw = http(method, url, body, token, basic, timeout=CALL_TIMEOUT)
    except (AssertionError, subprocess.TimeoutExpired) as e:  # refused, reset: curl's exit code
        raise Failed("http 0", str(e).splitlines()[0][:200]) from None
    if status != 200:
        raise Failed(f"http {status}", raw[:300].decode(errors="replace"))
    return json.loads(raw) if raw else {}


class Writer(threading.Thread):
    """Writes one step at a time while `running` is set (pause(): the call under way finishes
    first). `acks`: the acknowledged writes (dicts, with "acked_at"); `failures`: the writes that
    failed (uncertain), with "code"; `pending`: the write in flight."""

    def __init__(self, name, targets, faults, tolerated=()):
        super().__init__(name=name, daemon=True)
        self.targets = set(targets)  # names of the processes its writes go through
        self.faults = faults  # the test's list of {"name", "down_at", "up_at"} (shared)
        self.tolerated = set(tolerated) | TOLERATED
        self.lock = threading.Lock()
        self.acks, self.failures, self.errors = [], [], []
        self.pending = None
        self.running, self.idle, self.finished = (threading.Event(), threading.Event(),
                                                  threading.Event())

    def run(self):
        try:
            while not self.finished.is_set():
                if not self.running.is_set():
                    self.idle.set()
                    self.running.wait(0.05)
                    continue
                self.step()
        except BaseException:  # a bug in the writer: reported by check_writers
            self.errors.append(traceback.format_exc())
        finally:
            self.idle.set()

    def resume(self):
        self.idle.clear()
        self.running.set()

    def pause(self):
        self.running.clear()

    def attempt(self, op, fn):
        """Runs the write `op` (a dict); its result (a dict) is merged into it. Returns the op
        when acknowledged, else None."""
        op["sent_at"] = time.monotonic()
        with self.lock:
            self.pending = op
        try:
            result = fn()
        except Failed as e:
            op.update(code=e.code, detail=e.detail, ended_at=time.monotonic())
            with self.lock:
                self.failures.append(op)
                self.pending = None
            time.sleep(FAILURE_PAUSE)
            return None
        op.update(result)
        op["acked_at"] = time.monotonic()
        with self.lock:
            self.acks.append(op)
            self.pending = None
        return op

    def acks_since(self, moment):
        with self.lock:
            return sum(1 for a in self.acks if a["sent_at"] >= moment)

    def during_fault(self, failure):
        """Whether the failed call overlaps the outage of a process it goes through."""
        return any(fault["name"] in self.targets and failure["ended_at"] >= fault["down_at"] - 0.5
                   and failure["sent_at"] <= (fault["up_at"] or float("inf")) + FAULT_GRACE
                   for fault in list(self.faults))

    def unexpected_failures(self):
        return [f"{self.name}: {f['kind']} -> {f['code']} {f['detail']}"
                for f in self.failures if not timed_out(f)
                and (f["code"] not in self.tolerated or not self.during_fault(f))]


def timed_out(failure):
    """A call that ran out of time: its deadline, or (on a starved machine, e.g. under the
    sanitizers) a connection whose TLS handshake did not finish within gRPC's connect timeout."""
    return failure["code"] in TIMEOUTS or (
        failure["code"] == "UNAVAILABLE" and "timed out" in failure["detail"])


class ServiceWriter(Writer):
    """Creates a service (client-chosen id), updates it once, deletes every third; abandons a
    service after a failed write. Over gRPC at the directory or over REST at a gateway."""

    def __init__(self, name, targets, faults, organization_id, stub=None, gateway_url=None,
                 basic=None):
        super().__init__(name, targets, faults)
        self.organization_id = organization_id
        self.stub, self.gateway_url, self.basic = stub, gateway_url, basic
        self.number = 0
        self.current = None  # {"sid", "revision", "i", "updated"}

    def service_json(self, sid, name):
        return {"id": sid, "organization_id": self.organization_id,
                "name": {"fi": name, "en": name}, "summary": {"fi": "Vikatestin palvelu."},
                "area_type": "AREA_TYPE_LIMITED", "municipality_codes": ["091"],
                "languages": ["fi"]}

    def create(self, sid, name):
        if self.stub is not None:
            s = grpc_call(lambda: self.stub.CreateService(dpb.CreateServiceRequest(
                service=test_crash_recovery.make_service(sid, self.organization_id, name)),
                timeout=CALL_TIMEOUT))
            return {"revision": s.revision, "create_revision": s.create_revision}
        s = http_call("POST", f"{self.gateway_url}/v1/services", self.service_json(sid, name),
                      basic=self.basic)
        return {"revision": int(s["revision"]), "create_revision": int(s["create_revision"])}

    def update(self, sid, name, prior):
        if self.stub is not None:
            s = grpc_call(lambda: self.stub.UpdateService(dpb.UpdateServiceRequest(
                service=test_crash_recovery.make_service(sid, self.organization_id, name),
                expected_revision=prior), timeout=CALL_TIMEOUT))
            return {"revision": s.revision, "create_revision": s.create_revision}
        s = http_call("PUT", f"{self.gateway_url}/v1/services/{sid}?expected_revision={prior}",
                      self.service_json(sid, name), basic=self.basic)
        return {"revision": int(s["revision"]), "create_revision": int(s["create_revision"])}

    def delete(self, sid, prior):
        if self.stub is not None:
            r = grpc_call(lambda: self.stub.DeleteService(dpb.DeleteServiceRequest(
                id=sid, expected_revision=prior), timeout=CALL_TIMEOUT))
            return {"revision": r.revision}
        r = http_call("DELETE", f"{self.gateway_url}/v1/services/{sid}?expected_revision={prior}",
                      basic=self.basic)
        return {"revision": int(r["revision"])}

    def step(self):
        cur = self.current
        if cur is None:
            i, self.number = self.number, self.number + 1
            sid, name = str(uuid.uuid4()), f"Vikatesti {self.name}-{i} v1"
            done = self.attempt({"kind": "create", "sid": sid, "name": name},
                                lambda: self.create(sid, name))
            if done:
                self.current = {"sid": sid, "revision": done["revision"], "i": i,
                                "updated": False}
            return
        sid = cur["sid"]
        if not cur["updated"]:
            name = f"Vikatesti {self.name}-{cur['i']} v2"
            done = self.attempt({"kind": "update", "sid": sid, "name": name},
                                lambda: self.update(sid, name, cur["revision"]))
            if done:
                cur.update(revision=done["revision"], updated=True)
            else:
                self.current = None
            return
        self.current = None
        if cur["i"] % 3 == 0:
            self.attempt({"kind": "delete", "sid": sid, "name": None},
                         lambda: self.delete(sid, cur["revision"]))


class PersonWriter(Writer):
    """One person's attributes at one profile node, rewritten again and again."""

    def __init__(self, name, node, faults, base_url, token):
        super().__init__(name, {node}, faults)
        self.base_url, self.token = base_url, token
        self.number = 0

    def put(self, age, municipality):
        profile = http_call("PATCH", f"{self.base_url}/v1/profile/attributes",
                            {"attributes": {"age": age, "municipality_code": municipality}},
                            token=self.token)
        attributes = {a["name"]: a for a in profile.get("attributes", [])}
        return {"age_written": attributes["age"]["value"],
                "municipality_written": attributes["municipality_code"]["value"],
                "update_time": attributes["age"]["update_time"]}

    def step(self):
        i, self.number = self.number, self.number + 1
        age, municipality = i % 201, MUNICIPALITIES[i % len(MUNICIPALITIES)]
        self.attempt({"kind": "attributes", "age": age, "municipality": municipality},
                     lambda: self.put(age, municipality))


class FeedbackWriter(Writer):
    """Searches at one replica, gives feedback on one service of the answer at `feedback` (the same
    replica, or the other one, which forwards it to the replica holding the recommendation). One
    feedback per recommendation."""

    def __init__(self, name, search, feedback, faults, channels):
        forwarded = search is not feedback
        # The replica that has the recommendation may be down: its peer then does not find it.
        super().__init__(name, {search.name, feedback.name}, faults,
                         tolerated={"NOT_FOUND"} if forwarded else ())
        self.holder = search.name
        self.search_stub = rpb_grpc.RecommenderStub(channels[search.name])
        self.feedback_stub = rpb_grpc.RecommenderStub(channels[feedback.name])
        self.number = 0
        self.searches_failed = 0

    def record(self, recommendation_id, service_id, score):
        answer = grpc_call(lambda: self.feedback_stub.RecordFeedback(rpb.RecordFeedbackRequest(
            recommendation_id=recommendation_id,
            services=[rpb.ServiceFeedback(service_id=service_id, score=score)]),
            timeout=CALL_TIMEOUT))
        if answer.recorded != 1:
            raise AssertionError(f"recorded {answer.recorded}, not 1")
        return {}

    def step(self):
        i, self.number = self.number, self.number + 1
        text = SEARCH_TEXTS[i % len(SEARCH_TEXTS)]
        sent = time.monotonic()
        try:
            answer = grpc_call(lambda: self.search_stub.Search(
                rpb.SearchRequest(text=text, language="fi", limit=5), timeout=CALL_TIMEOUT))
        except Failed:
            self.searches_failed += 1
            time.sleep(FAILURE_PAUSE)
            return
        if not answer.services:
            # A restarted replica listens before it has loaded the directory's snapshot (its
            # probe says NOT_SERVING until then, so a Service sends it nothing; this writer calls
            # it directly): an empty answer is tolerated only while it is down or restarting.
            ended = time.monotonic()
            if any(fault["name"] == self.holder and ended >= fault["down_at"] - 0.5
                   and sent <= (fault["up_at"] or float("inf")) + FAULT_GRACE
                   for fault in list(self.faults)):
                self.searches_failed += 1
                time.sleep(FAILURE_PAUSE)
                return
            raise AssertionError(f"{text!r}: no answer")
        service_id = answer.services[i % len(answer.services)].service.id
        score = 1 if i % 2 else -1
        self.attempt({"kind": "feedback", "recommendation": answer.recommendation_id,
                      "service_id": service_id, "score": score, "holder": self.holder},
                     lambda: self.record(answer.recommendation_id, service_id, score))


class FaultsTopologyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="aurora-e2e-faults-topology-")
        drain = [f"--drain-seconds={DRAIN_SECONDS}"]
        cls.topology = ProductionTopology(cls.tmp.name, CATALOGUE_SERVICES, extra_args={
            "directory": drain, "recommender": drain, "profile-node": ["--dev-issuer", *drain]})
        cls.started = time.monotonic()
        cls.summary = []
        cls.writers = []
        cls.faults = []  # {"name", "down_at", "up_at"} of every process killed or stopped
        try:
            cls.topology.start()
            cls.summary.append(f"topology started in {time.monotonic() - cls.started:.1f} s")
            cls.set_up_clients()
        except BaseException:
            cls.topology.stop_all()
            cls.tmp.cleanup()
            raise

    @classmethod
    def set_up_clients(cls):
        t = cls.topology
        cls.directory = t.first("directory")
        cls.recommenders = t.replicas("recommender")
        cls.gateways = t.replicas("gateway")
        cls.profile_nodes = [p for w in t.by_component["profile-node"]
                             for p in t.processes_of[w.name]]
        assert len(cls.recommenders) >= 2 and len(cls.gateways) >= 2, "two replicas each"
        assert len(cls.profile_nodes) >= 2, "two profile nodes"
        cls.directory_stub = dpb_grpc.DirectoryStub(grpc_channel(
            f"127.0.0.1:{cls.directory.ports['grpc']}", t.operator_credentials))
        cls.recommender_channels = {p.name: grpc_channel(f"127.0.0.1:{p.ports['grpc']}",
                                                         t.operator_credentials)
                                    for p in cls.recommenders}
        cls.member = next(iter(t.organizations.values()))
        client = cls.directory_stub.RegisterApiClient(dpb.RegisterApiClientRequest(
            organization_id=cls.member, display_name="faults e2e"), timeout=CALL_TIMEOUT)
        cls.basic = f"{client.client.client_id}:{client.client_secret}"
        # People signed in with each profile node's development issuer (its key is in the node's
        # data dir, so the tokens stay valid across a restart; they live 15 minutes).
        cls.people = []
        for node in cls.profile_nodes:
            url = f"http://127.0.0.1:{node.ports['http']}"
            for k in range(2):
                token = http_call("POST", f"{url}/v1/dev-identity/token",
                                  {"subject": f"vikatesti-{node.name}-{k}"})["access_token"]
                cls.people.append((f"person-{node.name}-{k}", node.name, url, token))
        # Service operations of the test itself (the probes), as writers log theirs.
        cls.own_ops = []
        cls.own_feedback = []
        cls.baseline = aurora_node.current_revision(cls.directory_stub)

    @classmethod
    def tearDownClass(cls):
        for w in cls.writers:
            w.finished.set()
            w.running.set()
        for w in cls.writers:
            w.join(timeout=CALL_TIMEOUT + 10)
        codes = cls.topology.stop_all()
        cls.tmp.cleanup()
        print(f"\n{cls.__name__}: " + "\n  ".join(
            cls.summary + [f"total {time.monotonic() - cls.started:.1f} s"]))
        bad = {name: code for name, code in codes.items()
               if code not in (0, None)}
        assert not bad, f"exit codes after SIGTERM: {codes}"

    # -- helpers --------------------------------------------------------------------------------

    def recommender_stub(self, process):
        return rpb_grpc.RecommenderStub(self.recommender_channels[process.name])

    def search(self, process, text, limit=5):
        return self.recommender_stub(process).Search(
            rpb.SearchRequest(text=text, language="fi", limit=limit), timeout=CALL_TIMEOUT)

    def probe_ready(self, process):
        with grpc.insecure_channel(f"127.0.0.1:{process.ports['probe']}") as channel:
            return health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5).status

    def members(self, node):
        folder = self.topology.secret_folders[node.workload.tls_secret]
        with grpc.secure_channel(f"127.0.0.1:{node.ports['grpc']}", credentials(folder)) as ch:
            listed = network_pb2_grpc.DiscoveryStub(ch).ListMembers(
                network_pb2.ListMembersRequest(), timeout=CALL_TIMEOUT)
        return listed.registry_version, {m.organization_id for m in listed.members}

    def service_writers(self):
        return [w for w in self.writers if isinstance(w, ServiceWriter)]

    def pause_writers(self):
        for w in self.writers:
            w.pause()
        for w in self.writers:
            self.assertTrue(w.idle.wait(CALL_TIMEOUT + 20), f"{w.name} did not pause")
            self.assertIsNone(w.pending, f"{w.name} paused with a call in flight")

    def resume_writers(self):
        for w in self.writers:
            w.resume()

    def check_writers(self):
        for w in self.writers:
            self.assertEqual(w.errors, [], f"{w.name} failed")
            self.assertTrue(w.is_alive(), f"{w.name} ended")
            self.assertEqual(w.unexpected_failures(), [],
                             f"{w.name}: failures other than a process being down")

    def create_probe(self, name):
        """A service of the test's own, created at the directory over gRPC; returns its id."""
        sid = str(uuid.uuid4())
        service = test_crash_recovery.make_service(sid, self.topology.operator, name)
        created = self.directory_stub.CreateService(dpb.CreateServiceRequest(service=service),
                                                    timeout=CALL_TIMEOUT)
        self.own_ops.append({"kind": "create", "sid": sid, "name": name,
                             "revision": created.revision,
                             "create_revision": created.create_revision, "acked_at": 0})
        return sid, created.revision

    def assert_recommenders_have(self, sid, name, revision, what):
        """Both replicas answer at `revision` or later with `sid` among the first answers."""
        def found(p):
            answer = self.search(p, name)
            return answer.revision >= revision and sid in [s.service.id for s in answer.services]
        for p in self.recommenders:
            eventually(lambda: found(p), 90,
                       f"{p.name} at revision {revision} finds {name!r} ({what})", [p.check_alive])

    # -- verification ---------------------------------------------------------------------------

    def verify_directory(self, what):
        """The change log and the live services against every service writer's log."""
        stub = self.directory_stub
        n = aurora_node.current_revision(stub)
        responses = aurora_node.watch_until(stub, dpb.WatchRequest(after_revision=0), n,
                                            timeout=120)
        events = [e for r in responses for e in r.events]
        self.assertEqual([e.revision for e in events], list(range(1, n + 1)),
                         f"the change log has gaps, duplicates or is out of order ({what})")
        # Every operation on each service, in order: the writers' and the test's own.
        ops_of = collections.defaultdict(list)
        for w in self.service_writers():
            with w.lock:
                ops = sorted(w.acks + w.failures, key=lambda o: o["sent_at"])
            for op in ops:
                ops_of[op["sid"]].append(op)
        for op in self.own_ops:
            ops_of[op["sid"]].append(op)
        events_of = collections.defaultdict(list)
        for e in events[self.baseline:]:
            if e.type in (dpb.ChangeEvent.TYPE_SERVICE_PUT, dpb.ChangeEvent.TYPE_SERVICE_DELETE):
                self.assertIn(e.service_id, ops_of,
                              f"r{e.revision} changes a service nobody wrote ({what}): {e}")
                events_of[e.service_id].append(e)
        expected_live = {}  # sid -> (revision, name, create_revision)
        uncertain_applied = 0
        for sid, ops in ops_of.items():
            acked = [o for o in ops if "acked_at" in o]
            failed = [o for o in ops if "acked_at" not in o]
            self.assertLessEqual(len(failed), 1, f"{sid}: written after a failure")
            if failed:
                self.assertIs(ops[-1], failed[0], f"{sid}: written after a failure")
            evs = events_of.get(sid, [])
            self.assertIn(len(evs) - len(acked), (0, 1) if failed else (0,),
                          f"{sid}: {len(evs)} changes in the log for {len(acked)} acknowledged and "
                          f"{len(failed)} uncertain writes ({what}): lost or duplicated: "
                          f"{[(e.revision, e.type) for e in evs]} vs {acked + failed}")
            applied = list(zip(acked + failed, evs))
            state = None
            for op, e in applied:
                if "acked_at" in op:
                    self.assertEqual(e.revision, op["revision"],
                                     f"{sid}: the acknowledged {op['kind']} is not at its revision "
                                     f"({what})")
                else:
                    uncertain_applied += 1
                if op["kind"] == "delete":
                    self.assertEqual(e.type, dpb.ChangeEvent.TYPE_SERVICE_DELETE,
                                     f"{sid} r{e.revision}")
                    self.assertIsNotNone(state, f"{sid}: deleted before it was created")
                    state = None
                else:
                    self.assertEqual(e.type, dpb.ChangeEvent.TYPE_SERVICE_PUT,
                                     f"{sid} r{e.revision}")
                    self.assertEqual(e.service.name.fi, op["name"],
                                     f"{sid} r{e.revision}: not the acknowledged content")
                    if op["kind"] == "create":
                        self.assertIsNone(state, f"{sid}: created twice")
                        self.assertEqual(e.service.create_revision, e.revision, f"{sid}")
                        state = (e.revision, op["name"], e.revision)
                    else:
                        self.assertIsNotNone(state, f"{sid}: updated before it was created")
                        state = (e.revision, op["name"], state[2])
                    if "acked_at" in op:
                        self.assertEqual(op["create_revision"], state[2], f"{sid}")
            if state is not None:
                expected_live[sid] = state
        listed, _, _ = aurora_node.list_all_services(stub)
        ids = [s.id for s in listed]
        self.assertEqual(len(ids), len(set(ids)), f"a service is listed twice ({what})")
        live = {s.id: (s.revision, s.name.fi, s.create_revision) for s in listed
                if s.id in ops_of}
        self.assertEqual(live, expected_live,
                         f"the live services are not what the acknowledged writes left ({what})")
        self.assertEqual(len(listed) - len(live), CATALOGUE_SERVICES,
                         f"the imported catalogue changed ({what})")
        return n, uncertain_applied

    def verify_profiles(self, what):
        for w in self.writers:
            if not isinstance(w, PersonWriter):
                continue
            with w.lock:
                acked, failed = list(w.acks), list(w.failures)
            profile = http_call("GET", f"{w.base_url}/v1/profile", token=w.token)
            names = [a["name"] for a in profile.get("attributes", [])]
            self.assertEqual(len(names), len(set(names)), f"{w.name}: an attribute twice ({what})")
            got = {a["name"]: a for a in profile.get("attributes", [])}
            if not acked:
                continue
            last = acked[-1]
            after = [f for f in failed if f["sent_at"] > last["sent_at"]]
            self.assertIn("age", got, f"{w.name}: acknowledged attributes lost ({what})")
            value = (got["age"]["value"], got["municipality_code"]["value"])
            if value == (last["age"], last["municipality"]) and \
                    got["age"]["update_time"] == last["update_time"]:
                continue
            self.assertIn(value, [(f["age"], f["municipality"]) for f in after],
                          f"{w.name}: {value} at {got['age']['update_time']} is neither the last "
                          f"acknowledged write {last} nor a later uncertain one ({what})")
            self.assertGreater(timestamp(got["age"]["update_time"]), timestamp(last["update_time"]),
                               w.name)

    # -- the tests ------------------------------------------------------------------------------

    def test_1_kill_each_process_during_mixed_writes(self):
        t = self.topology
        recommender = self.recommenders[0]
        gateway = self.gateways[0]
        profile_node = self.profile_nodes[0]
        directory_target = {self.directory.name}
        writers = [
            ServiceWriter("grpc0", directory_target, self.faults, t.operator,
                          stub=self.directory_stub),
            ServiceWriter("grpc1", directory_target, self.faults, t.operator,
                          stub=self.directory_stub)]
        for g in self.gateways:
            writers.append(ServiceWriter(
                f"rest-{g.name}", {g.name, self.directory.name}, self.faults, self.member,
                gateway_url=f"http://127.0.0.1:{g.ports['http']}", basic=self.basic))
        for name, node, url, token in self.people:
            writers.append(PersonWriter(name, node, self.faults, url, token))
        for a, b in ((0, 0), (0, 1), (1, 0)):  # search at replica a, feedback at replica b
            writers.append(FeedbackWriter(f"feedback-r{a}-r{b}", self.recommenders[a],
                                          self.recommenders[b], self.faults,
                                          self.recommender_channels))
        type(self).writers = writers
        for w in writers:
            w.start()
        try:
            for number, victim in enumerate([self.directory, recommender, gateway, profile_node]):
                self.kill_round(number, victim)
        finally:
            for w in writers:
                w.pause()
        self.pause_writers()
        self.check_writers()
        failures = collections.Counter(f["code"] for w in writers for f in w.failures)
        acks = collections.Counter(type(w).__name__ for w in writers for _ in w.acks)
        self.summary.append(f"acknowledged writes: {dict(acks)}; failed: {dict(failures)}")

    def kill_round(self, number, victim):
        started = time.monotonic()
        self.resume_writers()
        using = [w for w in self.writers if victim.name in w.targets]
        self.assertTrue(using, f"no writer uses {victim.name}")

        def enough():
            return (time.monotonic() - started >= WRITE_SECONDS
                    and all(w.acks_since(started) >= MIN_ACKS_PER_WRITER for w in using)
                    and sum(w.acks_since(started) for w in self.writers) >= MIN_ACKS_PER_ROUND)
        eventually(enough, 120, f"round {number}: writes before killing {victim.name}",
                   [p.check_alive for p in self.topology.processes] + [self.check_writers])
        # Kill while the writers write (they loop without pause: almost always in a call).
        in_flight = [w.name for w in using if w.pending is not None]
        if victim in self.recommenders:
            # A recommendation given just before the kill takes feedback after the restart.
            given = self.search(victim, "nuorisotyö")
        killed_at = time.monotonic()
        fault = {"name": victim.name, "down_at": killed_at, "up_at": None}
        self.faults.append(fault)
        self.topology.kill(victim)
        # The writers using it fail now and keep going; then it comes back in place.
        time.sleep(1.0)
        restart_started = time.monotonic()
        self.topology.restart(victim)
        restarted = fault["up_at"] = time.monotonic()
        acks_before = sum(len(w.acks) for w in self.writers)
        eventually(lambda: all(w.acks_since(restarted) >= 2 for w in using), 120,
                   f"every writer using {victim.name} acknowledged again after its restart",
                   [self.check_writers])
        component = victim.workload.component
        aurora_node.record_figure(f"kill -9 of the {component}: restart until ready",
                                  restarted - restart_started)
        aurora_node.record_figure(f"kill -9 of the {component}: from the restart until every "
                                  "writer using it had two more writes acknowledged",
                                  time.monotonic() - restarted)
        self.pause_writers()
        self.check_writers()
        failed_at_kill = sum(1 for w in using for f in w.failures
                             if f["sent_at"] <= killed_at <= f["ended_at"])

        # Verification, writers paused.
        if victim in self.recommenders:
            service_id = given.services[0].service.id
            recorded = self.recommender_stub(victim).RecordFeedback(rpb.RecordFeedbackRequest(
                recommendation_id=given.recommendation_id,
                services=[rpb.ServiceFeedback(service_id=service_id, score=1)]),
                timeout=CALL_TIMEOUT)
            self.assertEqual(recorded.recorded, 1, "feedback on a recommendation given before "
                                                   "the kill")
            self.own_feedback.append({"recommendation": given.recommendation_id,
                                      "service_id": service_id, "score": 1,
                                      "holder": victim.name})
        n, uncertain = self.verify_directory(f"after {victim.name} was killed")
        self.verify_profiles(f"after {victim.name} was killed")
        sid, revision = self.create_probe(PROBE_NAMES[number])
        self.assert_recommenders_have(sid, PROBE_NAMES[number], revision,
                                      f"after {victim.name} was killed")
        n_after = aurora_node.current_revision(self.directory_stub)
        for p in self.recommenders:
            eventually(lambda: self.search(p, "kirjasto").revision == n_after, 60,
                       f"{p.name} at the directory's revision {n_after}", [p.check_alive])
        self.summary.append(
            f"round {number} ({victim.name}): {acks_before} acks in all, writers in a call at the "
            f"kill: {in_flight}, of them failed by it: {failed_at_kill}, restart "
            f"{restarted - restart_started:.1f} s, directory at r{n} (uncertain writes found "
            f"committed so far: {uncertain}), round {time.monotonic() - started:.1f} s")

    def test_2_directory_down_nodes_keep_serving_from_their_last_state(self):
        self.pause_writers()  # (test_1 leaves them paused, unless it failed half-way)
        directory = self.directory
        stub = self.directory_stub
        n = aurora_node.current_revision(stub)
        for p in self.recommenders:
            eventually(lambda: self.search(p, "kirjasto").revision == n, 60,
                       f"{p.name} at revision {n}", [p.check_alive])
        answers = {p.name: {text: [s.service.id for s in self.search(p, text, 10).services]
                            for text in SEARCH_TEXTS} for p in self.recommenders}
        people = {}
        for name, node, url, token in self.people:
            people[name] = (url, token, http_call("GET", f"{url}/v1/profile", token=token))
        members = {}
        for node in self.profile_nodes:
            members[node.name] = self.members(node)
            self.assertIn(self.member, members[node.name][1])
        gateway = f"http://127.0.0.1:{self.gateways[0].ports['http']}"

        fault = {"name": directory.name, "down_at": time.monotonic(), "up_at": None}
        self.faults.append(fault)
        code = directory.stop()  # SIGTERM: NOT_SERVING, drain, the watch streams end
        down_at = time.monotonic()
        self.assertEqual(code, 0,
                         f"the directory's exit code after SIGTERM:\n{directory.log_tail()}")
        rounds = 0
        while time.monotonic() - down_at < DOWN_SECONDS or rounds < 3:
            for p in self.recommenders:
                p.check_alive()
                for text in SEARCH_TEXTS:
                    answer = self.search(p, text, 10)
                    self.assertEqual(answer.revision, n, f"{p.name}: revision while the directory "
                                                         "is down")
                    self.assertEqual([s.service.id for s in answer.services], answers[p.name][text],
                                     f"{p.name}: {text!r} answered differently while the "
                                     "directory is down")
                recommended = self.recommender_stub(p).Recommend(rpb.RecommendRequest(
                    text="kirjasto", language="fi", limit=5), timeout=CALL_TIMEOUT)
                self.assertEqual(recommended.revision, n, p.name)
                self.assertTrue(recommended.services, f"{p.name}: Recommend answered nothing")
                self.assertEqual(self.probe_ready(p), health_pb2.HealthCheckResponse.SERVING,
                                 f"{p.name} not ready while the directory is down")
            for node in self.profile_nodes:
                node.check_alive()
                self.assertEqual(self.members(node), members[node.name],
                                 f"{node.name}: registry copy while the directory is down")
                self.assertEqual(self.probe_ready(node), health_pb2.HealthCheckResponse.SERVING,
                                 f"{node.name} not ready while the directory is down")
                status, _, raw = curl(f"http://127.0.0.1:{node.ports['http']}/readyz")
                self.assertEqual(status, 200, f"{node.name} /readyz: {raw}")
            for g in self.gateways:
                status, _, raw = curl(f"http://127.0.0.1:{g.ports['http']}/readyz")
                self.assertEqual(status, 200,
                                 f"{g.name} /readyz while the directory is down: {raw}")
            for name, (url, token, profile) in people.items():
                self.assertEqual(http_call("GET", f"{url}/v1/profile", token=token), profile,
                                 f"{name}'s profile while the directory is down")
            found = http_call("POST", f"{gateway}/v1/search",
                              {"text": "kirjasto", "language": "fi", "limit": 10})
            self.assertEqual([s["service"]["id"] for s in found["services"]],
                             answers[self.recommenders[0].name]["kirjasto"],
                             "the gateway's search while the directory is down")
            rounds += 1
            time.sleep(0.5)
        # The directory's own routes through the gateway: refused as unavailable, not hanging.
        with self.assertRaises(Failed) as refused:
            http_call("GET", f"{gateway}/v1/services/{uuid.uuid4()}")
        self.assertIn(refused.exception.code, ("http 502", "http 503"), refused.exception.detail)
        down_for = time.monotonic() - down_at

        self.topology.restart(directory)
        fault["up_at"] = time.monotonic()
        self.assertEqual(aurora_node.current_revision(stub), n, "the revision after the restart")
        name = PROBE_NAMES[-1]
        sid, revision = self.create_probe(name)
        self.assertEqual(revision, n + 1)
        organization = str(uuid.uuid4())
        stub.RegisterOrganization(dpb.RegisterOrganizationRequest(organization=dpb.Organization(
            id=organization, name={"fi": "Vikatestin uusi kunta"})), timeout=CALL_TIMEOUT)
        resynchronised = time.monotonic()
        self.assert_recommenders_have(sid, name, revision, "after the directory came back")
        for p in self.recommenders:
            eventually(lambda: self.search(p, "kirjasto").revision == n + 2, 60,
                       f"{p.name} at revision {n + 2}", [p.check_alive])
        for node in self.profile_nodes:
            eventually(lambda: organization in self.members(node)[1], 90,
                       f"{node.name}'s registry copy lists the organisation registered after the "
                       "directory came back", [node.check_alive])
        aurora_node.record_figure("directory down, back: from the first write after its restart "
                                  "until both recommenders and both registry copies have it",
                                  time.monotonic() - resynchronised)
        self.verify_directory("after the outage")
        self.summary.append(
            f"outage: {down_for:.1f} s, {rounds} rounds of checks; resynchronised "
            f"{time.monotonic() - resynchronised:.1f} s after the first write")

    def test_3_clean_stop_and_every_acknowledged_feedback_stored_once(self):
        self.assertIsNotNone(LDB, "ldb (Debian's rocksdb-tools) is missing: run scripts/setup")
        self.assertTrue(self.writers, "test_1 ran no writers")
        codes = self.topology.stop_all()
        self.assertEqual({k: v for k, v in codes.items() if v != 0}, {},
                         f"exit codes after SIGTERM: {codes}")
        stored = collections.defaultdict(list)  # recommendation id -> [(replica, service, score)]
        for p in self.recommenders:
            for key, value in ldb_scan(os.path.join(p.folder, "data", "rocksdb"), "recommender"):
                if not key.startswith(b"f/"):
                    continue
                entry = json.loads(value)
                stored[int(key.split(b"/")[1], 16)].append(
                    (p.name, entry["service_id"], entry["score"]))
        acked, uncertain = {op["recommendation"]: op for op in self.own_feedback}, {}
        for w in self.writers:
            if isinstance(w, FeedbackWriter):
                for op in w.acks:
                    acked[op["recommendation"]] = op
                for op in w.failures:
                    uncertain[op["recommendation"]] = op
        self.assertTrue(acked, "no feedback was acknowledged")
        for rec, op in acked.items():
            self.assertEqual(stored.get(rec), [(op["holder"], op["service_id"], op["score"])],
                             f"acknowledged feedback on recommendation {rec} ({op}) is not stored "
                             "exactly once at the replica that recommended")
        for rec, entries in stored.items():
            if rec in acked:
                continue
            self.assertIn(rec, uncertain,
                          f"feedback nobody gave on recommendation {rec}: {entries}")
            op = uncertain[rec]
            self.assertEqual(entries, [(op["holder"], op["service_id"], op["score"])],
                             f"uncertain feedback on {rec}")
        self.summary.append(f"feedback: {len(acked)} acknowledged, all stored once; "
                            f"{sum(1 for r in uncertain if r in stored)} of {len(uncertain)} "
                            "uncertain ones stored")


def timestamp(text):
    """An RFC 3339 UTC timestamp ("2026-12-07T20:59:18.123Z") as a comparable tuple."""
    seconds, _, fraction = text.rstrip("Z").partition(".")
    return seconds, fraction.ljust(9, "0")




if __name__ == "__main__":
    unittest.main(verbosity=2)
