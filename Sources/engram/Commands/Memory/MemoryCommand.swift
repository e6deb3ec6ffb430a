import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import EngramWire
import Foundation

/// `engram memory …`: long-term memories of a tenant's users and agents.
struct MemoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory",
        abstract: "Long-term memory: remember, recall, list, forget (with receipts), export, sweep expired memories, legal hold.",
        discussion: """
            Retention policies come from ENGRAM_RETENTION_POLICIES (default: session=1d,default=365d,forever=forever). \
            Memories are embedded with --embedder (default: minilm when installed, else hash); recall compares vectors \
            only with memories embedded the same way, and words with all of them.
            """,
        subcommands: [Remember.self, Recall.self, Get.self, List.self, Forget.self, Export.self, Sweep.self, Hold.self, Events.self]
    )

    /// Accepted here too: `engram memory --store URL recall …`.
    @OptionGroup var global: GlobalOptions
}

extension GlobalOptions {
    /// Runs `body` with the memory store of `--store`, opened with `access` (``StoreAccess``). Memories
    /// belong to a tenant, not a collection: `--collection` is refused.
    func withMemoryStore<T>(_ access: StoreAccess, _ body: (any MemoryStore) async throws -> T) async throws -> T {
        guard collection == nil else {
            throw EngramError(.invalidInput, "memories belong to a tenant, not a collection: leave out --collection")
        }
        return try await withStores(access, memories: true) { try await body($0.memories) }
    }
}

enum MemoryOutput {
    static func line(_ m: Memory) -> String {
        var flags: [String] = [m.kind.rawValue, String(format: "importance %.2f", m.importance), m.retention]
        if m.legalHold { flags.append("legal hold") }
        return "\(m.id)  [\(m.subject)/\(m.namespace)] \(Output.oneLine(m.content, max: 100))  (\(flags.joined(separator: ", ")))"
    }

    static func receipt(_ r: DeletionReceipt, json: Bool, verb: String) {
        if json { Output.printJSON(Wire.Receipt(r)); return }
        Output.say("\(verb) \(r.deleted.count) memories\(r.held.isEmpty ? "" : ", kept \(r.held.count) under legal hold")\(r.missing.isEmpty ? "" : ", \(r.missing.count) not found")")
        for id in r.deleted { Output.say("  \(verb) \(id)") }
        for id in r.held { Output.say("  held \(id)") }
        for id in r.missing { Output.say("  not found \(id)") }
        if r.erasurePending {
            Output.say("erasure pending: another connection still reads an older snapshot of the store, so copies of the deleted pages stay on disk until it finishes; the next engram command on this store completes the erasure")
        }
    }
}

extension GlobalOptions {
    /// The retention policies of ENGRAM_RETENTION_POLICIES, or the standard ones.
    func retentionPolicies() throws -> RetentionPolicies {
        try ProcessInfo.processInfo.environment["ENGRAM_RETENTION_POLICIES"].map(RetentionPolicies.parse) ?? .standard
    }
}
