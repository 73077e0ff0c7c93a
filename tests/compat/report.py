"""Writes docs/COMPATIBILITY.md from the results of ./tests/run.sh: the client x feature matrix
(matrix.py says which tests prove which cell), the versions tested, the advertised protocol
ranges, and what the differential tests against Apache Kafka compared.

    python tests/compat/report.py RESULTS_DIR OUTPUT.md [--strict]

RESULTS_DIR holds what tests/run.sh collects: JUnit XML from pytest and surefire, the output of
go test, node --test and cargo test, kcat's version and the raw-protocol summary."""

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from matrix import CLIENTS, FEATURES, NOT_SUPPORTED  # noqa: E402


def junit(path, prefix, results):
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")[-1]
        name = re.split(r"[(\[]", case.get("name", ""), maxsplit=1)[0]
        param = case.get("name", "")[len(name):]
        test_id = f"{prefix}:{module}.{name}{param}"
        failed = any(case.find(t) is not None for t in ("failure", "error"))
        skipped = case.find("skipped") is not None
        results[test_id] = "failed" if failed else "skipped" if skipped else "passed"


def read_results(d):
    results = {}
    for name, prefix in (("python.xml", "python"), ("conformance.xml", "conformance")):
        if (d / name).exists():
            junit(d / name, prefix, results)
    for version in ("4.4", "3.9"):
        for f in sorted((d / f"java-{version}").glob("TEST-*.xml")):
            junit(f, f"java-{version}", results)
    if (d / "go.txt").exists():
        for m in re.finditer(r"^--- (PASS|FAIL|SKIP): (\S+)", (d / "go.txt").read_text(), re.M):
            results[f"go:{m.group(2)}"] = {"PASS": "passed", "FAIL": "failed", "SKIP": "skipped"}[m.group(1)]
    if (d / "node.tap").exists():
        for m in re.finditer(r"^(not ok|ok) \d+ - (.+?)(?: # .*)?$", (d / "node.tap").read_text(), re.M):
            results[f"node:{m.group(2).strip()}"] = "passed" if m.group(1) == "ok" else "failed"
    if (d / "rdkafka.txt").exists():
        for m in re.finditer(r"^test (\S+) \.\.\. (ok|FAILED|ignored)", (d / "rdkafka.txt").read_text(), re.M):
            results[f"rdkafka:{m.group(1)}"] = {"ok": "passed", "FAILED": "failed", "ignored": "skipped"}[m.group(2)]
    return results


def matching(results, pattern):
    if pattern.endswith("*"):
        return [v for k, v in results.items() if k.startswith(pattern[:-1])]
    return [results[pattern]] if pattern in results else []


def cell(results, patterns):
    """pass when every named test ran and passed."""
    outcomes = []
    for p in patterns:
        found = matching(results, p)
        outcomes.extend(found or ["missing"])
    if not outcomes:
        return "–"
    if all(o == "passed" for o in outcomes):
        return "pass"
    if any(o == "failed" for o in outcomes):
        return "**FAIL**"
    return "**not run**"


def version(spec, results_dir):
    kind, _, what = spec.partition(":")
    if kind == "static":
        return what
    if kind == "runtime":
        f = results_dir / f"{what}-version.txt"
        return f.read_text().strip() if f.exists() else "?"
    if kind == "pip":
        for line in (ROOT / "tests" / "python" / "requirements.txt").read_text().splitlines():
            if line.split("==")[0].strip().lower() == what:
                return line.split("==")[1].strip()
    if kind == "gomod":
        m = re.search(rf"^\s*{re.escape(what)} v(\S+)", (ROOT / "tests" / "go" / "go.mod").read_text(), re.M)
        return m.group(1) if m else "?"
    if kind == "npm":
        return json.loads((ROOT / "tests" / "node" / "package.json").read_text())["devDependencies"][what]
    if kind == "cargo":
        for manifest in (ROOT / "tests" / "rust-rdkafka" / "Cargo.toml", ROOT / "Cargo.toml"):
            m = re.search(rf'^{re.escape(what)}\s*=\s*(?:\{{[^}}]*version\s*=\s*)?"=?([^"]+)"', manifest.read_text(), re.M)
            if m:
                return m.group(1)
    return "?"


