import Foundation
import PackagePlugin

/// Records the Git commit the command line is built from, for `guardrail --version`: a generated
/// `BuildInfo.swift` in the plugin's work directory, rewritten only when the commit (or whether the
/// tracked files differ from it) changes, so an unchanged checkout recompiles nothing. Outside a Git
/// checkout the commit reads "unknown".
@main
struct BuildInfo: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "generated")
        let script = #"""
            set -e
            commit=$(git -C "$1" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
            if [ "$commit" != unknown ] && [ -n "$(git -C "$1" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
                commit="$commit-modified"
            fi
            mkdir -p "$2"
            printf '/// Generated at build time by the BuildInfo plugin.\nenum BuildInfo {\n    static let commit = "%s"\n}\n' "$commit" > "$2/BuildInfo.swift.new"
            if cmp -s "$2/BuildInfo.swift.new" "$2/BuildInfo.swift"; then rm "$2/BuildInfo.swift.new"; else mv "$2/BuildInfo.swift.new" "$2/BuildInfo.swift"; fi
            """#
        return [
            .prebuildCommand(
                displayName: "Recording the Git commit of the build", executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: ["-c", script, "build-info", context.package.directoryURL.path, output.path],
                outputFilesDirectory: output)
        ]
    }
}
