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

/// A view of a run document (the whole `RunDocument`, or a `Decodable` with fewer fields, e.g. what compare
/// needs): its results are decoded in batches, only the members it names reach the decoder, equal values of
/// its results share storage, and its numbers are range-checked (`RunDocumentReader.read(_:path:userInfo:)`).
public protocol RunDocumentProjection: Decodable {
    associatedtype Result: Decodable
    var schema: String { get }
    /// `results[]`; the reader decodes the document with `"results": []` and sets them.
    var results: [Result] { get set }
    /// The wire members read: at the top level (besides `results`) and of each result. `userInfo` is what the
    /// decoder is given.
    static func members(_ userInfo: [CodingUserInfoKey: any Sendable]) -> (top: JsonKeep, result: JsonKeep)
    /// The first field out of range ("results[3].runs = ... is outside ..."), nil if none.
    func outOfRange() -> String?
    /// Makes values of `result` that equal those of earlier results share their storage.
    static func share(_ result: inout Result, _ pool: inout SharedValues)
}

/// Values seen so far, by type: a value equal to one of them is replaced by it (one copy in memory). A
/// `--repeat` document repeats the same sentences, outcomes and findings in every run.
public struct SharedValues {
    final class Seen<T: Hashable> { var values: Set<T> = [] }
    var seen: [ObjectIdentifier: AnyObject] = [:]
    public init() {}
    public mutating func share<T: Hashable>(_ v: inout T) {
        let key = ObjectIdentifier(T.self)
        let box: Seen<T>
        if let b = seen[key] as? Seen<T> { box = b } else { box = Seen<T>(); seen[key] = box }
        v = box.values.insert(v).memberAfterInsert
    }
    public mutating func share<T: Hashable>(_ v: inout T?) {
        guard var x = v else { return }
        share(&x)
        v = x
    }
}

extension RunDocument: RunDocumentProjection {
    public static func members(_ userInfo: [CodingUserInfoKey: any Sendable]) -> (top: JsonKeep, result: JsonKeep) { (.all, .all) }
    public func outOfRange() -> String? { RunDocumentLimits.check(self) }
    public static func share(_ r: inout ResultDTO, _ pool: inout SharedValues) {
        pool.share(&r.scenario); pool.share(&r.model); pool.share(&r.kernel_release); pool.share(&r.reason)
        pool.share(&r.outcome); pool.share(&r.outcome_detail); pool.share(&r.terms); pool.share(&r.expectation)
        pool.share(&r.notes); pool.share(&r.findings); pool.share(&r.evidence_folded_into); pool.share(&r.answer)
    }
}

/// Decodes run documents.
public enum RunDocumentReader {
    /// The schema id this build reads and writes.
    public static let schema = RunDocument.schemaId

    /// Reads and decodes `path` (`-` is standard input).
    public static func read(path: String) throws(RunDocumentError) -> RunDocument {
        try read(RunDocument.self, path: path)
    }

    /// Reads `path` (`-` is standard input) as `type`. A regular file is mapped and read front to back once:
    /// the pages of the results already decoded are given back as the reading goes on, so a big `--repeat`
    /// document never is in memory whole, beside its decoded form.
    public static func read<T: RunDocumentProjection>(_ type: T.Type, path: String,
                                                      userInfo: [CodingUserInfoKey: any Sendable] = [:]) throws(RunDocumentError) -> T {
        try read(type, path: path, userInfo: userInfo, sizes: .standard)
    }

    /// How the batched pass sizes its work (tests use small sizes to reach every path with small documents).
    struct PassSizes: Sendable {
        /// Results decoded per batch of about this many bytes of their kept members.
        var batchBytes: Int
        /// Documents above this size have their results counted before they are decoded, and equal values of
        /// their results share storage (what a small document would spend time on for little memory).
        var bigDocument: Int
        static let standard = PassSizes(batchBytes: 1 << 20, bigDocument: 16 << 20)
    }

    static func read<T: RunDocumentProjection>(_ type: T.Type, path: String, userInfo: [CodingUserInfoKey: any Sendable],
                                               sizes: PassSizes) throws(RunDocumentError) -> T {
        let regular: Bool
        do { regular = try BoundedInput.isRegularFile(path, limit: BoundedInput.documentLimit, what: "a run document") } catch {
            throw RunDocumentError(kind: .unreadable, source: path, message: error.message)
        }
        guard regular else { return try decode(type, from: try readData(path: path), source: path, userInfo: userInfo) }
        // Non-blocking, as BoundedInput opens: a path swapped for a FIFO since the check never blocks here.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        if fd < 0 {
            let code = errno
            throw RunDocumentError(kind: .unreadable, source: path, message: "cannot read: \(String(cString: strerror(code))) (errno \(code))")
        }
        var st = stat()
        let size = fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG ? Int(st.st_size) : 0
        guard size > 0, size <= BoundedInput.documentLimit else {
            close(fd)
            return try decode(type, from: try readData(path: path), source: path, userInfo: userInfo)
        }
        // SAFETY: a private read-only mapping of `size` bytes of a regular file checked above; it is unmapped
        // when this function returns, and no pointer into it escapes (decoded values own their storage).
        // A file truncated by another process while it is read would fault (as any mapped read would).
        let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        close(fd)
        guard let base, base != MAP_FAILED else {
            return try decode(type, from: try readData(path: path), source: path, userInfo: userInfo)
        }
        defer { munmap(base, size) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var released = 0
        let bytes = UnsafeRawBufferPointer(start: base, count: size)
        if let doc = try parts(type, bytes, source: path, userInfo: userInfo, sizes: sizes, consumed: { offset in
            // SAFETY: whole pages inside the mapping, before `offset`, which the pass will not read again; a
            // later read of them (the next pass, the diagnostic path) faults them in from the file again.
            let upTo = offset / page * page
            if upTo < released { released = 0 } // a new pass over the text
            if upTo - released >= 1 << 20 { madvise(base + released, upTo - released, MADV_DONTNEED); released = upTo }
        }) {
            return doc
        }
        // SAFETY: the bytes stay mapped until this function returns; `Data` does not outlive the call.
        return try whole(type, Data(bytesNoCopy: base, count: size, deallocator: .none), source: path, userInfo: userInfo)
    }

