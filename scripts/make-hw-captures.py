#!/usr/bin/env python3
"""Writes the hardware-shaped captures under Tests/LbrScenariosTests/Captures/ (lbrprobe.capture/2,
docs/capture-format.md): every host sample is written raw (TID, time, CPU, hw_idx, entries, in ring order, with the
window filter that keeps it), and `lbrprobe judge` derives the host-sample summaries from them. They are built
from the upstream rules of docs/reference.md §9.1, §9.6 and §9.7 for a Cascade Lake host (model 0x55, 32-entry
LBR, 6.18 kernel), not recorded on hardware. Deterministic: rerun to regenerate."""
import json, os

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "LbrScenariosTests", "Captures")
LAYOUT = {"depth": 32, "from": 1664, "to": 1728, "tos": 457, "info": 3520, "select": 456,
          "hasCallStack": True, "source": "intel_pmu_lbr_init_skl"}
HOST = {"hostname": "clx-lab", "kernelRelease": "6.18.0", "cpuVendor": "GenuineIntel", "cpuFamily": 6,
        "cpuModel": 85, "cpuStepping": 7, "cpuModelName": "Cascade Lake-SP"}
# The payload's exact edge table (guest.S `lbr_guest_edges`) as `lbrprobe run --capture` records it in
# session.guestEdges; host-sample entries are matched against it (§9.7).
GUEST_EDGES = {
    "edges": [[65691, 65826], [65700, 65932], [65709, 65962], [65718, 65999], [65727, 66017], [65736, 66284],
              [65745, 66205], [65754, 66055], [65763, 66078], [65772, 66034], [65781, 66182], [65824, 65836],
              [65874, 65560], [65913, 65931], [65939, 65891], [65947, 65879], [65952, 65901], [65957, 65826],
              [65989, 65901], [65994, 65826], [66002, 65879], [66007, 65901], [66012, 65826], [66024, 65891],
              [66029, 65826], [66045, 65901], [66050, 65826], [66062, 65826], [66071, 66068], [66073, 65826],
              [66134, 66120], [66136, 65826], [66208, 65879], [66213, 65901], [66221, 66255], [66229, 66255],
              [66239, 65826], [66245, 66255], [66250, 65826], [66262, 66283], [66268, 65879], [66273, 65901],
              [66281, 66258], [66288, 66304], [66307, 66560], [66316, 66320], [66323, 66560], [66332, 66336],
              [66339, 66560], [66348, 66352], [66355, 66560], [66364, 66368], [66371, 66560], [66380, 66384],
              [66387, 66560], [66396, 66400], [66403, 66560], [66412, 66416], [66419, 66560], [66428, 66432],
              [66435, 66560], [66440, 66448], [66451, 66560], [66456, 66464], [66467, 66560], [66472, 66480],
              [66483, 66560], [66488, 66496], [66499, 66560], [66504, 66512], [66515, 66560], [66520, 66528],
              [66531, 66560], [66536, 66544], [66547, 66560], [66552, 66304], [66564, 65901], [66569, 65826]],
    "retSites": [65890, 65900, 65931, 66283],
    "returnPoints": [65944, 65952, 65957, 65994, 66007, 66012, 66029, 66050, 66213, 66218, 66226, 66234, 66250,
                     66273, 66278, 66569]}
# The branch pattern's 16 jmp edges (0x1030c -> 0x10310 … 0x103f8 -> 0x10300), what a traced guest leaves in the LBRs.
PATTERN = [tuple(e) for e in GUEST_EDGES["edges"] if 66307 < e[0] <= 66552 and e[1] != 66560]
assert len(PATTERN) == 16 and PATTERN[0] == (66316, 66320) and PATTERN[-1] == (66552, 66304)
PINNED = "pinned-lbr-any-cycles"
INCL = "pinned-lbr-any-cycles-incl-guest"
SLOT = "vlbr-slot-0x1b00"
VCPU_TID = 4242      # the vCPU thread
RUNNER_TID = 4240    # lbrprobe's runner (the seed read, work between commands): filtered out
CPU = 3
t = [0]


def at(obs):
    t[0] += 1000
    return {"timeNs": t[0], "observation": obs, "basis": "hardware"}


