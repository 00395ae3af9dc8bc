import Foundation

/// Reads a file relative to the repository root (this file is Tests/LbrScenariosTests/RepoFiles.swift).
func readRepoFile(_ relative: String, filePath: String = #filePath) throws -> String {
    let root = URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    return try String(contentsOf: root.appendingPathComponent(relative), encoding: .utf8)
}
