#!/usr/bin/python3
"""The Aurora alert rules for tools that want a plain Prometheus rules file.

k8s/monitoring/prometheus-rules.yaml is a PrometheusRule (the one source of truth); its `spec` is
exactly a Prometheus rules file. This module extracts it, checks what promtool does not (every
alert has a severity, summary, description and a runbook section that exists, and unit tests in
rules-test.yaml that fire it and that keep it quiet), and runs promtool:

  aurora_rules.py extract OUT.yaml     write the plain rules file
  aurora_rules.py lint                 the checks above
  aurora_rules.py check                promtool check rules on the extracted file
  aurora_rules.py test                 promtool test rules tests/monitoring/rules-test.yaml

Exit code 77 (ctest's SKIP_RETURN_CODE) when promtool is not installed.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RULES = os.path.join(ROOT, "k8s", "monitoring", "prometheus-rules.yaml")
RUNBOOKS = os.path.join(ROOT, "k8s", "monitoring", "README.md")
UNIT_TESTS = os.path.join(HERE, "rules-test.yaml")
# The name rules-test.yaml gives the extracted file in its rule_files.
EXTRACTED_NAME = "aurora-rules.yaml"
SKIP = 77
SEVERITIES = {"critical", "warning", "info"}


def load_spec(path=RULES):
    """The PrometheusRule's spec: {"groups": [...]}, checked to be one."""
    with open(path, encoding="utf-8") as f:
        document = yaml.safe_load(f)
    if document.get("apiVersion") != "monitoring.coreos.com/v1" or \
            document.get("kind") != "PrometheusRule":
        raise SystemExit(f"{path}: not a monitoring.coreos.com/v1 PrometheusRule")
    spec = document.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("groups"), list):
        raise SystemExit(f"{path}: spec.groups is missing")
    return spec


def rules(spec):
    """Every rule of the spec as (group name, rule dict)."""
    for group in spec["groups"]:
        for rule in group.get("rules", []):
            yield group["name"], rule


def extract(out_path, path=RULES):
    with open(out_path, "w", encoding="utf-8") as f:
        yaml.safe_dump(load_spec(path), f, sort_keys=False, width=1000)
    return out_path


def github_anchor(heading):
    """The anchor GitHub gives a Markdown heading."""
    anchor = heading.strip().lower()
    anchor = re.sub(r"[^\w\- ]", "", anchor)
    return anchor.replace(" ", "-")


def lint():
    spec = load_spec()
    with open(RUNBOOKS, encoding="utf-8") as f:
        anchors = {github_anchor(line.lstrip("#")) for line in f if line.startswith("#")}
    with open(UNIT_TESTS, encoding="utf-8") as f:
        unit = yaml.safe_load(f)
    firing, quiet = set(), set()
    for test in unit.get("tests", []):
        for case in test.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    problems, alerts, records = [], [], []
    for group, rule in rules(spec):
        if "record" in rule:
            records.append(rule["record"])
            continue
        name = rule["alert"]
        alerts.append(name)
        where = f"{group}/{name}"
        if rule.get("labels", {}).get("severity") not in SEVERITIES:
            problems.append(f"{where}: labels.severity must be one of {sorted(SEVERITIES)}")
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook"):
            if not annotations.get(key):
                problems.append(f"{where}: annotation {key} is missing")
        runbook = annotations.get("runbook", "")
        page, _, anchor = runbook.partition("#")
        if page != "k8s/monitoring/README.md" or anchor not in anchors:
            problems.append(f"{where}: runbook {runbook!r} is not a section of "
                            "k8s/monitoring/README.md")
        if name not in firing:
            problems.append(f"{where}: no unit test in rules-test.yaml where it fires")
        if name not in quiet:
            problems.append(f"{where}: no unit test in rules-test.yaml where it stays quiet")
    for name in sorted((firing | quiet) - set(alerts)):
        problems.append(f"rules-test.yaml tests an alert that does not exist: {name}")
    if len(set(alerts)) != len(alerts):
        problems.append("alert names are not unique")
    if len(set(records)) != len(records):
        problems.append("recording rule names are not unique")
    for problem in problems:
        print(problem)
    print(f"{len(alerts)} alerts, {len(records)} recording rules: "
          f"{'OK' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


def promtool(*args):
    tool = shutil.which("promtool")
    if tool is None:
        print("promtool is not installed (Debian package prometheus): skipped")
        return SKIP
    with tempfile.TemporaryDirectory(prefix="aurora-rules-") as tmp:
        extracted = extract(os.path.join(tmp, EXTRACTED_NAME))
        if args[0] == "check":
            command = [tool, "check", "rules", extracted]
        else:
            # rule_files in the unit tests are relative to the test file: put both side by side.
            tests = shutil.copy(UNIT_TESTS, os.path.join(tmp, "rules-test.yaml"))
            command = [tool, "test", "rules", tests]
        print("$", " ".join(command), flush=True)
        return subprocess.run(command, check=False).returncode


def main(argv):
    if len(argv) >= 2 and argv[1] == "extract" and len(argv) == 3:
        extract(argv[2])
        return 0
    if len(argv) == 2 and argv[1] == "lint":
        return lint()
    if len(argv) == 2 and argv[1] in ("check", "test"):
        return promtool(argv[1])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
