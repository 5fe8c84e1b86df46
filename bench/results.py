#!/usr/bin/python3
"""Runs every benchmark and writes bench/RESULTS.md: one table with each benchmark's targets and
figures (what it printed as PASS/FAIL lines, each with its measured value and ratio to the
baseline it measured in the same run), the command that produced it, and the machine.

    cmake --preset release && cmake --build --preset release
    bench/results.py                    # every benchmark, about 30 minutes; writes bench/RESULTS.md
    bench/results.py --only load,gateway_bench   # those again; the other rows as last measured

Every benchmark prints its targets as lines "<target>: PASS|FAIL (measured ...)"; this script
takes those lines as they are (it does not re-derive figures), plus the benchmark's one-line
summary ("<name>: key=value ...") when it prints one, and keeps the whole output of each run in
build/release/bench/results/<name>.log. The load benchmark (bench/load/run.py) also prints its
verdicts as PASS/FAIL lines, and its figures come from its --json file. The fault-recovery times
come from the fault tests (tests/e2e/test_faults_*.py), which write them to the file named by
AURORA_FAULT_FIGURES.
"""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(REPO, "build", "release")
BIN = os.path.join(BUILD, "bench")
LOGS = os.path.join(BIN, "results")
SHARED = os.path.join(os.path.dirname(REPO), "shared", "data")

# (name, command as documented in bench/README.md, what it compares)
BENCHMARKS = [
    ("directory_bench", ["build/release/bench/directory_bench"],
     "directory at 100,000 services: import rate vs raw RocksDB writes, ListServices vs GetService"),
    ("gateway_bench", ["build/release/bench/gateway_bench", "--scenario", "get", "--rounds", "3"],
     "HTTP/JSON gateway vs native gRPC, same call, same run"),
    ("recommender_bench", ["build/release/bench/recommender_bench"],
     "recommender at 100,000 services: Recommend/Search vs the gRPC health check"),
    ("recommender_quality", ["build/release/bench/recommender_quality"],
     "recall@10 / nDCG@10 of the ranker vs plain BM25 on 52 judged queries"),
    ("profile_bench", ["build/release/bench/profile_bench"],
     "profile writes and consented reads vs raw RocksDB synced Put/Get"),
    ("network_bench", ["build/release/bench/network_bench"],
     "cross-node calls over mutual TLS vs plaintext; handshake cost; propagation"),
    ("learning_bench", ["build/release/bench/learning_bench"],
     "learnt re-ranking vs the ranker without it, on simulated feedback"),
    ("area_classifier_bench", ["build/release/bench/area_classifier_bench"],
     "inferred life areas of services vs their hand labels"),
    ("load", ["bench/load/run.py", "--json", "build/release/bench/results/load.json"],
     "the production topology as processes under the traffic mix: saturation, 10-min soak at "
     "70 %, 2x overload, recovery"),
    ("faults", ["ctest", "--test-dir", "build/release", "-R", "e2e.faults_", "-V"],
     "kill -9 of each process, disk full, directory down, hung upstream, certificate rotation"),
]

# Figures of benchmarks that print no PASS/FAIL line: (name, regular expression, label); the
# expression's groups are the measured value.
FIGURES = [
    ("area_classifier_bench", r"unlabelled services with an inferred area: (\d+ of \d+); "
     r"inference ([\d.]+ us) each", "services without hand labels given an area; inference time"),
]

VERDICT = re.compile(r"^\s*(?:(PASS|FAIL)\s+(.*?)\s*\(measured (.*)\)\s*$|(.*?):?\s+(PASS|FAIL)"
                     r"\s*\((.*)\)\s*$)")
SUMMARY = re.compile(r"^(\w+): (\w+=\S+(?: \w+=\S+)*)\s*$")


def machine():
    model = ""
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="ascii") as f:
        mem_kib = int(f.readline().split()[1])
    return f"{os.cpu_count()} cores ({model}), {mem_kib / 1024 / 1024:.0f} GiB, {platform.system()} " \
           f"{platform.release()}"


def load_average():
    with open("/proc/loadavg", encoding="ascii") as f:
        return " ".join(f.read().split()[:3])


def verdicts(output):
    rows = []
    for line in output.splitlines():
        m = VERDICT.match(line)
        if not m:
            continue
        if m.group(1):
            rows.append((m.group(2), m.group(1), m.group(3)))
        else:
            target, result, measured = m.group(4), m.group(5), m.group(6)
            measured = re.sub(r"^measured ", "", measured)
            rows.append((target.strip(), result, measured))
    return rows


