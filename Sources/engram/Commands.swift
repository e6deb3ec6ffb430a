import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import Foundation

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a collection with an embedder.")

    @OptionGroup var global: GlobalOptions

    @Option(help: "Embedder: minilm, minilm:DIR, openai:URL?model=NAME, hash, hash:DIM, external:DIM or external:DIM:cosine|l2|ip (default: minilm when installed, else hash).")
    var embedder: String?

    func run() async throws {
        try await reporting(global) {
            try global.ref.validate()
            let e = try await Init.resolve(embedder, json: global.json)
            try await global.withStore(create: true) { store in
                let existed = try await store.collection(global.ref) != nil
                let info = try await store.createCollection(global.ref, identity: e.identity)
                if global.json {
                    Output.printJSON(.object([("collection", .string(info.ref.name)), ("tenant", .string(info.ref.tenant)),
                                              ("created", .bool(!existed)), ("embedding", Output.identityJSON(info.identity))]))
                } else {
                    Output.say("\(existed ? "collection exists" : "created collection") \(info.ref) — embedding \(info.identity)")
                }
            }
        }
    }
}

extension Init {
    /// The named embedder, or the default one (saying so on standard error when that is `hash`).
    static func resolve(_ spec: String?, json: Bool) async throws -> any Embedder {
        if let spec { return try await EmbedderSpec.parse(spec) }
        let fallback = EmbedderSpec.defaultSpec()
        if fallback == "hash", !json { Output.notice(EmbedderSpec.hashFallbackNotice) }
        return try await EmbedderSpec.parse(fallback)
    }
}

struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Ingest files and folders (only new or changed documents are embedded).")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Files or folders.")
    var paths: [String]

    @Option(name: .customLong("include"), help: "Only files matching this glob (repeatable).")
    var include: [String] = []

    @Option(name: .customLong("exclude"), help: "Skip files and folders matching this glob (repeatable).")
    var exclude: [String] = []

    @Option(help: "Refuse files larger than this many bytes.")
    var maxBytes: Int = 10 * 1024 * 1024

    @Flag(help: "Delete documents under the given paths whose source file is gone (files left out by --include or --exclude stay).")
    var prune = false

    @Flag(help: "Follow symbolic links inside folders (each folder and file is still read once).")
    var followLinks = false

    @Option(help: "Embedder for a new collection (see init; default: minilm when installed, else hash).")
    var embedder: String?

    @Option(help: "JSON/JSONL field holding the text.")
    var textField: String = "text"

    @Option(help: "JSON/JSONL field holding the record id.")
    var idField: String = "id"

    @Option(help: "Chunk size in tokens.")
    var maxTokens: Int = 200

    @Option(help: "Tokens shared by consecutive chunks.")
    var overlap: Int = 30

    @Option(help: "Chunks per embedding batch.")
    var batchSize: Int = 512

    func validate() throws {
        guard maxBytes > 0 else { throw ValidationError("--max-bytes must be positive") }
        guard maxTokens >= 8 else { throw ValidationError("--max-tokens must be at least 8") }
        guard overlap >= 0, overlap < maxTokens else { throw ValidationError("--overlap must be between 0 and --max-tokens") }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
    }

    func run() async throws {
        var failedCount = 0
        try await reporting(global) {
            failedCount = try await execute()
        }
        if failedCount > 0 { throw ExitCode(2) }
    }

    /// The skipped entries of a walk: each one, except files of unsupported types (only counted).
    static func printSkipped(_ skipped: [FolderWalker.Skipped]) {
        guard !skipped.isEmpty else { return }
        let unsupported = skipped.filter { $0.reason == .unsupportedType }.count
        let listed = skipped.filter { $0.reason != .unsupportedType }
        Output.say("skipped \(skipped.count) entries\(unsupported > 0 ? " (\(unsupported) of a type no loader reads)" : ""):")
        for s in listed.prefix(50) { Output.say("  \(s.path): \(s.detail)") }
        if listed.count > 50 { Output.say("  … and \(listed.count - 50) more (--json lists all)") }
    }

    static func progressPrinter(_ p: IngestProgress) {
        guard p.filesTotal > 0 else { return }
        let width = 30
        let filled = p.filesDone * width / p.filesTotal
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        FileHandle.standardError.write(Data("\r\(bar) \(p.filesDone)/\(p.filesTotal) files".utf8))
        if p.filesDone == p.filesTotal { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    func execute() async throws -> Int {
        try global.ref.validate()
        return try await global.withStore(create: true) { store in
            var embedding: any Embedder
            if let info = try await store.collection(global.ref) {
                embedding = try await EmbedderSpec.embedder(for: info.identity)
                if let spec = embedder {
                    try info.identity.requireCompatible(try await EmbedderSpec.parse(spec).identity, context: "--embedder \(spec)")
                }
            } else {
                embedding = try await Init.resolve(embedder, json: global.json)
                _ = try await store.createCollection(global.ref, identity: embedding.identity)
                if !global.json {
                    Output.notice("created collection \(global.ref) with embedder \(embedding.identity)")
                }
            }
            var options = Ingestor.Options()
            options.include = include.map(Glob.init)
            options.exclude = exclude.map(Glob.init)
            options.maxBytes = maxBytes
            options.prune = prune
            options.followLinks = followLinks
            options.batchSize = batchSize
            options.chunker = StructuredChunker(maxTokens: maxTokens, overlapTokens: overlap)
            options.loader = SourceLoader(json: JSONRecordLoader.Options(textField: textField, idField: idField))
            let ingestor = Ingestor(store: store, embedder: embedding, collection: global.ref, options: options)
            let showProgress = !global.json && Output.stderrIsTerminal
            let started = Date()
            let report = try await ingestor.ingest(paths: paths, progress: showProgress ? Ingest.progressPrinter : nil)
            let seconds = Date().timeIntervalSince(started)
            if global.json {
                Output.printJSON(.object([
                    ("added", .int(Int64(report.added))), ("updated", .int(Int64(report.updated))),
                    ("unchanged", .int(Int64(report.unchanged))), ("deleted", .int(Int64(report.deleted))),
                    ("files", .int(Int64(report.files))), ("chunks_written", .int(Int64(report.chunksWritten))),
                    ("chunks_embedded", .int(Int64(report.chunksEmbedded))), ("seconds", .double(seconds)),
                    ("failed", .array(report.failed.map { .object([("source", .string($0.source)), ("code", .string($0.code)), ("reason", .string($0.reason))]) })),
                    ("skipped", .array(report.skipped.map { .object([("path", .string($0.path)), ("reason", .string($0.reason.rawValue)), ("detail", .string($0.detail))]) })),
                ]))
            } else {
                let rows: [(String, Int)] = [("added", report.added), ("updated", report.updated), ("unchanged", report.unchanged),
                                             ("deleted", report.deleted), ("failed", report.failed.count)]
                Output.say("documents")
                for (name, n) in rows { Output.say("  \(name.padding(toLength: 10, withPad: " ", startingAt: 0)) \(n)") }
                Output.say("files \(report.files), chunks written \(report.chunksWritten), embedded \(report.chunksEmbedded), \(String(format: "%.2f", seconds)) s")
                if !report.failed.isEmpty {
                    Output.say("failed:")
                    for f in report.failed { Output.say("  \(f.reason) [\(f.code)]") }
                }
                Ingest.printSkipped(report.skipped)
            }
            return report.failed.count
        }
    }
}

struct Search: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Search a collection; every answer comes with an evidence manifest.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Query text.")
    var query: String?

    @Option(help: ArgumentHelp("Metadata filter, readable (lang == \"en\" and year >= 2020) or JSON ({\"lang\": \"en\"}).", valueName: "expr"))
    var filter: String?

    @Option(name: .short, help: "Number of results.")
    var k: Int = 10

    @Option(help: "vector, keyword or hybrid (default: hybrid, keyword for external collections, vector with --vector).")
    var mode: SearchMode?

    @Option(help: ArgumentHelp("Write the evidence manifest to this file.", valueName: "file"))
    var manifest: String?

    @Flag(help: "Replace the manifest file if it exists.")
    var force = false

    @Option(help: ArgumentHelp("Query vector as a JSON array.", valueName: "json"))
    var vector: String?

    @Option(help: ArgumentHelp("File holding the query vector as a JSON array.", valueName: "file"))
    var vectorFile: String?

    func validate() throws {
        guard k >= 1, k <= 10_000 else { throw ValidationError("-k must be between 1 and 10000") }
        guard query != nil || vector != nil || vectorFile != nil else { throw ValidationError("give a query, --vector or --vector-file") }
        guard vector == nil || vectorFile == nil else { throw ValidationError("give --vector or --vector-file, not both") }
    }

    func run() async throws {
        try await reporting(global) {
            let manifestFile = try manifest.map { try global.output($0, force: force, private: false) }
            try await global.withStore(create: false) { store in
                let info = try await store.requireCollection(global.ref)
                let parsedFilter = try filter.map(Filter.parseAny)
                var queryVector: [Float]? = nil
                if let vectorText = try vector ?? vectorFile.map(Search.readFile) {
                    queryVector = try Search.parseVector(vectorText)
                }
                let chosen = mode ?? (queryVector != nil ? (query == nil ? .vector : .hybrid) : (info.identity.isExternal ? .keyword : .hybrid))
                let needsEmbedder = !info.identity.isExternal && query != nil && queryVector == nil && chosen != .keyword
                let embedder = needsEmbedder ? try await EmbedderSpec.embedder(for: info.identity) : nil
                let retriever = Retriever(store: store, embedder: embedder)
                let result = try await retriever.search(text: query, vector: queryVector, mode: chosen, filter: parsedFilter, k: k, in: global.ref)
                let canonical = result.manifest.canonicalJSON
                try manifestFile?.write(Data((canonical + "\n").utf8))
                if global.json {
                    Output.printJSON(.object([
                        ("hits", .array(result.response.hits.map(Search.hitJSON))),
                        ("path", .string(result.response.path)), ("exhaustive", .bool(result.response.exhaustive)),
                        ("matched", .int(Int64(result.response.matched))), ("mode", .string(chosen.rawValue)),
                        ("manifest_id", .string(result.manifest.id)), ("manifest", try JSONValue.parse(canonical)),
                    ]))
                    return
                }
                if result.response.hits.isEmpty { Output.say("no results") }
                for h in result.response.hits {
                    let section = h.chunk.section.isEmpty ? "" : "  § " + h.chunk.section.joined(separator: " › ")
                    Output.say("\(h.rank). \(String(format: "%.4f", h.score))  \(h.chunk.sourceURI)\(section)")
                    Output.say("   \(Output.oneLine(h.chunk.text, max: 160))")
                    Output.say("   chunk \(h.chunk.id)  chars \(h.chunk.charStart)..<\(h.chunk.charEnd)")
                }
                Output.say("path \(result.response.path), \(result.response.exhaustive ? "exhaustive, \(result.response.matched)" : "approximate, at least \(result.response.matched)") matching chunks")
                Output.say("manifest \(result.manifest.id)\(manifest.map { " → \($0)" } ?? "")")
            }
        }
    }

    static func readFile(_ path: String) throws -> String {
        String(decoding: try InputFile.read(path, limit: 16 << 20, what: "query vector"), as: UTF8.self)
    }

    static func parseVector(_ text: String) throws -> [Float] {
        guard case .array(let items) = try JSONValue.parse(text), !items.isEmpty else {
            throw EngramError(.invalidInput, "query vector must be a non-empty JSON array of numbers")
        }
        return try items.enumerated().map { i, v in
            switch v {
            case .int(let x): return Float(x)
            case .double(let x):
                guard Float(x).isFinite else { throw EngramError(.invalidInput, "query vector component \(i) does not fit in float32") }
                return Float(x)
            default: throw EngramError(.invalidInput, "query vector component \(i) is a \(v.typeName), not a number")
            }
        }
    }

    static func hitJSON(_ h: SearchHit) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("rank", .int(Int64(h.rank))), ("score", .double(h.score)), ("chunk_id", .string(h.chunk.id)),
            ("document_id", .string(h.chunk.documentID)), ("source_uri", .string(h.chunk.sourceURI)),
            ("text", .string(h.chunk.text)), ("metadata", Output.metadataJSON(h.chunk.metadata)),
            ("section", .array(h.chunk.section.map { .string($0) })), ("char_start", .int(Int64(h.chunk.charStart))),
            ("char_end", .int(Int64(h.chunk.charEnd))), ("chunk_sha256", .string(h.chunk.sha256)),
            ("document_sha256", .string(h.chunk.documentSHA256)),
        ]
        if let s = h.vectorScore { members.append(("vector_score", .double(s))) }
        if let r = h.vectorRank { members.append(("vector_rank", .int(Int64(r)))) }
        if let s = h.keywordScore { members.append(("keyword_score", .double(s))) }
        if let r = h.keywordRank { members.append(("keyword_rank", .int(Int64(r)))) }
        return .object(members)
    }
}

