#!/usr/bin/python3
"""Writes the Grafana dashboards in dashboards/ from the definitions below.

  dashboards.py           (re)write dashboards/*.json
  dashboards.py --check   exit 1 if a file differs from what this script makes (ctest
                          monitoring.dashboards), or a dashboard breaks the conventions

Edit the definitions here, not the JSON. Conventions: schemaVersion 39, a stable uid per
dashboard, a `datasource` variable (type prometheus) that every panel and query uses, and the
variables namespace, component and instance (multi-value, "All" = `.*`, which also matches a
missing label, e.g. an all-in-one node scraped without namespace). Rates use $__rate_interval.
tests/e2e/test_prometheus.py evaluates every query against a real Prometheus.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "dashboards")
DS = {"type": "prometheus", "uid": "${datasource}"}

# The selector every raw query starts from, and the one for recording rules (which keep only
# job, namespace and component).
S = 'job="aurora", namespace=~"$namespace", component=~"$component", instance=~"$instance"'
SR = 'job="aurora", namespace=~"$namespace", component=~"$component"'
RI = "$__rate_interval"
SERVER_ERROR_CODES = "Unknown|Internal|Unavailable|DataLoss|DeadlineExceeded|ResourceExhausted"
RECOMMENDATION_SERVICES = "aurora.recommender.v1.Recommender|aurora.compat.v1.ServiceRecommender"
RECOMMENDATION_METHODS = "Recommend|Search|RecommendPackage|RecommendService|TextSearch"


def rate(metric, extra="", by=None):
    sel = S + (", " + extra if extra else "")
    inner = f"rate({metric}{{{sel}}}[{RI}])"
    return f"sum by ({by}) ({inner})" if by else f"sum({inner})"


def ratio_or_zero(metric, bad, by):
    """Share of `bad` among all of `metric`, 0 (not absent) when there is no bad series."""
    total = rate(metric, by=by)
    return f"({rate(metric, bad, by=by)} or {total} * 0) / {total}"


def quantiles(metric, extra, by, legend):
    sel = S + (", " + extra if extra else "")
    group = f"{by}, le" if by else "le"
    return [(f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{sel}}}[{RI}])))",
             f"p{int(q * 100)} {legend}") for q in (0.5, 0.95, 0.99)]


class Dashboard:
    def __init__(self, uid, title, description, tags=()):
        self.uid, self.title, self.description = uid, title, description
        self.tags = ["aurora", *tags]
        self.panels = []
        self.x = self.y = 0
        self.row_height = 0

    def _place(self, w, h):
        if self.x + w > 24:
            self.x, self.y = 0, self.y + self.row_height
            self.row_height = 0
        pos = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_height = max(self.row_height, h)
        return pos

    def row(self, title):
        if self.x:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        self.panels.append({"type": "row", "title": title, "collapsed": False, "panels": [],
                            "id": len(self.panels) + 1, "gridPos": self._place(24, 1)})
        self.x, self.y, self.row_height = 0, self.y + 1, 0

    def panel(self, kind, title, queries, unit="short", w=12, h=8, description="",
              instant=False, options=None, field_defaults=None):
        targets = []
        for i, query in enumerate(queries):
            expr, legend = query if isinstance(query, tuple) else (query, "")
            target = {"datasource": DS, "refId": chr(ord("A") + i), "expr": expr,
                      "legendFormat": legend or "__auto"}
            if instant:
                target.update({"instant": True, "range": False, "format": "table"})
            targets.append(target)
        defaults = {"unit": unit}
        defaults.update(field_defaults or {})
        panel = {"id": len(self.panels) + 1, "type": kind, "title": title,
                 "description": description, "datasource": DS,
                 "gridPos": self._place(w, h), "targets": targets,
                 "fieldConfig": {"defaults": defaults, "overrides": []},
                 "options": options or {}}
        self.panels.append(panel)

    def ts(self, title, queries, unit="short", **kw):
        kw.setdefault("options", {"legend": {"displayMode": "list", "placement": "bottom"},
                                  "tooltip": {"mode": "multi", "sort": "desc"}})
        self.panel("timeseries", title, queries, unit, **kw)

    def stat(self, title, queries, unit="short", w=4, h=4, **kw):
        kw.setdefault("options", {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                                    "values": False},
                                  "colorMode": "value", "graphMode": "area"})
        self.panel("stat", title, queries, unit, w=w, h=h, **kw)

    def table(self, title, queries, w=12, h=8, **kw):
        self.panel("table", title, queries, "short", w=w, h=h, instant=True,
                   options={"showHeader": True}, **kw)

    def json(self):
        def variable(name, label, query):
            return {"name": name, "label": label, "type": "query", "datasource": DS,
                    "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
                    "definition": query, "refresh": 2, "includeAll": True, "multi": True,
                    "allValue": ".*", "current": {"selected": True, "text": ["All"],
                                                  "value": ["$__all"]},
                    "sort": 1, "hide": 0, "options": []}
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": self.tags,
            "schemaVersion": 39,
            "version": 1,
            "editable": True,
            "graphTooltip": 1,
            "timezone": "browser",
            "time": {"from": "now-6h", "to": "now"},
            "refresh": "1m",
            "annotations": {"list": [{
                "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts", "type": "dashboard"}]},
            "links": [{"title": "Aurora", "type": "dashboards", "tags": ["aurora"],
                       "asDropdown": True, "includeVars": True, "keepTime": True}],
            "templating": {"list": [
                {"name": "datasource", "label": "Data source", "type": "datasource",
                 "query": "prometheus", "current": {}, "hide": 0, "refresh": 1,
                 "regex": "", "includeAll": False, "multi": False, "options": []},
                variable("namespace", "Namespace", 'label_values(up{job="aurora"}, namespace)'),
                variable("component", "Component",
                         'label_values(up{job="aurora", namespace=~"$namespace"}, component)'),
                variable("instance", "Instance",
                         'label_values(up{job="aurora", namespace=~"$namespace", '
                         'component=~"$component"}, instance)'),
            ]},
            "panels": self.panels,
        }


def overview():
    d = Dashboard("aurora-overview", "Aurora / Overview",
                  "The Aurora network at a glance: targets, traffic, errors, latency, "
                  "recommender lag, disk.")
    d.stat("Targets up", [f"sum(up{{{S}}})"])
    d.stat("Targets down", [f"count(up{{{S}}} == 0) or vector(0)"],
           field_defaults={"thresholds": {"mode": "absolute", "steps": [
               {"color": "green", "value": None}, {"color": "red", "value": 1}]}})
    d.stat("Firing Aurora alerts",
           ['sum(ALERTS{alertname=~"Aurora.*", alertstate="firing"}) or vector(0)'])
    d.stat("Services in the directory", [f"max(aurora_directory_services{{{S}}})"])
    d.stat("Recommendation SLO: slow share (1h)",
           [f"max(component:aurora_recommendation_latency_slo_errors:ratio_rate1h{{{SR}}})"],
           unit="percentunit")
    d.stat("Max recommender lag", [
        f"max(pod:aurora_recommender_lag_revisions:directory_minus_applied{{{S}}})"])
    d.ts("Targets up by component", [(f"sum by (component) (up{{{S}}})", "{{component}}")])
    d.table("Build versions", [
        (f"count by (version, grpc_version) (aurora_build_info{{{S}}})", "")])
    d.row("Traffic and errors")
    d.ts("gRPC calls per second by component",
         [(rate("grpc_server_handled_total", by="component"), "{{component}}")], "reqps")
    d.ts("HTTP requests per second by component",
         [(rate("aurora_http_requests_total", by="component"), "{{component}}")], "reqps")
    d.ts("gRPC server-error ratio by component",
         [(ratio_or_zero("grpc_server_handled_total", f'grpc_code=~"{SERVER_ERROR_CODES}"',
                         "component"), "{{component}}")], "percentunit",
         description="Unknown, Internal, Unavailable, DataLoss, DeadlineExceeded, "
                     "ResourceExhausted among all calls.")
    d.ts("HTTP 5xx ratio by component",
         [(ratio_or_zero("aurora_http_requests_total", 'code=~"5.."', "component"),
           "{{component}}")], "percentunit")
    d.row("Latency")
    d.ts("gRPC unary latency by component",
         quantiles("grpc_server_handling_seconds", 'grpc_type="unary"', "component",
                   "{{component}}"), "s", w=24)
    d.ts("Recommendation latency SLO burn rate (1 = budget spent exactly in 30 days)", [
        (f"component:aurora_recommendation_latency_slo_errors:ratio_rate{w}{{{SR}}} / 0.01",
         f"{w} {{{{component}}}}") for w in ("5m", "1h", "6h")], "short")
    d.ts("Recommender lag behind the directory (revisions)", [
        (f"pod:aurora_recommender_lag_revisions:directory_minus_applied{{{S}}}",
         "{{instance}}")])
    d.row("Disk")
    d.ts("Data dir free", [
        (f"aurora_data_dir_available_bytes{{{S}}} / aurora_data_dir_capacity_bytes{{{S}}}",
         "{{instance}}")], "percentunit")
    d.ts("RocksDB live data by instance", [
        (f"sum by (instance) (aurora_rocksdb_live_data_bytes{{{S}}})", "{{instance}}")],
        "bytes")
    return d


def directory():
    d = Dashboard("aurora-directory", "Aurora / Directory",
                  "The service directory: catalogue size, changes, calls, watch streams.",
                  ["directory"])
    svc = 'grpc_service="aurora.directory.v1.Directory"'
    d.stat("Live services", [f"max(aurora_directory_services{{{S}}})"])
    d.stat("Revision", [f"max(aurora_directory_revision{{{S}}})"])
    d.stat("Open watch streams", [
        f'sum(grpc_server_started_total{{{S}, {svc}, grpc_method="Watch"}}) - '
        f'sum(grpc_server_handled_total{{{S}, {svc}, grpc_method="Watch"}})'])
    d.stat("Calls per second", [rate("grpc_server_handled_total", svc)], "reqps")
    d.stat("Server-error ratio", [ratio_or_zero(
        "grpc_server_handled_total", f'{svc}, grpc_code=~"{SERVER_ERROR_CODES}"', "job")],
        "percentunit")
    d.stat("Registry version", [f"max(aurora_network_registry_version{{{S}}})"])
    d.ts("Services by instance", [(f"aurora_directory_services{{{S}}}", "{{instance}}")])
    d.ts("Committed revisions per second", [
        (f"deriv(aurora_directory_revision{{{S}}}[{RI}])", "{{instance}}")])
    d.ts("Calls per second by method", [
        (rate("grpc_server_handled_total", svc, by="grpc_method"), "{{grpc_method}}")], "reqps")
    d.ts("Non-OK calls per second by method and code", [
        (rate("grpc_server_handled_total", f'{svc}, grpc_code!="OK"', by="grpc_method, grpc_code"),
         "{{grpc_method}} {{grpc_code}}")], "reqps")
    d.ts("Unary latency p99 by method", [
        (f"histogram_quantile(0.99, sum by (grpc_method, le) (rate("
         f'grpc_server_handling_seconds_bucket{{{S}, {svc}, grpc_type="unary"}}[{RI}])))',
         "{{grpc_method}}")], "s")
    d.ts("Unary latency", quantiles("grpc_server_handling_seconds",
                                    f'{svc}, grpc_type="unary"', "", "all methods"), "s")
    return d


def recommender():
    d = Dashboard("aurora-recommender", "Aurora / Recommender",
                  "Recommendations: traffic, latency SLO, overload, index, and answer quality "
                  "(feedback, click-through, empty answers, the learnt model).",
                  ["recommender"])
    rs = f'grpc_service=~"{RECOMMENDATION_SERVICES}"'
    rm = f'{rs}, grpc_method=~"{RECOMMENDATION_METHODS}"'
    d.stat("Answers per second", [rate("aurora_recommender_answers_total")], "reqps")
    d.stat("Positive feedback share", [
        f'{rate("aurora_recommender_feedback_total", "score=" + chr(34) + "positive" + chr(34))}'
        f' / {rate("aurora_recommender_feedback_total")}'], "percentunit")
    d.stat("Click-through", [
        f'{rate("aurora_recommender_redirects_total")} / '
        f'{rate("aurora_recommender_answers_total")}'], "percentunit",
        description="Clicks on recommended services' links per first-page answer.")
    d.stat("Empty answers", [
        f'{rate("aurora_recommender_empty_answers_total")} / '
        f'{rate("aurora_recommender_answers_total")}'], "percentunit")
    d.stat("Model version", [f"max(aurora_recommender_model_version{{{S}}})"])
    d.stat("Queued rankings", [f"sum(aurora_recommender_queued_rankings{{{S}}})"])
    d.row("Traffic and latency")
    d.ts("First-page answers per second by path", [
        (rate("aurora_recommender_answers_total", by="path"), "{{path}}")], "reqps")
    d.ts("Recommendation calls per second by method and code", [
        (rate("grpc_server_handled_total", rm, by="grpc_method, grpc_code") + " > 0",
         "{{grpc_method}} {{grpc_code}}")], "reqps",
        description="Only codes with calls in the interval.")
    d.ts("Recommendation latency", quantiles("grpc_server_handling_seconds", rm, "",
                                             "recommendations"), "s")
    d.ts("Latency SLO burn rate (1 = budget spent exactly in 30 days)", [
        (f"component:aurora_recommendation_latency_slo_errors:ratio_rate{w}{{{SR}}} / 0.01",
         f"{w} {{{{component}}}}") for w in ("5m", "30m", "1h", "6h")])
    d.row("Overload")
    d.ts("Queued rankings", [(f"aurora_recommender_queued_rankings{{{S}}}", "{{instance}}")])
    d.ts("Refused for overload (RESOURCE_EXHAUSTED / 429) per second", [
        (rate("grpc_server_handled_total", f'{rs}, grpc_code="ResourceExhausted"',
              by="grpc_service"), "{{grpc_service}}")], "reqps")
    d.row("Quality")
    d.ts("Feedback per second", [
        (rate("aurora_recommender_feedback_total", by="score"), "{{score}}")], "reqps")
    d.ts("Positive feedback share", [
        (f'{rate("aurora_recommender_feedback_total", "score=" + chr(34) + "positive" + chr(34))}'
         f' / {rate("aurora_recommender_feedback_total")}', "positive")], "percentunit")
    d.ts("Click-through (redirects per answer)", [
        (f'{rate("aurora_recommender_redirects_total")} / '
         f'{rate("aurora_recommender_answers_total")}', "click-through")], "percentunit")
    d.ts("Empty-answer ratio by path", [
        (f'{rate("aurora_recommender_empty_answers_total", by="path")} / '
         f'{rate("aurora_recommender_answers_total", by="path")}', "{{path}}")], "percentunit")
    d.ts("Active model version", [
        (f"aurora_recommender_model_version{{{S}}}", "{{instance}}")])
    d.ts("Model: impressions trained on, trainings, explorations", [
        (f"aurora_recommender_model_impressions{{{S}}}", "impressions {{instance}}"),
        (f"sum by (result) (increase(aurora_recommender_model_trainings_total{{{S}}}[{RI}]))",
         "trainings {{result}}"),
        (f"sum(increase(aurora_recommender_explorations_total{{{S}}}[{RI}]))", "explorations")])
    d.row("Index")
    d.ts("Services in the index", [
        (f"aurora_recommender_index_services{{{S}}}", "services {{instance}}"),
        (f"aurora_recommender_index_tombstones{{{S}}}", "tombstones {{instance}}")])
    d.ts("Lag behind the directory (revisions)", [
        (f"pod:aurora_recommender_lag_revisions:directory_minus_applied{{{S}}}",
         "{{instance}}"),
        (f"aurora_recommender_watch_lag_revisions{{{S}}}", "in-node {{instance}}")])
    return d


def gateway():
    d = Dashboard("aurora-gateway", "Aurora / Gateway",
                  "The HTTP/JSON gateway per route: rate, errors, latency, connections.",
                  ["gateway"])
    m = "aurora_http_requests_total"
    d.stat("Requests per second", [rate(m)], "reqps")
    d.stat("5xx ratio", [ratio_or_zero(m, 'code=~"5.."', "job")], "percentunit")
    d.stat("429 ratio", [ratio_or_zero(m, 'code="429"', "job")], "percentunit")
    d.stat("In flight", [f"sum(aurora_http_requests_in_flight{{{S}}})"])
    d.stat("Open connections", [f"sum(aurora_http_connections{{{S}}})"])
    d.stat("p99 latency", [
        f"histogram_quantile(0.99, sum by (le) (rate(aurora_http_request_duration_seconds_bucket"
        f'{{{S}, route!~".*(watch|Watch|stream).*"}}[{RI}])))'], "s",
        description="Without streaming routes, whose duration is the stream's.")
    d.ts("Requests per second by route", [(rate(m, by="route"), "{{route}}")], "reqps", w=24)
    d.ts("Requests per second by status", [(rate(m, by="code"), "{{code}}")], "reqps")
    d.ts("5xx ratio by route", [(ratio_or_zero(m, 'code=~"5.."', "route"), "{{route}}")],
         "percentunit")
    d.ts("4xx ratio by route", [(ratio_or_zero(m, 'code=~"4.."', "route"), "{{route}}")],
         "percentunit")
    d.ts("p99 latency by route", [
        (f"histogram_quantile(0.99, sum by (route, le) (rate("
         f"aurora_http_request_duration_seconds_bucket{{{S}}}[{RI}])))", "{{route}}")], "s")
    d.ts("Latency (all routes)", quantiles("aurora_http_request_duration_seconds", "", "",
                                           "all"), "s")
    d.ts("In flight and connections", [
        (f"sum by (instance) (aurora_http_requests_in_flight{{{S}}})", "in flight {{instance}}"),
        (f"sum by (instance) (aurora_http_connections{{{S}}})", "connections {{instance}}")])
    d.ts("Body bytes per second by route", [
        (rate("aurora_http_request_bytes_total", by="route"), "in {{route}}"),
        (rate("aurora_http_response_bytes_total", by="route"), "out {{route}}")], "Bps", w=24)
    return d


def profile():
    d = Dashboard("aurora-profile", "Aurora / Profile and network",
                  "Profile operations (counts only, no identities), service access, and the "
                  "node's place in the network: registry copy, access decisions, certificate.",
                  ["profile", "network"])
    p = 'grpc_service="aurora.profile.v1.Profile"'
    a = 'grpc_service="aurora.profile.v1.ProfileAccess"'
    ok = 'grpc_code="OK"'
    d.stat("Consents granted", [
        f'sum(increase(grpc_server_handled_total{{{S}, {p}, grpc_method="GrantConsent", {ok}}}[$__range]))'],
        description="In the dashboard's time range.")
    d.stat("Consents withdrawn", [
        f'sum(increase(grpc_server_handled_total{{{S}, {p}, grpc_method="WithdrawConsent", {ok}}}[$__range]))'])
    d.stat("Transfers created", [
        f'sum(increase(grpc_server_handled_total{{{S}, grpc_method="CreateTransfer", {ok}}}[$__range]))'])
    d.stat("Erasures", [
        f'sum(increase(grpc_server_handled_total{{{S}, {p}, grpc_method="DeleteProfile", {ok}}}[$__range]))'])
    d.stat("Registry copy valid for", [
        f"min(aurora_network_registry_valid_until_seconds{{{S}}}) - time()"], "s")
    d.stat("Certificate valid for", [
        f"min(aurora_tls_certificate_expiry_timestamp_seconds{{{S}}}) - time()"], "s")
    d.row("Profile")
    d.ts("Consents per second", [
        (rate("grpc_server_handled_total",
              f'{p}, grpc_method=~"GrantConsent|WithdrawConsent", {ok}', by="grpc_method"),
         "{{grpc_method}}")], "reqps")
    d.ts("Transfers per second", [
        (rate("grpc_server_handled_total",
              'grpc_method=~"CreateTransfer|RedeemTransfer|ReceiveTransfer|'
              f'CreateSessionAttributes|GetSessionAttributes", {ok}',
              by="grpc_service, grpc_method"), "{{grpc_service}} {{grpc_method}}")], "reqps")
    d.ts("Erasures and exports per second", [
        (rate("grpc_server_handled_total", f'{p}, grpc_method=~"DeleteProfile|ExportProfile", {ok}',
              by="grpc_method"), "{{grpc_method}}")], "reqps")
    d.ts("Service reads and stores by outcome", [
        (rate("grpc_server_handled_total",
              f'{a}, grpc_method=~"ReadAttributes|StoreAttributes"',
              by="grpc_method, grpc_code") + " > 0", "{{grpc_method}} {{grpc_code}}")], "reqps",
         description="PermissionDenied: no live consent for that purpose and access.")
    d.ts("Profile calls per second by method", [
        (rate("grpc_server_handled_total", p, by="grpc_method"), "{{grpc_method}}")], "reqps")
    d.ts("Profile server-error ratio", [
        (ratio_or_zero("grpc_server_handled_total",
                       f'grpc_service=~"aurora.profile.v1.*", grpc_code=~"{SERVER_ERROR_CODES}"',
                       "component"), "{{component}}")], "percentunit")
    d.row("Network")
    d.ts("Other organisations' calls: access decisions per second", [
        (rate("aurora_network_access_decisions_total", by="decision"), "{{decision}}")], "reqps")
    d.ts("Registry copy: remaining validity", [
        (f"aurora_network_registry_valid_until_seconds{{{S}}} - time()", "{{instance}}")], "s")
    d.ts("Registry copies taken and refused", [
        (f"sum by (result) (increase(aurora_network_registry_copies_total{{{S}}}[{RI}]))",
         "{{result}}")])
    d.ts("Registry version", [(f"aurora_network_registry_version{{{S}}}", "{{instance}}")])
    d.ts("TLS certificate: time to expiry", [
        (f"aurora_tls_certificate_expiry_timestamp_seconds{{{S}}} - time()", "{{instance}}")],
         "s")
    return d


def situation():
    d = Dashboard("aurora-situation", "Aurora / Situational picture",
                  "The situational picture's last complete window: first-page "
                  "recommendations with 3X10D answers per wellbeing services county and age "
                  "band, and the share showing a need per life area. Cells under k are left "
                  "out by the node.", ["situation"])
    d.stat("Requests in the last window", [f"sum(aurora_situation_requests{{{S}}})"])
    d.stat("Counties shown", [
        f"count(count by (county) (aurora_situation_requests{{{S}}}))"])
    d.stat("Cells shown", [
        f"count(count by (county, age_band) (aurora_situation_requests{{{S}}}))"])
    d.table("Requests by county and age band", [
        (f"sum by (county, age_band) (aurora_situation_requests{{{S}}})", "")], w=12)
    d.table("Need share by county and life area", [
        (f"avg by (county, area) (aurora_situation_need_share{{{S}}})", "")], w=12,
        field_defaults={"unit": "percentunit"})
    d.ts("Requests per window by county", [
        (f"sum by (county) (aurora_situation_requests{{{S}}})", "{{county}}")])
    d.ts("Requests per window by age band", [
        (f"sum by (age_band) (aurora_situation_requests{{{S}}})", "{{age_band}}")])
    d.panel("bargauge", "Need share by life area (mean over counties)", [
        (f"avg by (area) (aurora_situation_need_share{{{S}}})", "{{area}}")], "percentunit",
        w=24, options={"orientation": "horizontal", "displayMode": "gradient",
                       "reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                         "values": False}},
        field_defaults={"min": 0, "max": 1})
    return d


def storage():
    d = Dashboard("aurora-storage", "Aurora / Storage (RocksDB)",
                  "The data dir's filesystem and RocksDB per column family.", ["storage"])
    d.stat("Lowest free share", [
        f"min(aurora_data_dir_available_bytes{{{S}}} / aurora_data_dir_capacity_bytes{{{S}}})"],
        "percentunit")
    d.stat("Writes stopped", [f"max(aurora_rocksdb_write_stopped{{{S}}})"])
    d.stat("Background errors", [f"sum(aurora_rocksdb_background_errors{{{S}}})"])
    d.stat("Pending compaction", [f"sum(aurora_rocksdb_pending_compaction_bytes{{{S}}})"],
           "bytes")
    d.stat("Running compactions", [f"sum(aurora_rocksdb_running_compactions{{{S}}})"])
    d.stat("Delayed write rate", [f"max(aurora_rocksdb_delayed_write_rate_bytes{{{S}}})"],
           "Bps")
    d.row("Data dir")
    d.ts("Available bytes and 24 h forecast", [
        (f"aurora_data_dir_available_bytes{{{S}}}", "available {{instance}}"),
        (f"predict_linear(aurora_data_dir_available_bytes{{{S}}}[6h], 86400)",
         "in 24 h {{instance}}")], "bytes")
    d.ts("Capacity", [(f"aurora_data_dir_capacity_bytes{{{S}}}", "{{instance}}")], "bytes")
    d.row("Column families")
    for metric, title, unit in (
            ("aurora_rocksdb_live_data_bytes", "Live data", "bytes"),
            ("aurora_rocksdb_sst_files_bytes", "SST files", "bytes"),
            ("aurora_rocksdb_memtable_bytes", "Memtables", "bytes"),
            ("aurora_rocksdb_block_cache_bytes", "Block cache", "bytes"),
            ("aurora_rocksdb_estimated_keys", "Estimated keys", "short"),
            ("aurora_rocksdb_pending_compaction_bytes", "Pending compaction", "bytes")):
        d.ts(f"{title} by column family", [
            (f"sum by (instance, column_family) ({metric}{{{S}}})",
             "{{column_family}} {{instance}}")], unit, w=8)
    d.row("I/O")
    def ticker(name):
        return f'ticker="{name}"'
    d.ts("Compaction and flush bytes per second", [
        (rate("aurora_rocksdb_ticker_total", ticker("rocksdb.compact.read.bytes"), by="instance"),
         "compaction read {{instance}}"),
        (rate("aurora_rocksdb_ticker_total", ticker("rocksdb.compact.write.bytes"), by="instance"),
         "compaction write {{instance}}"),
        (rate("aurora_rocksdb_ticker_total", ticker("rocksdb.flush.write.bytes"), by="instance"),
         "flush write {{instance}}")], "Bps")
    d.ts("Bytes written and read per second", [
        (rate("aurora_rocksdb_ticker_total", ticker("rocksdb.bytes.written"), by="instance"),
         "written {{instance}}"),
        (rate("aurora_rocksdb_ticker_total", ticker("rocksdb.bytes.read"), by="instance"),
         "read {{instance}}")], "Bps")
    d.ts("Share of time in write stalls", [
        (rate("aurora_rocksdb_ticker_total", ticker("rocksdb.stall.micros"), by="instance")
         + " / 1e6", "{{instance}}")], "percentunit")
    d.ts("WAL syncs per second", [
        (rate("aurora_rocksdb_ticker_total", ticker("rocksdb.wal.synced"), by="instance"),
         "{{instance}}")], "ops")
    return d


DASHBOARDS = {"aurora-overview.json": overview, "aurora-directory.json": directory,
              "aurora-recommender.json": recommender, "aurora-gateway.json": gateway,
              "aurora-profile.json": profile, "aurora-situation.json": situation,
              "aurora-storage.json": storage}


def render(build):
    return json.dumps(build().json(), indent=2, ensure_ascii=False) + "\n"


def conventions(name, dashboard):
    problems = []
    if dashboard.get("schemaVersion") != 39:
        problems.append("schemaVersion is not 39")
    names = [v["name"] for v in dashboard["templating"]["list"]]
    if names[:1] != ["datasource"]:
        problems.append("the first variable is not datasource")
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        if panel.get("datasource") != DS:
            problems.append(f"panel {panel['title']!r}: datasource is not ${{datasource}}")
        for target in panel["targets"]:
            if target.get("datasource") != DS:
                problems.append(f"panel {panel['title']!r}: a query's datasource is not "
                                "${datasource}")
            if "[5m]" in target["expr"] or "[1m]" in target["expr"]:
                problems.append(f"panel {panel['title']!r}: a fixed rate window "
                                "(use $__rate_interval)")
    return [f"{name}: {p}" for p in problems]


def main(argv):
    check = "--check" in argv[1:]
    problems, uids = [], set()
    for name, build in DASHBOARDS.items():
        text = render(build)
        dashboard = json.loads(text)
        if dashboard["uid"] in uids:
            problems.append(f"{name}: uid {dashboard['uid']} is used twice")
        uids.add(dashboard["uid"])
        problems += conventions(name, dashboard)
        path = os.path.join(OUT, name)
        if check:
            try:
                with open(path, encoding="utf-8") as f:
                    if f.read() != text:
                        problems.append(f"{path} differs from what dashboards.py makes: "
                                        "run k8s/monitoring/dashboards.py")
            except FileNotFoundError:
                problems.append(f"{path} is missing: run k8s/monitoring/dashboards.py")
        else:
            os.makedirs(OUT, exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    for problem in problems:
        print(problem)
    print(f"{len(DASHBOARDS)} dashboards: {'OK' if not problems else 'FAILED'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
