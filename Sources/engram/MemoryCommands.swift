import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
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
    /// Runs `body` with the memory store of `--store`. With `create` false a missing SQLite file is an
    /// error, not a new empty store. Memories belong to a tenant, not a collection: `--collection` is refused.
    func withMemoryStore<T>(create: Bool, _ body: (any MemoryStore) async throws -> T) async throws -> T {
        guard collection == nil else {
            throw EngramError(.invalidInput, "memories belong to a tenant, not a collection: leave out --collection")
        }
        return try await withStores(create ? .create : .existing, memories: true) { try await body($0.memories) }
    }
}

enum MemoryOutput {
    static func line(_ m: Memory) -> String {
        var flags: [String] = [m.kind.rawValue, String(format: "importance %.2f", m.importance), m.retention]
        if m.legalHold { flags.append("legal hold") }
        return "\(m.id)  [\(m.subject)/\(m.namespace)] \(Output.oneLine(m.content, max: 100))  (\(flags.joined(separator: ", ")))"
    }

    static func receipt(_ r: DeletionReceipt, json: Bool, verb: String) {
        if json { Output.printJSON(r.json); return }
        Output.say("\(verb) \(r.deleted.count) memories\(r.held.isEmpty ? "" : ", kept \(r.held.count) under legal hold")\(r.missing.isEmpty ? "" : ", \(r.missing.count) not found")")
        for id in r.deleted { Output.say("  \(verb) \(id)") }
        for id in r.held { Output.say("  held \(id)") }
        for id in r.missing { Output.say("  not found \(id)") }
        if r.erasurePending {
            Output.say("erasure pending: another connection still reads an older snapshot of the store, so copies of the deleted pages stay on disk until it finishes; the next engram command on this store completes the erasure")
        }
    }
}

