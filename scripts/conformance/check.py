#!/usr/bin/env python3
"""Checks lbrprobe's outputs with the real third-party tools (installed by scripts/check-outputs.sh).

    check.py tap [--nested] [--skip-all] FILE...      tap.py's parser and rules, plus kselftest/KTAP rules
    check.py json-schema SCHEMA FILE...              jsonschema (Draft 2020-12, formats checked)
    check.py schema-errors SCHEMA FILE               the same, one `POINTER: message` line per violation
    check.py run-json FILE...                        run documents: ids, names and codes are ASCII
    check.py kcidb FILE...                           kcidb-io, schema exactly v5.3; unique ids; ASCII
    check.py kcidb-disjoint FILE FILE                two runs share no KCIDB test id
    check.py kcidb-basis FILE...                     kcidb-io-valid, and a model's results cannot pass for
                                                     hardware ones: path, status and misc.basis
    check.py junit FILE...                           junitparser reads every suite and case; counts agree
    check.py lava YAML                               lava-common's test-definition schema (Debian lava-common)
    check.py rst FILE...                             docutils parses without warnings

Each subcommand prints one line per problem and exits 1 when a tool rejects an input, 0 when all pass.
"""
import json
import re
import sys

MAX_LINE = 1000  # ReportSupport.maxLineBytes


def fail(problems):
    for p in problems:
        print(p)
    return 1 if problems else 0


def text_rules(path, data, problems, max_line=MAX_LINE):
    """Printable ASCII only, no line longer than max_line bytes."""
    for n, line in enumerate(data.split(b"\n"), 1):
        if any(b < 0x20 or b > 0x7E for b in line if b != 0x09):
            problems.append(f"{path}:{n}: non-ASCII or control byte")
        if len(line) > max_line:
            problems.append(f"{path}:{n}: line of {len(line)} bytes (limit {max_line})")


def cmd_tap(args):
    from tap.loader import Loader
    from tap.parser import Parser
    from tap.rules import Rules

    nested = "--nested" in args
    skip_all = "--skip-all" in args
    files = [a for a in args if not a.startswith("--")]
    problems = []
    for path in files:
        raw = open(path, "rb").read()
        text_rules(path, raw, problems)
        errors = []
        orig = Rules._add_error
        Rules._add_error = lambda self, message: errors.append(message)
        try:
            suite = Loader().load_suite_from_file(path)
        finally:
            Rules._add_error = orig
        problems += [f"{path}: tap.py: {e}" for e in errors]
        lines = list(Parser().parse_file(path))
        cats = [l.category for l in lines]
        for n, l in enumerate(lines, 1):
            if l.category == "unknown":
                problems.append(f"{path}:{n}: tap.py cannot classify line: {l!r}")
        versions = cats.count("version")
        if nested and versions:
            problems.append(f"{path}: nested (KSFT_TAP_LEVEL) output has a version line")
        if not nested and (versions != 1 or cats[0] != "version"):
            problems.append(f"{path}: expected exactly one version line, first")
        plans = [l for l in lines if l.category == "plan"]
        totals = [l.text for l in lines if l.category == "diagnostic" and l.text.startswith("# Totals:")]
        tests = [l for l in lines if l.category == "test"]
        if skip_all:
            if not (len(plans) == 1 and plans[0].expected_tests == 0 and plans[0].skip):
                problems.append(f"{path}: skip-all output must have the plan 1..0 # SKIP")
            if totals or tests:
                problems.append(f"{path}: skip-all output has {len(tests)} result(s) and {len(totals)} totals line(s); "
                                "kselftest prints neither after 1..0 # SKIP")
        elif plans and plans[0].skip:
            problems.append(f"{path}: unexpected skip-all plan")
        else:
            if len(totals) != 1:
                problems.append(f"{path}: expected one '# Totals:' line, found {len(totals)}")
            else:
                m = re.match(r"# Totals: pass:(\d+) fail:(\d+) xfail:(\d+) xpass:(\d+) skip:(\d+) error:(\d+)$", totals[0])
                if not m:
                    problems.append(f"{path}: malformed totals line {totals[0]!r}")
                else:
                    p, f, _, _, s, e = map(int, m.groups())
                    skips = sum(1 for t in tests if t.skip)
                    oks = sum(1 for t in tests if t.ok and not t.skip)
                    errs = sum(1 for t in tests if not t.ok and t.directive.text.upper().startswith("ERROR"))
                    fails = sum(1 for t in tests if not t.ok) - errs
                    if (p, f, s, e) != (oks, fails, skips, errs):
                        problems.append(f"{path}: totals {totals[0]!r} contradict the results "
                                        f"(pass {oks} fail {fails} skip {skips} error {errs})")
            for i, t in enumerate(tests, 1):
                if t.number != i:
                    problems.append(f"{path}: test {i} numbered {t.number}")
                if "#" in (t.description or ""):
                    problems.append(f"{path}: '#' in description of test {i}")
                if not re.fullmatch(r"[A-Za-z0-9_.-]+", t.description or ""):
                    problems.append(f"{path}: test name {t.description!r} is not [A-Za-z0-9_.-]+")
        # Run the unittest adapter the way `tappy` does: a parse problem shows up as an error.
        import unittest
        result = unittest.TestResult()
        suite.run(result)
        problems += [f"{path}: tap.py runner error: {e[1]}" for e in result.errors]
    return fail(problems)


