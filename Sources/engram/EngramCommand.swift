import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import Foundation

@main
struct EngramCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engram",
        abstract: "Durable, auditable retrieval memory: ingest documents, search them with filters, verify the evidence.",
        discussion: """
            Exit codes: 0 success; 1 storage or internal failure; 2 partial result (ingest had failed \
            files, verify found changed or missing evidence); 64 usage error; 65 bad input (filter, vector, \
            manifest, file); 66 not found (collection, document, path); 78 configuration (store URL, embedder).
            """,
        version: "0.1.0",
        subcommands: [Init.self, Ingest.self, Search.self, Show.self, Verify.self, Delete.self, Stats.self, Collections.self, Migrate.self, Doctor.self, Reindex.self, Backup.self, Restore.self, MemoryCommand.self, RunsCommand.self, KeysCommand.self, Serve.self]
    )

    /// The options every command takes, accepted before the command's name as well as after it
    /// (`engram --store URL search …`): every command declares the same group under the same name, so
    /// argument-parser fills them from either place.
    @OptionGroup var global: GlobalOptions
}