extension SearchMode: ExpressibleByArgument {}

/// A document named on the command line: its id (`doc_…`), its source URI, or a file path.
func documentID(_ argument: String, in ref: CollectionRef) -> String {
    if argument.hasPrefix("doc_") { return argument }
    let uri = argument.contains("://") ? argument : URL(fileURLWithPath: argument).standardizedFileURL.absoluteString
    return DocumentRecord.makeID(ref: ref, sourceURI: uri)
}

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a chunk (chk_…), a document (doc_…) or a document by source URI or path.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Chunk id, document id, source URI or file path.")
    var id: String

    func run() async throws {
        try await reporting(global) {
            try await global.withStore(create: false) { store in
                let ref = global.ref
                _ = try await store.requireCollection(ref)
                if id.hasPrefix("chk_") {
                    guard let c = try await store.chunks(ids: [id], in: ref).first else {
                        throw EngramError(.notFound, "no chunk \(id) in \(ref)")
                    }
                    if global.json {
                        Output.printJSON(.object([
                            ("chunk_id", .string(c.id)), ("document_id", .string(c.documentID)), ("source_uri", .string(c.sourceURI)),
                            ("ordinal", .int(Int64(c.ordinal))), ("char_start", .int(Int64(c.charStart))), ("char_end", .int(Int64(c.charEnd))),
                            ("section", .array(c.section.map { .string($0) })), ("token_count", .int(Int64(c.tokenCount))),
                            ("sha256", .string(c.sha256)), ("document_sha256", .string(c.documentSHA256)),
                            ("metadata", Output.metadataJSON(c.metadata)), ("text", .string(c.text)),
                        ]))
                    } else {
                        Output.say("chunk \(c.id) (#\(c.ordinal) of \(c.documentID))")
                        Output.say("source   \(c.sourceURI)")
                        Output.say("range    chars \(c.charStart)..<\(c.charEnd), \(c.tokenCount) tokens")
                        if !c.section.isEmpty { Output.say("section  \(c.section.joined(separator: " › "))") }
                        Output.say("sha256   \(c.sha256)")
                        Output.say("metadata \(c.metadata.canonicalJSON)")
                        Output.say("")
                        Output.text(c.text)
                    }
                    return
                }
                guard let (info, _) = try await store.document(id: documentID(id, in: ref), in: ref) else {
                    throw EngramError(.notFound, "no document \(id) in \(ref)")
                }
                let chunkIDs = (0..<info.chunkCount).map { ChunkRecord.makeID(documentID: info.id, ordinal: $0) }
                let chunks = try await store.chunks(ids: chunkIDs, in: ref)
                if global.json {
                    Output.printJSON(.object([
                        ("document_id", .string(info.id)), ("source_uri", .string(info.sourceURI)), ("sha256", .string(info.sha256)),
                        ("version", .int(Int64(info.version))), ("mime", .string(info.mime)), ("size", .int(Int64(info.size))),
                        ("metadata", Output.metadataJSON(info.metadata)),
                        ("updated_at", .string(MetadataValue.canonicalDateString(info.updatedAt))),
                        ("chunks", .array(chunks.map { .object([("chunk_id", .string($0.id)), ("char_start", .int(Int64($0.charStart))), ("char_end", .int(Int64($0.charEnd))), ("section", .array($0.section.map { .string($0) }))]) })),
                    ]))
                } else {
                    Output.say("document \(info.id) v\(info.version)")
                    Output.say("source   \(info.sourceURI)")
                    Output.say("mime     \(info.mime), \(info.size) bytes, sha256 \(info.sha256)")
                    Output.say("updated  \(MetadataValue.canonicalDateString(info.updatedAt))")
                    Output.say("metadata \(info.metadata.canonicalJSON)")
                    Output.say("chunks   \(chunks.count)")
                    for c in chunks {
                        Output.say("  \(c.id)  \(c.charStart)..<\(c.charEnd)  \(Output.oneLine(c.text, max: 70))")
                    }
                }
            }
        }
    }
}

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Re-check an evidence manifest against the store: verified, changed or missing per hit.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Manifest file written by search --manifest.")
    var manifest: String

    func run() async throws {
        var allVerified = true
        try await reporting(global) {
            let data = try InputFile.read(manifest, limit: EvidenceManifest.maxBytes, what: "manifest")
            let m = try EvidenceManifest.parse(String(decoding: data, as: UTF8.self))
            try await global.withStore(create: false) { store in
                let report = try await ManifestVerifier.verify(m, against: store, tenant: global.tenant)
                allVerified = report.allVerified
                if global.json {
                    Output.printJSON(.object([
                        ("manifest_id", .string(report.manifestID)), ("all_verified", .bool(report.allVerified)),
                        ("verified", .int(Int64(report.count(.verified)))), ("changed", .int(Int64(report.count(.changed)))),
                        ("missing", .int(Int64(report.count(.missing)))),
                        ("hits", .array(report.results.map { r in
                            .object([("rank", .int(Int64(r.rank))), ("chunk_id", .string(r.chunkID)), ("source_uri", .string(r.sourceURI)),
                                     ("status", .string(r.status.rawValue)), ("reason", r.reason.map { .string($0) } ?? .null)])
                        })),
                    ]))
                } else {
                    Output.say("manifest \(report.manifestID)")
                    for r in report.results {
                        Output.say("  \(r.rank). \(r.status.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(r.chunkID)  \(r.sourceURI)\(r.reason.map { "  — \($0)" } ?? "")")
                    }
                    Output.say("\(report.count(.verified)) verified, \(report.count(.changed)) changed, \(report.count(.missing)) missing")
                }
            }
        }
        if !allVerified { throw ExitCode(2) }
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete documents (by id, source URI or path), or the whole collection.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Document ids, source URIs or file paths.")
    var documents: [String] = []

    @Flag(help: "Delete the collection itself with all its documents.")
    var dropCollection = false

    func validate() throws {
        guard dropCollection != !documents.isEmpty else {
            throw ValidationError("give document ids/paths to delete, or --drop-collection")
        }
    }

    func run() async throws {
        try await reporting(global) {
            try await global.withStore(create: false) { store in
                let ref = global.ref
                if dropCollection {
                    guard try await store.deleteCollection(ref) else {
                        throw EngramError.collectionNotFound(ref)
                    }
                    if global.json { Output.printJSON(.object([("dropped_collection", .string(ref.name))])) } else { print("dropped collection \(ref)") }
                    return
                }
                _ = try await store.requireCollection(ref)
                var deleted: [String] = []
                var missing: [String] = []
                for d in documents {
                    if try await store.deleteDocument(id: documentID(d, in: ref), in: ref) { deleted.append(d) } else { missing.append(d) }
                }
                if global.json {
                    Output.printJSON(.object([("deleted", .array(deleted.map { .string($0) })), ("not_found", .array(missing.map { .string($0) }))]))
                } else {
                    for d in deleted { Output.say("deleted \(d)") }
                    for m in missing { Output.say("not found \(m)") }
                }
                if !missing.isEmpty {
                    throw EngramError(.notFound, "\(missing.count) of \(documents.count) documents not found: \(missing.joined(separator: ", "))")
                }
            }
        }
    }
}

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Counts for a collection.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await reporting(global) {
            try await global.withStore(create: false) { store in
                let info = try await store.requireCollection(global.ref)
                let s = try await store.stats(global.ref)
                if global.json {
                    Output.printJSON(.object([
                        ("tenant", .string(info.ref.tenant)), ("collection", .string(info.ref.name)), ("store", .string(store.descriptor.kind)),
                        ("schema_version", .int(Int64(store.descriptor.schemaVersion))), ("embedding", Output.identityJSON(info.identity)),
                        ("documents", .int(Int64(s.documents))), ("chunks", .int(Int64(s.chunks))),
                        ("embedded_chunks", .int(Int64(s.embeddedChunks))), ("text_bytes", .int(Int64(s.textBytes))),
                    ]))
                } else {
                    Output.say("collection \(info.ref) (\(store.descriptor.kind), schema \(store.descriptor.schemaVersion))")
                    Output.say("embedding  \(info.identity)")
                    Output.say("documents  \(s.documents)")
                    Output.say("chunks     \(s.chunks) (\(s.embeddedChunks) with vectors)")
                    Output.say("text       \(s.textBytes) bytes")
                }
            }
        }
    }
}