def guest(cmd, values, stack=None):
    g = {"command": cmd, "status": {"ok": {}}, "values": values, "tscBegin": t[0] * 3, "tscEnd": t[0] * 3 + 900}
    if stack: g["stack"] = stack
    return at({"guest": {"_0": g}})


def access(index, write, value, trapped):
    return at({"msrAccess": {"_0": {"index": index, "isWrite": write, "value": value, "trapped": trapped, "faulted": False}}})


# The payload's RDMSR / WRMSR instruction addresses (generic helpers, then the TOS probe's pair) at the time the
# captures were built: what kvm_msr trace lines are attributed with.
RDMSR_SITES, WRMSR_SITES = [65879, 65978], [65898, 65976]


def trace(events):
    """The raw kvm:kvm_msr lines of the next guest command (`judge` attributes them to its MSR sequence and
    derives the msrAccess observations): (isWrite, index, data, exception) each."""
    lines = [{"isWrite": w, "index": i, "data": d, "exception": x} for (w, i, d, x) in events]
    return at({"kvmMsrTrace": {"_0": {"events": lines, "rdmsrSites": RDMSR_SITES, "wrmsrSites": WRMSR_SITES,
                                       "derived": 0}}})


def event(c, state):
    return at({"hostEvent": {"contender": c, "state": state, "enabledNs": 9000000, "runningNs": 9000000 if state == "active" else 0}})


def host_stack(seq, guest_edges=()):
    """One real LBR read: `hw_idx`, then 32 entries newest first: `guest_edges` (payload edges) followed by host
    kernel branches; every entry's flags carry a distinct LBR_INFO cycle count (bits 4..19), as real reads do."""
    entries = list(guest_edges)
    k = 0
    while len(entries) < 32:
        a = 0xffffffff81a01000 + 0x40 * ((seq * 32 + k) % 4096)
        entries.append((a, a + 0x1c))
        k += 1
    row = [(seq * 7) % 32]
    for i, (f, to) in enumerate(entries):
        row += [f, to, ((seq * 13 + i) % 4000 + 1) << 4]
    return row


