"""The recommender as its clients meet it over HTTP: `aurora serve --demo` answering the real
`curl` on the AuroraAI-compatible REST API (/service-recommender/v1/...: recommend_service,
text_search, recommendation_feedback, redirect, healthcheck) and on the native JSON API
(/v1/recommendations, /v1/search, :feedback, :redirect).

What is checked is the original AuroraAI service recommender's behaviour
(reference/auroraai-original.md §1.1-1.8): the exact response shape, strict validation (400 naming
the field, nothing changed), HTTP Basic API-client credentials (401 with WWW-Authenticate),
feedback (200 "OK", 404 for an unknown recommendation or service), tracking links and their 302
redirects, and, on the native API, explanations and crisis handling. Overload (429) is tested
elsewhere.
"""

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse

import aurora_node
from aurora_node import AuroraNode, curl

COMPAT = "/service-recommender/v1"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MAX_ID = 2 ** 53  # recommendation ids are 1..2^53-1

# The keys of the original's RecommendedService and ServiceChannel (§1.5), no more, no fewer.
SERVICE_KEYS = {
    "service_id", "service_name", "service_description", "service_description_summary",
    "user_instruction", "charge_additional_info", "charge_type", "requirements", "funding_type",
    "area_type", "areas", "responsible_organization", "target_groups", "service_collections",
    "service_class_uris", "service_channels", "similarity_score", "rank",
}
CHANNEL_KEYS = {
    "service_channel_id", "service_channel_name", "service_channel_type",
    "service_channel_description_summary", "service_channel_description", "phone_numbers",
    "web_pages", "emails", "address", "location", "service_hours", "session_transfer",
}
CHANNEL_TYPES = {"EChannel", "WebPage", "Phone", "ServiceLocation", "PrintableForm"}
AREA_TYPES = {"Nationwide", "NationwideExceptAlandIslands", "LimitedType"}
# Directory channel types -> the original's names.
CHANNEL_TYPE_NAMES = {
    "CHANNEL_TYPE_ELECTRONIC": "EChannel",
    "CHANNEL_TYPE_WEB_PAGE": "WebPage",
    "CHANNEL_TYPE_PHONE": "Phone",
    "CHANNEL_TYPE_SERVICE_LOCATION": "ServiceLocation",
    "CHANNEL_TYPE_PRINTABLE_FORM": "PrintableForm",
}

METERS = {"housing": [2], "finance": [1, 3]}




def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def recommendation_id(output):
    """The id of a compat response as a Python int (checked to be an integral JSON number; whether
    it was printed as a JSON integer is test_recommendation_id_is_a_json_integer's business)."""
    value = output["auroraai_recommendation_id"]
    assert is_number(value), f"auroraai_recommendation_id is not a number: {value!r}"
    assert value == int(value), f"auroraai_recommendation_id is not integral: {value!r}"
    assert 1 <= int(value) < MAX_ID, value
    return int(value)


def localized(text, language="fi"):
    """The directory's LocalizedText in `language`, falling back to fi, sv, en (as the compat
    mapping does)."""
    for lang in (language, "fi", "sv", "en"):
        if text.get(lang):
            return text[lang]
    return ""


class RecommenderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="aurora-e2e-recommender-")
        cls.node = AuroraNode(os.path.join(cls.tmp.name, "node"),
                              extra_args=["--demo", aurora_node.DATA_DIR]).start()
        with open(os.path.join(cls.node.data_dir, "demo-credentials.json")) as f:
            credentials = json.load(f)
        cls.client_id = credentials["client_id"]
        cls.organization_id = credentials["organization_id"]
        cls.user = f"{credentials['client_id']}:{credentials['client_secret']}"
        cls._directory_cache = {}

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()
        cls.tmp.cleanup()

    # -- helpers --------------------------------------------------------------------------------

    def url(self, path):
        return self.node.http_url(path)

    def post(self, path, body, auth=True, extra=()):
        """POSTs JSON (a dict, or a str sent as is); returns (status, headers, body bytes)."""
        data = body if isinstance(body, str) else json.dumps(body)
        args = ["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", data]
        if auth:
            args = ["-u", self.user, *args]
        return curl(*args, *extra, self.url(path))

    def compat(self, endpoint, body, expect=200):
        """POSTs to the compat API with the demo credentials; returns the parsed JSON answer."""
        status, headers, raw = self.post(f"{COMPAT}/{endpoint}", body)
        self.assertEqual(status, expect, raw)
        self.assertEqual(headers.get("content-type"), "application/json", headers)
        return json.loads(raw)

    def directory_service(self, service_id):
        """The directory's record of a service, through the directory's REST face."""
        if service_id not in self._directory_cache:
            status, _, raw = curl(self.url(f"/v1/services/{service_id}"))
            self.assertEqual(status, 200, raw)
            self._directory_cache[service_id] = json.loads(raw)
        return self._directory_cache[service_id]

    def metric_snapshot(self):
        """Counters that move when a recommendation, search, feedback or click succeeds."""
        status, _, raw = curl(self.node.metrics_url)
        self.assertEqual(status, 200)
        methods = {"RecommendService", "TextSearch", "RecommendationFeedback", "Redirect",
                   "Recommend", "Search", "RecordFeedback", "RecordRedirect"}
        snapshot = {}
        for line in raw.decode().splitlines():
            m = re.match(r'grpc_server_handled_total\{grpc_code="OK",grpc_method="(\w+)".*\} (\S+)',
                         line)
            if m and m.group(1) in methods:
                snapshot[f"grpc OK {m.group(1)}"] = float(m.group(2))
            m = re.match(r'(aurora_recommender_(?:answers|empty_answers|feedback|redirects)_total'
                         r'(?:\{[^}]*\})?) (\S+)', line)
            if m:
                snapshot[m.group(1)] = float(m.group(2))
            m = re.match(r'aurora_http_requests_total\{code="([23]\d\d)",route="([^"]+)"\} (\S+)',
                         line)
            if m and ("service-recommender" in m.group(2) or "recommendations" in m.group(2)
                      or m.group(2) == "POST /v1/search"):
                snapshot[f"http {m.group(1)} {m.group(2)}"] = float(m.group(3))
        return snapshot

    def link_parts(self, link):
        """(path, query dict) of a tracking link; checks it is one."""
        parsed = urllib.parse.urlsplit(link)
        self.assertEqual(parsed.path, f"{COMPAT}/redirect", link)
        query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True, strict_parsing=True)
        return parsed, {k: v[0] for k, v in query.items()}

    def follow(self, link, extra_query=""):
        """GETs a tracking link on this node (whatever host the link names) without following the
        redirect and without credentials; returns (status, headers, body)."""
        parsed = urllib.parse.urlsplit(link)
        return curl(self.url(f"{parsed.path}?{parsed.query}{extra_query}"))

    def check_service_shape(self, service, rank):
        self.assertEqual(set(service), SERVICE_KEYS, service.get("service_id"))
        sid = service["service_id"]
        self.assertRegex(sid, UUID_RE)
        for key in ("service_name", "service_description", "service_description_summary",
                    "user_instruction", "charge_additional_info", "charge_type", "area_type"):
            self.assertIsInstance(service[key], str, (sid, key))
        self.assertTrue(service["service_name"], sid)
        for key in ("requirements", "areas", "target_groups", "service_collections",
                    "service_class_uris", "service_channels"):
            self.assertIsInstance(service[key], list, (sid, key))
        for key in ("requirements", "target_groups", "service_collections", "service_class_uris"):
            for item in service[key]:
                self.assertIsInstance(item, str, (sid, key))
        self.assertTrue(service["funding_type"] is None or
                        service["funding_type"] in ("PubliclyFunded", "MarketFunded"),
                        (sid, service["funding_type"]))
        self.assertIn(service["area_type"], AREA_TYPES, sid)
        for area in service["areas"]:
            self.assertIsInstance(area, dict, sid)
            self.assertIsInstance(area.get("type"), str, (sid, area))
            self.assertIsInstance(area.get("code"), str, (sid, area))
        organization = service["responsible_organization"]
        if organization is not None:
            self.assertIsInstance(organization, dict, sid)
            self.assertEqual(set(organization), {"id", "name"}, sid)
            self.assertRegex(organization["id"], UUID_RE)
            self.assertIsInstance(organization["name"], str)
        for uri in service["service_class_uris"]:
            self.assertRegex(uri, r"^http://uri\.suomi\.fi/codelist/ptv/ptvserclass2/code/P\d+"
                                  r"(\.\d+)?$")
        for group in service["target_groups"]:
            self.assertRegex(group, r"^KR\d+(\.\d+)*$")
        self.assertTrue(is_number(service["similarity_score"]), (sid, service["similarity_score"]))
        self.assertIs(type(service["rank"]), int, sid)
        self.assertEqual(service["rank"], rank, sid)
        for channel in service["service_channels"]:
            self.assertEqual(set(channel), CHANNEL_KEYS, (sid, channel.get("service_channel_id")))
            self.assertRegex(channel["service_channel_id"], UUID_RE)
            self.assertIn(channel["service_channel_type"], CHANNEL_TYPES)
            for key in ("service_channel_name", "service_channel_description_summary",
                        "service_channel_description", "address"):
                self.assertIsInstance(channel[key], str, (sid, key))
            for key in ("phone_numbers", "web_pages", "emails", "service_hours"):
                self.assertIsInstance(channel[key], list, (sid, key))
                for item in channel[key]:
                    self.assertIsInstance(item, str, (sid, key))
            location = channel["location"]
            self.assertTrue(location == "" or (isinstance(location, dict) and
                                               set(location) == {"latitude", "longitude"}),
                            (sid, location))
            self.assertIs(type(channel["session_transfer"]), bool, sid)

    def check_output(self, output, limit):
        """The RecommendationOutput shape; returns the services."""
        self.assertEqual(set(output), {"auroraai_recommendation_id", "recommended_services"})
        recommendation_id(output)
        services = output["recommended_services"]
        self.assertIsInstance(services, list)
        self.assertLessEqual(len(services), limit)
        for rank, service in enumerate(services, 1):
            self.check_service_shape(service, rank)
        scores = [s["similarity_score"] for s in services]
        self.assertEqual(scores, sorted(scores, reverse=True), "not ordered by similarity_score")
        self.assertEqual(len({s["service_id"] for s in services}), len(services), "duplicates")
        return services

    def check_against_directory(self, service):
        """The compat fields are the directory's (Finnish first) values, channels in order."""
        record = self.directory_service(service["service_id"])
        self.assertEqual(service["service_name"], localized(record["name"]))
        self.assertEqual(service["service_description_summary"], localized(record["summary"]))
        self.assertEqual([c["service_channel_id"] for c in service["service_channels"]],
                         [c["id"] for c in record["channels"]])
        for mine, theirs in zip(service["service_channels"], record["channels"]):
            self.assertEqual(mine["service_channel_type"], CHANNEL_TYPE_NAMES[theirs["type"]])
            self.assertEqual(len(mine["web_pages"]), len(theirs["urls"]), mine)
            self.assertEqual(mine["service_channel_name"], localized(theirs["name"]))
        org = record["organization_id"]
        if org:
            self.assertEqual(service["responsible_organization"]["id"], org)
        else:
            self.assertIsNone(service["responsible_organization"])
        return record

    # -- 1. recommend_service -------------------------------------------------------------------

    def test_recommend_service_shape(self):
        output = self.compat("recommend_service", {"life_situation_meters": METERS, "limit": 5})
        services = self.check_output(output, 5)
        self.assertGreaterEqual(len(services), 1, "no recommendation for great housing and "
                                                  "finance needs")
        for service in services:
            self.check_against_directory(service)

        # age and municipality_code at the top level: accepted and used (locality).
        local = self.compat("recommend_service", {"life_situation_meters": METERS, "limit": 5,
                                                  "age": 30, "municipality_code": "091"})
        local_services = self.check_output(local, 5)
        self.assertGreaterEqual(len(local_services), 1)
        for service in local_services:
            self.assertTrue(service["area_type"].startswith("Nationwide") or
                            "091" in [a["code"] for a in service["areas"]],
                            f"{service['service_id']} ({service['service_name']}) is neither "
                            f"nationwide nor available in 091: {service['areas']}")

        # The id is printed as a JSON integer (the original's int64), not 1.2e+15 or "123".
        for out in (output, local):
            value = out["auroraai_recommendation_id"]
            self.assertIsInstance(value, int, f"auroraai_recommendation_id {value!r} is not a "
                                              f"JSON integer")

    def test_recommendation_id_is_a_json_integer(self):
        """Every response prints its id as a JSON integer: about one random id in eleven has 16
        digits ending in 0, which a "%.15g" printer writes as 1.23456789012345e+15."""
        bad = []
        for _ in range(100):
            status, _, raw = self.post(f"{COMPAT}/text_search",
                                       {"search_text": "kalastuslupa", "limit": 1})
            self.assertEqual(status, 200, raw)
            output = json.loads(raw)
            value = output["auroraai_recommendation_id"]
            text = re.search(rb'"auroraai_recommendation_id":\s*([^,}\s]+)', raw).group(1).decode()
            if not isinstance(value, int) or not re.fullmatch(r"[1-9][0-9]*", text):
                bad.append(text)
                continue
            for service in output["recommended_services"]:
                for channel in service["service_channels"]:
                    for link in channel["web_pages"]:
                        _, query = self.link_parts(link)
                        self.assertEqual(query["recommendation_id"], text, link)
        self.assertEqual(bad, [], f"{len(bad)} of 100 auroraai_recommendation_id values were not "
                                  f"JSON integers, e.g. {bad[:3]}")

    # -- 2. text_search (golden-ish) ------------------------------------------------------------

    def test_text_search_fishing_permits(self):
        output = self.compat("text_search", {"search_text": "kalastuslupa", "limit": 3})
        services = self.check_output(output, 3)
        rid = recommendation_id(output)
        self.assertGreaterEqual(len(services), 1, "nothing found for 'kalastuslupa'")
        # The catalogue's fishing-permit service: the one PTV tags "kalastusluvat" (fishing
        # permits); its Finnish name is missing, the Swedish one says "fiske".
        first = self.directory_service(services[0]["service_id"])
        self.assertIn("kalastusluvat", [t.get("fi") for t in first["ontology_terms"]],
                      services[0]["service_name"])
        self.assertRegex(services[0]["service_name"].lower(), "kalast|fisk")
        for service in services:
            record = self.check_against_directory(service)
            text = json.dumps([record["name"], record["summary"], record["description"],
                               record["keywords"], record["ontology_terms"]],
                              ensure_ascii=False).lower()
            self.assertRegex(text, "kalast|fisk", f"{service['service_name']} is not about "
                                                  "fishing")

        # web_pages are tracking links to this node's gateway.
        links = 0
        for service in services:
            for channel in service["service_channels"]:
                for i, link in enumerate(channel["web_pages"]):
                    links += 1
                    self.assertEqual(
                        link,
                        f"http://127.0.0.1:{self.node.http_port}{COMPAT}/redirect?"
                        f"service_id={service['service_id']}"
                        f"&service_channel_id={channel['service_channel_id']}"
                        f"&link_id={i}&recommendation_id={rid}")
        self.assertGreater(links, 0, "no web pages to check")

    # -- 3. validation --------------------------------------------------------------------------

    def test_validation_refused(self):
        meters = {"life_situation_meters": {"housing": [2]}}
        search = {"search_text": "kalastuslupa"}
        rs, ts = "recommend_service", "text_search"
        cases = [
            ("unknown top-level field", rs, {**meters, "foo": 1}, "foo"),
            ("unknown service_filters field", rs, {**meters, "service_filters": {"bar": True}},
             "service_filters.bar"),
            ("string limit", rs, {**meters, "limit": "5"}, "limit"),
            ("fraction limit", rs, {**meters, "limit": 1.5}, "limit"),
            ("limit 0", rs, {**meters, "limit": 0}, "limit"),
            ("limit 51", rs, {**meters, "limit": 51}, "limit"),
            ("null limit", rs, {**meters, "limit": None}, "limit"),
            ("no meter", rs, {"life_situation_meters": {}}, "life_situation_meters"),
            ("meter 11", rs, {"life_situation_meters": {"housing": [11]}},
             "life_situation_meters.housing"),
            ("string rerank", rs, {**meters, "rerank": "true"}, "rerank"),
            ("unknown municipality", rs,
             {**meters, "service_filters": {"municipality_codes": ["999"]}}, "municipality_codes"),
            ("unknown top-level municipality", rs, {**meters, "municipality_code": "999"},
             "municipality_code"),
            ("unknown service class", rs,
             {**meters, "service_filters": {"service_classes": [
                 "http://uri.suomi.fi/codelist/ptv/ptvserclass2/code/P999"]}},
             "service_classes"),
            ("target group KR1.2", rs, {**meters, "service_filters": {"target_groups": ["KR1.2"]}},
             "target_groups"),
            ("funding type Free", rs, {**meters, "service_filters": {"funding_type": ["Free"]}},
             "funding_type"),
            ("only national with municipalities", rs,
             {**meters, "service_filters": {"only_national_services": True,
                                            "municipality_codes": ["091"]}},
             "only_national_services"),
            ("empty search_text", ts, {"search_text": ""}, "search_text"),
            ("1025-character search_text", ts, {"search_text": "a" * 1025}, "search_text"),
            ("language xx", ts, {**search, "language": "xx"}, "language"),
            ("search limit 51", ts, {**search, "limit": 51}, "limit"),
            ("search unknown field", ts, {**search, "foo": 1}, "foo"),
            ("search target group KR1.2", ts,
             {**search, "service_filters": {"target_groups": ["KR1.2"]}}, "target_groups"),
        ]
        before = self.metric_snapshot()
        for name, endpoint, body, field in cases:
            with self.subTest(name):
                status, headers, raw = self.post(f"{COMPAT}/{endpoint}", body)
                self.assertEqual(status, 400, raw)
                self.assertEqual(headers.get("content-type"), "application/json")
                error = json.loads(raw)
                self.assertEqual(error["code"], 3, raw)
                self.assertIn(field, error["message"])
        self.assertEqual(self.metric_snapshot(), before, "a refused request changed something")

        # The limits' other sides are accepted (1024 characters of 2-byte UTF-8, limit 50).
        self.compat(ts, {"search_text": "ä" * 1024})
        self.check_output(self.compat(rs, {**meters, "limit": 50}), 50)

    # -- 4. authentication, healthcheck ---------------------------------------------------------

    def test_auth_and_healthcheck(self):
        body = {"life_situation_meters": METERS}
        for endpoint, request in (("recommend_service", body),
                                  ("text_search", {"search_text": "kela"}),
                                  ("recommendation_feedback",
                                   {"auroraai_recommendation_id": 1, "feedback_score": 1})):
            with self.subTest(endpoint, credentials="none"):
                status, headers, raw = self.post(f"{COMPAT}/{endpoint}", request, auth=False)
                self.assertEqual(status, 401, raw)
                self.assertIn("Basic", headers.get("www-authenticate", ""))
            with self.subTest(endpoint, credentials="wrong secret"):
                status, headers, raw = curl("-u", f"{self.client_id}:not-the-secret", "-X", "POST",
                                            "--data-binary", json.dumps(request),
                                            self.url(f"{COMPAT}/{endpoint}"))
                self.assertEqual(status, 401, raw)
                self.assertIn("Basic", headers.get("www-authenticate", ""))
            with self.subTest(endpoint, credentials="bearer"):
                status, headers, raw = curl("-H", "Authorization: Bearer abc", "-X", "POST",
                                            "--data-binary", json.dumps(request),
                                            self.url(f"{COMPAT}/{endpoint}"))
                self.assertEqual(status, 401, raw)
                self.assertIn("www-authenticate", headers)

        # The original's path has the trailing slash (reference §1.1); without it works too.
        for path in ("/service-recommender/healthcheck/", "/service-recommender/healthcheck"):
            status, headers, raw = curl(self.url(path))
            self.assertEqual(status, 200, path)
            self.assertEqual(raw, b"Healthcheck OK")
            self.assertTrue(headers["content-type"].startswith("text/plain"), headers)
        # Redirect needs no credentials either: see test_redirect (all its calls go without).

    # -- 5. feedback ----------------------------------------------------------------------------

    def test_feedback(self):
        output = self.compat("recommend_service", {"life_situation_meters": METERS, "limit": 5})
        rid = recommendation_id(output)
        returned = [s["service_id"] for s in output["recommended_services"]]
        self.assertTrue(returned)
        feedback = f"{COMPAT}/recommendation_feedback"

        counted = self.metric_snapshot()
        body = {"auroraai_recommendation_id": rid, "feedback_score": 1,
                "service_feedbacks": [{"service_id": returned[0], "feedback_score": -1}]}
        for attempt in (1, 2):  # repeated feedback is appended, as in the original
            status, headers, raw = self.post(feedback, body)
            self.assertEqual(status, 200, raw)
            self.assertEqual(raw, b"OK")
            self.assertTrue(headers["content-type"].startswith("text/plain"), headers)

        # The quality signals count each score given: the recommendation's and the service's.
        after = self.metric_snapshot()
        for score in ("positive", "negative"):
            name = f'aurora_recommender_feedback_total{{score="{score}"}}'
            self.assertEqual(after[name] - counted[name], 2, name)

        # Another service of the catalogue, not in this recommendation.
        other = self.compat("text_search", {"search_text": "kalastuslupa", "limit": 5})
        outsider = next(s["service_id"] for s in other["recommended_services"]
                        if s["service_id"] not in returned)
        unknown_id = 12345
        while unknown_id in (rid, recommendation_id(other)):
            unknown_id += 1

        before = self.metric_snapshot()
        cases = [
            ("unknown recommendation", {"auroraai_recommendation_id": unknown_id,
                                        "feedback_score": 1}, 404, "recommendation_id"),
            ("service not recommended",
             {"auroraai_recommendation_id": rid,
              "service_feedbacks": [{"service_id": outsider, "feedback_score": 1}]},
             404, outsider),
            ("service not recommended after a good one",
             {"auroraai_recommendation_id": rid,
              "service_feedbacks": [{"service_id": returned[0], "feedback_score": 1},
                                    {"service_id": outsider, "feedback_score": 1}]},
             404, outsider),
            ("feedback_score 20", {"auroraai_recommendation_id": rid, "feedback_score": 20},
             400, "feedback_score"),
            ("service feedback_score 20",
             {"auroraai_recommendation_id": rid,
              "service_feedbacks": [{"service_id": returned[0], "feedback_score": 20}]},
             400, "feedback_score"),
            ("string id", {"auroraai_recommendation_id": str(rid), "feedback_score": 1}, 400,
             "auroraai_recommendation_id"),
            ("no id", {"feedback_score": 1}, 400, "auroraai_recommendation_id"),
            ("upper-case service id",
             {"auroraai_recommendation_id": rid,
              "service_feedbacks": [{"service_id": returned[0].upper(), "feedback_score": 1}]},
             400, "service_id"),
            ("unknown field", {"auroraai_recommendation_id": rid, "score": 1}, 400, "score"),
        ]
        for name, request, expected, mention in cases:
            with self.subTest(name):
                status, headers, raw = self.post(feedback, request)
                self.assertEqual(status, expected, raw)
                error = json.loads(raw)
                self.assertEqual(error["code"], 5 if expected == 404 else 3, raw)
                self.assertIn(mention, error["message"])
        self.assertEqual(self.metric_snapshot(), before, "refused feedback changed something")

    def test_feedback_id_must_be_a_json_integer(self):
        """auroraai_recommendation_id is a strict integer in the original: 1.0 and 1.5 are 400
        (compat.proto: "strings or fractions for integers ... are refused with 400"). An id with
        a fraction must not be rounded to some recommendation's id."""
        feedback = f"{COMPAT}/recommendation_feedback"
        # An id of 2^52 or more, even: "<id>.5" then rounds to <id> as a double.
        for _ in range(60):
            rid = recommendation_id(self.compat("text_search", {"search_text": "kalastuslupa",
                                                                "limit": 1}))
            if rid >= 2 ** 52 and rid % 2 == 0:
                break
        else:
            self.skipTest("no even recommendation id of 2^52 or more in 60 tries")
        digits = str(rid)
        for text in (f"{rid}.0", f"{rid}.5", f"{digits[0]}.{digits[1:]}e{len(digits) - 1}"):
            with self.subTest(text):
                status, _, raw = self.post(
                    feedback, f'{{"auroraai_recommendation_id": {text}, "feedback_score": 1}}')
                self.assertEqual(status, 400, f"auroraai_recommendation_id {text}: {raw!r}")
        status, _, raw = self.post(feedback, f'{{"auroraai_recommendation_id": {rid}}}')
        self.assertEqual((status, raw), (200, b"OK"))  # the integer itself is fine

    # -- 6. redirect ----------------------------------------------------------------------------

    def test_redirect(self):
        # Fishing permits (Vaasa: an EChannel and web pages without a query) and informal care
        # in Helsinki (EChannels whose URLs have a query).
        outputs = [
            self.compat("text_search", {"search_text": "kalastuslupa", "limit": 3}),
            self.compat("text_search", {"search_text": "omaishoidon tuki", "limit": 10,
                                        "service_filters": {"municipality_codes": ["091"]}}),
        ]
        checked = {"plain": 0, "echannel": 0, "echannel with query": 0}
        for output in outputs:
            rid = recommendation_id(output)
            for service in output["recommended_services"]:
                record = self.directory_service(service["service_id"])
                urls = {c["id"]: c["urls"] for c in record["channels"]}
                for channel in service["service_channels"]:
                    for i, link in enumerate(channel["web_pages"]):
                        _, query = self.link_parts(link)
                        self.assertEqual(query, {"service_id": service["service_id"],
                                                 "service_channel_id":
                                                     channel["service_channel_id"],
                                                 "link_id": str(i),
                                                 "recommendation_id": str(rid)})
                        target = urls[channel["service_channel_id"]][i]
                        if checked["plain"] < 3:
                            status, headers, raw = self.follow(link)
                            self.assertEqual(status, 302, raw)
                            self.assertEqual(headers.get("location"), target)
                            checked["plain"] += 1
                        if channel["service_channel_type"] != "EChannel":
                            continue
                        kind = "echannel with query" if "?" in target else "echannel"
                        if checked[kind] >= 2:
                            continue
                        checked[kind] += 1
                        status, headers, raw = self.follow(link, "&session_id=abc")
                        self.assertEqual(status, 302, raw)
                        self.assertEqual(headers.get("location"),
                                         target + ("&" if "?" in target else "?") +
                                         "session_id=abc")
                        # The value is URL-encoded in the Location.
                        status, headers, raw = self.follow(link, "&session_id=a%20b%26c")
                        self.assertEqual(status, 302, raw)
                        self.assertTrue(headers.get("location", "").endswith(
                            "session_id=a%20b%26c"), headers.get("location"))
        self.assertTrue(all(checked.values()), f"not every kind of link was met: {checked}")

        # The native API gives the same URL for the same click; each click is counted.
        clicks = self.metric_snapshot()["aurora_recommender_redirects_total"]
        rid = recommendation_id(outputs[0])
        service = next(s for s in outputs[0]["recommended_services"]
                       if any(c["web_pages"] for c in s["service_channels"]))
        channel = next(c for c in service["service_channels"] if c["web_pages"])
        status, _, raw = self.post(f"/v1/recommendations/{rid}:redirect",
                                   {"service_id": service["service_id"],
                                    "channel_id": channel["service_channel_id"],
                                    "link_index": 0}, auth=False)
        self.assertEqual(status, 200, raw)
        status, headers, _ = self.follow(channel["web_pages"][0])
        self.assertEqual((status, headers.get("location")), (302, json.loads(raw)["url"]))
        self.assertEqual(self.metric_snapshot()["aurora_recommender_redirects_total"], clicks + 2)

        # Errors.
        link = channel["web_pages"][0]
        parsed, query = self.link_parts(link)
        other_service = next((s for s in outputs[1]["recommended_services"]
                              if s["service_id"] not in
                              [x["service_id"] for x in outputs[0]["recommended_services"]]))

        def with_query(**changes):
            q = {**query, **changes}
            return urllib.parse.urlunsplit(("http", "x", parsed.path, urllib.parse.urlencode(
                {k: v for k, v in q.items() if v is not None}), ""))

        before = self.metric_snapshot()
        cases = [
            ("unknown link_id 29", with_query(link_id="29"), 404),
            ("link_id 31", with_query(link_id="31"), 400),
            ("negative link_id", with_query(link_id="-1"), 400),
            ("missing recommendation_id", with_query(recommendation_id=None), 400),
            ("non-integer recommendation_id", with_query(recommendation_id="12x"), 400),
            ("missing service_id", with_query(service_id=None), 400),
            ("missing service_channel_id", with_query(service_channel_id=None), 400),
            ("unknown recommendation", with_query(recommendation_id=str(rid ^ 1)), 404),
            ("service not in the recommendation",
             with_query(service_id=other_service["service_id"]), 404),
        ]
        for name, bad_link, expected in cases:
            with self.subTest(name):
                status, headers, raw = self.follow(bad_link)
                self.assertEqual(status, expected, raw)
                self.assertNotIn("location", headers)
        self.assertEqual(self.metric_snapshot(), before, "a refused redirect changed something")

    def test_session_id_on_echannel_links(self):
        """recommend_service's session_id is appended to EChannel links only (§3.7)."""
        output = self.compat("recommend_service", {"life_situation_meters": METERS, "limit": 30,
                                                   "municipality_code": "091",
                                                   "session_id": "abc"})
        kinds = set()
        for service in output["recommended_services"]:
            for channel in service["service_channels"]:
                for link in channel["web_pages"]:
                    _, query = self.link_parts(link)
                    electronic = channel["service_channel_type"] == "EChannel"
                    kinds.add(electronic)
                    self.assertEqual(query.get("session_id"), "abc" if electronic else None, link)
        self.assertEqual(kinds, {True, False}, "need both EChannel and other links to check")

    # -- 7. the native API ----------------------------------------------------------------------

    def test_native_api(self):
        status, headers, raw = self.post(
            "/v1/recommendations",
            {"life_situation_meters": METERS, "age": 30, "municipality_code": "091", "limit": 5},
            auth=False)
        self.assertEqual(status, 200, raw)
        self.assertEqual(headers.get("content-type"), "application/json")
        response = json.loads(raw)
        rid = response["recommendation_id"]
        self.assertIsInstance(rid, str, "int64 is a JSON string in proto3 JSON")
        self.assertRegex(rid, r"^[1-9][0-9]*$")
        self.assertLess(int(rid), MAX_ID)
        services = response["services"]
        self.assertTrue(1 <= len(services) <= 5, len(services))
        for rank, item in enumerate(services, 1):
            self.assertEqual(item["rank"], rank)
            explanation = item["explanation"]
            self.assertTrue(explanation["life_areas"], item["service"]["id"])
            self.assertTrue({a["area"] for a in explanation["life_areas"]} <=
                            {"LIFE_AREA_HOUSING", "LIFE_AREA_FINANCE"}, explanation["life_areas"])
            self.assertTrue(explanation["filters"], item["service"]["id"])
            for line in explanation["filters"]:
                self.assertTrue("091" in line or "nationwide" in line, line)
            self.assertTrue(explanation["eligibility"], item["service"]["id"])
            for channel in item["service"]["channels"]:
                self.assertIsInstance(channel["urls"], list)

        # Feedback on it (no credentials: the random id is the key).
        first = services[0]["service"]["id"]
        status, _, raw = self.post(f"/v1/recommendations/{rid}:feedback",
                                   {"score": 1, "services": [{"service_id": first, "score": -1}]},
                                   auth=False)
        self.assertEqual(status, 200, raw)
        self.assertEqual(json.loads(raw), {"recorded": 2})
        unknown = str(int(rid) ^ 1)
        status, _, raw = self.post(f"/v1/recommendations/{unknown}:feedback", {"score": 1},
                                   auth=False)
        self.assertEqual(status, 404, raw)
        status, _, raw = self.post(f"/v1/recommendations/{rid}:feedback", {"score": 5}, auth=False)
        self.assertEqual(status, 400, raw)
        self.assertIn("score", json.loads(raw)["message"])
        # The compat API sees the same recommendation.
        status, _, raw = self.post(f"{COMPAT}/recommendation_feedback",
                                   {"auroraai_recommendation_id": int(rid),
                                    "service_feedbacks": [{"service_id": first,
                                                           "feedback_score": 1}]})
        self.assertEqual((status, raw), (200, b"OK"))

        # Search, in English.
        status, _, raw = self.post("/v1/search", {"text": "unemployed", "language": "en"},
                                   auth=False)
        self.assertEqual(status, 200, raw)
        response = json.loads(raw)
        self.assertRegex(response["recommendation_id"], r"^[1-9][0-9]*$")
        self.assertTrue(response["services"], "nothing found for 'unemployed'")
        for item in response["services"]:
            terms = item["explanation"]["terms"]
            self.assertTrue(terms, item["service"]["id"])
            self.assertIn("unemployed", [t["query_word"] for t in terms])
            for term in terms:
                self.assertIn(term["language"], ("fi", "sv", "en"))
                self.assertTrue(term["fields"], term)

    def test_service_package(self):
        # A parent in Oulu who lost their job, through the gateway without credentials.
        situation = {"life_situation_meters": {"finance": [1], "working_studying": [2],
                                               "family": [4]},
                     "life_events": ["KE8"], "age": 38, "municipality_code": "564",
                     "text": "menetin työpaikkani ja lapset tarvitsevat päivähoitoa"}
        status, headers, raw = self.post("/v1/packages", situation, auth=False)
        self.assertEqual(status, 200, raw)
        self.assertEqual(headers.get("content-type"), "application/json")
        package = json.loads(raw)
        self.assertRegex(package["recommendation_id"], r"^[1-9][0-9]*$")
        self.assertEqual([n["id"] for n in package["needs"]],
                         ["life_event:KE8", "life_area:finance", "life_area:working_studying",
                          "life_area:family", "text"])
        self.assertEqual(package["needs"][0]["kind"], "KIND_LIFE_EVENT")
        self.assertEqual(package["needs"][0]["title"]["en"], "Losing a job")
        steps = package["steps"]
        self.assertEqual([s["step"] for s in steps], list(range(1, len(steps) + 1)))
        for need in package["needs"]:
            self.assertTrue(need.get("covered_by") or need.get("uncovered_reason"), need)
            for number in need.get("covered_by", []):
                self.assertIn(need["id"], steps[number - 1]["needs"])
        for step in steps:
            self.assertTrue(step["reasons"], step)
            service = step["service"]["service"]
            self.assertEqual(self.directory_service(service["id"])["id"], service["id"])
        # Feedback on a step's service goes to the package's recommendation.
        first = steps[0]["service"]["service"]["id"]
        status, _, raw = self.post(f"/v1/recommendations/{package['recommendation_id']}:feedback",
                                   {"services": [{"service_id": first, "score": 1}]}, auth=False)
        self.assertEqual(status, 200, raw)
        # Bad input names the field.
        status, _, raw = self.post("/v1/packages", {**situation, "max_steps": 20}, auth=False)
        self.assertEqual(status, 400, raw)
        self.assertIn("max_steps", json.loads(raw)["message"])
        status, _, raw = self.post("/v1/packages", {**situation, "life_events": ["KE99"]},
                                   auth=False)
        self.assertEqual(status, 400, raw)
        self.assertIn("KE99", json.loads(raw)["message"])

    def test_services_come_to_the_person(self):
        import threading
        import grpc
        from aurora.recommender.v1 import recommender_pb2 as rpb
        from aurora.recommender.v1 import recommender_pb2_grpc as rpb_grpc

        status, _, raw = self.post("/v1/subscriptions", {
            "life_situation_meters": {"housing": [1]}, "municipality_code": "564",
            "consent": True, "days": 30}, auth=False)
        self.assertEqual(status, 200, raw)
        subscription = json.loads(raw)
        sid, token = subscription["subscription_id"], subscription["token"]
        self.assertRegex(token, r"^[0-9a-f]{64}$")
        bearer = ("authorization", f"Bearer {token}")

        # The person's app watches over gRPC; the first match is noted as it arrives.
        received = {}
        stream = rpb_grpc.RecommenderStub(self.node.channel).WatchMatches(
            rpb.WatchMatchesRequest(subscription_id=sid), metadata=(bearer,), timeout=60)

        def watch():
            for match in stream:
                received["match"] = match
                received["at"] = time.monotonic()
                break
        watcher = threading.Thread(target=watch)
        watcher.start()
        time.sleep(0.2)  # the stream is open (only the measurement below depends on it)

        # An organisation publishes a new housing service in the directory.
        created_at = time.monotonic()
        status, _, raw = self.post("/v1/services", {
            "organization_id": self.organization_id, "kind": "SERVICE_KIND_SERVICE",
            "name": {"fi": "Uusi vuokra-asuntojen haku"}, "area_type": "AREA_TYPE_NATIONWIDE",
            "languages": ["fi"], "life_areas": ["LIFE_AREA_HOUSING"]})
        self.assertEqual(status, 200, raw)
        service_id = json.loads(raw)["id"]
        watcher.join(timeout=10)
        stream.cancel()
        self.assertIn("match", received, "no match within 10 s")
        self.assertEqual(received["match"].service.service.id, service_id)
        self.assertLess(received["at"] - created_at, 1.0,
                        "the new service reached the subscriber after more than a second")

        # Polling over HTTP, with the token.
        status, _, raw = curl("-H", f"Authorization: Bearer {token}",
                              self.url(f"/v1/subscriptions/{sid}/matches"))
        self.assertEqual(status, 200, raw)
        matches = json.loads(raw)["matches"]
        self.assertEqual([m["service"]["service"]["id"] for m in matches], [service_id])
        self.assertEqual(matches[0]["sequence"], "1")
        status, _, raw = curl(self.url(f"/v1/subscriptions/{sid}/matches"))
        self.assertEqual(status, 401, raw)
        status, _, raw = curl("-H", "Authorization: Bearer " + "0" * 64,
                              self.url(f"/v1/subscriptions/{sid}/matches"))
        self.assertEqual(status, 404, raw)
        status, _, raw = self.post("/v1/subscriptions", {
            "life_situation_meters": {"housing": [1]}}, auth=False)
        self.assertEqual(status, 400, raw)
        self.assertIn("consent", json.loads(raw)["message"])

        # Unsubscribing deletes the situation and the matches.
        status, _, raw = curl("-X", "DELETE", "-H", f"Authorization: Bearer {token}",
                              self.url(f"/v1/subscriptions/{sid}"))
        self.assertEqual(status, 200, raw)
        self.assertEqual(json.loads(raw), {"deleted_matches": 1})
        status, _, raw = curl("-H", f"Authorization: Bearer {token}",
                              self.url(f"/v1/subscriptions/{sid}/matches"))
        self.assertEqual(status, 404, raw)

    def test_situational_picture(self):
        # Only complete windows are published (a day by default): a fresh node shows none yet,
        # but says how it publishes.
        status, _, raw = curl(self.url("/v1/situational-picture?days=30"))
        self.assertEqual(status, 200, raw)
        picture = json.loads(raw)
        self.assertEqual(picture["k"], 10)
        self.assertEqual(picture["window_seconds"], "86400")
        self.assertEqual(picture.get("cells", []), [])
        status, _, raw = curl(self.url(
            "/v1/situational-picture?wellbeing_service_county_codes=99"))
        self.assertEqual(status, 400, raw)
        self.assertIn("wellbeing_service_county_codes[0]", json.loads(raw)["message"])
        status, _, raw = curl(self.url("/v1/situational-picture?days=400"))
        self.assertEqual(status, 400, raw)

    # -- 9. crisis ------------------------------------------------------------------------------

    def test_crisis(self):
        status, _, raw = self.post("/v1/search", {"text": "haluan tappaa itseni"}, auth=False)
        self.assertEqual(status, 200, raw)
        response = json.loads(raw)
        self.assertTrue(response["crisis"], "the crisis was not recognised")
        self.assertTrue(response["services"], "no services for a crisis")
        first = response["services"][0]
        self.assertTrue(first["explanation"]["crisis"],
                        f"the first service ({first['service']['name']}) is not a crisis service")
        # The compat text search ranks the same way: the crisis service first.
        output = self.compat("text_search", {"search_text": "haluan tappaa itseni"})
        self.assertEqual(output["recommended_services"][0]["service_id"], first["service"]["id"])

    # -- 10. the chatbot's conversation -----------------------------------------------------------

    def turn(self, message, state=None, language="fi", expect=200):
        body = {"message": message, "language": language}
        if state is not None:
            body["state"] = state
        status, _, raw = self.post("/v1/conversation:turn", body, auth=False)
        self.assertEqual(status, expect, raw)
        return json.loads(raw)

    def test_conversation(self):
        private = "tarvitsen vuokra-asunnon nopeasti"
        first = self.turn(private)
        self.assertEqual(first["state"]["awaiting"], "municipality", first)
        self.assertEqual(first["replies"], ["Missä kunnassa asut? Palvelut riippuvat kunnasta."])
        self.assertEqual(first["services"], [])
        second = self.turn("Asun Oulussa", first["state"])
        self.assertEqual(second["state"]["municipality_code"], "564")
        self.assertTrue(second["services"], second)
        for service in second["services"]:
            self.assertIn(service["service"]["area_type"],
                          ("AREA_TYPE_NATIONWIDE", "AREA_TYPE_NATIONWIDE_EXCEPT_ALAND_ISLANDS",
                           "AREA_TYPE_LIMITED"))
            if service["service"]["area_type"] == "AREA_TYPE_LIMITED":
                self.assertIn("564", service["service"]["municipality_codes"])
        # The answer is a recommendation: feedback on it is recorded.
        rid = second["recommendation_id"]
        status, _, raw = self.post(f"/v1/recommendations/{rid}:feedback", {
            "services": [{"service_id": second["services"][0]["service"]["id"], "score": 1}]},
            auth=False)
        self.assertEqual(status, 200, raw)
        # A crisis is answered at once, crisis contacts first.
        crisis = self.turn("I want to kill myself", language="en")
        self.assertTrue(crisis["crisis"])
        self.assertIn("112", crisis["replies"][-1])
        self.assertTrue(crisis["services"])
        self.assertTrue(all(s["explanation"]["crisis"] for s in crisis["services"]), crisis)
        # Bad input names the field and changes nothing.
        refused = self.turn("hei", {"municipality_code": "999"}, expect=400)
        self.assertIn("state.municipality_code", refused["message"])
        refused = self.turn("hei", language="de", expect=400)
        self.assertIn("language", refused["message"])
        # `aurora chat` in the terminal speaks the same engine.
        done = subprocess.run(
            [aurora_node.AURORA_BIN, "chat", "--grpc-target", self.node.target],
            input="tarvitsen vuokra-asunnon\nAsun Oulussa\n/clear\nhaluan tappaa itseni\n",
            env=aurora_node.child_env(), capture_output=True, text=True, timeout=60, check=False)
        self.assertEqual(done.returncode, 0, done.stderr)
        lines = done.stdout.splitlines()
        self.assertIn("Aurora: Missä kunnassa asut? Palvelut riippuvat kunnasta.", lines)
        self.assertIn("  [Helsinki | Tampere | Oulu | En halua kertoa]", lines)
        found = lines.index("Aurora: Löysin nämä palvelut. Kerro lisää, jos haluat tarkentaa.")
        self.assertTrue(lines[found + 1].startswith("  1. "), done.stdout)
        self.assertIn("564 Oulu", done.stdout)
        cleared = lines.index("Keskustelu tyhjennetty.")
        self.assertEqual(lines[cleared + 1], "!!! 112 !!!")
        self.assertIn("hätänumeroon 112", lines[cleared + 2])
        done = subprocess.run([aurora_node.AURORA_BIN, "chat", "--language", "de"],
                              env=aurora_node.child_env(), capture_output=True, text=True,
                              timeout=30, check=False)
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertIn('--language: expected fi, sv or en, got "de"', done.stderr)
        # The node keeps no conversation text: not in its log.
        for entry in self.node.logs():
            self.assertNotIn("vuokra-asunnon", json.dumps(entry, ensure_ascii=False))
            self.assertNotIn("kill myself", json.dumps(entry, ensure_ascii=False))