    /// The bytes of `path` (`-` is standard input), with the same one-line errors as `read` (for input that is
    /// not a regular file, and for callers that hold a document's bytes, e.g. benchmarks).
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
        try decode(RunDocument.self, from: data, source: source)
    }

    /// The whole-document decode with precise errors: what every reading falls back to when the batched pass
    /// refuses (not JSON, another schema, a value outside a vocabulary, or an unusual spelling).
    static func diagnose(_ data: Data, source: String) throws(RunDocumentError) -> RunDocument {
        if data.isEmpty { throw RunDocumentError(kind: .malformed, source: source, message: "empty file, not a run document") }
        // A valid document that the batched pass left (an escaped member name, deep nesting) decodes in one pass;
        // anything else takes the diagnostic path below, which names what is wrong.
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

    /// Decodes a view of a run document held in memory (see `RunDocumentProjection`), with the same checks and
    /// one-line errors as `read`. `userInfo` is handed to the view's decoder (e.g. to skip parts it does not need).
    public static func decode<T: RunDocumentProjection>(_ type: T.Type, from data: Data, source: String,
                                                        userInfo: [CodingUserInfoKey: any Sendable] = [:]) throws(RunDocumentError) -> T {
        let fast = data.withUnsafeBytes { bytes in
            Result { () throws(RunDocumentError) -> T? in try parts(type, bytes, source: source, userInfo: userInfo, sizes: .standard, consumed: { _ in }) }
        }
        if let doc = try fast.get() { return doc }
        return try whole(type, data, source: source, userInfo: userInfo)
    }

    /// The batched pass: nil when it refuses (the caller then decodes the whole document for a precise error).
    static func parts<T: RunDocumentProjection>(_ type: T.Type, _ bytes: UnsafeRawBufferPointer, source: String,
                                                userInfo: [CodingUserInfoKey: any Sendable], sizes: PassSizes,
                                                consumed: (Int) -> Void) throws(RunDocumentError) -> T? {
        let dec = JSONDecoder()
        dec.userInfo = userInfo
        let (top, result) = T.members(userInfo)
        var results: [T.Result] = []
        // A big document's results are counted first, so their storage is allocated once at its size, not
        // grown (growing a large array holds the old and the new storage at once).
        if bytes.count > sizes.bigDocument, let n = JsonMembers.count(bytes, arrayName: "results", consumed: consumed) {
            results.reserveCapacity(n)
        }
        var pool = SharedValues()
        let head: [UInt8]
        do {
            head = try JsonMembers.split(bytes, arrayName: "results", top: top, element: result, batchBytes: sizes.batchBytes,
                                         batch: { (items: inout [UInt8]) throws(JsonMembers.Refused) in
                guard let part = try? dec.decode([T.Result].self, from: Data(items)) else { throw JsonMembers.Refused() }
                if bytes.count > sizes.bigDocument {
                    for var r in part {
                        T.share(&r, &pool)
                        results.append(r)
                    }
                } else {
                    results.append(contentsOf: part)
                }
            }, consumed: consumed)
        } catch { return nil }
        guard var doc = try? dec.decode(T.self, from: Data(head)), doc.schema == schema else { return nil }
        doc.results = results
        results = []
        return try inRange(doc, source: source)
    }

    /// The view decoded from the whole text, after `diagnose` found the document valid.
    static func whole<T: RunDocumentProjection>(_ type: T.Type, _ data: Data, source: String,
                                                userInfo: [CodingUserInfoKey: any Sendable]) throws(RunDocumentError) -> T {
        let doc = try diagnose(data, source: source)
        if let d = doc as? T { return d }
        let dec = JSONDecoder()
        dec.userInfo = userInfo
        do { return try inRange(try dec.decode(T.self, from: data), source: source) } catch let e as RunDocumentError { throw e } catch {
            throw RunDocumentError(kind: .malformed, source: source, message: "not a valid \(schema) document: \(describe(error))")
        }
    }

    /// `doc` if every number is in range (RunDocumentLimits), else a malformed-document error.
    static func inRange<T: RunDocumentProjection>(_ doc: T, source: String) throws(RunDocumentError) -> T {
        if let why = doc.outOfRange() {
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
