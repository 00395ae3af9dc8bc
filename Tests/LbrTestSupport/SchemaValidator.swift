import Foundation

/// Validates JSON documents with the real `jsonschema` Python package (the validator class the schema's
/// `$schema` names, Draft 2020-12 for docs/*.schema.json, with format checking) — the same tool
/// scripts/check-outputs.sh applies to real CLI output. It replaced a hand-written schema-subset validator,
/// which could accept documents the real one rejects.
///
/// The interpreter is the project's venv (`.build/conformance/venv`, made by `scripts/check-outputs.sh --setup`,
/// which scripts/test.sh runs before `swift test`), else a `python3` on PATH that has jsonschema. Without one,
/// `validate` returns a single error naming the missing tool, so a test never passes without a real check.
public struct SchemaValidator {
    public let schema: [String: Any]

    public init(schema: [String: Any]) { self.schema = schema }

    /// The Python interpreter with jsonschema, or nil (with `unavailableReason`).
    public static let python: String? = {
        let venv = repoRoot().appendingPathComponent(".build/conformance/venv/bin/python").path
        for candidate in [venv, "/usr/bin/env"] {
            guard FileManager.default.isExecutableFile(atPath: candidate) else { continue }
            let args = candidate == venv ? ["-c", "import jsonschema"] : ["python3", "-c", "import jsonschema"]
            if (try? runProcess(candidate, args).code) == 0 { return candidate }
        }
        return nil
    }()

    public static let unavailableReason =
        "the jsonschema Python package is not installed (run scripts/check-outputs.sh --setup)"

    /// Every violation of `value` against the schema as `POINTER: message` (POINTER a JSON pointer, `/` for the
    /// root); empty when it conforms.
    public func validate(_ value: Any) -> [String] {
        guard let py = Self.python else { return ["/: " + Self.unavailableReason] }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("schema-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let s = dir.appendingPathComponent("schema.json"), d = dir.appendingPathComponent("doc.json")
            try JSONSerialization.data(withJSONObject: schema).write(to: s)
            try JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed]).write(to: d)
            let check = repoRoot().appendingPathComponent("scripts/conformance/check.py").path
            let args = (py == "/usr/bin/env" ? ["python3"] : []) + [check, "schema-errors", s.path, d.path]
            let r = try Self.runProcess(py, args)
            let lines = r.stdout.split(separator: "\n").map(String.init)
            switch r.code {
            case 0: return []
            case 1 where !lines.isEmpty: return lines
            default: return ["/: jsonschema did not run (exit \(r.code)): \(r.stderr.suffix(500))"]
            }
        } catch {
            return ["/: cannot run jsonschema: \(error)"]
        }
    }

    static func runProcess(_ exe: String, _ args: [String]) throws -> (code: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }
}
