import Foundation
import TopicCatalog

/// Finds the repository's files (topic specs, bridge script, venv) going up from the working
/// directory and then from the executable's, so the binary works from a checkout's subfolders.
enum RepositoryPaths {
    /// The repository root (where the bridge script is); the working directory when none is found.
    static var root: String { folder(holding: "bridge/metaworld_server.py") ?? FileManager.default.currentDirectoryPath }

    /// The `topics/` directory: `VIDEOAGENT_TOPICS`, else the first `topics/` with specs found above.
    static func topics() throws -> String {
        if let explicit = ProcessInfo.processInfo.environment["VIDEOAGENT_TOPICS"], !explicit.isEmpty { return explicit }
        guard let folder = folder(holding: "topics/common.schema.yaml") else {
            throw CatalogError("cannot find the topics/ directory of specs; pass --topics DIR or set VIDEOAGENT_TOPICS")
        }
        return folder + "/topics"
    }

    /// The nearest folder at or above the working directory (or else the executable's) that holds `relativePath`.
    private static func folder(holding relativePath: String) -> String? {
        let fm = FileManager.default
        let starts = [fm.currentDirectoryPath, URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path]
        for start in starts {
            var directory = URL(fileURLWithPath: start).standardizedFileURL
            for _ in 0..<8 {
                if fm.fileExists(atPath: directory.appendingPathComponent(relativePath).path) { return directory.path }
                directory.deleteLastPathComponent()
            }
        }
        return nil
    }
}
