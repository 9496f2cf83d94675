import Foundation

/// Where the dashboard (`Public/`) and `docs/openapi.yaml` are read from, so the binary serves them wherever it is
/// started: `SWITCHBOARD_ASSETS_DIR` when set, else the working directory when it holds them, else the nearest folder
/// above the executable that does (a binary in `.build/<triple>/release/` finds its checkout).
enum AssetLocation {
    static let markers = ["Public/index.html", "docs/openapi.yaml"]

    static func holdsAssets(_ folder: String) -> Bool {
        markers.allSatisfy { FileManager.default.isReadableFile(atPath: (folder as NSString).appendingPathComponent($0)) }
    }

    static func locate(
        workingDirectory: String = FileManager.default.currentDirectoryPath,
        executable: String? = runningExecutable()
    ) -> String? {
        if holdsAssets(workingDirectory) { return workingDirectory }
        guard let executable else { return nil }
        var folder = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        while folder.path != "/" {
            if holdsAssets(folder.path) { return folder.path }
            folder.deleteLastPathComponent()
        }
        return nil
    }

    /// The running binary's real path: `/proc/self/exe` on Linux, the first argument elsewhere.
    static func runningExecutable() -> String? {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        return CommandLine.arguments.first.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
    }
}
