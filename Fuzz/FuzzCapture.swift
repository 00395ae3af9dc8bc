// libFuzzer target: the capture reader of `lbrprobe judge` — CaptureReader.decode (JSON, schema, catalog), then
// what judge does with a capture that reads: every run judged again by today's verdict engine
// (RunCapture.rejudge) and the report rendered as text (with evidence), TAP and JSON. Built by scripts/fuzz.sh
// against LbrCore + LbrScenarios + LbrDocument + LbrReport (instrumented); with Fuzz/RunDocumentMutator.swift
// (capture-struct) the inputs are value-level mutations of real captures. Invariants: no crash or trap; every
// error is one line of bounded length; the judged report has one result per captured run.

import LbrCore
import LbrScenarios
import LbrDocument
import LbrReport

@_cdecl("LLVMFuzzerTestOneInput")
public func lbrFuzzCapture(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let capture: RunCapture
    do { capture = try CaptureReader.decode(bytes) } catch {
        if error.message.contains("\n") || error.message.utf8.count > 2_000 {
            fatalError("unbounded or multi-line error: \(error.message.prefix(200))")
        }
        return 0
    }
    let report = capture.rejudge(source: "fuzz")
    if report.results.count != capture.runs.count { fatalError("\(capture.runs.count) runs judged as \(report.results.count)") }
    var bytesOut = 0
    let sink: (String) -> Void = { bytesOut += $0.utf8.count }
    TextReport.render(report, evidence: true, summary: false, to: sink)
    TextReport.render(report, evidence: false, summary: true, to: sink)
    TapReport.render(report, versionLine: true, to: sink)
    do { try JsonReport.render(report, compact: true, to: sink) } catch { fatalError("JSON encoding failed: \(error)") }
    if bytesOut > 256 << 20 { fatalError("\(bytesOut) bytes of reports from a \(size)-byte capture") }
    return 0
}