class AreaClassifierTest(unittest.TestCase):
    """`--area-classifier on`: the node trains the life-area classifier on the demo catalogue's
    hand labels in the background, reports it in the log and the metrics, and explains the areas
    it inferred; a bad value stops the start naming the flag."""

    def test_trained_reported_and_explained(self):
        with tempfile.TemporaryDirectory(prefix="aurora-e2e-areas-") as tmp:
            node = AuroraNode(os.path.join(tmp, "node"), extra_args=[
                "--demo", aurora_node.DATA_DIR, "--area-classifier", "on",
                "--dictionary-dir", "off"]).start()
            try:
                deadline = time.monotonic() + 120
                trained = None
                while trained is None and time.monotonic() < deadline:
                    trained = node.find_log("life-area classifier trained")
                    time.sleep(0.2)
                self.assertIsNotNone(trained, "no training within 120 s:\n" + node.log_tail())
                self.assertGreater(int(trained["examples"]), 1000)
                self.assertGreater(int(trained["inferred_services"]), 0)
                status, _, raw = curl(node.metrics_url)
                self.assertEqual(status, 200)
                metrics = raw.decode()
                self.assertIn('aurora_recommender_area_classifier_precision{area="health"}',
                              metrics)
                self.assertIn('aurora_recommender_area_classifier_trainings_total{result="ok"} 1',
                              metrics)
                # Some recommendation for a need now rests on an inferred area, with its
                # confidence.
                status, _, raw = curl("-X", "POST", "-H", "Content-Type: application/json",
                                      "--data-binary", json.dumps({
                                          "life_situation_meters": {"family": [1]},
                                          "limit": 50}),
                                      node.http_url("/v1/recommendations"))
                self.assertEqual(status, 200, raw)
                inferred = [a for s in json.loads(raw)["services"]
                            for a in s["explanation"]["life_areas"]
                            if a["source"] == "LABEL_SOURCE_INFERRED"]
                self.assertTrue(inferred, "no inferred area among 50 family services")
                for area in inferred:
                    self.assertGreater(area["confidence"], 0)
            finally:
                node.stop()
            done = subprocess.run([aurora_node.AURORA_BIN, "serve", "--area-classifier", "yes"],
                                  env=aurora_node.child_env(), capture_output=True, text=True,
                                  timeout=60, check=False)
            self.assertNotEqual(done.returncode, 0)
            self.assertIn('--area-classifier: expected on or off, got "yes"', done.stderr)


