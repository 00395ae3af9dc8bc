// Range checks on a decoded run document, before any renderer converts its numbers (a crafted document must
// end in exit 65, never in a trap or an allocation sized by a number): durations are finite, non-negative
// milliseconds below ~31 years; counts are non-negative and below 2^40; timeline times and durations below
// 2^62 ns (so t + dur cannot overflow); the exit code is 0-255; the LBR depth at most 1024.

import LbrCore

public enum RunDocumentLimits {
    public static let maxMs = 1e12
    public static let maxCount = 1 << 40
    public static let maxTimelineNs: UInt64 = 1 << 62

    /// The first field out of range ("results[3].duration_ms = 1e+19 is outside [0, 1e12]"), nil if none.
    public static func check(_ d: RunDocument) -> String? {
        func ms(_ v: Double, _ at: @autoclosure () -> String) -> String? {
            v.isFinite && v >= 0 && v <= maxMs ? nil : "\(at()) = \(v) is outside [0, 1e12] ms"
        }
        func count(_ v: Int?, _ at: @autoclosure () -> String, max: Int = maxCount) -> String? {
            guard let v else { return nil }
            return v >= 0 && v <= max ? nil : "\(at()) = \(v) is outside [0, \(max)]"
        }
        func ns(_ v: UInt64?, _ at: @autoclosure () -> String) -> String? {
            guard let v else { return nil }
            return v <= maxTimelineNs ? nil : "\(at()) = \(v) is outside [0, 2^62] ns"
        }
        if let e = ms(d.timeout_ms, "timeout_ms") ?? ms(d.duration_ms, "duration_ms") ?? count(d.cpu, "cpu")
            ?? count(d.repeats, "repeats") ?? count(d.exit_code, "exit_code", max: 255)
            ?? count(d.runs_not_started, "runs_not_started") { return e }
        for (k, v) in [("pass", d.totals.pass), ("fail", d.totals.fail), ("skip", d.totals.skip), ("error", d.totals.error),
                       ("timeout", d.totals.timeout)] {
            if let e = count(v, "totals.\(k)") { return e }
        }
        for (i, dist) in d.distributions.enumerated() {
            if let e = count(dist.runs, "distributions[\(i)].runs") { return e }
            for (j, c) in dist.counts.enumerated() { if let e = count(c.count, "distributions[\(i)].counts[\(j)].count") { return e } }
        }
        for (i, r) in d.results.enumerated() {
            let at = "results[\(i)]"
            if let e = ms(r.duration_ms, "\(at).duration_ms") ?? count(r.repeat, "\(at).repeat") ?? count(r.cpu, "\(at).cpu")
                ?? count(r.lbr_depth, "\(at).lbr_depth", max: 1024) ?? count(r.runs, "\(at).runs")
                ?? count(r.timeline_truncated, "\(at).timeline_truncated") ?? count(r.expectation.line, "\(at).expectation.line") {
                return e
            }
            for (j, f) in r.findings.enumerated() { if let e = count(f.count, "\(at).findings[\(j)].count") { return e } }
            for (j, t) in (r.timeline ?? []).enumerated() {
                if let e = ns(t.t_ns, "\(at).timeline[\(j)].t_ns") ?? ns(t.dur_ns, "\(at).timeline[\(j)].dur_ns") { return e }
            }
            for (j, p) in r.phases.enumerated() {
                if let e = ms(p.duration_ms, "\(at).phases[\(j)].duration_ms") { return e }
                if let m = p.measures {
                    if let e = ms(m.start_offset_ms, "\(at).phases[\(j)].measures.start_offset_ms") { return e }
                    for (k, v) in [("guest_commands", m.guest_commands), ("msr_accesses", m.msr_accesses), ("msr_trapped", m.msr_trapped),
                                   ("kmsg_lines", m.kmsg_lines), ("context_switches", m.context_switches), ("host_samples", m.host_samples),
                                   ("host_empty", m.host_empty), ("host_stale_repeats", m.host_stale_repeats),
                                   ("host_guest_addresses", m.host_guest_addresses), ("host_lost", m.host_lost),
                                   ("host_throttled", m.host_throttled)] {
                        if let e = count(v, "\(at).phases[\(j)].measures.\(k)") { return e }
                    }
                }
                for (k, h) in p.host.enumerated() {
                    for v in [h.samples, h.with_branches, h.empty_branches, h.guest_addresses, h.stale_repeats ?? 0] {
                        if let e = count(v, "\(at).phases[\(j)].host[\(k)] count") { return e }
                    }
                }
            }
            for (j, t) in r.terms.enumerated() {
                if let l = t.latency, let e = count(l.guest_commands, "\(at).terms[\(j)].latency.guest_commands") { return e }
            }
        }
        return nil
    }
}
