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
        subcommands: [Init.self, Ingest.self, Search.self, Show.self, Verify.self, Delete.self, Stats.self, Collections.self, Migrate.self, Doctor.self, Reindex.self, Backup.self, Restore.self, MemoryCommand.self]
    )

    /// The options every command takes, accepted before the command's name as well as after it
    /// (`engram --store URL search …`): every command declares the same group under the same name, so
    /// argument-parser fills them from either place.
    @OptionGroup var global: GlobalOptions
}

/// Options every command takes, before or after its name. Every command (and `memory`) declares them as
/// `@OptionGroup var global: GlobalOptions`: the same name is what lets a value given before the command
/// reach it.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Store URL: sqlite:PATH or postgres://USER@HOST:PORT/DATABASE (default from ENGRAM_STORE, else sqlite:.engram/engram.sqlite).", valueName: "url"))
    var store: String?

    @Option(name: .long, help: "Tenant id.")
    var tenant: String = "default"

    @Option(name: .long, help: ArgumentHelp("Collection name (default: default; memories have none).", valueName: "name"))
    var collection: String?

    @Flag(name: .long, help: "Print machine-readable JSON.")
    var json = false

    var storeURL: String {
        store ?? ProcessInfo.processInfo.environment["ENGRAM_STORE"] ?? "sqlite:.engram/engram.sqlite"
    }

    var ref: CollectionRef { CollectionRef(tenant: tenant, name: collection ?? "default") }

    /// The local files of the store that no output may replace (none for a server).
    var storeFiles: [String] { Engram.localFiles(of: storeURL) }

    /// The destination of an output option, checked before the command does its work.
    func output(_ path: String, force: Bool, private: Bool) throws -> OutputFile {
        try OutputFile(path: path, replace: force, protecting: storeFiles, permissions: `private` ? 0o600 : nil)
    }

    /// Runs `body` with the stores of `--store` (see ``StoreAccess``: commands that only read or delete
    /// open `.existing`, so a mistyped `--store` is an error instead of a new empty store). `memories`:
    /// the command uses the memory store, whose retention policies (ENGRAM_RETENTION_POLICIES) are then
    /// read and checked.
    func withStores<T>(_ access: StoreAccess, memories: Bool = false, _ body: (Stores) async throws -> T) async throws -> T {
        let options = StoreOptions(retention: memories ? try retentionPolicies() : .standard)
        return try await Engram.withStores(storeURL, access: access, options: options, body)
    }

    /// Runs `body` with the vector store of `--store`, created when `create` is true.
    func withStore<T>(create: Bool, _ body: (any VectorStore) async throws -> T) async throws -> T {
        try await withStores(create ? .create : .existing) { try await body($0.vectors) }
    }
}

/// Runs a command body, turning errors into one-line messages and documented exit codes.
func reporting(_ global: GlobalOptions, _ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let e as EngramError {
        Output.error(e, json: global.json)
        throw ExitCode(Output.exitCode(for: e.code))
    }
}

enum Output {
    static func exitCode(for code: EngramError.Code) -> Int32 {
        switch code {
        case .invalidInput, .invalidFilter, .invalidManifest, .embeddingMismatch, .emptyDocument, .loadFailed, .collectionExists, .conflict, .legalHold: 65
        case .collectionNotFound, .notFound: 66
        case .invalidConfiguration, .unsupported, .schemaMismatch: 78
        default: 1
        }
    }

    static func error(_ e: EngramError, json: Bool) {
        if json {
            print(JSONValue.object([("error", .object([("code", .string(e.code.rawValue)), ("message", .string(e.message))]))]).serialized(sortedKeys: true))
        }
        FileHandle.standardError.write(Data("engram: error: \(TerminalText.escaped(e.message))\n".utf8))
    }

    static func notice(_ text: String) {
        FileHandle.standardError.write(Data("engram: \(TerminalText.escaped(text))\n".utf8))
    }

    /// One line of human output: control characters (escape sequences, carriage returns, newlines from
    /// a file name or a stored text) are shown escaped, so stored text cannot drive the terminal or
    /// forge lines of a report.
    static func say(_ line: String) {
        print(TerminalText.escaped(line))
    }

    /// Stored text printed as it is, over several lines: escaped (newlines and tabs kept) when standard
    /// output is a terminal, byte for byte when it is a pipe or a file.
    static func text(_ text: String) {
        print(isatty(1) == 1 ? TerminalText.escaped(text, keepNewlines: true) : text)
    }

    static func printJSON(_ value: JSONValue) {
        print(value.serialized(sortedKeys: true))
    }

    static func metadataJSON(_ m: Metadata) -> JSONValue {
        .object(m.sorted { $0.key < $1.key }.map { ($0.key, $0.value.json) })
    }

    static func identityJSON(_ i: EmbeddingIdentity) -> JSONValue {
        .object([("model", .string(i.model)), ("revision", .string(i.revision)), ("dimension", .int(Int64(i.dimension))),
                 ("distance", .string(i.distance.rawValue)), ("normalized", .bool(i.normalized))])
    }

    static func oneLine(_ text: String, max: Int) -> String {
        let flat = text.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        return flat.count <= max ? flat : String(flat.prefix(max - 1)) + "…"
    }

    static var stderrIsTerminal: Bool { isatty(2) == 1 }
}