struct Collections: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the tenant's collections.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await reporting(global) {
            try await global.withStore(create: false) { store in
                let list = try await store.collections(tenant: global.tenant)
                if global.json {
                    Output.printJSON(.array(list.map { .object([("name", .string($0.ref.name)), ("embedding", Output.identityJSON($0.identity)), ("generation", .int(Int64($0.generation)))]) }))
                } else {
                    if list.isEmpty { Output.say("no collections for tenant \(global.tenant)") }
                    for c in list { Output.say("\(c.ref.name)  \(c.identity)") }
                }
            }
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending schema migrations, or show their status (`engram migrate status`).",
        discussion: "PostgreSQL migrations run in one transaction under an advisory lock, so concurrent runs are safe; a database with an edited or unknown migration is refused. SQLite stores migrate when opened for writing.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Leave out to migrate; `status` to list applied and pending migrations.")
    var action: String?

    @Option(help: "PostgreSQL: a role to grant the privileges an application needs.")
    var grantTo: String?

    func validate() throws {
        guard action == nil || action == "status" else { throw ValidationError("unknown action '\(action!)' (expected: status)") }
    }

    func run() async throws {
        try await reporting(global) {
            let statusOnly = action == "status"
            let role = grantTo
            let (status, appliedNow) = try await Engram.withMigrations(global.storeURL) { migrations in
                let applied = statusOnly ? [] : try await migrations.migrate(grantTo: role)
                return (try await migrations.status(), applied)
            }
            let rows = status.map { (version: $0.version, name: $0.name, state: $0.applied ? "applied" : "pending") }
            if global.json {
                Output.printJSON(.object([
                    ("applied_now", .array(appliedNow.map { .int(Int64($0)) })),
                    ("migrations", .array(rows.map { .object([("version", .int(Int64($0.version))), ("name", .string($0.name)), ("state", .string($0.state))]) })),
                ]))
            } else {
                for r in rows { Output.say("\(String(r.version).padding(toLength: 4, withPad: " ", startingAt: 0)) \(r.name.padding(toLength: 40, withPad: " ", startingAt: 0)) \(r.state)") }
                if !statusOnly { Output.say(appliedNow.isEmpty ? "schema is up to date" : "applied \(appliedNow.map(String.init).joined(separator: ", "))") }
            }
        }
    }
}

struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the store: schema and pending migrations, search indexes, orphan chunks, vector dimensions, documents whose text no longer matches their hash or chunks.",
        discussion: "Exit status 0 when healthy, 2 when something is wrong (each finding says how to fix it).")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Check every tenant (SQLite; PostgreSQL's row-level security shows one tenant at a time: use --tenant).")
    var allTenants = false

    func run() async throws {
        var healthy = true
        try await reporting(global) {
            let tenants = allTenants ? nil : [global.tenant]
            let report = try await global.withStores(.inspect) { stores in
                try await stores.require(\.doctor, "check itself").diagnose(tenants: tenants)
            }
            healthy = report.healthy
            if global.json {
                Output.printJSON(.object([
                    ("healthy", .bool(report.healthy)), ("applied_migrations", .array(report.appliedMigrations.map { .string($0) })),
                    ("pending_migrations", .array(report.pendingMigrations.map { .string($0) })), ("collections", .int(Int64(report.collections))),
                    ("documents", .int(Int64(report.documents))), ("chunks", .int(Int64(report.chunks))), ("findings", .array(report.findings.map(\.json))),
                ]))
                return
            }
            Output.say("schema: \(report.appliedMigrations.count) migrations applied\(report.pendingMigrations.isEmpty ? "" : ", \(report.pendingMigrations.count) pending")")
            Output.say("checked \(report.collections) collections, \(report.documents) documents, \(report.chunks) chunks")
            for f in report.findings {
                Output.say("✗ [\(f.check)] \(f.subject): \(f.problem)")
                Output.say("  fix: \(f.fix)")
            }
            Output.say(report.healthy ? "healthy" : "\(report.findings.count) problems")
        }
        if !healthy { throw ExitCode(2) }
    }
}
