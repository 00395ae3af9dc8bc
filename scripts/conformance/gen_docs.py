#!/usr/bin/env python3
"""Regenerates the examples in README.md and docs/*.md from real lbrprobe output.

A generated region is delimited by `<!-- BEGIN generated: NAME -->` and `<!-- END generated -->`; NAME is one
of REGIONS below, which says the command whose output fills it. Volatile values (run id, start times,
durations) are replaced by placeholders such as `<run-id>` so a regeneration changes only what lbrprobe
prints differently.

    gen_docs.py --bin LBRPROBE            rewrite every region in place
    gen_docs.py --bin LBRPROBE --check    exit 1 (with a diff) when a deterministic region differs from what
                                          lbrprobe prints now (the kernel release is compared as <kernel>;
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

# NAME: (arguments of `lbrprobe run`, output, deterministic?, fence language)
REGIONS = {
    "readme-tap": (["host-first", "--backend", "sim", "--format", "tap", "--expect", "expectations/mainline.expect"],
                   "stdout", True, ""),
    "readme-hw-skip": (["--backend", "hw", "--format", "tap"], "stdout", False, ""),
    "run-format-tap": (SIM_UNMET + ["--format", "tap"], "stdout", True, ""),
    "run-format-junit": (SIM_UNMET + ["--junit", "{out}"], "file", True, "xml"),
    "run-format-kcidb": (["slot-contention", "--backend", "sim", "--model", "seed-2023",
                          "--expect", "expectations/mainline.expect", "--kcidb", "{out}"], "file", True, "json"),
}

VOLATILE = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<run-id>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"), "<start-time>"),
    (re.compile(r'( time=")[0-9.]+(")'), r"\1<seconds>\2"),
    (re.compile(r'("duration" : )[0-9.e-]+'), r"\1<seconds>"),
]
KERNEL = re.compile(r'(kernel(?:_release)?(?:[ =]|" value="|" : "))[^\s",]+')


def run(binary, name):
    args, where, _, _ = REGIONS[name]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        cmd = [binary, "run"] + [a.replace("{out}", out) for a in args]
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if p.returncode not in (0, 1, 4):
            sys.exit(f"gen-docs: {' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()}")
        text = p.stdout if where == "stdout" else open(out, encoding="utf-8").read()
    for rx, rep in VOLATILE:
        text = rx.sub(rep, text)
    shown = ["lbrprobe", "run"] + [a if a != "{out}" else ("junit.xml" if "--junit" in args else "kcidb.json")
                                   for a in args]
    prompt = "$ " + " ".join(shown)
    if where == "file":
        prompt += " && cat " + shown[-1]
    return prompt, text


def block(name, prompt, text):
    lang = REGIONS[name][3]
    body = text if text.endswith("\n") else text + "\n"
    if lang:   # a file: show the command as a line of its own above the fence
        return f"`{prompt[2:]}`:\n\n```{lang}\n{body}```\n"
    return f"```\n{prompt}\n{body}```\n"


REGION_RX = re.compile(r"(<!-- BEGIN generated: ([a-z0-9-]+) -->\n)(.*?)(<!-- END generated -->)", re.S)


def normal(text):
    return KERNEL.sub(r"\1<kernel>", text)


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
