import Foundation
import LbrCore

/// The `lbrprobe caps --format json` document (schema `lbrprobe.caps/1`, docs/caps.schema.json,
/// described in docs/caps-format.md).
///
/// Versioning: fields may be added within `/1`; renaming, removing or changing the meaning of a field
/// bumps the version.
public struct CapsDocument: Codable, Sendable, Hashable {
    public struct Tool: Codable, Sendable, Hashable {
        public var name: String
        public var version: String
    }
    /// Always `CapsJSON.schema`.
    public var schema: String
    public var tool: Tool
    /// Every probed value (raw CPUID leaves included).
    public var host: HostProfile
    /// `host.cpuid` decoded; absent when CPUID could not be read.
    public var cpu: CpuFeatures?
    /// One entry per backend, in hw, hybrid, sim order.
    public var eligibility: [BackendEligibility]

    public init(host: HostProfile, eligibility: [BackendEligibility], toolVersion: String) {
        self.schema = CapsJSON.schema
        self.tool = Tool(name: "lbrprobe", version: toolVersion)
        self.host = host
        self.cpu = host.cpu
        self.eligibility = eligibility
    }
}

/// JSON rendering of the caps report.
public enum CapsJSON {
    /// The schema identifier written in every document.
    public static let schema = "lbrprobe.caps/1"

    /// Pretty-printed JSON with sorted keys (stable diffs), terminated by a newline.
    public static func encode(_ doc: CapsDocument) throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try enc.encode(doc)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Convenience: builds the document and encodes it.
    public static func encode(_ host: HostProfile, eligibility: [BackendEligibility], toolVersion: String) throws -> String {
        try encode(CapsDocument(host: host, eligibility: eligibility, toolVersion: toolVersion))
    }

    /// Parses a document written by `encode` (rejects other schema versions).
    public static func decode(_ text: String) throws -> CapsDocument {
        let doc = try JSONDecoder().decode(CapsDocument.self, from: Data(text.utf8))
        guard doc.schema == schema else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "schema \(doc.schema), expected \(schema)"))
        }
        return doc
    }
}