def cmd_json_schema(args):
    import jsonschema
    schema_path, files = args[0], args[1:]
    schema = json.load(open(schema_path, encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    v = cls(schema, format_checker=cls.FORMAT_CHECKER)
    problems = []
    for path in files:
        doc = json.load(open(path, encoding="utf-8"))
        for e in sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path)):
            ptr = "/" + "/".join(str(p) for p in e.absolute_path)
            problems.append(f"{path}: {ptr}: {e.message[:300]}")
    return fail(problems)


def cmd_schema_errors(args):
    """One line `POINTER: message` per violation (for the Swift tests' SchemaValidator)."""
    import jsonschema
    schema = json.load(open(args[0], encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    v = cls(schema, format_checker=cls.FORMAT_CHECKER)
    doc = json.load(open(args[1], encoding="utf-8"))
    problems = []
    for e in sorted(v.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path]):
        problems.append("/" + "/".join(str(p) for p in e.absolute_path) + ": " + e.message[:300])
    return fail(problems)


ASCII_ID = re.compile(r"[\x20-\x7e]*")
# Members of a run document that are identifiers, names or codes (must be ASCII); the rest is free text.
ID_KEYS = {"schema", "backend", "model", "scenario", "test_name", "status", "outcome", "code", "path", "check",
           "name", "role", "inferred", "agreeing", "disagreeing", "kind", "vote", "contender", "state", "vlbr",
           "interrupted", "start_time", "kernel_release", "expected", "run_id", "blockers"}


def walk_ids(node, at, problems, path):
    if isinstance(node, dict):
        for k, v in node.items():
            if not ASCII_ID.fullmatch(k):
                problems.append(f"{path}: {at}: non-ASCII key {k!r}")
            if k in ID_KEYS:
                for s in (v if isinstance(v, list) else [v]):
                    if isinstance(s, str) and not ASCII_ID.fullmatch(s):
                        problems.append(f"{path}: {at}/{k}: non-ASCII identifier {s!r}")
            walk_ids(v, f"{at}/{k}", problems, path)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk_ids(v, f"{at}/{i}", problems, path)


def cmd_run_json(args):
    problems = []
    for path in args:
        walk_ids(json.load(open(path, encoding="utf-8")), "", problems, path)
    return fail(problems)


def cmd_kcidb(args):
    import kcidb_io
    problems = []
    for path in args:
        raw = open(path, "rb").read()
        doc = json.loads(raw)
        try:
            kcidb_io.schema.V5_3.validate_exactly(doc)
        except Exception as e:  # jsonschema.ValidationError
            problems.append(f"{path}: kcidb-io v5.3: {str(e).splitlines()[0][:300]}")
        if doc.get("version") != {"major": 5, "minor": 3}:
            problems.append(f"{path}: version is {doc.get('version')}, not 5.3")
        ids = [t["id"] for t in doc.get("tests", [])]
        if len(ids) != len(set(ids)):
            problems.append(f"{path}: duplicate test ids")
        if any(b > 0x7E for b in raw):
            problems.append(f"{path}: non-ASCII bytes")
        for t in doc.get("tests", []):
            for n, line in enumerate(t.get("log_excerpt", "").split("\n"), 1):
                if len(line.encode()) > MAX_LINE:
                    problems.append(f"{path}: {t['id']}: log_excerpt line {n} has {len(line)} bytes")
    return fail(problems)


def cmd_kcidb_disjoint(args):
    a, b = ({t["id"] for t in json.load(open(p)).get("tests", [])} for p in args)
    if not a or not b:
        return fail([f"no tests in {args}"])
    common = a & b
    return fail([f"{len(common)} KCIDB id(s) shared by {args[0]} and {args[1]}, e.g. {sorted(common)[0]}"] if common else [])


def cmd_kcidb_basis(args):
    """Hardware results: path kvm.vlbr.*, misc.basis hardware. Model results (misc.backend hybrid or sim):
    path lbrprobe_model.<backend>.<model>.*, misc.basis model, never status PASS (a prediction is DONE)."""
    import kcidb_io
    problems = []
    for path in args:
        doc = json.load(open(path))
        try:
            kcidb_io.schema.V5_3.validate_exactly(doc)
        except Exception as e:
            problems.append(f"{path}: kcidb-io v5.3: {str(e).splitlines()[0][:300]}")
        for t in doc.get("tests", []):
            misc, tid = t.get("misc", {}), t.get("id")
            backend = misc.get("backend")
            if backend == "hw":
                if not t["path"].startswith("kvm.vlbr.") or misc.get("basis") != "hardware":
                    problems.append(f"{path}: {tid}: hardware result with path {t['path']!r}, basis {misc.get('basis')!r}")
            else:
                model = (misc.get("model") or "").replace("-", "_")
                want = f"lbrprobe_model.{backend}.{model}."
                if not t["path"].startswith(want):
                    problems.append(f"{path}: {tid}: {backend} result with path {t['path']!r} (want {want}*)")
                if misc.get("basis") != "model":
                    problems.append(f"{path}: {tid}: {backend} result with misc.basis {misc.get('basis')!r}")
                if t.get("status") == "PASS":
                    problems.append(f"{path}: {tid}: a model's prediction reported as PASS")
    return fail(problems)


def cmd_junit(args):
    from junitparser import JUnitXml, TestSuite, Failure, Error, Skipped
    problems = []
    for path in args:
        raw = open(path, "rb").read()
        text_rules(path, raw, problems)
        xml = JUnitXml.fromfile(path)
        suites = [xml] if isinstance(xml, TestSuite) else list(xml)
        if not suites:
            problems.append(f"{path}: no testsuite")
        names = set()
        for s in suites:
            cases = list(s)
            kinds = {"failure": 0, "error": 0, "skipped": 0}
            for c in cases:
                if not c.name:
                    problems.append(f"{path}: testcase without a name")
                if (c.classname, c.name) in names:
                    problems.append(f"{path}: duplicate testcase {c.name}")
                names.add((c.classname, c.name))
                for r in c.result:
                    k = ("failure" if isinstance(r, Failure) else "error" if isinstance(r, Error)
                         else "skipped" if isinstance(r, Skipped) else "other")
                    kinds[k] = kinds.get(k, 0) + 1
                if c.time is None or c.time < 0:
                    problems.append(f"{path}: testcase {c.name}: no time")
            declared = (s.tests, s.failures, s.errors, s.skipped)
            counted = (len(cases), kinds["failure"], kinds["error"], kinds["skipped"])
            if declared != counted:
                problems.append(f"{path}: suite {s.name}: tests/failures/errors/skipped {declared} but cases say {counted}")
    return fail(problems)


def cmd_lava(args):
    import yaml
    from voluptuous import Schema
    from lava_common.schemas.test import testdef
    problems = []
    for path in args:
        data = yaml.safe_load(open(path, encoding="utf-8"))
        try:
            testdef.validate(data)                       # what LAVA itself applies
            Schema(testdef.testdef())(data)              # and no unknown keys at all
        except Exception as e:
            problems.append(f"{path}: lava-common: {e}")
        for step in (data.get("run") or {}).get("steps", []):
            if "pipefail" in step or "[[" in step:
                problems.append(f"{path}: step uses a bash-only construct: {step}")
    return fail(problems)


def cmd_rst(args):
    import io
    import docutils.core
    import docutils.utils
    problems = []
    for path in args:
        warnings = io.StringIO()
        try:
            docutils.core.publish_doctree(open(path, encoding="utf-8").read(), source_path=path,
                                          settings_overrides={"report_level": 2, "halt_level": 5,
                                                              "warning_stream": warnings})
        except Exception as e:
            problems.append(f"{path}: docutils: {e}")
        problems += [l for l in warnings.getvalue().splitlines() if l.strip()]
    return fail(problems)


COMMANDS = {"tap": cmd_tap, "json-schema": cmd_json_schema, "schema-errors": cmd_schema_errors, "run-json": cmd_run_json, "kcidb": cmd_kcidb,
            "kcidb-disjoint": cmd_kcidb_disjoint, "kcidb-basis": cmd_kcidb_basis, "junit": cmd_junit, "lava": cmd_lava, "rst": cmd_rst}

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        sys.exit(64)
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
