// The per-result timeline of a run document: a compact list of events on one time axis, derived
// from the phase records' timed observations, so `lbrprobe timeline RUN.json` can draw a saved run without
// the raw observations. State lanes carry only changes; runs of equal MSR accesses collapse into one span;
// kmsg lines and notes are capped. Wire form: `results[].timeline` (docs/run-format.md "Timeline").

import LbrCore
import LbrDocument
import LbrScenarios

/// Derives timeline events from a result.
public enum Timeline {
    /// Hard cap of events per result (the document stays small under `--repeat`).
    public static let maxEvents = 400
    /// Caps per lane for free-text lanes.
    static let maxKmsg = 24, maxNotes = 24

    /// The clock of a result's `t_ns`: hw stamps observations with the runner's monotonic clock; hybrid and
    /// sim stamp them with the kernel model's clock (which advances by the model's costs and the guest's
    /// commands), so phase boundaries are placed on that clock too.
    public static func clock(_ r: ScenarioResult) -> TimelineClock { r.backend == .hw ? .monotonic : .model }

    /// The events of one result, sorted by time; nil when the result has no records (skipped, or its raw
    /// observations were not kept).
    public static func events(_ r: ScenarioResult) -> (clock: TimelineClock, events: [JsonReport.TimelineEventDTO], truncated: Int)? {
        guard !r.records.isEmpty else { return nil }
        var b = Builder(result: r)
        b.build()
        var ev = b.events.sorted { $0.t_ns != $1.t_ns ? $0.t_ns < $1.t_ns : $0.lane.rank < $1.lane.rank }
        var dropped = 0
        if ev.count > maxEvents {
            // Keep structure (phases, steps, states, outcome); drop the tail of the free-text lanes first.
            let keep: Set<TimelineLane> = [.phase, .step, .vlbrObserved, .outcome]
            var budget = maxEvents - ev.filter { keep.contains($0.lane) }.count
            ev = ev.filter { e in
                if keep.contains(e.lane) { return true }
                if budget > 0 { budget -= 1; return true }
                dropped += 1; return false
            }
        }
        return (clock(r), ev, dropped)
    }

    /// The marker of a host action's window on the guest's TSC line (`HostActionWindow`): whether it finished
    /// inside the guest command (`inside-command`), did not (`outside-command`), or was not measured
    /// (`not-measured`), with the guest TSC numbers.
    public static func hostWindow(_ w: HostActionWindow) -> (label: String, state: TimelineState) {
        guard let s = w.guestTscStart, let e = w.guestTscEnd, let inside = w.insideCommand else {
            return ("\(w.action) while the guest ran (window on the guest TSC not measured)", .notMeasured)
        }
        let numbers = "guest TSC \(s)..\(e) \(inside ? "within" : "vs") command \(w.commandTscBegin)..\(w.commandTscEnd), +-\(w.errorTicks)"
        return inside ? ("\(w.action) inside the guest command (\(numbers))", .insideCommand)
            : ("\(w.action) not inside the guest command (\(numbers)): it took effect between exits", .outsideCommand)
    }

