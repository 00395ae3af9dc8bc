// libFuzzer target: the three readers of run documents — what `timeline` (RunDocumentReader.decode +
// TimelineSvg), `contract --from` (decode + Contract.render, Markdown and RST) and `compare` (the Compare
// projection, compared with itself) do with the bytes. Built by scripts/fuzz.sh against LbrCore +
// LbrScenarios + LbrReport (instrumented). Invariants: no crash or trap; every error is one line; a document
// that decodes re-encodes; the SVG stays small (its size is bounded by the picture, not by the numbers).

import LbrCore
import LbrScenarios
import LbrDocument
import LbrReport

import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func lbrFuzzRunDocument(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(UnsafeBufferPointer(start: data, count: size))
    func oneLine(_ m: String) { if m.contains("\n") { fatalError("multi-line error: \(m.prefix(200))") } }
    do {
        let doc = try RunDocumentReader.decode(bytes, source: "fuzz")
        _ = try JSONEncoder().encode(doc)
        let svg = TimelineSvg.render(doc)
        if svg.utf8.count > 64 << 20 { fatalError("timeline SVG of \(svg.utf8.count) bytes") }
        for format in [ContractFormat.markdown, .rst] {
            do { _ = try Contract.render([doc], models: [], format: format) } catch { oneLine(error.message) }
        }
    } catch let e as RunDocumentError {
        oneLine(e.message)
    } catch {
        fatalError("unexpected error type: \(error)")
    }
    do {
        let input = try Compare.decode(bytes, source: "fuzz")
        let report = try Compare.run([input, input])
        for f in [Compare.Format.text, .markdown, .json] { _ = try Compare.render(report, format: f) }
    } catch let e as RunDocumentError {
        oneLine(e.message)
    } catch let e as Compare.Failure {
        oneLine(e.message)
    } catch {
        fatalError("unexpected error type: \(error)")
    }
    return 0
}
