import Foundation

/// A JSON-Schema subset validator (type, required, properties, additionalProperties:false, enum, const,
/// items, minItems, minimum, pattern, oneOf, and local `$ref`s to `#/$defs/…`). Returns every violation with its
/// JSON pointer. Shared by the report and CLI tests, so every schema in docs/ is checked the same way.
public struct SchemaValidator {
    public let schema: [String: Any]

    public init(schema: [String: Any]) { self.schema = schema }

    /// Every violation of `value` against the schema, with its JSON pointer; empty when it conforms.
    public func validate(_ value: Any) -> [String] {
        var errors: [String] = []
        check(value, schema, "", &errors)
        return errors
    }

    private func typeName(_ v: Any) -> String {
        if v is NSNull { return "null" }
        if let n = v as? NSNumber {
            let t = String(cString: n.objCType)
            if t == "c" || String(describing: type(of: n)).contains("Boolean") { return "boolean" }
            return (t == "d" || t == "f") ? "number" : "integer"
        }
        if v is String { return "string" }
        if v is [Any] { return "array" }
        if v is [String: Any] { return "object" }
        return "unknown"
    }

    private func isType(_ v: Any, _ t: String) -> Bool {
        let actual = typeName(v)
        if t == "number" { return actual == "number" || actual == "integer" }
        return actual == t
    }

    private func equal(_ a: Any, _ b: Any) -> Bool {
        if let x = a as? String, let y = b as? String { return x == y }
        if let x = a as? NSNumber, let y = b as? NSNumber { return x == y }
        return false
    }

    private func resolve(_ s: [String: Any]) -> [String: Any] {
        guard let ref = s["$ref"] as? String, ref.hasPrefix("#/$defs/") else { return s }
        let defs = schema["$defs"] as? [String: Any]
        return resolve(defs?[String(ref.dropFirst("#/$defs/".count))] as? [String: Any] ?? [:])
    }

    private func check(_ v: Any, _ schemaNode: [String: Any], _ path: String, _ errors: inout [String]) {
        let s = resolve(schemaNode)
        let at = path.isEmpty ? "/" : path
        if let options = s["oneOf"] as? [[String: Any]] {
            let matching = options.filter { o in var e: [String] = []; check(v, o, path, &e); return e.isEmpty }.count
            if matching != 1 { errors.append("\(at): matches \(matching) of oneOf") }
        }
        if let t = s["type"] as? String, !isType(v, t) {
            errors.append("\(at): expected \(t), got \(typeName(v))"); return
        }
        if let c = s["const"], !equal(v, c) { errors.append("\(at): expected const \(c)") }
        if let e = s["enum"] as? [Any], !e.contains(where: { equal(v, $0) }) { errors.append("\(at): \(v) not in enum") }
        if let m = s["minimum"] as? NSNumber, let n = v as? NSNumber, n.doubleValue < m.doubleValue {
            errors.append("\(at): \(n) < minimum \(m)")
        }
        if let p = s["pattern"] as? String, let str = v as? String {
            if str.firstMatch(of: try! Regex(p)) == nil {
                errors.append("\(at): '\(str)' does not match \(p)")
            }
        }
        if let obj = v as? [String: Any] {
            for r in (s["required"] as? [String]) ?? [] where obj[r] == nil { errors.append("\(at): missing required '\(r)'") }
            let props = (s["properties"] as? [String: Any]) ?? [:]
            for (k, sub) in obj {
                if let ps = props[k] as? [String: Any] {
                    check(sub, ps, path + "/" + k, &errors)
                } else if (s["additionalProperties"] as? Bool) == false {
                    errors.append("\(at): unexpected property '\(k)'")
                }
            }
        }
        if let arr = v as? [Any] {
            if let mi = s["minItems"] as? Int, arr.count < mi { errors.append("\(at): fewer than \(mi) items") }
            if let items = s["items"] as? [String: Any] {
                for (i, x) in arr.enumerated() { check(x, items, "\(path)/\(i)", &errors) }
            }
        }
    }
}

