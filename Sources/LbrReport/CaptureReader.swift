// Reading capture files back (`lbrprobe judge`; docs/capture-format.md): the bytes of one capture to a
// `RunCapture` that can be judged, or one line saying what is wrong with it (exit 65 in `judge`).

import Foundation
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
        if let p = capture.problem { throw Failure(message: ReportSupport.truncated(ReportSupport.oneLine(p), max: 1000)) }
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