class Ring:
    """The samples of one host LBR event's ring, as `lbrprobe run --capture` records its drains."""

    def __init__(self, contender, period=100000):
        self.contender, self.period, self.before, self.batches, self.seq = contender, period, None, [], 0

    def read(self, guest_edges=()):
        self.seq += 1
        return host_stack(self.seq, guest_edges)

    def drain(self, window, kept, filtered_before=0, throttles=0):
        """One drain after a guest command: `filtered_before` real reads by the runner outside the window (the
        seed read, §9.6), then `kept` samples of the vCPU thread inside it (each a stack, equal to the previous
        one for a stale repeat, §9.1), then `throttles` PERF_RECORD_THROTTLE records."""
        start, end = window
        stacks, records = [], []

        def ref(row):
            if row not in stacks: stacks.append(row)
            return stacks.index(row)

        before = None if self.before is None else ref(self.before)
        last = self.before
        for i in range(filtered_before):
            last = self.read()
            records.append([start - 5000 + i, RUNNER_TID, CPU, ref(last)])
        step = max(1, (end - start) // (len(kept) + 1))
        for i, row in enumerate(kept):
            records.append([start + step * (i + 1), VCPU_TID, CPU, ref(row)])
            last = row
        for i in range(throttles):
            records.append({"throttle": end - 100 + i, "id": 7})
        self.before = last
        batch = {"cpu": CPU, "keep": {"windows": {"_0": [{"tid": VCPU_TID, "startNs": start, "endNs": end}]}},
                 "stacks": stacks, "records": records}
        if before is not None: batch["before"] = before
        self.batches.append(batch)

    def report(self):
        """The drains since the last report: `judge` derives the `hostSamples` summary from them."""
        obs = {"hostSampleRecords": {"_0": {"contender": self.contender, "samplePeriod": self.period,
                                             "guestRange": [65536, 66830], "exactEdges": True,
                                             "batches": self.batches}}}
        self.batches = []
        return at(obs)


def starved(ring, n_kept, fresh=1, window_ns=4000000, seed=1, throttles=0):
    """`fresh` real reads then stale repeats of the last one (the vLBR scheduled in, §9.1): `n_kept` kept."""
    t[0] += 1000
    kept = []
    for i in range(n_kept):
        kept.append(ring.read() if i < fresh else kept[-1])
    ring.drain((t[0], t[0] + window_ns), kept, filtered_before=seed, throttles=throttles)
    t[0] += window_ns
    return ring.report()


def note(s): return at({"note": {"_0": s}})


def enable(): return guest({"enableLbr": {"freezeOnPmi": False}}, [1])
def probe(v, rb): return guest({"probeTos": {"_0": v}}, [rb])
def branches(n): return guest({"branchPattern": {"count": n}}, [n])
def exits(n): return guest({"exitLoop": {"exits": n}}, [])


def phase(name, obs):
    return {"phase": name, "observations": obs, "stepsCompleted": len(obs), "startNs": obs[0]["timeNs"] if obs else 0,
            "endNs": t[0], "stepEnds": list(range(1, len(obs) + 1))}


def session(notes, period=100000, rate=100000):
    return {"backend": "hw", "cpu": CPU, "lbrLayout": LAYOUT, "guestCodeRanges": [[65536, 66830]], "notes": notes,
            "guestEdges": GUEST_EDGES,
            "sampling": {"period": period, "maxSampleRate": rate, "cpuTimeMaxPercent": 25,
                         "periodNs": (period * 1000 + 2999) // 3000}}


def run(scenario, records, notes, repeat=(0, 1), **kw):
    return {"scenario": scenario, "repeatIndex": repeat[0], "repeats": repeat[1], "durationNs": 40000000,
            "startUnixNs": 1796000000000000000, "session": session(notes, **kw), "records": records}


def capture(name, runs):
    doc = {"schema": "lbrprobe.capture/2", "backend": "hw", "cpu": CPU, "kernelRelease": "6.18.0",
           "runId": "01900000-0000-7000-8000-0000000000c%d" % len(name), "host": HOST, "runs": runs}
    with open(os.path.join(OUT, name), "w") as f:
        f.write(json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n")


PLAN = "host LBR sampling: sample_period 100000 cycles (perf_event_max_sample_rate 100000)"
CAL = "host-mode time per port-I/O exit: 2480 ns (measured over 2000 exits); host-sample-time(40 periods) = 180 exits"

# 0-5 kept samples per contended phase (no calibrated host time): the minimum-N rule abstains. host-first runs
# twice: 3 kept samples, then none (the drain holds only the runner's seed read, filtered out).
p = Ring(PINNED)
few = [
    run("host-first", [
        phase("contended", [event(PINNED, "active"), enable(), branches(16), access(457, True, 3, False),
                            probe(3, 3), starved(p, 3), note(PLAN)]),
        phase("after", [probe(3, 3), access(457, True, 3, False), probe(1, 1)]),
    ], [PLAN], repeat=(0, 2)),
]
p = Ring(PINNED)
few.append(run("host-first", [
    phase("contended", [event(PINNED, "active"), enable(), branches(16), access(457, True, 3, False),
                        probe(3, 3), starved(p, 0), note(PLAN)]),
    phase("after", [probe(3, 3), access(457, True, 3, False), probe(1, 1)]),
], [PLAN], repeat=(1, 2)))
p = Ring(PINNED)
few.append(run("host-preempts", [
    phase("guest-owns", [enable(), branches(16), probe(3, 3)]),
    phase("contended", [event(PINNED, "active"), probe(3, 3), access(457, True, 3, False), branches(16),
                        starved(p, 1)]),
    phase("after", [probe(3, 3), access(457, True, 3, False), probe(1, 1)]),
], [PLAN]))
p = Ring(PINNED)
few.append(run("irq-takeover", [
    phase("setup", [enable(), branches(16), probe(3, 3)]),
    phase("between-exits", [event(PINNED, "active"), branches(16), probe(3, 3), access(457, True, 3, False),
                            starved(p, 5)]),
    phase("reset", [guest({"disableLbr": {}}, [0]), enable(), probe(3, 3)]),
    phase("while-running", [event(PINNED, "active"), branches(16), probe(3, 3), access(457, True, 3, False),
                            starved(p, 2, seed=0)]),
], [PLAN]))
capture("hw-few-samples.capture.json", few)

# The same three scenarios as a calibrated run records them (host-sample-time sized to 40 periods of host-mode
# time per exit, §9.6): 40 kept samples per contended phase, every one after the first a stale repeat.
p = Ring(PINNED)
cal = [run("host-first", [
    phase("contended", [event(PINNED, "active"), enable(), branches(16), access(457, True, 3, False),
                        probe(3, 3), exits(180), starved(p, 40), note(PLAN)]),
    phase("after", [probe(3, 3), access(457, True, 3, False), probe(1, 1)]),
], [PLAN, CAL])]
p = Ring(PINNED)
cal.append(run("host-preempts", [
    phase("guest-owns", [enable(), branches(16), probe(3, 3)]),
    phase("contended", [event(PINNED, "active"), probe(3, 3), access(457, True, 3, False), branches(16),
                        exits(180), starved(p, 40)]),
    phase("after", [probe(3, 3), access(457, True, 3, False), probe(1, 1)]),
], [PLAN, CAL]))
p = Ring(PINNED)
cal.append(run("irq-takeover", [
    phase("setup", [enable(), branches(16), probe(3, 3)]),
    phase("between-exits", [event(PINNED, "active"), branches(16), probe(3, 3), access(457, True, 3, False),
                            exits(180), starved(p, 40)]),
    phase("reset", [guest({"disableLbr": {}}, [0]), enable(), probe(3, 3)]),
    phase("while-running", [event(PINNED, "active"), branches(16), probe(3, 3), access(457, True, 3, False),
                            exits(180), starved(p, 40, seed=0)]),
], [PLAN, CAL]))
capture("hw-calibrated.capture.json", cal)

# The ERROR + DEBUGCTL.LBR=1 leak (reference §9.7): counter 58 held, writes dropped, guest edges in host samples.
# The pattern is sized by time (traced-pattern(20 periods) at 300 ps per branch: 2,222,267 branches). The TOS
# probe's accesses are raw kvm_msr lines: KVM handled both (the write dropped, the read returned 0).
# exclude_guest=0: PMIs in guest mode read the guest's pattern (3 exact edges in each of 32 samples, 96); one
# entry per sample lies inside the payload's range without being an edge (not counted: exact matching).
# exclude_guest=1: one sample read soon after a VM-exit still holds 7 pattern edges.
def leak_phase(ring, n, guest_edges_of):
    t[0] += 1000
    kept = [ring.read(guest_edges_of(i)) for i in range(n)]
    ring.drain((t[0], t[0] + 6000000), kept, filtered_before=1)
    t[0] += 6000000
    return ring.report()


NEAR_MISS = (66320, 66324)  # inside the payload, not an edge
incl, excl = Ring(INCL), Ring(PINNED)
leak = [run("guest-leak", [
    phase("incl-guest", [event(SLOT, "active"), event(INCL, "active"), enable(),
                         trace([(True, 457, 3, False), (False, 457, 0, False)]), probe(3, 0),
                         branches(2222267), exits(180),
                         leak_phase(incl, 41, lambda i: PATTERN[i % 13:i % 13 + 3] + [NEAR_MISS] if i < 32 else []),
                         note("guest edges matched exactly against the payload's edge table")]),
    phase("excl-guest", [event(PINNED, "active"), branches(2222267), exits(180),
                         leak_phase(excl, 39, lambda i: PATTERN[:7] if i == 0 else []),
                         at({"kmsg": {"_0": "kvm_intel: vcpu-0: fail to passthrough LBR."}})]),
], [PLAN, CAL])]
capture("hw-error-leak.capture.json", leak)

# perf lowered perf_event_max_sample_rate (interrupt took too long): period 200,000, calibrated time, 2
# PERF_RECORD_THROTTLE records; 38 kept samples, 37 exact repeats.
LOW = "host LBR sampling: sample_period 200000 cycles (perf_event_max_sample_rate 25000)"
p = Ring(PINNED, period=200000)
low = [run("host-first", [
    phase("contended", [event(PINNED, "active"), enable(), branches(16), access(457, True, 3, False), probe(3, 3),
                        exits(1040), starved(p, 38, throttles=2), note(LOW)]),
    phase("after", [probe(3, 3), access(457, True, 3, False), probe(1, 1)]),
], [LOW, "host-mode time per port-I/O exit: 2510 ns (measured over 2000 exits); host-sample-time(40 periods) = 1040 exits"],
    period=200000, rate=25000)]
capture("hw-lowered-rate.capture.json", low)