def run(name, command, figures_file):
    os.makedirs(LOGS, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("AURORA_SHARED_DATA", SHARED)
    if name == "faults":
        env["AURORA_FAULT_FIGURES"] = figures_file
        if os.path.exists(figures_file):
            os.remove(figures_file)
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          check=False)
    seconds = time.monotonic() - started
    output = done.stdout + done.stderr
    with open(os.path.join(LOGS, f"{name}.log"), "w", encoding="utf-8") as f:
        f.write(output)
    rows = verdicts(output)
    summaries = [m.group(0) for m in map(SUMMARY.match, output.splitlines()) if m]
    for bench, pattern, label in FIGURES:
        if bench == name:
            for m in re.finditer(pattern, output, re.MULTILINE):
                rows.append((label, "figure", "; ".join(m.groups())))
    if name == "faults" and os.path.exists(figures_file):
        with open(figures_file, encoding="utf-8") as f:
            for line in f:
                figure = json.loads(line)
                rows.append((figure["what"], "figure", f"{figure['seconds']:.2f} s"))
        result = "PASS" if done.returncode == 0 else "FAIL"
        rows.append(("every fault test passes", result, f"ctest exit {done.returncode}"))
    if not rows:
        rows.append(("ran", "FAIL" if done.returncode else "ok",
                     f"exit {done.returncode}; no PASS/FAIL lines (see {name}.log)"))
    result = {"name": name, "command": " ".join(command), "seconds": seconds,
              "exit": done.returncode, "rows": rows, "summaries": summaries}
    return result


def stored(name):
    """The last result of a benchmark (build/release/bench/results/<name>.json), or None."""
    path = os.path.join(LOGS, f"{name}.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write(results, out, started, load_before, load_after, commit):
    lines = [
        "# Benchmark results",
        "",
        "Regenerated by `bench/results.py` (every benchmark in one go; each benchmark's own",
        "section of bench/README.md says what it measures and how). Each row is a target line the",
        "benchmark printed, with its measured value and, where it has one, the ratio to the",
        "baseline it measured in the same run. Machines here are shared and noisy: compare ratios",
        "between runs more than absolute figures.",
        "",
        f"- Date: {started:%Y-%m-%d %H:%M} UTC; commit `{commit}`; build `cmake --preset release`",
        f"- Machine: {machine()}",
        f"- Load average before / after: {load_before} / {load_after}",
        "",
        "| benchmark | command | target or figure | result | measured |",
        "|---|---|---|---|---|",
    ]
    if any(r.get("measured_at", started) != started for r in results):
        lines[8:8] = ["- Rows not measured in this run give their own date and commit after the "
                      "benchmark's name", ""]
    for r in results:
        for i, (target, result, measured) in enumerate(r["rows"]):
            first = i == 0
            own = "" if r.get("measured_at", started) == started else \
                f" ({r['measured_at']:%Y-%m-%d %H:%M}, `{r['commit']}`)"
            lines.append("| {} | {} | {} | {} | {} |".format(
                f"**{r['name']}**{own}" if first else "",
                f"`{r['command']}` ({r['seconds']:.0f} s)" if first else "",
                target.replace("|", "\\|"), f"**{result}**" if result == "FAIL" else result,
                measured.replace("|", "\\|")))
    summaries = [s for r in results for s in r["summaries"]]
    if summaries:
        lines += ["", "## One-line summaries", "", "```"] + summaries + ["```"]
    lines += ["", "Whole outputs: `build/release/bench/results/<benchmark>.log` of the run.", ""]
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated benchmark names")
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "RESULTS.md"))
    args = parser.parse_args()
    chosen = BENCHMARKS
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {b[0] for b in BENCHMARKS}
        if unknown:
            sys.exit(f"--only: no benchmark named {', '.join(sorted(unknown))}; "
                     f"known: {', '.join(b[0] for b in BENCHMARKS)}")
        chosen = [b for b in BENCHMARKS if b[0] in wanted]
    for name, command, _ in chosen:
        if command[0].startswith("build/") and not os.path.exists(os.path.join(REPO, command[0])):
            sys.exit(f"{command[0]} not found: cmake --build --preset release")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True, check=False).stdout.strip()
    started = datetime.datetime.utcnow()
    load_before = load_average()
    fresh = {}
    for name, command, what in chosen:
        print(f"== {name}: {what}", flush=True)
        result = run(name, command, os.path.join(LOGS, "faults.ndjson"))
        for target, verdict, measured in result["rows"]:
            print(f"  {verdict:6s} {target} ({measured})", flush=True)
        with open(os.path.join(LOGS, f"{name}.json"), "w", encoding="utf-8") as f:
            json.dump({**result, "measured_at": started.isoformat(), "commit": commit}, f)
        fresh[name] = result
    # Every benchmark in the table: this run's, else its last stored result.
    results = []
    for name, _, _ in BENCHMARKS:
        if name in fresh:
            results.append(fresh[name])
        elif (last := stored(name)) is not None:
            last["measured_at"] = datetime.datetime.fromisoformat(last["measured_at"])
            results.append(last)
    write(results, args.out, started, load_before, load_average(), commit)
    print(f"wrote {args.out}")
    return 0 if all(v != "FAIL" for r in fresh.values() for _, v, _ in r["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
