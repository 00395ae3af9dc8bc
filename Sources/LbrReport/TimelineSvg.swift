// Timeline picture of a run document: one self-contained SVG, per scenario a panel with lanes on
// one time axis — phases, timed steps, the vLBR state inferred from the evidence and the model's ground
// truth, passthrough, each host event, the guest's MSR results, kmsg lines, context switches (real and the
// model's), notes and the outcome. Colour plus text labels, a legend, ASCII text (anything else as numeric
// character references), hover titles with the full label, no external resources. A pure function of the
// document (`JsonReport.RunDocument`): `lbrprobe timeline RUN.json -o FILE` and `run --timeline FILE` share it.

import LbrCore
import LbrDocument
import LbrScenarios

public enum TimelineSvg {
    // Layout (px).
    static let width = 1400.0, labelW = 176.0, rightPad = 24.0, laneH = 20.0, barH = 15.0
    static var plotW: Double { width - labelW - rightPad }
    static let charW = 6.1 // approx. width of one 11px sans-serif character

    /// What the picture shows of the results: per scenario (in first-run order) the run drawn — its first run
    /// with a timeline, else its first run — and how many results it has; the timeline clocks present.
    struct Panels {
        var order: [String] = []
        var shown: [String: (result: JsonReport.ResultDTO, runs: Int)] = [:]
        var clocks: Set<TimelineClock> = []
        var results = 0

        /// Counts one result; `dto` builds it, called only when it may be drawn or carry a clock (`mayShow`).
        mutating func add(scenario: String, mayShow: Bool, _ dto: () -> JsonReport.ResultDTO) {
            results += 1
            if let s = shown[scenario] {
                shown[scenario]!.runs += 1
                guard mayShow else { return }
                let d = dto()
                if let c = d.timeline_clock { clocks.insert(c) }
                if (s.result.timeline ?? []).isEmpty, !(d.timeline ?? []).isEmpty { shown[scenario]!.result = d }
            } else {
                let d = dto()
                if let c = d.timeline_clock { clocks.insert(c) }
                order.append(scenario)
                shown[scenario] = (d, 1)
            }
        }
    }

    /// Renders the whole document.
    public static func render(_ doc: JsonReport.RunDocument) -> String {
        var panels = Panels()
        for r in doc.results { panels.add(scenario: r.scenario, mayShow: true) { r } }
        return render(doc, panels)
    }

    /// The same picture as `render(JsonReport.document(report))`, without building the document's results:
    /// only the runs that carry a timeline (the first of each scenario and outcome) become results, so
    /// `run --repeat N --timeline FILE` stays flat in N.
    public static func render(_ report: RunReport) -> String {
        var panels = Panels()
        var timelineSeen = Set<String>()   // as JsonReport.timelineRuns
        for r in report.results {
            let withTimeline = timelineSeen.insert(r.scenario + " " + r.outcome.code).inserted
            panels.add(scenario: r.scenario, mayShow: withTimeline) { JsonReport.result(r, timeline: withTimeline) }
        }
        return render(JsonReport.document(report, withResults: false), panels)
    }

