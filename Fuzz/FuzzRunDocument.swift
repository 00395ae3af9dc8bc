// libFuzzer target: the run-document reader (RunDocumentReader.decode, used by compare/contract/timeline).
// Built by scripts/fuzz.sh against LbrCore + LbrScenarios + LbrReport (instrumented). Invariants: no crash; every
// error is one line; a document that decodes re-encodes.

import LbrCore
import LbrScenarios
import LbrReport

import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func lbrFuzzRunDocument(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(UnsafeBufferPointer(start: data, count: size))
    do {
        let doc = try RunDocumentReader.decode(bytes, source: "fuzz")
        _ = try JSONEncoder().encode(doc)
    } catch let e as RunDocumentError {
        if e.message.contains("\n") { fatalError("multi-line error: \(e.message.prefix(200))") }
    } catch {
        fatalError("unexpected error type: \(error)")
    }
    return 0
}
