"""The HTTP/JSON gateway as a user meets it: `aurora serve --demo` answering the real `curl`
(readiness, the catalogue through the REST face, a write with the demo credentials, the change
feed as NDJSON and SSE, OpenAPI, docs, /metrics), then `aurora gateway --upstream` running alone
in front of the node, and its clean stop on SIGTERM.
"""

import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

import aurora_node
from aurora_node import AuroraNode, curl, free_port

DEMO_ORGANIZATION = "2b7d2c4e-8f3a-5d61-9c0e-4a1f6b3d7e25"




class GatewayTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="aurora-e2e-gateway-")
        cls.node = AuroraNode(os.path.join(cls.tmp.name, "node"),
                              extra_args=["--demo", aurora_node.DATA_DIR]).start()
        with open(os.path.join(cls.node.data_dir, "demo-credentials.json")) as f:
            credentials = json.load(f)
        cls.user = f"{credentials['client_id']}:{credentials['client_secret']}"

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()
        cls.tmp.cleanup()

    def url(self, path):
        return self.node.http_url(path)

    def test_ready_and_catalogue(self):
        status, _, body = curl(self.url("/readyz"))
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"status": "SERVING"})

        # Every service available in Helsinki (091), 200 per page, followed to the end.
        seen, token = [], ""
        while True:
            status, headers, body = curl(
                self.url("/v1/services?area.municipality_codes=091"
                         f"&page.page_size=200&page.page_token={token}"))
            self.assertEqual(status, 200, body)
            self.assertEqual(headers["content-type"], "application/json")
            page = json.loads(body)
            seen += page["services"]
            token = page["next_page_token"]
            if not token:
                break
        self.assertGreater(len(seen), 1000)
        self.assertEqual(len({s["id"] for s in seen}), len(seen))
        for service in seen:
            self.assertTrue("091" in service["municipality_codes"] or
                            service["area_type"].startswith("AREA_TYPE_NATIONWIDE"), service)

        status, _, body = curl(self.url(f"/v1/services/{seen[0]['id']}"))
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["name"], seen[0]["name"])

        status, headers, body = curl(self.url("/v1/services?municipality=091"))
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body)["code"], 3)
        self.assertIn("municipality", json.loads(body)["message"])

    def test_write_with_demo_credentials_and_watch(self):
        _, _, body = curl(self.url("/v1/services?page.page_size=1"))
        start = int(json.loads(body)["revision"])
        service = {
            "organization_id": DEMO_ORGANIZATION,
            "kind": "SERVICE_KIND_SERVICE",
            "name": {"fi": "Kokeilupalvelu", "en": "Trial service"},
            "area_type": "AREA_TYPE_NATIONWIDE",
            "languages": ["fi", "en"],
        }
        status, headers, body = curl("-X", "POST", self.url("/v1/services"),
                                     "-d", json.dumps(service))
        self.assertEqual(status, 401)
        self.assertIn("Basic", headers["www-authenticate"])
        status, _, body = curl("-u", self.user, "-X", "POST", self.url("/v1/services"),
                               "-H", "Content-Type: application/json", "-d", json.dumps(service))
        self.assertEqual(status, 200, body)
        created = json.loads(body)
        self.assertEqual(created["name"]["en"], "Trial service")

        # The change feed from before the write, as NDJSON and as SSE (curl stops after 2 s).
        status, headers, body = curl("-N", self.url(f"/v1/directory:watch?after_revision={start}"),
                                     timeout=2)
        self.assertEqual(headers["content-type"], "application/x-ndjson")
        events = [e for line in body.decode().splitlines() if line
                  for e in json.loads(line)["events"]]
        self.assertIn(created["id"], [e.get("service", {}).get("id") for e in events])
        status, headers, body = curl("-N", "-H", "Accept: text/event-stream",
                                     self.url(f"/v1/directory:watch?after_revision={start}"),
                                     timeout=2)
        self.assertEqual(headers["content-type"], "text/event-stream")
        self.assertTrue(body.decode().startswith("data: {"))

        status, _, body = curl("-u", self.user, "-X", "DELETE",
                               self.url(f"/v1/services/{created['id']}"))
        self.assertEqual(status, 200, body)
        status, _, _ = curl(self.url(f"/v1/services/{created['id']}"))
        self.assertEqual(status, 404)

    def test_openapi_docs_metrics(self):
        status, _, body = curl(self.url("/openapi.json"))
        self.assertEqual(status, 200)
        document = json.loads(body)
        self.assertTrue(document["openapi"].startswith("3.0"))
        self.assertIn("/v1/services/{id}", document["paths"])
        status, headers, body = curl(self.url("/docs"))
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/html"))
        self.assertIn(b"/v1/services", body)
        curl(self.url("/v1/services?page.page_size=1"))
        status, _, body = curl(self.url("/metrics"))
        self.assertEqual(status, 200)
        self.assertIn(b'aurora_http_requests_total{code="200",route="GET /v1/services"}', body)
        self.assertIn(b"grpc_server_handled_total", body)  # the same registry as the node's

    def start_gateway(self, name, args):
        """Starts `aurora gateway ARGS --http-listen 127.0.0.1:0` logging to <tmp>/<name>.log;
        returns (process, its "serving" log entry, the log's path)."""
        log_path = os.path.join(self.tmp.name, f"{name}.log")
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [aurora_node.AURORA_BIN, "gateway", *args, "--http-listen", "127.0.0.1:0"],
                env=aurora_node.child_env(), stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(log_path, encoding="utf-8") as f:
                for line in f:
                    entry = json.loads(line)
                    if entry.get("message") == "serving":
                        return process, entry, log_path
            if process.poll() is not None:
                self.fail(f"aurora gateway exited with {process.returncode}")
            time.sleep(0.05)
        process.kill()
        self.fail("aurora gateway did not log 'serving'")

    def stop_gateway(self, process):
        process.send_signal(signal.SIGTERM)
        self.assertEqual(process.wait(timeout=30), 0)

    def test_web_root(self):
        web = os.path.join(self.tmp.name, "web")
        os.makedirs(os.path.join(web, ".secret"))
        with open(os.path.join(web, "index.html"), "w", encoding="utf-8") as f:
            f.write("<!doctype html><title>Miten menee?</title>")
        with open(os.path.join(web, "app.js"), "w", encoding="utf-8") as f:
            f.write("console.log('hei');\n")
        with open(os.path.join(web, ".secret", "key"), "w", encoding="utf-8") as f:
            f.write("no")
        process, serving, _ = self.start_gateway("gateway-web", [
            "--upstream", self.node.target, "--web-root", web])
        base = f"http://127.0.0.1:{serving['http_port']}"
        try:
            status, headers, body = curl(base + "/")
            self.assertEqual(status, 200, body)
            self.assertEqual(body, b"<!doctype html><title>Miten menee?</title>")
            self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
            self.assertEqual(headers["cache-control"], "no-cache")
            self.assertIn("default-src 'self'", headers["content-security-policy"])
            self.assertEqual(headers["x-content-type-options"], "nosniff")
            # Revalidation: the same ETag answers 304 without a body.
            status, _, body = curl("-H", f"If-None-Match: {headers['etag']}", base + "/")
            self.assertEqual((status, body), (304, b""))
            status, headers, body = curl(base + "/app.js")
            self.assertEqual((status, headers["content-type"]),
                             (200, "text/javascript; charset=utf-8"))
            # The API keeps its routes; the rest is not found, and files take only GET.
            status, _, body = curl(base + "/v1/services?page.page_size=1")
            self.assertEqual(status, 200, body)
            for path in ("/.secret/key", "/nope.html", "/%2e%2e/etc/passwd"):
                status, _, body = curl("--path-as-is", base + path)
                self.assertEqual(status, 404, path)
                self.assertEqual(json.loads(body)["code"], 5, body)
            status, headers, _ = curl("-X", "POST", base + "/app.js")
            self.assertEqual((status, headers["allow"]), (405, "GET"))
        finally:
            self.stop_gateway(process)
        # A web root that is not a folder stops the start, naming the flag.
        done = subprocess.run([aurora_node.AURORA_BIN, "gateway", "--upstream", self.node.target,
                               "--web-root", os.path.join(web, "index.html")],
                              env=aurora_node.child_env(), capture_output=True, text=True,
                              timeout=30, check=False)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("--web-root", done.stderr)

    def test_standalone_gateway(self):
        process, serving, log_path = self.start_gateway("gateway", [
            "--upstream", self.node.target, "--metrics-listen", "127.0.0.1:0",
            "--http-metrics", "off"])
        metrics_port = int(serving["metrics_port"])
        try:
            base = f"http://127.0.0.1:{serving['http_port']}"
            status, _, body = curl(base + "/readyz")
            self.assertEqual(status, 200, body)
            status, _, body = curl(base + "/v1/services?page.page_size=3")
            self.assertEqual(status, 200)
            self.assertEqual(len(json.loads(body)["services"]), 3)
            status, _, body = curl("-u", self.user, base + f"/v1/organizations/{DEMO_ORGANIZATION}"
                                   "/clients")
            self.assertEqual(status, 200, body)
            self.assertGreaterEqual(len(json.loads(body)["clients"]), 1)
            # --http-metrics off: the public HTTP port has no /metrics; monitoring scrapes
            # --metrics-listen, which counts the requests above.
            status, _, body = curl(base + "/metrics")
            self.assertEqual(status, 404, body)
            self.assertNotEqual(metrics_port, 0)
            status, _, body = curl(f"http://127.0.0.1:{metrics_port}/metrics")
            self.assertEqual(status, 200)
            self.assertIn(b'aurora_http_requests_total{code="200",route="GET /v1/services"} 1',
                          body)
            self.assertIn(b'aurora_build_info{grpc_version="', body)
        finally:
            self.stop_gateway(process)
        with open(log_path, encoding="utf-8") as f:
            self.assertIn("stopped", [json.loads(line)["message"] for line in f])

    def test_standalone_gateway_routes_services_to_their_upstreams(self):
        # --upstream points nowhere; the directory's calls (and API client checks) go to the node
        # through --service-upstreams, as a gateway in front of separate component pods does.
        nowhere = f"127.0.0.1:{free_port()}"
        process, serving, _ = self.start_gateway("gateway-routes", [
            "--upstream", nowhere,
            "--service-upstreams", f"aurora.directory.v1.Directory={self.node.target}"])
        try:
            base = f"http://127.0.0.1:{serving['http_port']}"
            status, _, body = curl(base + "/v1/services?page.page_size=2")
            self.assertEqual(status, 200, body)
            self.assertEqual(len(json.loads(body)["services"]), 2)
            status, _, body = curl("-u", self.user, base + f"/v1/organizations/{DEMO_ORGANIZATION}"
                                   "/clients")
            self.assertEqual(status, 200, body)
            # The recommender is not routed elsewhere: its calls go to --upstream, which is down.
            status, _, body = curl("-X", "POST", "--data-binary", '{"text": "kirjasto"}',
                                   base + "/v1/search")
            self.assertEqual(status, 503, body)
        finally:
            self.stop_gateway(process)
        done = subprocess.run([aurora_node.AURORA_BIN, "gateway", "--upstream", self.node.target,
                               "--service-upstreams", "nope=127.0.0.1:1"],
                              env=aurora_node.child_env(), capture_output=True, text=True,
                              timeout=30, check=False)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn('--service-upstreams "nope=127.0.0.1:1"', done.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
