"""The monitoring in k8s/monitoring/ against a real Prometheus scraping a real node.

A node of a one-organisation network (mutual TLS with its own network CA, so that the
certificate and access-decision metrics exist) runs the demo catalogue with an 18-second
situational-picture window and k = 2. The Debian `prometheus` binary scrapes it every second as
job "aurora" with component "all-in-one" and evaluates the rules extracted from
k8s/monitoring/prometheus-rules.yaml every second. A small mixed load goes through the gateway
with the real curl: recommendations with 3X10D answers, searches (native and compat), feedback,
a redirect click, a profile with a consent, a service read, a session transfer and an erasure,
and a few errors.

Then every rule's expression and every query of every dashboard in k8s/monitoring/dashboards/
is evaluated through Prometheus's HTTP API (/api/v1/query) and must be valid and return data.
Alert conditions are evaluated so that "not firing now" still returns data (see
evaluable()): comparisons outside label matchers become `bool` comparisons, and absent(X)
becomes count(X) (absent is empty exactly when X has data). Every rule must also be healthy in
/api/v1/rules, and every recording rule's series must exist.

Skipped (exit 77) when the `prometheus` binary is not installed.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import aurora_node
from aurora_node import free_port, http, issue_network, member_node

import grpc  # noqa: E402  (after aurora_node, which puts the generated modules on sys.path)
from aurora.directory.v1 import directory_pb2 as pb  # noqa: E402
from aurora.directory.v1 import directory_pb2_grpc as pb_grpc  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "monitoring"))
import aurora_rules  # noqa: E402

DASHBOARDS = os.path.join(ROOT, "k8s", "monitoring", "dashboards")
PROMETHEUS = shutil.which("prometheus")
ORG = "0a0a0a0a-0000-4000-8000-00000000000a"
WINDOW_HOURS = 0.005  # 18 s situational-picture windows
METERS = {"housing": [2], "finance": [1, 3]}

# Grafana variables and what the test puts in their place.
VARIABLES = {"$__rate_interval": "1m", "$__range": "10m", "$namespace": ".*",
             "$component": ".*", "$instance": ".*"}

# Expressions that legitimately return no data on this one-node test, with the reason. Empty:
# every rule and dashboard query returns data here.
NO_DATA_EXPECTED = {}


def evaluable(expr):
    """`expr` made to return data whether or not its condition holds now.

    Comparison operators outside label matchers and strings (==, !=, >, <, >=, <=) get the
    `bool` modifier, so `x > 3` gives 0 or 1 for every series of x instead of filtering; and
    absent(X) / absent_over_time(X) become count(X) / count_over_time(X), which have data
    exactly when the absent() form has none. Grafana's label_values(Q, label) becomes Q."""
    match = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", expr, re.S)
    if match:
        expr = match.group(1)
    expr = re.sub(r"\babsent_over_time\(", "count_over_time(", expr)
    expr = re.sub(r"\babsent\(", "count(", expr)
    out, i, braces, quote = [], 0, 0, None
    while i < len(expr):
        c = expr[i]
        if quote:
            out.append(c)
            if c == "\\" and i + 1 < len(expr):
                out.append(expr[i + 1])
                i += 2
                continue
            if c == quote:
                quote = None
            i += 1
            continue
        if c in "\"'`":
            quote = c
        elif c == "{":
            braces += 1
        elif c == "}":
            braces -= 1
        elif braces == 0:
            op = next((o for o in ("==", "!=", ">=", "<=", ">", "<") if expr.startswith(o, i)),
                      None)
            if op:
                rest = expr[i + len(op):]
                out.append(op if re.match(r"\s*bool\b", rest) else op + " bool")
                i += len(op)
                continue
        out.append(c)
        i += 1
    return "".join(out)


def substitute(expr):
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


def dashboard_queries():
    """(where, expression) for every query of every dashboard: panels and variables."""
    queries = []
    for name in sorted(os.listdir(DASHBOARDS)):
        with open(os.path.join(DASHBOARDS, name), encoding="utf-8") as f:
            dashboard = json.load(f)
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                query = variable["query"]
                query = query["query"] if isinstance(query, dict) else query
                queries.append((f"{name} variable {variable['name']}", query))
        panels = list(dashboard["panels"])
        while panels:
            panel = panels.pop(0)
            panels.extend(panel.get("panels", []))
            for target in panel.get("targets", []):
                queries.append((f"{name} panel {panel['title']!r} {target['refId']}",
                                target["expr"]))
    return queries


