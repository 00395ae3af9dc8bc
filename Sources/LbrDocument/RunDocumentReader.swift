// Reading run documents back (for commands that are pure functions of saved runs: compare, contract --from,
// timeline). The wire types are `RunDocument` and its DTOs: one definition for writing and reading. Every
// failure is one line naming the file and what is wrong with it, including a value outside a closed vocabulary.

import Foundation
import LbrCore

/// Why a run document could not be used.
public struct RunDocumentError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable {
        /// The file could not be read (missing, a directory, permission).
        case unreadable
        /// Not JSON, or truncated.
        case malformed
        /// JSON, but not an lbrprobe run document (e.g. a caps document), or another schema version.
        case wrongSchema = "wrong-schema"
    }
    public var kind: Kind
    public var source: String
    public var message: String
    public var description: String { "\(source): \(message)" }
    /// Input errors are EX_DATAERR (65) for every kind (ExitCodes.swift).
    public var exitCode: LbrExitCode { .dataError }
}

/// A partial view of a run document (see `RunDocumentReader.decode(_:from:source:)`).
public protocol RunDocumentProjection: Decodable {
    var schema: String { get }
}

/// Decodes run documents.
public enum RunDocumentReader {
    /// The schema id this build reads and writes.
    public static let schema = RunDocument.schemaId

    /// Reads and decodes `path` (`-` is standard input).
    public static func read(path: String) throws(RunDocumentError) -> RunDocument {
        try decode(try readData(path: path), source: path)
    }

    /// The bytes of `path` (`-` is standard input), with the same one-line errors as `read` (for callers that
    /// decode more than `RunDocument` from one read, e.g. compare's findings).
    public static func readData(path: String) throws(RunDocumentError) -> Data {
        do {
            // A regular file within the cap is mapped, not copied (the decoder reads the pages in place);
            // standard input, FIFOs and devices are read with the cap (`</dev/zero` fails at its first byte).
            if try BoundedInput.isRegularFile(path, limit: BoundedInput.documentLimit, what: "a run document") {
                return try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
            }
            return Data(try BoundedInput.read(path, limit: BoundedInput.documentLimit, what: "a run document",
                                              firstByte: { $0 == UInt8(ascii: "{") ? nil : "not a run document: JSON object expected, the first byte is \(BoundedInput.byteText($0))" }))
        } catch let e as BoundedInput.Failure {
            throw RunDocumentError(kind: .unreadable, source: path, message: e.message)
        } catch {
            let ns = error as NSError
            let code = (ns.userInfo[NSUnderlyingErrorKey] as? NSError).map { Int32($0.code) } ?? EIO
            throw RunDocumentError(kind: .unreadable, source: path, message: "cannot read: \(String(cString: strerror(code))) (errno \(code))")
        }
    }

    /// Decodes a document held in memory; `source` names it in errors.
    public static func decode(_ data: Data, source: String) throws(RunDocumentError) -> RunDocument {
        if data.isEmpty { throw RunDocumentError(kind: .malformed, source: source, message: "empty file, not a run document") }
        // Fast path (compare reads many documents): a valid document of this schema decodes in one pass. Anything
        // else takes the diagnostic path below, which names what is wrong.
        if let doc = try? JSONDecoder().decode(RunDocument.self, from: data), doc.schema == schema {
            return try inRange(doc, source: source)
        }
        let top: Any
        do { top = try JSONSerialization.jsonObject(with: data) } catch {
            throw RunDocumentError(kind: .malformed, source: source,
                                   message: "not JSON (truncated or corrupt): \(firstLine(error))")
        }
        guard let obj = top as? [String: Any] else {
            throw RunDocumentError(kind: .malformed, source: source, message: "JSON top level is not an object")
        }
        guard let id = obj["schema"] as? String else {
            throw RunDocumentError(kind: .wrongSchema, source: source, message: "no \"schema\" field: not an lbrprobe run document")
        }
        if id != schema {
            // The id as read, cut (the error stays one short line whatever the file says).
            let shown = id.count > 80 ? String(id.prefix(77)) + "..." : id
            let what = id.hasPrefix("lbrprobe.run/") ? "run document of schema \(shown)"
                : id.hasPrefix("lbrprobe.caps/") ? "caps document (\(shown))" : "document of schema \(shown)"
            throw RunDocumentError(kind: .wrongSchema, source: source,
                                   message: "\(AsciiText.oneLine(what)), this lbrprobe reads \(schema) only")
        }
        do {
            return try inRange(try JSONDecoder().decode(RunDocument.self, from: data), source: source)
        } catch let e as RunDocumentError { throw e } catch {
            throw RunDocumentError(kind: .malformed, source: source, message: "not a valid \(schema) document: \(describe(error))")
        }
    }

    /// Decodes a projection of a run document — a `Decodable` with fewer fields than `RunDocument`, e.g. what
    /// compare needs — in one pass, with the same checks and one-line errors as `decode`: anything that does not
    /// decode, or is of another schema, goes through `decode` for the precise error.
    /// `userInfo` is handed to the projection's decoder (e.g. to skip parts it does not need).
    public static func decode<T: RunDocumentProjection>(_ type: T.Type, from data: Data, source: String,
                                                        userInfo: [CodingUserInfoKey: any Sendable] = [:]) throws(RunDocumentError) -> T {
        let dec = JSONDecoder()
        dec.userInfo = userInfo
        if !data.isEmpty, let v = try? dec.decode(T.self, from: data), v.schema == schema { return v }
        _ = try decode(data, source: source)
        do { return try dec.decode(T.self, from: data) } catch {
            throw RunDocumentError(kind: .malformed, source: source, message: "not a valid \(schema) document: \(describe(error))")
        }
    }

    /// `doc` if every number is in range (RunDocumentLimits), else a malformed-document error.
    static func inRange(_ doc: RunDocument, source: String) throws(RunDocumentError) -> RunDocument {
        if let why = RunDocumentLimits.check(doc) {
            throw RunDocumentError(kind: .malformed, source: source, message: "not a valid \(schema) document: \(why)")
        }
        return doc
    }

    static func firstLine(_ e: any Error) -> String {
        let ns = e as NSError
        let s = (ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription
        return AsciiText.oneLine(String(s.prefix(200)).split(separator: "\n").first.map(String.init) ?? s)
    }

    static func describe(_ e: any Error) -> String {
        func path(_ c: [any CodingKey]) -> String {
            let p = AsciiText.oneLine(c.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined())
            return p.utf8.count > 200 ? String(p.prefix(197)) + "..." : p   // keys come from the file
        }
        switch e as? DecodingError {
        case let .keyNotFound(k, ctx)?: return "missing field \(path(ctx.codingPath + [k]))"
        case let .typeMismatch(_, ctx)?: return "wrong type at \(path(ctx.codingPath))"
        case let .valueNotFound(_, ctx)?: return "null at \(path(ctx.codingPath))"
        case let .dataCorrupted(ctx)?:
            // e.g. a value outside a closed vocabulary: "Cannot initialize ResultStatus from invalid String value x".
            let why = ctx.debugDescription.split(separator: "\n").first.map { AsciiText.oneLine(String($0.prefix(160))) }
            return "\(why ?? "corrupt value") at \(path(ctx.codingPath))"
        default: return firstLine(e)
        }
    }
}
