import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import Foundation
import Logging

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

    /// Runs `body` with the stores of `--store` (see ``StoreAccess``: commands that only read open `.read`,
    /// which never migrates nor writes; commands that change a store but do not add to it open `.existing`;
    /// neither makes a new empty store of a mistyped `--store`). `memories`:
    /// the command uses the memory store, whose retention policies (ENGRAM_RETENTION_POLICIES) are then
    /// read and checked.
    func withStores<T>(_ access: StoreAccess, memories: Bool = false, _ body: (Stores) async throws -> T) async throws -> T {
        let options = StoreOptions(retention: memories ? try retentionPolicies() : .standard, logger: try logger())
        return try await Engram.withStores(storeURL, access: access, options: options, body)
    }

    /// Diagnostics on standard error at the level ENGRAM_LOG_LEVEL names (trace, debug, info, notice,
    /// warning, error, critical); none when it is unset. Standard output stays the command's own.
    func logger() throws -> Logger {
        guard let name = ProcessInfo.processInfo.environment["ENGRAM_LOG_LEVEL"], !name.isEmpty else {
            return Logger(label: "engram", factory: { _ in SwiftLogNoOpLogHandler() })
        }
        guard let level = Logger.Level(rawValue: name.lowercased()) else {
            throw EngramError(.invalidConfiguration, "ENGRAM_LOG_LEVEL must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), not '\(name)'")
        }
        var logger = Logger(label: "engram", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = level
        return logger
    }

    /// Runs `body` with the vector store of `--store`, opened with `access`.
    func withStore<T>(_ access: StoreAccess, _ body: (any VectorStore) async throws -> T) async throws -> T {
        try await withStores(access) { try await body($0.vectors) }
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
