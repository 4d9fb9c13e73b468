import ArgumentParser
import Foundation
import GuardrailCore

/// `guardrail schema`: the JSON Schema of every manifest kind, from the shapes the decoders read keys from.
struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the JSON Schema (draft 2020-12) of the configuration files, for editors and CI.",
        discussion: """
            Without --kind, prints the schema for any configuration file: it checks a document against its kind's schema \
            and a file without a kind as a Prometheus rule file. --output DIR writes guardrail.json and kinds/<kind>.json \
            into DIR instead (scripts/schemas writes schemas/ this way). The schemas come from the same definitions the \
            decoders take their keys from; validate still checks everything a schema cannot say.
            """
    )

    @Option(
        name: .long, help: ArgumentHelp("One kind's schema: \(ManifestSchemas.kinds.map(\.kind).joined(separator: ", ")).", valueName: "kind"),
        completion: .list(ManifestSchemas.kinds.map(\.kind)))
    var kind: String?

    @Option(
        name: .long, help: ArgumentHelp("Write the schema files into this directory instead of printing.", valueName: "dir"),
        completion: .directory)
    var output: String?

    func run() throws {
        var selected: KindShape?
        if let kind {
            guard let shape = ManifestSchemas.kind(named: kind) else {
                let names = ManifestSchemas.kinds.map(\.kind)
                let suggestion = Suggestion.closest(to: kind, among: names + ManifestSchemas.kinds.map(\.fileName))
                    .flatMap { ManifestSchemas.kind(named: $0)?.kind }
                Console.error(
                    "error: unknown kind \"\(TextEscaping.clampingExcerpts(kind))\"\n  "
                        + (suggestion.map { "Did you mean \"\($0)\"? " } ?? "") + "Known kinds: \(names.joined(separator: ", ")).")
                throw ExitCode.failure
            }
            selected = shape
        }
        let files = selected.map { [(path: ManifestSchemas.path(of: $0), text: ManifestSchemas.schema(for: $0).rendered)] } ?? ManifestSchemas.files()
        guard let output else {
            Console.out(files[0].text)
            return
        }
        let root = URL(fileURLWithPath: Console.path(output), isDirectory: true)
        do {
            for file in files {
                let url = root.appendingPathComponent(file.path)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(file.text.utf8).write(to: url, options: .atomic)
            }
        } catch {
            Console.error("error: cannot write the schema files into \(output)\n  \(error.localizedDescription)")
            throw ExitCode.failure
        }
        Console.out("Wrote \(files.count) schema file\(files.count == 1 ? "" : "s") into \(output): \(files.map(\.path).joined(separator: ", ")).\n")
    }
}
