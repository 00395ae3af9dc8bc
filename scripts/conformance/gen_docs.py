#!/usr/bin/env python3
"""Regenerates the examples in README.md and docs/*.md from real lbrprobe output.

A generated region is delimited by `<!-- BEGIN generated: NAME -->` and `<!-- END generated -->`; NAME is one
of REGIONS below, which says the command whose output fills it. Volatile values (run id, start times,
durations) are replaced by placeholders such as `<run-id>` so a regeneration changes only what lbrprobe
prints differently.

    gen_docs.py --bin LBRPROBE            rewrite every region in place
    gen_docs.py --bin LBRPROBE --check    exit 1 (with a diff) when a deterministic region differs from what
                                          lbrprobe prints now (the kernel release is compared as <kernel>
                                          and the probed CPU as <cpu>;
                                          host-specific regions are regenerated but not compared)
"""
import difflib
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIM_UNMET = ["guest-baseline", "slot-contention", "--backend", "sim", "--model", "seed-2023",
             "--expect", "expectations/mainline.expect"]

# NAME: (arguments of `lbrprobe run`, output, deterministic?, fence language[, shaping function name]).
# Arguments starting with "caps" or "contract" are that command instead of `run`.
REGIONS = {
    "readme-summary": (["--backend", "sim", "--summary"], "stdout", False, ""),
    "readme-run-text": (["--backend", "auto", "--evidence"], "stdout", False, "", "two_blocks"),
    "readme-tap": (["host-first", "--backend", "sim", "--format", "tap", "--expect", "expectations/mainline.expect"],
                   "stdout", True, ""),
    "readme-hw-skip": (["--backend", "hw", "--format", "tap"], "stdout", False, ""),
    "readme-model-matrix": ([], "matrix", False, None),
    "readme-caps-text": (["caps"], "stdout", False, ""),
    "readme-caps-json": (["caps", "--format", "json"], "stdout", False, "json", "caps_excerpt"),
    "hardware-fidelity-leak": (["host-first", "--backend", "sim", "--evidence"], "stdout", True, "", "leak_lines"),
    "contract-summary": (["contract", "--backend", "sim"], "stdout", True, "", "contract_summary"),
    "run-format-tap": (SIM_UNMET + ["--format", "tap"], "stdout", True, ""),
    "run-format-junit": (SIM_UNMET + ["--junit", "{out}"], "file", True, "xml"),
    "run-format-kcidb": (["slot-contention", "--backend", "sim", "--model", "seed-2023",
                          "--expect", "expectations/mainline.expect", "--kcidb", "{out}"], "file", True, "json"),
}

# Kernel models in the matrix's column order (docs/model.md); every scenario of the catalog is a row.
MATRIX_MODELS = ["mainline", "seed-2023", "reenable-on-exit", "reenable-on-debugctl", "perf-request", "mediated",
                 "arch-lbr-host", "pv-lbr-ctrl", "lazy-restore"]


def leak_lines(text):
    """host-first's row with its finding, then its leak evidence: the signals and the guest's stack reads."""
    lines = text.rstrip("\n").split("\n")
    start = next(i for i, l in enumerate(lines) if l.startswith("== host-first:"))
    keep = [l for l in lines[:start] if l.startswith("host-first ") or (l.lstrip().startswith("FINDING") and "host-branch-leak" in l)]
    keep += ["\u2026"] + [l for l in lines[start:] if "[tos-readback" in l or "[host-branch-leak" in l
                          or "guest read-lbr-stack" in l][:6]
    return "\n".join(keep) + "\n"


def contract_summary(text):
    """The contract's banner and its one-sentence answers."""
    lines = text.rstrip("\n").split("\n")
    banner_end = next(i for i, l in enumerate(lines[2:], 2) if l == "")
    start = next(i for i, l in enumerate(lines) if l == "## Answers in one sentence each")
    end = next(i for i in range(start + 2, len(lines)) if lines[i].startswith("## "))
    return "\n".join(lines[2:banner_end] + [""] + lines[start:end]).rstrip("\n") + "\n"


def two_blocks(text):
    """The text report's summary, the evidence of host-first and recovery-paths, and the totals line."""
    lines = text.rstrip("\n").split("\n")
    first = next(i for i, l in enumerate(lines) if l.startswith("== "))
    out = lines[:first - 1] + ["\u2026"]
    for n, name in enumerate(("host-first", "recovery-paths")):
        start = next(i for i, l in enumerate(lines) if l.startswith(f"== {name}:"))
        end = next((i for i in range(start + 1, len(lines)) if lines[i] == ""), len(lines))
        out += lines[start:end] + ([""] if n == 0 else []) + ["\u2026"]
    out.append(lines[-1])
    return "\n".join(out) + "\n"


