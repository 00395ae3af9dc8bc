#!/usr/bin/env python3
"""Writes the hardware-shaped captures under Tests/LbrScenariosTests/Captures/ (lbrprobe.capture/1,
docs/capture-format.md). They are built from the upstream rules of docs/reference.md §9.6 and §9.7 for a Cascade
Lake host (model 0x55, 32-entry LBR, 6.18 kernel), not recorded on hardware. Deterministic: rerun to regenerate."""
import json, os

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "LbrScenariosTests", "Captures")
LAYOUT = {"depth": 32, "from": 1664, "to": 1728, "tos": 457, "info": 3520, "select": 456,
          "hasCallStack": True, "source": "intel_pmu_lbr_init_skl"}
HOST = {"hostname": "clx-lab", "kernelRelease": "6.18.0", "cpuVendor": "GenuineIntel", "cpuFamily": 6,
        "cpuModel": 85, "cpuStepping": 7, "cpuModelName": "Cascade Lake-SP"}
PINNED = "pinned-lbr-any-cycles"
INCL = "pinned-lbr-any-cycles-incl-guest"
SLOT = "vlbr-slot-0x1b00"
t = [0]

def at(obs):
    t[0] += 1000
    return {"timeNs": t[0], "observation": obs}

def guest(cmd, values, stack=None):
    g = {"command": cmd, "status": {"ok": {}}, "values": values, "tscBegin": t[0] * 3, "tscEnd": t[0] * 3 + 900}
    if stack: g["stack"] = stack
    return at({"guest": {"_0": g}})

def access(index, write, value, trapped):
    return at({"msrAccess": {"_0": {"index": index, "isWrite": write, "value": value, "trapped": trapped, "faulted": False}}})

def event(c, state):
    return at({"hostEvent": {"contender": c, "state": state, "enabledNs": 9000000, "runningNs": 9000000 if state == "active" else 0}})

def samples(c, n, stale, guest_addr=0, period=100000, throttled=0, filtered=12):
    s = {"contender": c, "samples": n, "withBranches": n, "emptyBranches": 0, "staleRepeats": stale,
         "guestAddresses": guest_addr, "withHwIndex": n, "filteredOut": filtered, "lost": 0, "throttled": throttled,
         "samplePeriod": period}
    if stale: s["staleExample"] = "hw_idx 0x1b, 32 entries, 0xffffffff81a01234->0xffffffff81a01250 ..."
    return at({"hostSamples": {"_0": s}})

def note(s): return at({"note": {"_0": s}})

def enable(): return guest({"enableLbr": {"freezeOnPmi": False}}, [1])
def probe(v, rb): return guest({"probeTos": {"_0": v}}, [rb])
def branches(n): return guest({"branchPattern": {"count": n}}, [n])
def exits(n): return guest({"exitLoop": {"exits": n}}, [])

def phase(name, obs):
    return {"phase": name, "observations": obs, "stepsCompleted": len(obs), "startNs": obs[0]["timeNs"] if obs else 0,
            "endNs": t[0], "stepEnds": list(range(1, len(obs) + 1))}

def session(notes):
    return {"backend": "hw", "cpu": 3, "lbrLayout": LAYOUT, "guestCodeRanges": [[65536, 66830]], "notes": notes}

def run(scenario, records, notes):
    return {"scenario": scenario, "repeatIndex": 0, "repeats": 1, "durationNs": 40000000,
            "startUnixNs": 1796000000000000000, "session": session(notes), "records": records}

def capture(name, runs):
    doc = {"schema": "lbrprobe.capture/1", "backend": "hw", "cpu": 3, "kernelRelease": "6.18.0",
           "runId": "01900000-0000-7000-8000-0000000000c%d" % len(name), "host": HOST, "runs": runs}
    with open(os.path.join(OUT, name), "w") as f:
        f.write(json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n")

PLAN = "host LBR sampling: sample_period 100000 cycles (perf_event_max_sample_rate 100000)"

# 1-5 kept samples per contended phase (no calibrated host time): the minimum-N rule abstains.
few = [
    run("host-first", [
        phase("contended", [event(PINNED, "active"), enable(), branches(16), access(457, True, 3, False),
                            probe(3, 3), samples(PINNED, 3, 2), note(PLAN)]),
        phase("after", [probe(3, 3), access(457, True, 3, False), probe(1, 1)]),
    ], [PLAN]),
    run("host-preempts", [
        phase("guest-owns", [enable(), branches(16), probe(3, 3)]),
        phase("contended", [event(PINNED, "active"), probe(3, 3), access(457, True, 3, False), branches(16),
                            samples(PINNED, 1, 0)]),
        phase("after", [probe(3, 3), access(457, True, 3, False), probe(1, 1)]),
    ], [PLAN]),
    run("irq-takeover", [
        phase("setup", [enable(), branches(16), probe(3, 3)]),
        phase("between-exits", [event(PINNED, "active"), branches(16), probe(3, 3), access(457, True, 3, False),
                                samples(PINNED, 5, 4)]),
        phase("reset", [guest({"disableLbr": {}}, [0]), enable(), probe(3, 3)]),
        phase("while-running", [event(PINNED, "active"), branches(16), probe(3, 3), access(457, True, 3, False),
                                samples(PINNED, 2, 1)]),
    ], [PLAN]),
]
capture("hw-few-samples.capture.json", few)

# The ERROR + DEBUGCTL.LBR=1 leak (reference §9.7): counter 58 held, writes dropped, guest edges in host samples.
leak = [run("guest-leak", [
    phase("incl-guest", [event(SLOT, "active"), event(INCL, "active"), enable(), access(457, True, 3, True),
                         probe(3, 0), branches(16384), exits(180), samples(INCL, 41, 0, guest_addr=96),
                         note("guest edges matched exactly against the payload's edge table")]),
    phase("excl-guest", [event(PINNED, "active"), branches(16384), exits(180), samples(PINNED, 39, 0, guest_addr=7),
                         at({"kmsg": {"_0": "kvm_intel: vcpu-0: fail to passthrough LBR."}})]),
], [PLAN, "host-mode time per port-I/O exit: 2480 ns (measured over 2000 exits); host-sample-time(40 periods) = 180 exits"])]
capture("hw-error-leak.capture.json", leak)

# perf lowered perf_event_max_sample_rate (interrupt took too long): period 200,000, calibrated time.
LOW = "host LBR sampling: sample_period 200000 cycles (perf_event_max_sample_rate 25000)"
low = [run("host-first", [
    phase("contended", [event(PINNED, "active"), enable(), branches(16), access(457, True, 3, False), probe(3, 3),
                        exits(1040), samples(PINNED, 38, 37, period=200000, throttled=2), note(LOW)]),
    phase("after", [probe(3, 3), access(457, True, 3, False), probe(1, 1)]),
], [LOW, "host-mode time per port-I/O exit: 2510 ns (measured over 2000 exits); host-sample-time(40 periods) = 1040 exits"])]
capture("hw-lowered-rate.capture.json", low)
