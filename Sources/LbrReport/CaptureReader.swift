// Reading capture files back (`lbrprobe judge`; docs/capture-format.md): the bytes of one capture to a
// `RunCapture` that can be judged, or one line saying what is wrong with it (exit 65 in `judge`).

import Foundation
import LbrCore
import LbrScenarios

/// Decodes and checks captures.
public enum CaptureReader {
    /// Why a capture cannot be judged, one line.
    public struct Failure: Error, Hashable, Sendable {
        public var message: String
    }

    /// The capture in `bytes`, checked (schema version, scenarios of this catalog).
    public static func decode(_ bytes: [UInt8]) throws(Failure) -> RunCapture {
        let capture: RunCapture
        do { capture = try JSONDecoder().decode(RunCapture.self, from: Data(bytes)) } catch {
            throw Failure(message: "not a readable \(RunCapture.currentSchema) capture (\(short(error)))")
        }
        if let p = capture.problem ?? CaptureLimits.check(capture) {
            throw Failure(message: ReportSupport.truncated(ReportSupport.oneLine(p), max: 1000))
        }
        return capture
    }

    /// A decoding error in a few words, one line (a key path, never the decoder's multi-line description).
    static func short(_ error: any Error) -> String {
        let text: String
        switch error {
        case let DecodingError.dataCorrupted(c): text = c.debugDescription
        case let DecodingError.keyNotFound(k, _): text = "missing \(k.stringValue)"
        case let DecodingError.typeMismatch(_, c): text = "type mismatch at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        case let DecodingError.valueNotFound(_, c): text = "missing value at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        default: text = "malformed JSON"
        }
        return ReportSupport.truncated(ReportSupport.oneLine(text), max: 300)
    }
}

/// Range checks on a decoded capture beyond `RunCapture.problem` (repeats, host-sample counts, context switches,
/// trace lines), before the verdict engine and the renderers use its numbers (as RunDocumentLimits for run
/// documents: a crafted capture ends in exit 65, never in a trap, an overflow or a loop sized by a number): times
/// and durations below 2^62 ns, the LBR depth at most 1024, step boundaries ascending within their phase's
/// observations, guest command sizes and model context switches in [0, 2^40].
public enum CaptureLimits {
    public static let maxCount = 1 << 40
    public static let maxNs: UInt64 = 1 << 62

    /// The first field out of range ("runs[0].records[1].stepEnds[2] = 7 ..."), nil if none.
    public static func check(_ c: RunCapture) -> String? {
        func count(_ v: Int?, _ at: @autoclosure () -> String, max: Int = maxCount) -> String? {
            guard let v else { return nil }
            return v >= 0 && v <= max ? nil : "\(at()) = \(v) is outside [0, \(max)]"
        }
        func ns(_ v: UInt64?, _ at: @autoclosure () -> String) -> String? {
            guard let v else { return nil }
            return v <= maxNs ? nil : "\(at()) = \(v) is outside [0, 2^62] ns"
        }
        if let e = count(c.cpu, "cpu") { return e }
        for (i, run) in c.runs.enumerated() {
            let at = "runs[\(i)]"
            if let e = ns(run.durationNs, "\(at).durationNs") ?? ns(run.startUnixNs, "\(at).startUnixNs")
                ?? count(run.session.cpu, "\(at).session.cpu") ?? count(run.session.lbrLayout?.depth, "\(at).session.lbrLayout.depth", max: 1024) {
                return e
            }
            for (j, rec) in run.records.enumerated() {
                let at = "\(at).records[\(j)]"
                if let e = ns(rec.startNs, "\(at).startNs") ?? ns(rec.endNs, "\(at).endNs") { return e }
                var previous = 0
                for (k, end) in (rec.stepEnds ?? []).enumerated() {
                    if end < previous || end > rec.observations.count {
                        return "\(at).stepEnds[\(k)] = \(end) is outside [\(previous), \(rec.observations.count)] (step boundaries ascend within the phase's observations)"
                    }
                    previous = end
                }
                for (k, o) in rec.observations.enumerated() {
                    if let e = ns(o.timeNs, "\(at).observations[\(k)].timeNs") ?? observation(o.observation, "\(at).observations[\(k)]") {
                        return e
                    }
                }
            }
        }
        return nil

        func observation(_ o: Observation, _ at: String) -> String? {
            switch o {
            case let .hostEvent(_, _, enabled, running):
                return ns(enabled, "\(at).hostEvent.enabledNs") ?? ns(running, "\(at).hostEvent.runningNs")
            case let .modelContextSwitches(n):
                return count(n, "\(at).modelContextSwitches")
            case let .guest(g):
                switch g.command {
                case let .branchPattern(n), let .spin(n), let .spinFor(n), let .exitLoop(n), let .hostSampleTime(n):
                    return count(n, "\(at).guest.command")
                default: return nil
                }
            default: return nil
            }
        }
    }
}