def matrix(results, results_dir):
    head = "| Client | Version | " + " | ".join(title for _, title in FEATURES) + " |"
    rule = "|" + "---|" * (len(FEATURES) + 2)
    rows = [head, rule]
    for c in CLIENTS:
        cells = []
        for key, _ in FEATURES:
            if key in NOT_SUPPORTED:
                cells.append("known deviation")
            else:
                cells.append(cell(results, c["tests"].get(key, [])))
        rows.append(f"| {c['name']} | {version(c['version'], results_dir)} | " + " | ".join(cells) + " |")
    notes = "\n".join(f"- {FEATURES_TITLE[k]}: {why}" for k, why in NOT_SUPPORTED.items())
    return "\n".join(rows) + "\n\n" + notes


FEATURES_TITLE = dict(FEATURES)


def api_versions():
    probe = ROOT / "target" / "debug" / "strikemq-probe"
    out = subprocess.run([str(probe), "--versions"], check=True, capture_output=True, text=True).stdout
    rows = ["| API | Versions |", "|---|---|"]
    for api in json.loads(out):
        note = " (v0–v2 close the connection, as on Kafka 4)" if api["name"] == "Produce" else ""
        rows.append(f"| {api['name']} ({api['key']}) | {api['min']}–{api['max']}{note} |")
    return "\n".join(rows)


def raw_summary(results_dir):
    f = results_dir / "raw-protocol.json"
    if not f.exists():
        return "(the raw-protocol comparison did not run)", "(none recorded)"
    raw = json.loads(f.read_text())
    per_api = ", ".join(f"{api} {n}" for api, n in raw["requests_per_api"].items())
    summary = (f"{raw['requests']} requests over {raw['apis']} APIs and {raw['versions']} API versions "
               f"({per_api}); {raw['matching']} answers identical after normalisation.")
    deviations = "\n".join(f"- {d}" for d in raw["deviations"]) or "- none"
    return summary, deviations


README_BEGIN = "<!-- api-versions: generated by tests/compat/report.py --readme, do not edit -->"
README_END = "<!-- /api-versions -->"


def readme_with_api_versions(text):
    """The README with its API table regenerated from the codec's table (via the probe)."""
    start = text.index(README_BEGIN) + len(README_BEGIN)
    end = text.index(README_END)
    return text[:start] + "\n" + api_versions() + "\n" + text[end:]


def main():
    if sys.argv[1:] == ["--readme"]:
        readme = ROOT / "README.md"
        readme.write_text(readme_with_api_versions(readme.read_text()))
        print(f"{readme}: API table regenerated")
        return
    results_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    results = read_results(results_dir)
    template = (HERE / "COMPATIBILITY.template.md").read_text()
    raw, raw_deviations = raw_summary(results_dir)
    text = (template
            .replace("{{MATRIX}}", matrix(results, results_dir))
            .replace("{{API_VERSIONS}}", api_versions())
            .replace("{{RAW_PROTOCOL}}", raw)
            .replace("{{RAW_DEVIATIONS}}", raw_deviations))
    out.write_text(text)
    failing = [k for k, v in results.items() if v == "failed"]
    print(f"{out}: {len(results)} test results read, {len(failing)} failed")
    # Every cell must be backed by tests that ran: a name in matrix.py that matches no result
    # (a renamed test, a typo) fails the run instead of quietly showing "not run".
    unproven = [(c["name"], c["version"], key) for c in CLIENTS for key, _ in FEATURES
                if key not in NOT_SUPPORTED and cell(results, c["tests"].get(key, [])) not in ("pass", "–")]
    if "--strict" in sys.argv and unproven:
        for u in unproven:
            print("not proven by a passing test:", *u)
        sys.exit(1)


if __name__ == "__main__":
    main()
