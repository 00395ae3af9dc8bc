import Foundation

/// The repository root (this file is Tests/LbrTestSupport/RepoFiles.swift).
public func repoRoot(filePath: String = #filePath) -> URL {
    URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// The text of a file in the repository, e.g. `docs/run.schema.json`.
public func repoFile(_ relative: String) throws -> String {
    try String(contentsOf: repoRoot().appendingPathComponent(relative), encoding: .utf8)
}