def caps_excerpt(text):
    """The caps JSON members the README discusses: CPU identity, eligibility, KVM's offer, the host MSR."""
    d = json.loads(text)
    pick = {
        "cpu": {k: d["cpu"][k] for k in ("archLbr", "family", "hybrid", "hypervisor", "model", "pdcm",
                                          "stepping", "vendorString") if k in d["cpu"]},
        "eligibility": d["eligibility"],
        "host": {"kvm": {k: d["host"]["kvm"][k] for k in ("apiVersion", "supportedPerfCapabilities")
                         if k in d["host"]["kvm"]},
                 "msr": {k: d["host"]["msr"][k] for k in ("perfCapabilities",) if k in d["host"]["msr"]}},
        "schema": d["schema"],
        "tool": d["tool"],
    }
    return json.dumps(pick, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def matrix(binary):
    """Markdown table: the outcome of every scenario under every model, from real hybrid runs."""
    columns, rows = [], {}
    for model in MATRIX_MODELS:
        p = subprocess.run([binary, "run", "--backend", "hybrid", "--model", model, "--format", "json"],
                           cwd=ROOT, capture_output=True, text=True)
        if p.returncode not in (0, 1):
            sys.exit(f"gen-docs: hybrid run of model {model} exited {p.returncode}: {p.stderr.strip()}")
        columns.append(model)
        for r in json.loads(p.stdout)["results"]:
            rows.setdefault(r["scenario"], {})[model] = r["outcome"]
    out = ["| scenario | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 1)]
    for scenario, cells in rows.items():
        out.append(f"| {scenario} | " + " | ".join(f"`{cells.get(m, '-')}`" for m in columns) + " |")
    return "\n".join(out) + "\n"


VOLATILE = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<run-id>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"), "<start-time>"),
    (re.compile(r'( time=")[0-9.]+(")'), r"\1<seconds>\2"),
    (re.compile(r'("duration" : )[0-9.e-]+'), r"\1<seconds>"),
]
# The kernel release (and the KCIDB build id made from it) differs from host to host.
KERNEL = re.compile(r'((?:kernel(?:_release)?(?:[ =]|" value="|" : ")|"build_id" : "[a-z0-9_]+:))[^\s",]+')
# So does the CPU a run picks by default: the first one this process may run on (a cpuset or taskset may leave
# out CPU 0).
CPU = re.compile(r'(\bcpu(?:[ =]|" value="|" : ))\d+')


def run(binary, name):
    spec = REGIONS[name]
    args, where = spec[0], spec[1]
    if where == "matrix":
        return None, matrix(binary)
    sub = [] if args[:1] in (["caps"], ["contract"]) else ["run"]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        cmd = [binary] + sub + [a.replace("{out}", out) for a in args]
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if p.returncode not in (0, 1, 4):
            sys.exit(f"gen-docs: {' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()}")
        text = p.stdout if where == "stdout" else open(out, encoding="utf-8").read()
    if len(spec) > 4:
        text = globals()[spec[4]](text)
    for rx, rep in VOLATILE:
        text = rx.sub(rep, text)
    shown = ["lbrprobe"] + sub + [a if a != "{out}" else ("junit.xml" if "--junit" in args else "kcidb.json")
                                  for a in args]
    if name == "readme-run-text":
        shown = ["lbrprobe", "run", "--evidence"]      # --backend auto is the default; evidence blocks on request
    prompt = "$ " + " ".join(shown)
    if where == "file":
        prompt += " && cat " + shown[-1]
    return prompt, text


def block(name, prompt, text):
    lang = REGIONS[name][3]
    body = text if text.endswith("\n") else text + "\n"
    if lang is None:   # markdown, not a code block
        return body
    if lang:   # a file: show the command as a line of its own above the fence
        return f"`{prompt[2:]}`:\n\n```{lang}\n{body}```\n"
    return f"```\n{prompt}\n{body}```\n"


REGION_RX = re.compile(r"(<!-- BEGIN generated: ([a-z0-9-]+) -->\n)(.*?)(<!-- END generated -->)", re.S)


def normal(text):
    return CPU.sub(r"\1<cpu>", KERNEL.sub(r"\1<kernel>", text))


def main():
    args = sys.argv[1:]
    check = "--check" in args
    binary = args[args.index("--bin") + 1] if "--bin" in args else None
    if not binary:
        sys.exit(__doc__)
    files = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
    seen, differ = set(), []
    cache = {}
    for path in files:
        old = open(path, encoding="utf-8").read()

        def fill(m):
            name = m.group(2)
            if name not in REGIONS:
                sys.exit(f"gen-docs: {path}: unknown region {name} (known: {', '.join(REGIONS)})")
            seen.add(name)
            if check and not REGIONS[name][2]:
                return m.group(0)            # host-specific: not compared, so not regenerated either
            if name not in cache:
                cache[name] = block(name, *run(binary, name))
            new = cache[name]
            if check and REGIONS[name][2] and normal(m.group(3)) != normal(new):
                diff = difflib.unified_diff(normal(m.group(3)).splitlines(), normal(new).splitlines(),
                                            f"{os.path.relpath(path, ROOT)} ({name}, committed)", "lbrprobe now",
                                            lineterm="", n=1)
                differ.append("\n".join(list(diff)[:40]))
            return m.group(1) + new + m.group(4)

        text = REGION_RX.sub(fill, old)
        if not check and text != old:
            open(path, "w", encoding="utf-8").write(text)
            print(f"gen-docs: rewrote {os.path.relpath(path, ROOT)}")
    missing = set(REGIONS) - seen
    if missing:
        differ.append(f"regions missing from README.md/docs: {', '.join(sorted(missing))}")
    if check:
        for d in differ:
            print(d)
        host = [n for n in seen if not REGIONS[n][2]]
        print(f"gen-docs --check: {len(seen) - len(host)} deterministic region(s) compared, {len(differ)} differ; "
              f"host-specific, not compared: {', '.join(sorted(host)) or 'none'}")
        sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