    /// Printable ASCII (`#` kept, other characters spelled or `_`), one line.
    public static func ascii(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            if u.value >= 0x20 && u.value < 0x7f { out.unicodeScalars.append(u) }
            else if u == "\n" || u == "\t" { out += " " }
            else if let a = AsciiText.spellings[u] { out += a }
            else { out += "_" }
        }
        return out
    }

    struct Builder {
        let result: ScenarioResult
        var events: [JsonReport.TimelineEventDTO] = []
        var origin: UInt64 = 0
        var lastVlbr: VlbrState?, lastPass: Bool?
        /// The last state drawn on each contender's lane: installed by a step, or what the event showed.
        enum HostLaneState: Equatable { case installed, event(HostEventState) }
        var lastHost: [String: HostLaneState] = [:]
        var lastTos: UInt64?
        var kmsgCount = 0, noteCount = 0
        /// How a run of LBR MSR accesses was handled (its wire state word and its words in a label).
        enum MsrHandling {
            case trapped, passedThrough, gp
            var state: TimelineState { switch self { case .trapped: return .trapped; case .passedThrough: return .passedThrough; case .gp: return .gp } }
            var words: String { switch self { case .trapped: return "trapped"; case .passedThrough: return "passed through"; case .gp: return "#GP" } }
        }
        var msrRun: (start: UInt64, end: UInt64, state: MsrHandling, count: Int)?
        var msrBasis: Basis?
        /// The phase being built.
        var currentPhase = ""

        init(result: ScenarioResult) { self.result = result }

        func rel(_ t: UInt64) -> UInt64 { t >= origin ? t - origin : 0 }

        /// The basis of the observation being turned into events (nil for the run's own structure).
        var basis: Basis?
        /// Who opens and closes host perf events: the real kernel on hw, the model on hybrid and sim.
        var hostPerfBasis: Basis { result.backend.usesModel ? .model(result.model ?? "unnamed") : .hardware }

        mutating func add(_ t: UInt64, _ lane: TimelineLane, _ label: String, _ state: TimelineState?, dur: UInt64? = nil,
                          basis explicit: Basis?? = nil) {
            events.append(.init(t_ns: rel(t), dur_ns: dur, lane: lane, label: Timeline.ascii(String(label.prefix(160))),
                                state: state, basis: explicit ?? basis))
        }

        mutating func build() {
            let r = result
            let hw = r.backend == .hw
            let times = r.records.flatMap { $0.observations.map(\.timeNs) }
            origin = hw ? (r.records.first?.startNs ?? 0) : (times.min() ?? 0)
            let scenario = Catalog.named(r.scenario)
            let depth = UInt64(max(2, r.lbrDepth ?? 32))
            let tosMask = depth & (depth - 1) == 0 ? depth - 1 : 0x1f
            let verdicts = Dictionary(r.phases.map { ($0.phase, $0) }, uniquingKeysWith: { a, _ in a })
            var cursor = origin
            var end = origin
            for rec in r.records {
                // Phase span: the runner's clock on hw; on the model clock, from the previous phase's end to
                // this phase's last observation.
                let obsMax = rec.observations.map(\.timeNs).max()
                let pStart = hw ? rec.startNs : cursor
                let pEnd = hw ? max(rec.endNs, pStart) : max(obsMax ?? cursor, cursor)
                let role = scenario?.phases.first { $0.name == rec.phase }.map { TimelineState($0.role) } ?? .teardown
                add(pStart, .phase, rec.phase, role, dur: pEnd - pStart)
                if let v = verdicts[rec.phase] {
                    var label = "inferred \(v.inferred.rawValue)"
                    if let s = v.hostStarved { label += s ? ", host starved" : ", host not starved" }
                    // Inferred from the phase's signals: as real as the weakest of them.
                    let b = v.signals.compactMap(\.basis).reduce(nil as Basis?) { acc, x in acc.map { $0.weakest(x) } ?? x }
                    add(pStart, .vlbrObserved, label, TimelineState(v.inferred), dur: pEnd - pStart, basis: .some(b))
                }
                // Steps: spans between step boundaries on the observation clock.
                let steps = scenario?.phases.first { $0.name == rec.phase }?.steps ?? []
                if let ends = rec.stepEnds {
                    var from = 0
                    var sStart = pStart
                    for (k, e) in ends.enumerated() where e >= from && e <= rec.observations.count {
                        let slice = rec.observations[from..<e]
                        let sEnd = max(sStart, hw ? (slice.map(\.timeNs).max() ?? sStart) : (slice.map(\.timeNs).max() ?? sStart))
                        let step = k < steps.count ? steps[k] : nil
                        let state = step?.timing.map(TimelineState.init) ?? (step?.actor == .host ? .host : .guest)
                        add(sStart, .step, step.map { "\($0)" } ?? "step \(k + 1)", state, dur: sEnd - sStart)
                        // A contender's bar runs from the step that installed it to the step that closed it,
                        // whenever its state was first read.
                        switch step?.hostAction {
                        case let .open(c)?:
                            lastHost[c.description] = .installed
                            add(sStart, .host(c.description), "installed (\(state.rawValue))", .installed, basis: .some(hostPerfBasis))
                        case let .close(c)?:
                            lastHost[c.description] = .event(.closed)
                            add(sEnd, .host(c.description), "closed", .closed, basis: .some(hostPerfBasis))
                        default: break
                        }
                        // Where a host action taken while the vCPU ran fell on the guest's TSC line (hw): a marker
                        // on the lane of the contender the step opened or closed, when the backend observed it.
                        for o in slice {
                            guard case let .hostActionWindow(w) = o.observation else { continue }
                            let lane: TimelineLane
                            switch step?.hostAction {
                            case let .open(c)?, let .close(c)?: lane = .host(c.description)
                            default: lane = .step
                            }
                            let marker = Timeline.hostWindow(w)
                            add(o.timeNs, lane, marker.label, marker.state, basis: .some(o.basis))
                        }
                        sStart = sEnd; from = e
                    }
                }
                currentPhase = rec.phase
                for o in rec.observations { basis = o.basis; observe(o, tosMask: tosMask, hw: hw) }
                basis = nil
                flushMsr()
                cursor = pEnd
                end = max(end, pEnd)
            }
            basis = nil
            add(end, .outcome, r.outcome.code, TimelineState(r.status))
        }

        mutating func flushMsr() {
            guard let m = msrRun else { return }
            add(m.start, .msrAccess, "\(m.count) LBR MSR access\(m.count == 1 ? "" : "es") \(m.state.words)", m.state.state,
                dur: m.end - m.start, basis: .some(msrBasis))
            msrRun = nil
        }

        mutating func observe(_ t: TimedObservation, tosMask: UInt64, hw: Bool) {
            let at = t.timeNs
            switch t.observation {
            case let .msrAccess(a):
                msrBasis = t.basis
                let s: MsrHandling = a.faulted ? .gp : a.trapped ? .trapped : .passedThrough
                if let m = msrRun, m.state == s { msrRun = (m.start, max(m.end, at), s, m.count + 1) } else {
                    flushMsr(); msrRun = (at, at, s, 1)
                }
            case let .vlbr(s):
                if lastVlbr != s { lastVlbr = s; add(at, .vlbrModel, "vLBR \(s.rawValue)", TimelineState(s)) }
            case let .passthrough(p):
                if lastPass != p { lastPass = p; add(at, .passthrough, "passthrough \(p ? "on" : "off")", p ? .on : .off) }
            case let .hostEvent(c, state, en, run):
                if lastHost[c] != .event(state) {
                    lastHost[c] = .event(state)
                    let pct = en > 0 ? Int((min(Double(run) / Double(en), 1e6) * 100).rounded()) : 0
                    add(at, .host(c), "\(state.rawValue), ran \(pct)% of \(en) ns enabled", TimelineState(state))
                }
            case let .hostSamples(s):
                var label = "\(s.samples) samples: \(s.withBranches) with branches, \(s.emptyBranches) empty"
                if s.staleRepeats > 0 { label += ", \(s.staleRepeats) stale" }
                if s.guestAddresses > 0 { label += ", \(s.guestAddresses) guest addresses" }
                let state: TimelineState = s.guestAddresses > 0 ? .leak
                    : s.samples > 0 && s.starvedSamples >= s.samples - s.starvedSamples ? .starved : .samples
                add(at, .host(s.contender), label, state)
            case let .guest(g):
                guestEvent(g, at: at, tosMask: tosMask)
            case let .kmsg(line):
                kmsgCount += 1
                if kmsgCount <= maxKmsg { add(at, .kmsg, line, .kmsg) }
                else if kmsgCount == maxKmsg + 1 { add(at, .kmsg, "(further kmsg lines not shown)", .kmsg) }
            case let .contextSwitches(n):
                // hybrid/hw: the vCPU thread's real switches; sim: the model's.
                let real = result.backend != .sim
                add(at, real ? .contextSwitchReal : .contextSwitchModel,
                    "\(real ? "real" : "model"): +\(n) context switch\(n == 1 ? "" : "es")", real ? .real : .model)
            case let .modelContextSwitches(n):
                add(at, .contextSwitchModel, modelContextSwitchesText(n), .model)
            case let .note(s):
                noteCount += 1
                if noteCount <= maxNotes { add(at, .note, s, .note) }
            case .exits:
                break
            default:
                break
            }
        }

        mutating func guestEvent(_ g: GuestResult, at: UInt64, tosMask: UInt64) {
            var label = "\(g.command)"
            var state: TimelineState
            switch g.status {
            case .ok: state = .ok
            case .fault: state = .gp; label += ": #GP"
            case .timeout: state = .timeout; label += ": timeout"
            case let .error(m): state = .error; label += ": \(m)"
            }
            if g.status == .ok {
                switch g.command {
                case .writeTos, .probeTos:
                    guard let v = g.command.tosProbeValue else { break }
                    switch VerdictEngine.classifyTos(written: v, result: g, tosMask: tosMask,
                                                     branchesBetween: g.command.tosProbeBranchesBetween ?? 0) {
                    case .sticks: state = .stuck; label += ": TOS write stuck"
                    case let .sticksAfterBranches(k):
                        state = .stuck; label += ": TOS write stuck (+\(k) from the payload's own branches)"
                    case .dropped: state = .dropped; label += ": TOS write dropped (read 0)"
                    case let .odd(x): state = .odd; label += ": read back 0x\(String(x, radix: 16))"
                    case .fault, .noValue: break
                    }
                case .readLbrStack:
                    if let s = g.stack {
                        let advanced = lastTos.map { $0 != s.tos } ?? true
                        state = s.nonZeroEntries == 0 ? .empty : advanced ? .advanced : .same
                        label += ": TOS \(s.tos)\(lastTos == nil ? "" : advanced ? " (advanced)" : " (unchanged)"), \(s.nonZeroEntries)/\(s.from.count) entries"
                        lastTos = s.tos
                        // The leak marker goes on the read that itself returned records outside the guest's code.
                        if let code = result.guestCodeRanges {
                            let split = VerdictEngine.splitStack(s, guestCode: code)
                            if !split.outside.isEmpty {
                                state = .leak
                                label += ", host->guest leak: \(split.outside.count) record(s) outside the guest's code"
                            } else if s.nonZeroEntries > 0 {
                                label += ", all \(split.own) in the guest's own code"
                            }
                        }
                    }
                case .enableLbr, .disableLbr, .rdmsr:
                    if let v = g.values.first { label += " = 0x\(String(v, radix: 16))" }
                default: break
                }
            }
            add(at, .guest, label, state)
        }
    }
}
