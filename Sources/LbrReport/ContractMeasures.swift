// Per-phase numbers for evidence tables (`results[].phases[].measures` in lbrprobe.run/3): computed once from
// the raw observations when the run document is built, so `lbrprobe contract` (a pure function of saved
// documents) can quote guest TSC spans, exits, kmsg lines, host samples and the timed steps without the raw
// observation stream.

import LbrDocument
import LbrCore
import LbrScenarios

enum ContractMeasures {
    /// The measures of phase `name` of `r`, nil when the run recorded no such phase.
    static func measures(of name: String, in r: ScenarioResult) -> JsonReport.MeasuresDTO? {
        guard let rec = r.records.first(where: { $0.phase == name }) else { return nil }
        let origin = r.records.first?.startNs ?? rec.startNs
        var m = JsonReport.MeasuresDTO(
            start_offset_ms: Double(rec.startNs &- origin) / 1e6, guest_commands: 0, guest_tsc_begin: nil,
            guest_tsc_end: nil, exits: 0, msr_exits: 0, msr_accesses: 0, msr_trapped: 0, kmsg_lines: 0,
            context_switches: 0, host_samples: 0, host_empty: 0, host_stale_repeats: 0, host_guest_addresses: 0,
            host_lost: 0, host_throttled: 0, timed_steps: [])
        var guests: [GuestResult] = []
        var windows: [HostActionWindow] = []
        for t in rec.observations {
            switch t.observation {
            case let .guest(g):
                guests.append(g)
                m.guest_commands += 1
                if g.tscBegin != 0 || g.tscEnd != 0 {
                    if m.guest_tsc_begin == nil { m.guest_tsc_begin = g.tscBegin }
                    m.guest_tsc_end = g.tscEnd
                }
                if let e = g.exits { m.exits &+= e.exits; m.msr_exits &+= e.msrExits }
            case let .msrAccess(a):
                m.msr_accesses += 1
                if a.trapped { m.msr_trapped += 1 }
            case let .kmsg(line) where line.contains(failToPassthroughMessage):
                m.kmsg_lines += 1
            case let .contextSwitches(n):
                m.context_switches += n
            case let .hostSamples(s):
                m.host_samples += s.samples; m.host_empty += s.emptyBranches; m.host_stale_repeats += s.staleRepeats
                m.host_guest_addresses += s.guestAddresses; m.host_lost += s.lost
                m.host_throttled += s.throttled
            case let .hostActionWindow(w):
                windows.append(w)
            default:
                break
            }
        }
        // Timed steps: guest results come in the order of the phase's guest-command steps.
        if let scenario = Catalog.named(r.scenario), let phase = scenario.phases.first(where: { $0.name == name }) {
            let tosMask = r.lbrDepth.map { UInt64(max(1, $0) - 1) }
            var gi = 0
            var pendingProbe: [Int] = []   // indices into timed_steps waiting for their next probe
            var whileRunning = 0
            for step in phase.steps.prefix(rec.stepsCompleted) {
                guard step.guestCommand != nil else { continue }
                guard gi < guests.count else { break }
                let g = guests[gi]
                gi += 1
                if let v = g.command.tosProbeValue, let tosMask {
                    let probe = TosProbeReading(VerdictEngine.classifyTos(
                        written: v, result: g, tosMask: tosMask, branchesBetween: g.command.tosProbeBranchesBetween ?? 0))
                    for i in pendingProbe { m.timed_steps[i].next_probe_tsc = g.tscEnd; m.timed_steps[i].next_probe = probe }
                    pendingProbe.removeAll()
                }
                if let timing = step.timing, timing != .betweenExits {
                    var window: HostActionWindow? = nil
                    if timing == .whileVcpuRuns {
                        if whileRunning < windows.count { window = windows[whileRunning] }
                        whileRunning += 1
                    }
                    m.timed_steps.append(.init(timing: timing, step: step.action,
                                               guest_tsc_begin: g.tscBegin, guest_tsc_end: g.tscEnd,
                                               exits: g.exits?.exits ?? 0, overlap: window?.description,
                                               next_probe_tsc: nil, next_probe: nil,
                                               host_window: window.map(HostWindowDTO.init)))
                    pendingProbe.append(m.timed_steps.count - 1)
                }
            }
        }
        return m
    }
}