extension MemoryCommand {
    struct Remember: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remember a text for a subject (the same text again refreshes the memory).")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The memory's content.") var text: String
        @Option(help: "The user or agent the memory is about.") var subject: String
        @Option(help: "Namespace within the subject.") var namespace: String = "default"
        @Option(help: "fact, preference, episode, summary, or another lowercase word.") var kind: String = "fact"
        @Option(help: "0 (trivia) to 1 (essential).") var importance: Double = 0.5
        @Option(help: "Retention policy name.") var retention: String = "default"
        @Option(help: ArgumentHelp("Metadata as a JSON object.", valueName: "json")) var metadata: String?
        @Option(help: "Who remembers (recorded in the audit trail).") var actor: String = "cli"
        @Option(help: "Embedder spec (default: minilm when installed, else hash).") var embedder: String?
        @Flag(help: "Do not embed: keyword recall only.") var noEmbedding = false
        @Flag(help: "Put the memory under legal hold at once.") var hold = false

        func run() async throws {
            try await reporting(global) {
                let meta = try metadata.map { try Metadata.parse(json: $0) } ?? [:]
                var draft = MemoryDraft(tenant: global.tenant, subject: subject, namespace: namespace, kind: MemoryKind(rawValue: kind), content: text, metadata: meta,
                                        importance: importance, retention: retention, legalHold: hold)
                if !noEmbedding {
                    // Checked first, so that bad input is refused before a model loads.
                    try MemoryRules.validateContent(text)
                    let e = try await EmbedderSpec.parse(embedder ?? EmbedderSpec.defaultSpec())
                    draft.embedding = try await e.embed(text)
                    draft.embeddingIdentity = e.identity
                }
                let outcome = try await global.withMemoryStore(create: true) { try await $0.remember(draft, actor: actor) }
                if global.json {
                    Output.printJSON(.object([("outcome", .string(outcome.created ? "created" : "refreshed")), ("memory", outcome.memory.json)]))
                } else {
                    Output.say("\(outcome.created ? "remembered" : "refreshed") \(MemoryOutput.line(outcome.memory))")
                }
            }
        }
    }

    struct Recall: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Recall memories by meaning and words, scored by relevance, recency and importance.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "What to recall.") var query: String
        @Option(help: "Only this subject's memories.") var subject: String?
        @Option(help: "Only this namespace.") var namespace: String?
        @Option(help: "Only these kinds (repeatable).") var kind: [String] = []
        @Option(help: ArgumentHelp("Metadata filter (readable or JSON).", valueName: "expr")) var filter: String?
        @Option(name: .short, help: "Number of memories.") var k: Int = 10
        @Option(help: "Embedder spec for the query (default: minilm when installed, else hash).") var embedder: String?
        @Flag(help: "Words only, no vector.") var keywordOnly = false

        func run() async throws {
            try await reporting(global) {
                var query = RecallQuery(tenant: global.tenant, subject: subject, namespace: namespace, kinds: kind.isEmpty ? nil : kind.map(MemoryKind.init(rawValue:)),
                                        filter: try filter.map(Filter.parseAny), text: self.query, limit: k)
                try MemoryRules.validate(query)
                if !keywordOnly {
                    let e = try await EmbedderSpec.parse(embedder ?? EmbedderSpec.defaultSpec())
                    query.vector = try await e.embed(self.query)
                    query.vectorIdentity = e.identity
                }
                let hits = try await global.withMemoryStore(create: false) { try await $0.recall(query) }
                if global.json {
                    Output.printJSON(.object([("hits", .array(hits.map { h in
                        .object([("memory", h.memory.json), ("score", .object([
                            ("total", .double(h.score.total)), ("relevance", .double(h.score.relevance)), ("similarity", h.score.similarity.map { .double($0) } ?? .null),
                            ("keyword", h.score.keyword.map { .double($0) } ?? .null), ("recency", .double(h.score.recency)), ("importance", .double(h.score.importance)),
                        ]))])
                    }))]))
                    return
                }
                if hits.isEmpty { Output.say("nothing recalled") }
                for (i, h) in hits.enumerated() {
                    let s = h.score
                    Output.say("\(i + 1). \(String(format: "%.4f", s.total))  \(MemoryOutput.line(h.memory))")
                    Output.say("   relevance \(String(format: "%.3f", s.relevance)) (similarity \(s.similarity.map { String(format: "%.3f", $0) } ?? "-"), words \(s.keyword.map { String(format: "%.2f", $0) } ?? "-")), recency \(String(format: "%.3f", s.recency)), importance \(String(format: "%.2f", s.importance))")
                }
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one memory.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Memory id (mem_…).") var id: String

        func run() async throws {
            try await reporting(global) {
                guard let m = try await global.withMemoryStore(create: false, { try await $0.memory(id: id, tenant: global.tenant) }) else {
                    throw MemoryRules.notFound(id)
                }
                if global.json { Output.printJSON(m.json) } else { print(MemoryOutput.line(m)); Output.text(m.content) }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List memories in creation order, a page at a time.")

        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this subject's memories.") var subject: String?
        @Option(help: "Only this namespace.") var namespace: String?
        @Option(help: "Only this kind.") var kind: String?
        @Option(help: ArgumentHelp("Metadata filter (readable or JSON).", valueName: "expr")) var filter: String?
        @Option(help: "Page size.") var limit: Int = 100
        @Option(help: "The cursor printed after the previous page.") var cursor: String?

        func run() async throws {
            try await reporting(global) {
                let request = MemoryListRequest(tenant: global.tenant, subject: subject, namespace: namespace, kind: kind.map(MemoryKind.init(rawValue:)),
                                                filter: try filter.map(Filter.parseAny), limit: limit, cursor: cursor)
                let page = try await global.withMemoryStore(create: false) { try await $0.list(request) }
                if global.json {
                    Output.printJSON(.object([("memories", .array(page.memories.map(\.json))), ("next_cursor", page.nextCursor.map { .string($0) } ?? .null)]))
                    return
                }
                for m in page.memories { Output.say(MemoryOutput.line(m)) }
                if let next = page.nextCursor { Output.say("more: --cursor \(next)") }
            }
        }
    }

    struct Forget: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Forget memories for good (by id, subject or filter) and print the receipt.")

        @OptionGroup var global: GlobalOptions
        @Option(help: "Memory ids (repeatable).") var id: [String] = []
        @Option(help: "Every memory of this subject (with --filter: only its matching ones).") var subject: String?
        @Option(help: "Within this namespace (with --filter).") var namespace: String?
        @Option(help: ArgumentHelp("Memories whose metadata match (readable or JSON).", valueName: "expr")) var filter: String?
        @Flag(help: "Every memory of the tenant.") var all = false
        @Option(help: "Why (recorded in the audit trail).") var reason: String
        @Option(help: "Who (recorded in the audit trail).") var actor: String = "cli"

        func validate() throws {
            let selectors = [!id.isEmpty, filter != nil || (subject != nil && filter == nil), all].filter { $0 }.count
            guard selectors == 1 else { throw ValidationError("choose one of --id, --subject, --filter or --all") }
        }

        func run() async throws {
            try await reporting(global) {
                let selector: ForgetSelector
                if !id.isEmpty {
                    selector = .ids(id)
                } else if let filter {
                    selector = .filter(try Filter.parseAny(filter), subject: subject, namespace: namespace)
                } else if let subject {
                    selector = .subject(subject)
                } else {
                    selector = .all
                }
                let request = ForgetRequest(tenant: global.tenant, selector: selector, actor: actor, reason: reason)
                try MemoryRules.validate(request)
                let receipt = try await global.withMemoryStore(create: false) { try await $0.forget(request) }
                MemoryOutput.receipt(receipt, json: global.json, verb: "forgot")
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every memory of the tenant (or one subject) as JSON Lines, for access requests.")

        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this subject's memories.") var subject: String?
        @Option(help: ArgumentHelp("Write to this file instead of standard output.", valueName: "file")) var out: String?
        @Flag(help: "Replace the file if it exists.") var force = false

        func run() async throws {
            try await reporting(global) {
                let destination = try out.map { try global.output($0, force: force, private: true) }
                let memories = try await global.withMemoryStore(create: false) { try await $0.export(tenant: global.tenant, subject: subject) }
                let lines = memories.map { $0.json.serialized(sortedKeys: true) + "\n" }.joined()
                if let out, let destination {
                    try destination.write(Data(lines.utf8))
                    if !global.json { print("exported \(memories.count) memories to \(out)") } else { Output.printJSON(.object([("exported", .int(Int64(memories.count))), ("file", .string(out))])) }
                } else {
                    FileHandle.standardOutput.write(Data(lines.utf8))
                }
            }
        }
    }

    struct Sweep: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete expired memories (not those under legal hold) and print the receipt.")

        @OptionGroup var global: GlobalOptions
        @Flag(help: "Sweep every tenant, not only --tenant.") var allTenants = false
        @Option(help: "Who (recorded in the audit trail).") var actor: String = "cli"

        func run() async throws {
            try await reporting(global) {
                let receipt = try await global.withMemoryStore(create: false) { try await $0.sweep(tenant: allTenants ? nil : global.tenant, now: Date(), actor: actor) }
                MemoryOutput.receipt(receipt, json: global.json, verb: "expired")
            }
        }
    }

    struct Hold: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set or clear a legal hold: a held memory is neither changed, forgotten nor swept.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Memory id (mem_…).") var id: String
        @Flag(help: "Clear the hold instead of setting it.") var clear = false
        @Option(help: "Why (recorded in the audit trail).") var reason: String
        @Option(help: "Who (recorded in the audit trail).") var actor: String = "cli"

        func run() async throws {
            try await reporting(global) {
                let m = try await global.withMemoryStore(create: false) { try await $0.setLegalHold(id: id, tenant: global.tenant, held: !clear, actor: actor, reason: reason) }
                if global.json { Output.printJSON(m.json) } else { print("\(clear ? "hold cleared" : "held") \(MemoryOutput.line(m))") }
            }
        }
    }

    struct Events: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The audit trail (who, when, why, content hash — never content).")

        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this memory's events.") var id: String?

        func run() async throws {
            try await reporting(global) {
                let events = try await global.withMemoryStore(create: false) { try await $0.events(tenant: global.tenant, memoryID: id) }
                if global.json { Output.printJSON(.array(events.map(\.json))); return }
                for e in events {
                    let origin = e.origin.map { "  (imported from \($0))" } ?? ""
                    Output.say("\(e.sequence)  \(MetadataValue.canonicalDateString(e.at))  \(e.kind.rawValue)  \(e.memoryID)  by \(e.actor)\(e.reason.isEmpty ? "" : " — \(e.reason)")  sha256 \(e.contentSHA256.prefix(16))\(origin)")
                }
            }
        }
    }
}

extension GlobalOptions {
    /// The retention policies of ENGRAM_RETENTION_POLICIES, or the standard ones.
    func retentionPolicies() throws -> RetentionPolicies {
        try ProcessInfo.processInfo.environment["ENGRAM_RETENTION_POLICIES"].map(RetentionPolicies.parse) ?? .standard
    }
}
