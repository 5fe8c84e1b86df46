"""`aurora import` against a running node (no --demo): summaries, exit codes, idempotence, the PTV
format, and bad input that is reported with file:line and changes nothing.

Exit codes of `aurora import`: 0 all records imported, 3 some records unreadable or rejected,
2 bad command line, 1 other failures.
"""

import collections
import json
import os
import re
import tempfile
import unittest
import uuid

import aurora_node
from aurora_node import AuroraNode, pb
import grpc

NDJSON_FILE = os.path.join(aurora_node.DATA_DIR, "services.ndjson")
PTV_FILE = os.path.join(aurora_node.DATA_DIR, "raw", "ptv_api_kunta_api", "services.ndjson")
# Ids that are not UUIDs become name-based (SHA-1) UUIDs of "<source>:<id>" in this namespace
# (src/directory/catalogue_format.h, kCatalogueIdNamespace).
CATALOGUE_ID_NAMESPACE = uuid.UUID("6f0c1a52-3b1e-5c8e-9d27-4a7b2f3e8c10")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

SUMMARY_RE = re.compile(
    r"records read: (?P<records>\d+) \(unreadable lines: (?P<unreadable>\d+)\)\n"
    r"organisations registered: (?P<organizations>\d+)\n"
    r"services created: (?P<created>\d+), updated: (?P<updated>\d+), "
    r"unchanged: (?P<unchanged>\d+), rejected: (?P<rejected>\d+)\n"
    r"directory revision: (?P<revision>\d+)\n")


def parse_summary(testcase, result):
    match = SUMMARY_RE.match(result.stdout)
    testcase.assertIsNotNone(match, f"no import summary in stdout:\n{result.stdout}\n"
                                    f"stderr:\n{result.stderr}")
    summary = {k: int(v) for k, v in match.groupdict().items()}
    summary["problems"] = [line[2:] for line in result.stdout[match.end():].splitlines()
                           if line.startswith("  ")]
    return summary


def read_records(path):
    """(line number, record) of every non-empty line of an ndjson file."""
    with open(path, encoding="utf-8") as f:
        return [(number, json.loads(line)) for number, line in enumerate(f, start=1)
                if line.strip()]


def normalized_id(source, source_id):
    if UUID_RE.match(source_id):
        return source_id
    return str(uuid.uuid5(CATALOGUE_ID_NAMESPACE, f"{source}:{source_id}"))


class ImportCliTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="aurora-e2e-import-")
        self.addCleanup(self.tmp.cleanup)
        self.node = AuroraNode(os.path.join(self.tmp.name, "data"))
        self.addCleanup(self.node.close)
        self.node.start()
        self.stub = self.node.directory()

    def tearDown(self):
        if self.node.running:
            self.node.stop()

    def aurora_import(self, *args):
        return aurora_node.run_aurora(
            ["import", *args, "--grpc-target", self.node.target,
             "--codelists", aurora_node.CODELISTS_DIR])

    def problem_lines(self, summary, path):
        """{line number: message} of the problems reported as `<path>:<line>: <message>`."""
        problems = {}
        for problem in summary["problems"]:
            m = re.match(re.escape(path) + r":(\d+): (.+)$", problem)
            if m:
                problems[int(m.group(1))] = m.group(2)
        return problems

    def test_ndjson_import_then_reimport_changes_nothing(self):
        records = read_records(NDJSON_FILE)
        self.assertEqual(len(records), 3088)
        organizations = {normalized_id(r["source"], r["organization_id"])
                         for _, r in records if r.get("organization_id")}

        first = self.aurora_import(NDJSON_FILE)
        s1 = parse_summary(self, first)
        self.assertEqual(first.returncode, 3 if s1["rejected"] else 0, first.stdout)
        self.assertEqual((s1["records"], s1["unreadable"]), (3088, 0))
        self.assertEqual(s1["created"] + s1["rejected"], 3088)
        self.assertEqual((s1["updated"], s1["unchanged"]), (0, 0))
        self.assertEqual(s1["organizations"], len(organizations))
        # One revision per organisation and per created service, nothing else.
        self.assertEqual(s1["revision"], len(organizations) + s1["created"])
        self.assertEqual(aurora_node.current_revision(self.stub), s1["revision"])

        # Rejected records are listed (at most 50) with file:line and the reason.
        shown = min(s1["rejected"], 50)
        rejected_lines = self.problem_lines(s1, NDJSON_FILE)
        self.assertEqual(len(rejected_lines), shown, s1["problems"])
        if s1["rejected"] > 50:
            self.assertIn(f"... and {s1['rejected'] - 50} more", first.stdout)
        for message in rejected_lines.values():
            self.assertRegex(message, r"^[a-z_\[\]0-9.]+: ", "the reason names the field")

        # The directory holds exactly the records that were not rejected, under stable ids.
        listed, pages, _ = aurora_node.list_all_services(self.stub, page_size=500)
        self.assertEqual(len(listed), s1["created"])
        by_id = {s.id: s for s in listed}
        self.assertEqual(len(by_id), len(listed), "a service was listed twice")
        for number, record in records:
            sid = normalized_id(record["source"], record["id"])
            if number in rejected_lines:
                self.assertNotIn(sid, by_id, f"rejected line {number} was stored")
            elif s1["rejected"] <= 50:
                self.assertIn(sid, by_id, f"line {number} ({record['id']}) is missing")
                self.assertEqual(by_id[sid].external_ref.external_id, record["id"])

        # Importing the same file again: everything unchanged, the revision does not move.
        second = self.aurora_import(NDJSON_FILE)
        s2 = parse_summary(self, second)
        self.assertEqual(second.returncode, first.returncode, second.stdout)
        self.assertEqual(
            (s2["records"], s2["organizations"], s2["created"], s2["updated"], s2["unchanged"],
             s2["rejected"]),
            (3088, 0, 0, 0, s1["created"], s1["rejected"]))
        self.assertEqual(s2["revision"], s1["revision"])
        self.assertEqual(aurora_node.current_revision(self.stub), s1["revision"])
        self.assertEqual(self.problem_lines(s2, NDJSON_FILE), rejected_lines)

    def test_ptv_format_import(self):
        records = read_records(PTV_FILE)
        ids = [r["id"] for _, r in records]
        self.assertEqual(len(set(ids)), len(ids))
        # The responsible organisation of each record, as the PTV record states it.
        responsible = {}
        for _, r in records:
            orgs = [o["organization"]["id"] for o in r.get("organizations", [])
                    if o.get("roleType") == "Responsible" and o.get("organization")]
            if orgs:
                responsible[r["id"]] = orgs[0]

        result = self.aurora_import(PTV_FILE, "--format", "ptv")
        s = parse_summary(self, result)
        self.assertEqual(result.returncode, 3 if s["rejected"] + s["unreadable"] else 0,
                         result.stdout)
        self.assertEqual((s["records"], s["unreadable"]), (len(records), 0))
        self.assertEqual(s["created"] + s["rejected"], len(records))
        self.assertEqual(s["organizations"], len(set(responsible.values())))
        self.assertEqual(s["revision"], s["organizations"] + s["created"])

        rejected_lines = self.problem_lines(s, PTV_FILE)
        self.assertEqual(len(rejected_lines), min(s["rejected"], 50), s["problems"])
        rejected_ids = {records[n - 1][1]["id"] for n in rejected_lines}
        listed, _, _ = aurora_node.list_all_services(self.stub)
        listed_ids = {x.id for x in listed}
        self.assertEqual(len(listed_ids), s["created"])
        self.assertFalse(listed_ids & rejected_ids)
        if s["rejected"] <= 50:
            self.assertEqual(listed_ids, set(ids) - rejected_ids)
        # The organisation filter finds each organisation's services.
        per_org = collections.Counter(org for sid, org in responsible.items() if sid in listed_ids)
        for org, count in per_org.items():
            got, _, _ = aurora_node.list_all_services(
                self.stub, pb.ListServicesRequest(organization_ids=[org]))
            self.assertEqual(len(got), count, f"services of organisation {org}")
            org_record = self.stub.GetOrganization(pb.GetOrganizationRequest(id=org), timeout=10)
            self.assertTrue(org_record.name.fi or org_record.name.sv or org_record.name.en)

    def test_bad_records_are_reported_with_file_line_and_field_and_change_nothing(self):
        before = aurora_node.current_revision(self.stub)
        good = read_records(NDJSON_FILE)[0][1]
        unknown_municipality = dict(good, id=str(uuid.uuid4()), area_type="LimitedType",
                                    areas=[{"type": "Municipality", "code": "999"}],
                                    municipality_codes=["999"])
        path = os.path.join(self.tmp.name, "bad.ndjson")
        with open(path, "w", encoding="utf-8") as f:
            f.write('{"id": "00000000-0000-4000-8000-000000000001", "names": {"fi": "Rikki"\n')
            f.write(json.dumps(unknown_municipality) + "\n")

        result = self.aurora_import(path)
        self.assertEqual(result.returncode, 3, result.stdout + result.stderr)
        s = parse_summary(self, result)
        self.assertEqual((s["records"], s["unreadable"], s["created"], s["rejected"]), (1, 1, 0, 1))
        problems = self.problem_lines(s, path)
        self.assertEqual(sorted(problems), [1, 2], s["problems"])
        self.assertIn('municipality_codes[0]: unknown municipality code "999"', problems[2])
        self.assertEqual(s["revision"], before)
        self.assertEqual(aurora_node.current_revision(self.stub), before, "bad input changed state")
        with self.assertRaises(grpc.RpcError) as missing:
            self.stub.GetService(pb.GetServiceRequest(id=unknown_municipality["id"]), timeout=10)
        self.assertEqual(missing.exception.code(), grpc.StatusCode.NOT_FOUND)

        # A rejected record does not stop the others: a good record in the same file is stored.
        fixed = dict(unknown_municipality, municipality_codes=["091"],
                     areas=[{"type": "Municipality", "code": "091"}])
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(dict(fixed, id=str(uuid.uuid4()))) + "\n")
        result = self.aurora_import(path)
        s = parse_summary(self, result)
        self.assertEqual(result.returncode, 3)
        self.assertEqual((s["records"], s["created"], s["rejected"]), (2, 1, 1))
        self.assertEqual(aurora_node.current_revision(self.stub), before + 1)

    def test_bad_command_lines_exit_2_and_change_nothing(self):
        before = aurora_node.current_revision(self.stub)
        result = self.aurora_import(NDJSON_FILE, "--format", "xml")
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn('"xml"', result.stderr)
        self.assertEqual(result.stdout, "")

        result = self.aurora_import(NDJSON_FILE, "--no-such-option")
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("--no-such-option", result.stderr)

        result = self.aurora_import()  # no FILE
        self.assertEqual(result.returncode, 2, result.stderr)

        result = self.aurora_import(NDJSON_FILE, "--batch", "0")
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("--batch", result.stderr)

        missing = os.path.join(self.tmp.name, "no-such-file.ndjson")
        result = self.aurora_import(missing)
        self.assertNotIn(result.returncode, (0, 3), result.stderr)
        self.assertIn(missing, result.stderr)

        self.assertEqual(aurora_node.current_revision(self.stub), before)


if __name__ == "__main__":
    unittest.main(verbosity=2)
