// libFuzzer target: the `--expect` parser (ExpectationSet.parse). Built by scripts/fuzz.sh against the
// modules LbrCore and LbrScenarios (instrumented). Invariants beyond "no crash": every error is one line of
// bounded length (tokens cut), entries carry line numbers inside the input.

import LbrCore
import LbrScenarios

let knownScenarios = Set(Catalog.names)
let knownModels: Set<String> = ["mainline", "seed-2023"]

@_cdecl("LLVMFuzzerTestOneInput")
public func lbrFuzzExpectParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let lines = ExpectationSet.lines(text).count // LF, CRLF and CR end lines, as the parser reads them
    do {
        let set = try ExpectationSet.parse(text, file: "fuzz", knownScenarios: knownScenarios,
                                           knownModels: knownModels)
        for e in set.entries where !(1...lines).contains(e.line) || e.scenario.isEmpty { fatalError("bad entry \(e)") }
    } catch {
        for e in error.errors {
            if e.message.contains("\n") || e.message.utf8.count > 2_000 { fatalError("unbounded message: \(e.message.prefix(200))") }
            if !(1...lines).contains(e.line) { fatalError("line \(e.line) outside 1...\(lines)") }
        }
    }
    return 0
}