    /// The picture of `doc`'s header with `panels` as its results.
    static func render(_ doc: JsonReport.RunDocument, _ panels: Panels) -> String {
        var body: [String] = []
        var y = 0.0
        // Header.
        var head = "lbrprobe timeline: backend \(doc.backend)"
        if let m = doc.model { head += " (model \(m))" }
        head += ", cpu \(doc.cpu), kernel \(doc.kernel_release), \(panels.results) run(s)"
        if let t = doc.start_time { head += ", started \(t)" }
        y += 24
        body.append(text(12, y, head, size: 16, weight: "bold"))
        y += 18
        let clocks = panels.clocks
        let clockNote = clocks.contains(.model)
            ? "Time axis per scenario: the kernel model's clock (hybrid/sim: model costs plus the guest's commands), from the scenario's start."
            : "Time axis per scenario: the host's monotonic clock, from the scenario's start."
        body.append(text(12, y, clockNote + " Axis: half linear time, half event order, so short bursts stay readable; tick labels are real times.", size: 11, fill: "#333"))
        if !doc.availability.available {
            // The blockers once, not in every panel.
            y += 16
            body.append(text(12, y, "backend \(doc.backend) unavailable; every scenario was skipped:", size: 12, weight: "bold", fill: "#b3261e"))
            for b in ReportSupport.blockerTexts(doc.availability.blockers ?? []) {
                for line in wrap("- " + b, width: Int((width - 24) / 6.6)) { y += 14; body.append(text(24, y, line, size: 11, fill: "#333")) }
            }
        }
        y += 8
        let (legend, lh) = legendSvg(y: y)
        body.append(legend)
        y += lh + 8

        // One panel per scenario: its first run that has a timeline (else its first run).
        for s in panels.order {
            let (shown, runs) = panels.shown[s]!
            let dist = doc.distributions.first { $0.scenario == s }
            let (panel, h) = panelSvg(shown, runs: runs, distribution: dist, y: y)
            body.append(panel)
            y += h + 18
        }
        y += 8
        let w = Int(width), h = Int(y.rounded(.up))
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(w)" height="\(h)" viewBox="0 0 \(w) \(h)" font-family="DejaVu Sans, Arial, Helvetica, sans-serif">
            <title>\(esc(head))</title>
            <defs><pattern id="model-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="2" height="6" fill="#ffffff" opacity="0.55"/></pattern></defs>
            <rect x="0" y="0" width="\(w)" height="\(h)" fill="#ffffff"/>
            \(body.joined(separator: "\n"))
            </svg>

            """
    }

    // MARK: panel

    static func panelSvg(_ r: JsonReport.ResultDTO, runs: Int, distribution: JsonReport.RunDocument.Distribution?,
                         y y0: Double) -> (String, Double) {
        var out: [String] = []
        var y = y0 + 18
        let status = r.status.rawValue.uppercased()
        out.append("<g class=\"scenario\" id=\"scenario-\(esc(r.scenario))\">")
        out.append(text(12, y, "\(r.scenario): \(r.outcome)  [\(status)]", size: 14, weight: "bold", fill: statusColour(TimelineState(r.status))))
        var sub = "\(String(format3(r.duration_ms))) ms wall"
        if runs > 1 {
            sub += "; shown: repeat \(r.repeat) of \(runs)"
            if let d = distribution { sub += "; outcomes: " + d.counts.map { "\($0.outcome) x\($0.count)" }.joined(separator: ", ") }
        }
        if let c = r.timeline_clock { sub += "; clock: \(c.rawValue)" }
        if let t = r.timeline_truncated { sub += "; \(t) events not shown" }
        y += 15
        out.append(text(12, y, sub, size: 11, fill: "#555"))
        y += 16
        if let a = r.answer {
            for line in wrap(a, width: Int((width - 24) / 7.0)) {
                out.append(text(12, y, line, size: 12, fill: "#222", style: "italic"))
                y += 15
            }
        }
        let events = r.timeline ?? []
        if events.isEmpty {
            let why = r.not_run == .backendUnavailable ? "no timeline: not run, the backend is unavailable (blockers at the top)"
                : r.reason.map { "no timeline: \($0)" } ?? "no timeline recorded for this run"
            for line in wrap(why, width: Int((width - 24) / charW)) {
                out.append(text(12, y, line, size: 11, fill: "#777")); y += 14
            }
            out.append("</g>")
            return (out.joined(separator: "\n"), y - y0)
        }
        y += 2
        let scale = AxisScale(events)
        // Lanes present, in order.
        var lanes: [TimelineLane] = []
        for e in events where !lanes.contains(e.lane) { lanes.append(e.lane) }
        lanes.sort()
        let top = y
        // Phase backgrounds across every lane.
        for e in events where e.lane == .phase {
            let x0 = scale.x(e.t_ns), x1 = scale.x(e.t_ns + (e.dur_ns ?? 0))
            out.append("<rect x=\"\(f(x0))\" y=\"\(f(top))\" width=\"\(f(max(1, x1 - x0)))\" height=\"\(f(Double(lanes.count) * laneH))\" fill=\"\(phaseColour(e.state))\" opacity=\"0.45\"/>")
            out.append("<line x1=\"\(f(x0))\" y1=\"\(f(top))\" x2=\"\(f(x0))\" y2=\"\(f(top + Double(lanes.count) * laneH))\" stroke=\"#777\" stroke-width=\"1\" stroke-dasharray=\"3,2\"/>")
        }
        for lane in lanes {
            let le0 = events.filter { $0.lane == lane }
            // The events' own basis where the document carries it (lbrprobe.run/3), else the lane's.
            let model = le0.contains { $0.basis.map { !$0.isMeasured } ?? false }
                || (le0.allSatisfy { $0.basis == nil } && laneIsModel(lane, backend: r.backend))
            // The model's context switch lane says "(model)" in its own title already.
            out.append(text(12, y + 14, laneTitle(lane) + (model && lane != .contextSwitchModel ? " (model)" : ""),
                            size: 11, weight: "bold", fill: model ? modelInk : "#333", style: model ? "italic" : nil))
            out.append("<line x1=\"\(f(labelW))\" y1=\"\(f(y + laneH))\" x2=\"\(f(width - rightPad))\" y2=\"\(f(y + laneH))\" stroke=\"#e2e2e2\"/>")
            let le = events.filter { $0.lane == lane }
            out.append(contentsOf: laneSvg(lane, le, scale: scale, y: y, model: model))
            y += laneH
        }
        // Axis.
        y += 4
        out.append("<line x1=\"\(f(labelW))\" y1=\"\(f(y))\" x2=\"\(f(width - rightPad))\" y2=\"\(f(y))\" stroke=\"#444\"/>")
        var lastX = -1000.0
        for t in scale.ticks() {
            let x = scale.x(t)
            out.append("<line x1=\"\(f(x))\" y1=\"\(f(y))\" x2=\"\(f(x))\" y2=\"\(f(y + 4))\" stroke=\"#444\"/>")
            if x - lastX > 64 {
                out.append(text(x - 2, y + 15, timeText(t), size: 10, fill: "#444"))
                lastX = x
            }
        }
        y += 20
        out.append("</g>")
        return (out.joined(separator: "\n"), y - y0)
    }

    /// The colour of a model lane's title.
    static let modelInk = "#6a4c93"

    /// Whether a lane shows what a kernel model made up rather than what this host did: everything but the
    /// run's own structure (phases, steps, outcome), notes and real context switches on sim and hybrid (hybrid's
    /// real side is its guest and the vCPU thread; host perf, the vLBR, the LBR contents and kmsg are the
    /// model's); nothing on hw.
    static func laneIsModel(_ lane: TimelineLane, backend: BackendKind) -> Bool {
        guard backend != .hw else { return false }
        switch lane {
        case .phase, .step, .outcome, .note: return false
        case .contextSwitchReal: return backend == .sim
        case .vlbrObserved, .vlbrModel, .passthrough, .msrAccess, .host, .guest, .kmsg, .contextSwitchModel: return true
        }
    }

    /// The drawing of one lane; a model lane's bars are hatched and its markers drawn with a dashed outline.
    static func laneSvg(_ lane: TimelineLane, _ events: [JsonReport.TimelineEventDTO], scale: AxisScale, y: Double,
                        model: Bool = false) -> [String] {
        var out: [String] = []
        let by = y + (laneH - barH) / 2
        let isHostLane = lane.contender != nil
        let isStateLane = lane == .vlbrModel || lane == .passthrough || isHostLane
        let hostStates: Set<TimelineState> = [.installed, .active, .inactive, .error, .off, .closed]
        let end = scale.maxT
        // Spans: events with a duration, and state changes held until the next change on the lane.
        var spans: [(t0: UInt64, t1: UInt64, e: JsonReport.TimelineEventDTO)] = []
        var instants: [JsonReport.TimelineEventDTO] = []
        if lane == .outcome, let e = events.last {
            spans.append((0, end, e))
        } else if isStateLane {
            let changes = events.filter { e in isHostLane ? e.state.map(hostStates.contains) == true : true }
            for (i, e) in changes.enumerated() {
                let next = i + 1 < changes.count ? changes[i + 1].t_ns : end
                spans.append((e.t_ns, max(next, e.t_ns), e))
            }
            // Host sample summaries taken when a state span starts join that span's label; others (and every
            // host-action window) stay markers.
            let starts = Set(spans.map(\.t0))
            let sampleStates: Set<TimelineState> = [.samples, .starved, .leak]
            for e in events where isHostLane && e.state.map(hostStates.contains) != true {
                if e.state.map(sampleStates.contains) == true, starts.contains(e.t_ns), let k = spans.firstIndex(where: { $0.t0 == e.t_ns }) {
                    var m = spans[k].e
                    m.label += "; \(e.label)"
                    if let st = e.state, st == .starved || st == .leak { m.label += " (\(st.rawValue))" }
                    spans[k].e = m
                } else {
                    instants.append(e)
                }
            }
        } else {
            for e in events { if let d = e.dur_ns { spans.append((e.t_ns, e.t_ns + d, e)) } else { instants.append(e) } }
        }
        for s in spans {
            let x0 = scale.x(s.t0), x1 = max(scale.x(s.t1), x0 + 2)
            let fill = lane == .phase ? phaseColour(s.e.state) : lane == .step ? stepColour(s.e.state)
                : lane == .outcome ? statusColour(s.e.state) : stateColour(s.e.state)
            let label = lane == .outcome ? "outcome \(s.e.label) [\((s.e.state?.rawValue ?? "").uppercased())]" : s.e.label
            out.append("<g><title>\(esc(titleText(s.e)))</title>")
            out.append("<rect x=\"\(f(x0))\" y=\"\(f(by))\" width=\"\(f(x1 - x0))\" height=\"\(f(barH))\" rx=\"2\" fill=\"\(fill)\" stroke=\"#ffffff\" stroke-width=\"0.8\"/>")
            if s.e.basis.map({ !$0.isMeasured }) ?? model {
                out.append("<rect class=\"model\" x=\"\(f(x0))\" y=\"\(f(by))\" width=\"\(f(x1 - x0))\" height=\"\(f(barH))\" rx=\"2\" fill=\"url(#model-hatch)\" stroke=\"\(modelInk)\" stroke-width=\"0.8\" stroke-dasharray=\"3,2\"/>")
            }
            let room = Int((x1 - x0 - 6) / charW)
            if let t = fit(label, room: room, short: s.e.state?.rawValue) {
                out.append(text(x0 + 3, by + 11.5, t, size: 10.5, fill: textOn(fill)))
            }
            out.append("</g>")
        }
        // Instants: a marker, and the label while it fits before the next marker.
        for (i, e) in instants.enumerated() {
            let x = scale.x(e.t_ns)
            let nextX = i + 1 < instants.count ? scale.x(instants[i + 1].t_ns) : width - rightPad
            let fill = instantColour(lane, e.state)
            let model = e.basis.map { !$0.isMeasured } ?? model
            out.append("<g><title>\(esc(titleText(e)))</title>")
            out.append("<path\(model ? " class=\"model\"" : "") d=\"M \(f(x)) \(f(by)) L \(f(x + 4)) \(f(by + barH / 2)) L \(f(x)) \(f(by + barH)) L \(f(x - 4)) \(f(by + barH / 2)) Z\" fill=\"\(fill)\" stroke=\"\(model ? modelInk : "#ffffff")\" stroke-width=\"\(model ? "1" : "0.6")\"\(model ? " stroke-dasharray=\"2,1\"" : "")/>")
            let room = Int((nextX - x - 10) / charW)
            if let t = fit(e.label, room: room, short: e.state?.rawValue) {
                out.append(text(x + 6, by + 11.5, t, size: 10.5, fill: "#222"))
            }
            out.append("</g>")
        }
        return out
    }

    // MARK: axis

    /// Monotone axis: x = half linear in time, half in the rank among distinct event times.
    struct AxisScale {
        let times: [UInt64]
        let maxT: UInt64
        init(_ events: [JsonReport.TimelineEventDTO]) {
            var ts = Set<UInt64>()
            for e in events { ts.insert(e.t_ns); if let d = e.dur_ns { ts.insert(e.t_ns + d) } }
            ts.insert(0)
            times = ts.sorted()
            maxT = max(times.last ?? 1, 1)
        }
        func rank(_ t: UInt64) -> Double {
            // Interpolated rank for times between known ones.
            var lo = 0, hi = times.count - 1
            if t <= times[0] { return 0 }
            if t >= times[hi] { return Double(hi) }
            while hi - lo > 1 { let m = (lo + hi) / 2; if times[m] <= t { lo = m } else { hi = m } }
            let span = Double(times[hi] - times[lo])
            return Double(lo) + (span > 0 ? Double(t - times[lo]) / span : 0)
        }
        func x(_ t: UInt64) -> Double {
            let lin = Double(min(t, maxT)) / Double(maxT)
            let r = times.count > 1 ? rank(t) / Double(times.count - 1) : lin
            return TimelineSvg.labelW + TimelineSvg.plotW * (0.5 * lin + 0.5 * r)
        }
        /// Round linear ticks plus the phase boundaries' neighbourhood comes from the events themselves.
        func ticks() -> [UInt64] {
            // At most ~9 ticks whatever maxT is (the count is bounded by the picture, not by time): the first
            // 1-2-5 step that keeps maxT / step <= 8.
            let steps: [UInt64] = [1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000,
                                   2_000_000, 5_000_000, 10_000_000, 20_000_000, 50_000_000, 100_000_000, 1_000_000_000]
            var step = steps.first { maxT / $0 <= 8 } ?? 1_000_000_000
            var base: UInt64 = 1_000_000_000
            while maxT / step > 8 {
                if let m = [2, 5, 10].lazy.map({ base.multipliedReportingOverflow(by: $0) }).first(where: { !$0.overflow && maxT / $0.partialValue <= 8 }) {
                    step = m.partialValue
                } else if base <= UInt64.max / 10 {
                    base *= 10; step = base
                } else { step = UInt64.max; break }
            }
            var out: [UInt64] = []
            var t: UInt64 = 0
            while t <= maxT {
                out.append(t)
                let (next, overflow) = t.addingReportingOverflow(step)
                if overflow { break }
                t = next
            }
            return out
        }
    }

    static func timeText(_ ns: UInt64) -> String {
        if ns == 0 { return "0" }
        if ns >= 1_000_000 { return trim(Double(ns) / 1e6) + " ms" }
        return trim(Double(ns) / 1e3) + " us"
    }

    /// Up to 3 decimals, trailing zeros dropped, with integer arithmetic (Double's description is slow).
    static func trim(_ v: Double) -> String {
        guard v.isFinite, abs(v) < 1e15 else { return v.isFinite ? "\(v)" : "0" } // never reached from a checked document
        let t = Int((v * 1000).rounded())
        let a = t < 0 ? -t : t
        var frac = a % 1000
        var s = (t < 0 ? "-" : "") + String(a / 1000)
        if frac != 0 {
            var digits = 3
            while frac % 10 == 0 { frac /= 10; digits -= 1 }
            let f = String(frac)
            s += "." + String(repeating: "0", count: digits - f.utf8.count) + f
        }
        return s
    }

    static func format3(_ v: Double) -> String { trim(v) }

    // MARK: legend

    static func legendSvg(y y0: Double) -> (String, Double) {
        let groups: [(String, [(String, String, Bool)])] = [
            ("vLBR / passthrough / host event / MSRs", [
                ("active, on, stuck, advanced, passed through", stateColour(.active), false),
                ("error, not-active, off, dropped, trapped, #GP, empty", stateColour(.error), false),
                ("inactive, host starved, odd, unchanged TOS", stateColour(.inactive), false),
                ("none, unknown, closed, samples", stateColour(.noEvent), false),
                ("host event installed, state not read yet", stateColour(.installed), false),
                ("leak (guest addresses in host samples), no-lbr", stateColour(.leak), false),
            ]),
            ("steps / markers", [
                ("guest command", stepColour(.guest), false), ("host action between exits", stepColour(.betweenExits), false),
                ("host action while the vCPU runs", stepColour(.whileVcpuRuns), false), ("preemption", stepColour(.preemption), false),
                ("kmsg line", instantColour(.kmsg, nil), true),
                ("real context switch", instantColour(.contextSwitchReal, nil), true),
                ("model context switch", instantColour(.contextSwitchModel, nil), true),
                ("note", instantColour(.note, nil), true),
                ("host action inside the guest command", stateColour(.insideCommand), true),
                ("host action not inside it", stateColour(.outsideCommand), true),
            ]),
        ]
        var out: [String] = []
        var y = y0
        for (title, items) in groups {
            y += 16
            out.append(text(12, y, title + ":", size: 11, weight: "bold", fill: "#333"))
            var x = 12.0 + 250
            for (label, colour, marker) in items {
                let w = 16 + Double(label.utf8.count) * charW + 14
                if x + w > width - rightPad { x = 12 + 250; y += 16 }
                if marker {
                    out.append("<path d=\"M \(f(x + 5)) \(f(y - 10)) L \(f(x + 9)) \(f(y - 5)) L \(f(x + 5)) \(f(y)) L \(f(x + 1)) \(f(y - 5)) Z\" fill=\"\(colour)\"/>")
                } else {
                    out.append("<rect x=\"\(f(x))\" y=\"\(f(y - 10))\" width=\"12\" height=\"11\" rx=\"2\" fill=\"\(colour)\"/>")
                }
                out.append(text(x + 16, y, label, size: 11, fill: "#222"))
                x += w
            }
        }
        // What the model made up looks different from what this host did.
        y += 16
        out.append(text(12, y, "basis:", size: 11, weight: "bold", fill: "#333"))
        var x = 12.0 + 250
        out.append("<rect x=\"\(f(x))\" y=\"\(f(y - 10))\" width=\"12\" height=\"11\" rx=\"2\" fill=\"\(stateColour(.active))\"/>")
        out.append(text(x + 16, y, "real (hardware, or this host's KVM)", size: 11, fill: "#222"))
        x += 16 + 36 * charW + 14
        out.append("<rect x=\"\(f(x))\" y=\"\(f(y - 10))\" width=\"12\" height=\"11\" rx=\"2\" fill=\"\(stateColour(.active))\"/>")
        out.append("<rect class=\"model\" x=\"\(f(x))\" y=\"\(f(y - 10))\" width=\"12\" height=\"11\" rx=\"2\" fill=\"url(#model-hatch)\" stroke=\"\(modelInk)\" stroke-dasharray=\"3,2\"/>")
        out.append(text(x + 16, y, "made up by the kernel model (hatched, dashed outline; lane title in italics, \"(model)\")", size: 11, fill: modelInk))
        y += 16
        out.append(text(12, y, "Phases shade the panel (dashed line = phase start). Hover any bar or marker for its full label.", size: 11, fill: "#555"))
        return ("<g class=\"legend\">" + out.joined(separator: "\n") + "</g>", y - y0)
    }

    // MARK: colours and text

    static func laneTitle(_ lane: TimelineLane) -> String {
        switch lane {
        case .phase: return "phase"
        case .step: return "timed step"
        case .vlbrObserved: return "vLBR inferred"
        case .vlbrModel: return "vLBR state"
        case .passthrough: return "passthrough"
        case .msrAccess: return "LBR MSR accesses"
        case let .host(c): return "host " + (c.count > 20 ? String(c.prefix(19)) + "." : c)
        case .guest: return "guest MSR results"
        case .kmsg: return "kmsg"
        case .contextSwitchReal: return "ctx switch (real)"
        case .contextSwitchModel: return "ctx switch (model)"
        case .note: return "notes"
        case .outcome: return "outcome"
        }
    }

    static func stateColour(_ s: TimelineState?) -> String {
        switch s {
        case .active?, .on?, .stuck?, .advanced?, .passedThrough?, .ok?, .pass?, .insideCommand?: return "#2e9d57"
        case .error?, .notActive?, .off?, .dropped?, .trapped?, .gp?, .empty?, .fail?: return "#d23f3a"
        case .inactive?, .starved?, .odd?, .same?, .timeout?, .outsideCommand?: return "#e8891c"
        case .leak?, .noLbr?: return "#8e44ad"
        case .installed?: return "#7f9fbf"
        default: return "#a9b2bc"
        }
    }

    static func stepColour(_ s: TimelineState?) -> String {
        switch s {
        case .betweenExits?: return "#7fb2e0"
        case .whileVcpuRuns?: return "#3aa39a"
        case .preemption?: return "#c0509a"
        case .host?: return "#b9cde6"
        default: return "#d5dbe2"
        }
    }

    static func phaseColour(_ role: TimelineState?) -> String {
        switch role {
        case .setup?: return "#eef2f7"
        case .baseline?: return "#e6f4e6"
        case .contended?: return "#fde3d3"
        case .afterContention?: return "#e1ebfb"
        case .recoveryAttempt?: return "#efe3f8"
        case .tracing?: return "#fff2c0"
        case .stackReference?: return "#dff4f3"
        case .stackCheck?: return "#f6e0ec"
        default: return "#eeeeee"
        }
    }

    static func instantColour(_ lane: TimelineLane, _ state: TimelineState?) -> String {
        switch lane {
        case .kmsg: return "#8d5a3b"
        case .contextSwitchReal: return "#111111"
        case .contextSwitchModel: return "#2f63b5"
        case .note: return "#8a8f96"
        case .guest where state == .ok: return "#6d7780"
        default: return stateColour(state)
        }
    }

    static func statusColour(_ s: TimelineState?) -> String {
        switch s {
        case .pass?: return "#1f7a3f"
        case .fail?, .error?, .timeout?: return "#b3261e"
        default: return "#666666"
        }
    }

    /// Dark text on pale fills, white on saturated ones.
    static func textOn(_ hex: String) -> String {
        let v = Array(hex.dropFirst())
        guard v.count == 6, let r = Int(String(v[0...1]), radix: 16), let g = Int(String(v[2...3]), radix: 16),
              let b = Int(String(v[4...5]), radix: 16) else { return "#000000" }
        let lum = 0.299 * Double(r) + 0.587 * Double(g) + 0.114 * Double(b)
        return lum < 150 ? "#ffffff" : "#111111"
    }

    static func titleText(_ e: JsonReport.TimelineEventDTO) -> String {
        // The wire lane id `vlbr-observed` is what the signals inferred; the picture says so.
        var s = "\(e.lane == .vlbrObserved ? "vlbr-inferred" : e.lane.code) @ \(timeText(e.t_ns))"
        if let d = e.dur_ns { s += " for \(timeText(d))" }
        s += ": \(e.label)"
        if let st = e.state { s += " [\(st.rawValue)]" }
        return s
    }

    /// The label if it fits in `room` characters, else a shortened one, else the state word, else nothing.
    static func fit(_ label: String, room: Int, short: String?) -> String? {
        // Labels are ASCII (Timeline.ascii): UTF-8 length = characters, without grapheme breaking.
        let n = label.utf8.count
        if n <= room { return label }
        if room >= 12 { return String(decoding: label.utf8.prefix(room - 2), as: UTF8.self) + ".." }
        if let s = short, s.utf8.count <= room, room >= 2 { return s }
        return nil
    }

    static func wrap(_ s: String, width: Int) -> [String] {
        var lines: [String] = []
        var cur = ""
        for word in s.split(separator: " ") {
            if cur.isEmpty { cur = String(word) } else if cur.utf8.count + 1 + word.utf8.count <= width { cur += " " + word } else {
                lines.append(cur); cur = String(word)
            }
        }
        if !cur.isEmpty { lines.append(cur) }
        return lines
    }

    static func text(_ x: Double, _ y: Double, _ s: String, size: Double, weight: String? = nil, fill: String = "#000000",
                     style: String? = nil) -> String {
        var a = "x=\"\(f(x))\" y=\"\(f(y))\" font-size=\"\(f(size))\" fill=\"\(fill)\""
        if let weight { a += " font-weight=\"\(weight)\"" }
        if let style { a += " font-style=\"\(style)\"" }
        return "<text \(a)>\(esc(s))</text>"
    }

    /// XML text/attribute escaping; every non-ASCII or control character becomes a numeric reference, so
    /// the file is ASCII.
    public static func esc(_ s: String) -> String { xmlEscape(s, keepLineBreaks: false) }

    /// A coordinate with one decimal, formatted with integer arithmetic (Double's description is slow and
    /// an SVG has tens of thousands of coordinates).
    static func f(_ v: Double) -> String {
        guard v.isFinite, abs(v) < 1e15 else { return v.isFinite ? (v < 0 ? "-1e15" : "1e15") : "0" }
        let t = Int((v * 10).rounded())
        let a = t < 0 ? -t : t
        let sign = t < 0 ? "-" : ""
        return a % 10 == 0 ? "\(sign)\(a / 10)" : "\(sign)\(a / 10).\(a % 10)"
    }
}
