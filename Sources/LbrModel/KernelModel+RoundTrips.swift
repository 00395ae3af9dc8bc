// The exit loop of a guest command (`vcpuRoundTrips`): port-I/O round trips of the loaded vCPU thread, each
// `vcpuPut()`, `advance(ns:)` of host-mode time, `vcpuEnter()`. A command holds hundreds of them; between two host
// samples, rotations or kernel-log lines they change nothing but clocks, counters and the host branches the
// hardware records, so runs of such quiet round trips are applied at once (`quietRoundTrips`). The result is
// exactly that of stepping them one by one: the same samples at the same times, the same stats, observations and
// LBR registers (ModelRuleTests `RoundTrips` compares both ways on every variant). Anything else — a sample, a
// rotation, a printed or newly rate-limited kmsg line, a variant hook at exit or entry, a state change to log —
// falls back to the step-by-step rules.
import LbrCore

extension KernelModel {
    /// `count` port-I/O round trips of the loaded vCPU thread: each is `vcpuPut()` (the exit and return to user
    /// space), `advance(ns: hostNs)` of host-mode time on the thread, `vcpuEnter()` — with exactly the effect of
    /// that sequence stepped `count` times (the exit loop of a guest command, ModelHost).
    public mutating func vcpuRoundTrips(_ count: UInt64, hostNs: UInt64) {
        var left = count
        while left > 0 {
            left -= quietRoundTrips(upTo: left, hostNs: hostNs)
            guard left > 0 else { break }
            left -= 1
            vcpuPut()
            advance(ns: hostNs)
            vcpuEnter()
        }
    }

    /// Applies up to `limit` round trips at once while stepping them would only advance clocks and counters and
    /// record host branches: returns how many (0 when the next one needs the step-by-step rules).
    /// long-function: one checklist of the stepped rules it may skip, read beside vcpuPut/vcpuEnter/accrue.
    mutating func quietRoundTrips(upTo limit: UInt64, hostNs: UInt64) -> UInt64 {
        // One CPU, the vCPU thread current on it and in guest mode (a round trip starts and ends there).
        guard cpus == 1, vcpuCpu == 0, inGuest, loaded, cpuCurrent[0] == 0, tasks[0].cpu == 0 else { return 0 }
        // Nothing acts at the exit or entry: no request, no variant hook with work to do, no era snapshot.
        guard !reqPmu, !era.hostDebugctlSnapshot else { return 0 }
        if variant.defersLbrHandover && (perfRequestPending || perfNotifyFree) { return 0 }
        let vlbrActive = vlbr.map { events[$0].state == .active } ?? false
        if variant.reenablesOnEveryExit, let v = vlbr, events[v].state == .error { return 0 }
        // The vLBR state is logged already and stays as it is.
        if logging && lastLoggedVlbr != vlbrState { return 0 }
        // vmx_passthrough_lbr_msrs() at each entry keeps the passthrough as it is; `warns`: it prints (rate-limited).
        var warns = false
        if variant.guestHasLbr {
            if vlbr == nil {
                guard !passthrough else { return 0 }
                warns = guestDebugctl & DebugCtl.lbr != 0 || vlbrInUse
            } else if !vlbrActive {
                guard !passthrough else { return 0 }
                warns = true
            } else if variant.saveRestore == .lazy && lazyPending {
                guard !passthrough else { return 0 }
            } else {
                guard passthrough else { return 0 }
            }
        }

        let exitNs = costs.vmExitNs, entryNs = costs.vmEntryNs
        let tripNs = exitNs &+ hostNs &+ entryNs
        guard tripNs > 0, tripNs >= exitNs, tripNs >= hostNs else { return 0 }
        // No rotation: the clock stays short of the next tick.
        guard nextRotationNs > nowNs else { return 0 }
        var k = min(limit, (nextRotationNs - nowNs - 1) / tripNs)
        // No sample: every sampling event that counts in host mode stays short of its period. Each event once
        // (accrue visits the four lists of the CPU and its current task).
        for l in 0..<4 {
            for j in 0..<listCount(l) {
                let i = listElement(l, j)
                for l2 in 0...l {
                    for j2 in 0..<(l2 == l ? j : listCount(l2)) where listElement(l2, j2) == i { return 0 }
                }
                guard events[i].state == .active, !events[i].pendingInstall, events[i].periodNs > 0,
                      !events[i].excludeHost else { continue }
                let period = events[i].periodNs, acc = events[i].sampleAccNs
                guard acc < period else { return 0 }
                k = min(k, (period - 1 - acc) / tripNs)
            }
        }
        guard k > 0 else { return 0 }
        let total = k &* tripNs
        // The entries' kmsg lines would all be suppressed within the current ratelimit interval (§9.4).
        if warns {
            let firstEntry = ratelimitBaseNs &+ nowNs &+ exitNs &+ hostNs
            guard ratelimit.suppressAll(first: firstEntry, step: tripNs, count: k) else { return 0 }
            stats.kmsgSuppressed &+= k
        }
        if variant.guestHasLbr && vlbr != nil && !vlbrActive { vlbrInUse = false }

        // Host code ran in each of the three host-mode stretches; with a host LBR user and bit 58 of the guest mask
        // clear (vlbr_exclude_host false) the hardware records one host branch per 50 ns of each (accrue, §3.4, §9.4).
        let vlbrOnHere = vlbrActive
        let starved = vlbrOnHere || cpuGuestMaskBit58[0] > 0
        let hostLbrUsers = cpuLbrUsers[0] - (vlbrOnHere && events[vlbr!].usesLbr ? 1 : 0)
        if !starved && hostLbrUsers > 0 {
            let depth = UInt64(cpuLbr[0].depth)
            func branches(_ ns: UInt64) -> UInt64 { ns == 0 ? 0 : min(depth, max(1, ns / 50)) }
            let perTrip = branches(exitNs) &+ branches(hostNs) &+ branches(entryNs)
            cpuLbr[0].recordRun(total: k &* perTrip, seq: &hostBranchSeq, .host) { q in
                0xffff_ffff_8100_0000 &+ (q & 0xffff) &* 16
            }
        }
        // Time accounting of every listed event (accrueList, host mode, no sample fires).
        for l in 0..<4 {
            for j in 0..<listCount(l) {
                let i = listElement(l, j)
                let st = events[i].state
                if st.rawValue < 0 || events[i].pendingInstall { continue }
                events[i].enabledNs &+= total
                guard st == .active else { continue }
                events[i].runningNs &+= total
                if events[i].periodNs > 0 && !events[i].excludeHost { events[i].sampleAccNs &+= total }
            }
        }
        nowNs &+= total
        stats.operations &+= 3 &* k
        stats.vmExits &+= k
        stats.vmEntries &+= k
        hasRun = true
        return k
    }

    /// The lists `accrue` visits on CPU 0 with the vCPU thread current: CPU pinned, CPU flexible, task pinned, task
    /// flexible (read in place: no copy of a list).
    private func listCount(_ l: Int) -> Int {
        switch l {
        case 0: return cpuPinned[0].count
        case 1: return cpuFlexible[0].count
        case 2: return tasks[0].pinned.count
        default: return tasks[0].flexible.count
        }
    }

    private func listElement(_ l: Int, _ j: Int) -> Int {
        switch l {
        case 0: return cpuPinned[0][j]
        case 1: return cpuFlexible[0][j]
        case 2: return tasks[0].pinned[j]
        default: return tasks[0].flexible[j]
        }
    }
}
