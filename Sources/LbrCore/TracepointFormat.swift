// Pure parser of a tracefs `events/<system>/<name>/format` file and decoder of the RAW payload a
// tracepoint perf event writes (PERF_SAMPLE_RAW carries the trace entry, common_* fields first).
// Offsets always come from the format file, never from a compiled-in struct: they change across
// kernels (e.g. the common_* header has grown before).

/// One `field:` line of a tracepoint format.
public struct TracepointField: Hashable, Sendable, Codable {
    /// The C declaration before the name, e.g. `unsigned`, `u64`, `char`, `__data_loc char[]`.
    public var type: String
    public var name: String
    public var offset: Int
    public var size: Int
    public var isSigned: Bool
    /// Element count for `name[N]` fields.
    public var arrayLength: Int?
    /// `__data_loc` fields hold a u32 (offset | length << 16) pointing into the payload.
    public var isDataLoc: Bool { type.hasPrefix("__data_loc") }
    /// Whether the field is part of the common header (`common_type`, `common_pid`, …).
    public var isCommon: Bool { name.hasPrefix("common_") }

    public init(type: String, name: String, offset: Int, size: Int, isSigned: Bool, arrayLength: Int? = nil) {
        self.type = type; self.name = name; self.offset = offset; self.size = size
        self.isSigned = isSigned; self.arrayLength = arrayLength
    }
}

/// A parse or decode failure.
public struct TracepointFormatError: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "tracepoint format: \(reason)" }
}

/// A decoded field value.
public enum TracepointValue: Hashable, Sendable, Codable {
    case unsigned(UInt64)
    case signed(Int64)
    case bytes([UInt8])
    case string(String)

    /// The value as an unsigned integer (signed values are bit-cast), nil for bytes/strings.
    public var uint64: UInt64? {
        switch self {
        case let .unsigned(v): return v
        case let .signed(v): return UInt64(bitPattern: v)
        default: return nil
        }
    }
}

/// A parsed `format` file.
public struct TracepointFormat: Hashable, Sendable, Codable {
    public var name: String
    /// The tracepoint id (`ID:` line), which is also its perf `config`.
    public var id: UInt64
    public var fields: [TracepointField]

    public init(name: String, id: UInt64, fields: [TracepointField]) {
        self.name = name; self.id = id; self.fields = fields
    }