class RemoteDirectoryTest(unittest.TestCase):
    """A recommender and gateway node following another node's directory (as the production
    topology runs them): its gateway answers the compat API with credentials the remote
    directory verifies, forwards directory calls there, and recommends what was created there."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="aurora-e2e-remote-directory-")
        cls.directory = AuroraNode(os.path.join(cls.tmp.name, "directory"),
                                   extra_args=["--components", "directory",
                                               "--demo", aurora_node.DATA_DIR]).start()
        cls.front = AuroraNode(os.path.join(cls.tmp.name, "front"),
                               extra_args=["--components", "recommender,gateway",
                                           "--directory-target", cls.directory.target]).start()
        with open(os.path.join(cls.directory.data_dir, "demo-credentials.json")) as f:
            credentials = json.load(f)
        cls.user = f"{credentials['client_id']}:{credentials['client_secret']}"

    @classmethod
    def tearDownClass(cls):
        cls.front.stop()
        cls.directory.stop()
        cls.tmp.cleanup()

    def test_compat_credentials_verified_by_the_remote_directory(self):
        body = json.dumps({"search_text": "kalastuslupa", "limit": 2})
        status, _, raw = curl("-u", self.user, "-H", "Content-Type: application/json",
                              "--data-binary", body,
                              self.front.http_url(f"{COMPAT}/text_search"))
        self.assertEqual(status, 200, raw)
        services = json.loads(raw)["recommended_services"]
        self.assertGreaterEqual(len(services), 1)
        status, _, raw = curl("-u", "not-a-client:wrong", "-H", "Content-Type: application/json",
                              "--data-binary", body,
                              self.front.http_url(f"{COMPAT}/text_search"))
        self.assertEqual(status, 401, raw)

    def test_directory_calls_reach_the_remote_directory(self):
        status, _, raw = curl(self.front.http_url("/v1/services"), "-X", "POST",
                              "-H", "Content-Type: application/json", "--data-binary", "{}")
        # Writing needs credentials: the remote directory's own answer, not UNIMPLEMENTED (501).
        self.assertIn(status, (400, 401), raw)
        some = aurora_node.list_all_services(self.directory.directory(), page_size=500)[0][0]
        status, _, raw = curl(self.front.http_url(f"/v1/services/{some.id}"))
        self.assertEqual(status, 200, raw)
        self.assertEqual(json.loads(raw)["id"], some.id)


class StopWhileStartingTest(unittest.TestCase):
    """A recommender node whose directory cannot be reached waits for its snapshot before it
    serves (up to --recommender-sync-timeout, 120 s by default). A stop signal in that wait must
    end it at once, as Kubernetes expects of a pod it stops: exit 0, not a kill after the grace
    period."""

    def test_sigterm_while_waiting_for_the_directory(self):
        with tempfile.TemporaryDirectory(prefix="aurora-e2e-stop-starting-") as tmp:
            # A port nobody listens on: the follower keeps reconnecting.
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                closed_port = probe.getsockname()[1]
            log_path = os.path.join(tmp, "node.log")
            with open(log_path, "wb") as log:
                process = subprocess.Popen(
                    [aurora_node.AURORA_BIN, "serve", "--data-dir", os.path.join(tmp, "data"),
                     "--components", "recommender", "--grpc-listen", "127.0.0.1:0",
                     "--metrics-listen", "off", "--codelists", aurora_node.CODELISTS_DIR,
                     "--directory-target", f"127.0.0.1:{closed_port}"],
                    env=aurora_node.child_env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            try:
                def logged(message):
                    return any(isinstance(e, dict) and e.get("message") == message
                               for e in aurora_node.read_log(log_path))
                # Waiting: the watch failed at least once, and the node does not serve.
                deadline = time.monotonic() + 30
                while not logged("directory watch ended; reconnecting"):
                    self.assertIsNone(process.poll(), "the node exited before the test stopped it")
                    self.assertLess(time.monotonic(), deadline, "the follower never tried")
                    time.sleep(0.05)
                self.assertFalse(logged("serving"))
                stopped_at = time.monotonic()
                process.send_signal(signal.SIGTERM)
                code = process.wait(timeout=20)
                elapsed = time.monotonic() - stopped_at
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            self.assertEqual(code, 0, open(log_path, errors="replace").read())
            self.assertLess(elapsed, 5, f"SIGTERM took {elapsed:.1f} s")
            self.assertTrue(logged("stop signal received while starting; stopped"))
            self.assertFalse(logged("serving"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