class Prometheus:
    """The real prometheus binary on 127.0.0.1, with its own storage in `folder`."""

    def __init__(self, folder, metrics_port, rules_file):
        self.port = free_port()
        config = os.path.join(folder, "prometheus.yml")
        with open(config, "w", encoding="utf-8") as f:
            f.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - {rules_file}
scrape_configs:
  - job_name: aurora
    static_configs:
      - targets: ["127.0.0.1:{metrics_port}"]
        labels:
          component: all-in-one
""")
        self.log_path = os.path.join(folder, "prometheus.log")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [PROMETHEUS, f"--config.file={config}",
                 f"--storage.tsdb.path={os.path.join(folder, 'tsdb')}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"prometheus did not become ready:\n{self.log_tail()}")
                time.sleep(0.2)

    def api(self, path, **params):
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:  # 400 for a bad expression: the body says why
            return json.load(error)

    def query(self, expr):
        return self.api("query", query=expr)

    def has_data(self, expr):
        answer = self.query(expr)
        if answer.get("status") != "success":
            return False, f"{answer.get('errorType')}: {answer.get('error')}"
        data = answer["data"]
        if data["resultType"] in ("scalar", "string"):
            return True, ""
        return bool(data["result"]), "no data"

    def log_tail(self, lines=30):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@unittest.skipIf(PROMETHEUS is None, "prometheus is not installed")
class PrometheusTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="aurora-e2e-prometheus-")
        ca, certs = issue_network(cls.tmp.name, [ORG], registry=ORG)
        cls.node = member_node(
            os.path.join(cls.tmp.name, "node"), ca, certs[ORG],
            args=["--demo", aurora_node.DATA_DIR, "--dev-issuer",
                  "--situation-window-hours", str(WINDOW_HOURS), "--situation-k", "2"])
        cls.prometheus = None
        try:
            cls.node.start()
            cls.rules_file = aurora_rules.extract(os.path.join(cls.tmp.name, "aurora-rules.yaml"))
            cls.prometheus = Prometheus(cls.tmp.name, cls.node.metrics_port, cls.rules_file)
            cls.drive_load()
            cls.wait_for_data()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.prometheus is not None:
            cls.prometheus.stop()
        if cls.node.running:
            cls.node.stop()
        cls.tmp.cleanup()

    # -- load -----------------------------------------------------------------------------------

    @classmethod
    def call(cls, method, path, body=None, token=None, basic=None, expect=200):
        status, headers, raw = http(method, cls.node.http_url(path), body, token, basic)
        assert status == expect, f"{method} {path}: {status} {raw.decode(errors='replace')}"
        if raw and headers.get("content-type", "").startswith("application/json"):
            return json.loads(raw)
        return raw

    @classmethod
    def drive_load(cls):
        with open(os.path.join(cls.node.data_dir, "demo-credentials.json"),
                  encoding="utf-8") as f:
            demo = json.load(f)
        demo_basic = f"{demo['client_id']}:{demo['client_secret']}"

        # Recommendations with 3X10D answers: three in one cell (Oulu, 30-64) so that the cell
        # passes k = 2, one elsewhere; natively and through the compat API. The three go into one
        # window: when less than a third of the current one is left, wait for the next (windows
        # start at multiples of their length since the Unix epoch).
        window = WINDOW_HOURS * 3600
        left = window - time.time() % window
        if left < window / 3:
            time.sleep(left + 0.2)
        answers = [cls.call("POST", "/v1/recommendations", {
            "life_situation_meters": METERS, "age": 36, "municipality_code": "564",
            "limit": 10}) for _ in range(3)]
        cls.call("POST", "/v1/recommendations", {
            "life_situation_meters": {"health": [3]}, "age": 70, "municipality_code": "091"})
        cls.call("POST", "/service-recommender/v1/recommend_service", {
            "life_situation_meters": {"family": [2], "health": [4]}, "limit": 5, "age": 29,
            "service_filters": {"municipality_codes": ["091"]}}, basic=demo_basic)
        found = cls.call("POST", "/v1/search", {"text": "help with debts", "language": "en",
                                                "limit": 20})
        cls.call("POST", "/v1/search", {"text": "zzzqqqxxy"})  # an empty answer
        cls.call("POST", "/service-recommender/v1/text_search",
                 {"search_text": "kalastuslupa", "limit": 3}, basic=demo_basic)

        # Feedback (positive and negative) and a click on a channel link.
        first = answers[0]
        cls.call("POST", f"/v1/recommendations/{first['recommendation_id']}:feedback", {
            "score": 1, "services": [{"service_id": first["services"][0]["service"]["id"],
                                      "score": -1}]})
        clicked = False
        for answer in [found, *answers]:
            for item in answer["services"]:
                channel = next((c for c in item["service"].get("channels", [])
                                if c.get("urls")), None)
                if channel:
                    cls.call("POST", f"/v1/recommendations/{answer['recommendation_id']}:redirect",
                             {"service_id": item["service"]["id"], "channel_id": channel["id"],
                              "link_index": 0})
                    clicked = True
                    break
            if clicked:
                break
        assert clicked, "no recommended service had a channel with a link to click"

        # A few errors: a bad request, an unknown route, feedback on an unknown recommendation.
        cls.call("POST", "/v1/recommendations", {"age": -5}, expect=400)
        cls.call("GET", "/v1/no-such-route", expect=404)
        cls.call("POST", "/v1/recommendations/12345:feedback", {"score": 1}, expect=404)

        # The profile: a client of a new organisation whose channel takes session transfers.
        directory = pb_grpc.DirectoryStub(cls.node.channel)
        organization = directory.RegisterOrganization(pb.RegisterOrganizationRequest(
            organization=pb.Organization(name={"fi": "Testikunta"})),
            timeout=aurora_node.RPC_TIMEOUT_S)
        credentials = directory.RegisterApiClient(pb.RegisterApiClientRequest(
            organization_id=organization.id, display_name="Chatbot"),
            timeout=aurora_node.RPC_TIMEOUT_S)
        client_id = credentials.client.client_id
        client_basic = f"{client_id}:{credentials.client_secret}"
        channel_id = "c4a00000-0000-4000-8000-0000000000a1"
        directory.CreateService(pb.CreateServiceRequest(service=pb.Service(
            id="5e500000-0000-4000-8000-0000000000a1", organization_id=organization.id,
            name={"fi": "Nuorten neuvonta"}, area_type=pb.AREA_TYPE_NATIONWIDE, languages=["fi"],
            channels=[pb.ServiceChannel(
                id=channel_id, type=pb.CHANNEL_TYPE_ELECTRONIC, name={"fi": "Chat"},
                urls=["https://nuoret.example/"],
                session_transfer=pb.SessionTransfer(client_id=client_id,
                                                    accepted_attributes=["age"]))])),
            timeout=aurora_node.RPC_TIMEOUT_S)
        token = cls.call("POST", "/v1/dev-identity/token",
                         {"subject": "e2e-prometheus"})["access_token"]
        cls.call("PATCH", "/v1/profile/attributes", {"attributes": {
            "age": 34, "municipality_code": "091"}}, token=token)
        receipt = cls.call("POST", "/v1/profile/consents", {
            "client_id": client_id, "attributes": ["age"], "purpose": "recommend services",
            "access": "ACCESS_READ"}, token=token)
        user_id = receipt["consent"]["user_id"]
        cls.call("POST", "/v1/profile-access/attributes:read", {
            "user_id": user_id, "attributes": ["age"], "purpose": "recommend services"},
            basic=client_basic)
        cls.call("POST", "/v1/profile-access/attributes:read", {
            "user_id": user_id, "attributes": ["age"], "purpose": "another purpose"},
            basic=client_basic, expect=403)
        cls.call("POST", f"/v1/profile/consents/{receipt['consent']['consent_id']}:withdraw",
                 token=token)
        transfer = cls.call("POST", "/v1/profile/transfers", {
            "service_channel_id": channel_id, "attribute_names": ["age"]}, token=token)
        cls.call("POST", "/v1/profile-access/transfers:redeem",
                 {"access_token": transfer["access_token"]}, basic=client_basic)
        cls.call("GET", "/v1/profile:export", token=token)
        cls.call("DELETE", "/v1/profile", token=token)

    @classmethod
    def wait_for_data(cls):
        """Until Prometheus has scraped the load and the situational picture's window with the
        three recommendations is complete (at most two windows and a bit)."""
        deadline = time.monotonic() + 3 * WINDOW_HOURS * 3600 + 30
        checks = [
            'aurora_situation_requests{job="aurora"}',
            'sum(aurora_recommender_redirects_total{job="aurora"}) > 0',
            'sum(grpc_server_handled_total{job="aurora", grpc_method="DeleteProfile",'
            ' grpc_code="OK"}) > 0',
        ]
        while checks:
            if cls.prometheus.has_data(checks[0])[0]:
                checks.pop(0)
                continue
            if time.monotonic() > deadline:
                raise AssertionError(f"Prometheus never saw {checks[0]}:\n"
                                     f"{cls.node.log_tail(10)}\n{cls.prometheus.log_tail(10)}")
            time.sleep(0.5)
        # Two more scrapes and rule evaluations after the last counter moved.
        time.sleep(3)

    # -- checks ---------------------------------------------------------------------------------

    def evaluate_all(self, expressions):
        """Evaluates (where, expr) pairs; retries the ones without data for a few seconds
        (recording rules built on other recording rules need an evaluation or two). Returns
        the failures as text lines."""
        pending = list(expressions)
        deadline = time.monotonic() + 20
        while True:
            failures = []
            for where, expr in pending:
                query = evaluable(substitute(expr))
                ok, why = self.prometheus.has_data(query)
                if not ok:
                    failures.append((where, expr, f"{why}\n      evaluated: {query}"))
            if not failures or time.monotonic() > deadline:
                return [f"{where}: {why}" for where, _, why in failures]
            pending = [(where, expr) for where, expr, _ in failures]
            time.sleep(1)

    def test_every_rule_expression_returns_data(self):
        spec = aurora_rules.load_spec()
        expressions = []
        for group, rule in aurora_rules.rules(spec):
            name = rule.get("record") or rule.get("alert")
            if name in NO_DATA_EXPECTED:
                continue
            expressions.append((f"{group}/{name}", rule["expr"]))
            if "record" in rule:
                expressions.append((f"{group}/{name} (recorded series)", rule["record"]))
        failures = self.evaluate_all(expressions)
        print(f"rules: {len(expressions)} expressions evaluated, {len(failures)} failed")
        self.assertEqual(failures, [], "\n".join(failures))

    def test_every_rule_is_healthy_in_prometheus(self):
        rules = [rule for group in self.prometheus.api("rules")["data"]["groups"]
                 for rule in group["rules"]]
        expected = sum(1 for _ in aurora_rules.rules(aurora_rules.load_spec()))
        self.assertEqual(len(rules), expected)
        unhealthy = [f"{r['name']}: {r.get('health')} {r.get('lastError', '')}"
                     for r in rules if r.get("health") != "ok"]
        self.assertEqual(unhealthy, [])

    def test_every_dashboard_query_returns_data(self):
        queries = [(where, expr) for where, expr in dashboard_queries()
                   if expr not in NO_DATA_EXPECTED]
        self.assertGreater(len(queries), 100)
        failures = self.evaluate_all(queries)
        print(f"dashboards: {len(queries)} queries evaluated, {len(failures)} failed")
        self.assertEqual(failures, [], "\n".join(failures))

    def test_the_load_is_visible(self):
        """Spot checks that the figures mean what the dashboards say."""
        def value(expr):
            result = self.prometheus.query(expr)["data"]["result"]
            self.assertTrue(result, expr)
            return float(result[0]["value"][1])
        self.assertEqual(value('up{job="aurora", component="all-in-one"}'), 1)
        self.assertGreaterEqual(value(
            'sum(aurora_recommender_answers_total{path="recommend"})'), 4)
        self.assertGreaterEqual(value(
            'sum(aurora_recommender_empty_answers_total{path="search"})'), 1)
        self.assertEqual(value('sum(aurora_recommender_feedback_total{score="positive"})'), 1)
        self.assertEqual(value('sum(aurora_recommender_feedback_total{score="negative"})'), 1)
        self.assertGreaterEqual(value(
            'sum(aurora_situation_requests{county="19", age_band="30-64"})'), 3)
        self.assertEqual(value('sum(grpc_server_handled_total{grpc_method="GrantConsent",'
                               ' grpc_code="OK"})'), 1)
        self.assertEqual(value('sum(grpc_server_handled_total{grpc_method="ReadAttributes",'
                               ' grpc_code="PermissionDenied"})'), 1)
        self.assertGreater(value('aurora_tls_certificate_expiry_timestamp_seconds - time()'),
                           14 * 86400)
        self.assertGreaterEqual(value('sum(aurora_http_requests_total{code=~"4.."})'), 3)
        # Nothing is alarming on a healthy node under light load.
        firing = self.prometheus.query('ALERTS{alertstate="firing"}')["data"]["result"]
        self.assertEqual([a["metric"]["alertname"] for a in firing], [])

    def test_evaluable(self):
        self.assertEqual(evaluable('up{job="aurora", code!="5"} == 0'),
                         'up{job="aurora", code!="5"} == bool 0')
        self.assertEqual(evaluable("a > bool 1 and b < 2"), "a > bool 1 and b < bool 2")
        self.assertEqual(evaluable('absent(up{job="aurora"})'), 'count(up{job="aurora"})')
        self.assertEqual(evaluable('label_values(up{job="aurora"}, namespace)'),
                         'up{job="aurora"}')


if __name__ == "__main__":
    if PROMETHEUS is None:
        print("prometheus is not installed (Debian package prometheus): skipped")
        sys.exit(77)
    unittest.main(verbosity=2)