    /// Parses the text of a `format` file. Requires `name:`, `ID:` and at least one field; each
    /// field line must carry offset, size and signed.
    public init(parsing text: String) throws(TracepointFormatError) {
        var name: String?
        var id: UInt64?
        var fields: [TracepointField] = []
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = rawLine.trimmingWhitespace
            if line.hasPrefix("name:") {
                name = String(line.dropFirst(5)).trimmingWhitespace
            } else if line.hasPrefix("ID:") {
                let s = String(line.dropFirst(3)).trimmingWhitespace
                guard let v = UInt64(s) else { throw TracepointFormatError("bad ID line '\(line)'") }
                id = v
            } else if line.hasPrefix("field:") {
                fields.append(try TracepointFormat.parseField(line))
            }
        }
        guard let name else { throw TracepointFormatError("no 'name:' line") }
        guard let id else { throw TracepointFormatError("no 'ID:' line for \(name)") }
        if fields.isEmpty { throw TracepointFormatError("no fields for \(name)") }
        self.init(name: name, id: id, fields: fields)
    }

    /// Parses `field:unsigned write;\toffset:8;\tsize:4;\tsigned:0;`.
    static func parseField(_ line: String) throws(TracepointFormatError) -> TracepointField {
        var decl: String?
        var offset: Int?, size: Int?, signed: Bool?
        for part in line.split(separator: ";") {
            let p = String(part).trimmingWhitespace
            if p.isEmpty { continue }
            if p.hasPrefix("field:") { decl = String(p.dropFirst(6)).trimmingWhitespace }
            else if p.hasPrefix("offset:") { offset = Int(String(p.dropFirst(7)).trimmingWhitespace) }
            else if p.hasPrefix("size:") { size = Int(String(p.dropFirst(5)).trimmingWhitespace) }
            else if p.hasPrefix("signed:") { signed = String(p.dropFirst(7)).trimmingWhitespace == "1" }
        }
        guard let decl, !decl.isEmpty else { throw TracepointFormatError("field line without declaration: '\(line)'") }
        guard let offset, offset >= 0 else { throw TracepointFormatError("field line without valid offset: '\(line)'") }
        guard let size, size >= 0 else { throw TracepointFormatError("field line without valid size: '\(line)'") }
        guard let signed else { throw TracepointFormatError("field line without signed: '\(line)'") }
        // The name is the last identifier of the declaration, possibly followed by [N].
        var lastToken = String(decl.split(separator: " ").last ?? "")
        var arrayLength: Int?
        if let open = lastToken.firstIndex(of: "[") {
            let inside = lastToken[lastToken.index(after: open)...].prefix { $0 != "]" }
            arrayLength = Int(inside)
            lastToken = String(lastToken[..<open])
        }
        while lastToken.hasPrefix("*") { lastToken.removeFirst() }
        guard !lastToken.isEmpty else { throw TracepointFormatError("cannot find field name in '\(decl)'") }
        var type = String(decl.dropLast(decl.split(separator: " ").last!.count)).trimmingWhitespace
        if type.isEmpty { type = decl }
        return TracepointField(type: type, name: lastToken, offset: offset, size: size, isSigned: signed,
                               arrayLength: arrayLength)
    }

    /// The field named `name`, or nil.
    public func field(_ name: String) -> TracepointField? { fields.first { $0.name == name } }

    /// The payload size implied by the fields (end of the last field).
    public var minimumPayloadSize: Int { fields.map { $0.offset + $0.size }.max() ?? 0 }

    /// Decodes field `name` from a RAW payload. Integers of size 1, 2, 4, 8 are decoded little-endian
    /// (sign-extended when `signed:1`); `char[N]` as a NUL-terminated string; other arrays as bytes;
    /// `__data_loc` fields by following their (offset, length) into the payload. Throws if the field
    /// is unknown or does not fit in `raw`.
    public func value(_ name: String, in raw: [UInt8]) throws(TracepointFormatError) -> TracepointValue {
        guard let f = field(name) else { throw TracepointFormatError("\(self.name) has no field '\(name)'") }
        return try value(f, in: raw)
    }

    /// Decodes `field` from `raw` (see `value(_:in:)`).
    public func value(_ f: TracepointField, in raw: [UInt8]) throws(TracepointFormatError) -> TracepointValue {
        guard f.offset + f.size <= raw.count else {
            throw TracepointFormatError("field '\(f.name)' at \(f.offset)+\(f.size) beyond payload of \(raw.count) bytes")
        }
        if f.isDataLoc {
            guard f.size == 4 else { throw TracepointFormatError("__data_loc field '\(f.name)' has size \(f.size)") }
            let loc = TracepointFormat.loadUInt(raw, f.offset, 4)
            let off = Int(loc & 0xffff), len = Int(loc >> 16)
            guard off + len <= raw.count else {
                throw TracepointFormatError("__data_loc '\(f.name)' points to \(off)+\(len) beyond \(raw.count) bytes")
            }
            let bytes = Array(raw[off..<(off + len)])
            if f.type.contains("char") { return .string(TracepointFormat.cString(bytes)) }
            return .bytes(bytes)
        }
        if f.arrayLength != nil {
            let bytes = Array(raw[f.offset..<(f.offset + f.size)])
            if f.type.hasSuffix("char") { return .string(TracepointFormat.cString(bytes)) }
            return .bytes(bytes)
        }
        switch f.size {
        case 1, 2, 4, 8:
            let u = TracepointFormat.loadUInt(raw, f.offset, f.size)
            if f.isSigned {
                let shift = UInt64(64 - 8 * f.size)
                return .signed(Int64(bitPattern: u << shift) >> Int64(shift))
            }
            return .unsigned(u)
        default:
            return .bytes(Array(raw[f.offset..<(f.offset + f.size)]))
        }
    }

    /// Convenience: the field as an unsigned integer (throws for non-integer fields).
    public func uint(_ name: String, in raw: [UInt8]) throws(TracepointFormatError) -> UInt64 {
        guard let v = try value(name, in: raw).uint64 else {
            throw TracepointFormatError("field '\(name)' of \(self.name) is not an integer")
        }
        return v
    }

    static func loadUInt(_ raw: [UInt8], _ off: Int, _ size: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<size { v |= UInt64(raw[off + i]) << UInt64(8 * i) }
        return v
    }

    static func cString(_ bytes: [UInt8]) -> String {
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        return String(decoding: bytes[..<end], as: UTF8.self)
    }
}

