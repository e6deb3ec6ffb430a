import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import EngramWire
import Foundation

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
        return try await global.withStore(.create) { store in
            if embedder == nil, try await store.collection(global.ref) == nil, EmbedderSpec.defaultSpec() == "hash", !global.json {
                Output.notice(EmbedderSpec.hashFallbackNotice)
            }
            let (embedding, created) = try await Ingestor.collectionEmbedder(store: store, ref: global.ref, spec: embedder)
            if created, !global.json {
                Output.notice("created collection \(global.ref) with embedder \(embedding.identity)")
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
            let ingestor = Ingestor(store: store, embedder: embedding, collection: global.ref, options: options, logger: try global.logger())
            let showProgress = !global.json && Output.stderrIsTerminal
            let started = Date()
            let report = try await ingestor.ingest(paths: paths, progress: showProgress ? Ingest.progressPrinter : nil)
            let seconds = Date().timeIntervalSince(started)
            if global.json {
                Output.printJSON(Wire.Ingest(report, seconds: seconds))
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
