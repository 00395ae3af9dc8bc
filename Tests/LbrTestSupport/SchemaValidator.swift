import Foundation

/// Validates JSON documents with the real `jsonschema` Python package (the validator class the schema's
/// `$schema` names, Draft 2020-12 for docs/*.schema.json, with format checking) — the same tool
/// scripts/check-outputs.sh applies to real CLI output. It replaced a hand-written schema-subset validator,
/// which could accept documents the real one rejects.
///
/// The interpreter is found by `ConformanceTools` (the project's venv, else a `python3` with jsonschema). Without
/// one, `validate` cancels the running test with the reason (skipped), so a test never passes without a real check.
public struct SchemaValidator {
    public let schema: [String: Any]

    public init(schema: [String: Any]) { self.schema = schema }

    /// Every violation of `value` against the schema as `POINTER: message` (POINTER a JSON pointer, `/` for the
    /// root); empty when it conforms.
    public func validate(_ value: Any) throws -> [String] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("schema-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try ConformanceTools.require("jsonschema")
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let s = dir.appendingPathComponent("schema.json"), d = dir.appendingPathComponent("doc.json")
            try JSONSerialization.data(withJSONObject: schema).write(to: s)
            try JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed]).write(to: d)
            return try ConformanceTools.check("schema-errors", [s.path, d.path], module: "jsonschema")
        } catch {
            return ["/: cannot hand the document to jsonschema: \(error)"]
        }
    }
}
