import ArgumentParser
import EngramCore
import EngramPipeline
import EngramWire
import Foundation

struct Reindex: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move a collection to another embedder without downtime: embed every chunk again into a new generation, switch to it, drop the old one.",
        discussion: """
            Searches keep using the old generation until the switch, and ingests keep writing meanwhile (their \
            documents are embedded again before the switch). Interrupted, a rerun with the same embedder \
            continues without embedding finished chunks again. Only one reindex of a collection runs at a time.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(help: "The new embedder (see init).")
    var embedder: String?

    @Option(help: "Chunks per embedding batch (default: the embedder's preferred batch).")
    var batchSize: Int?

    @Flag(help: "Abandon an unfinished reindex and delete what it wrote.")
    var abandon = false

    @Flag(help: "Show the unfinished reindex, if any, and how far it is.")
    var status = false

    func validate() throws {
        guard [abandon, status, embedder != nil].filter({ $0 }).count == 1 else {
            throw ValidationError("give --embedder SPEC, --abandon or --status")
        }
        if let batchSize, batchSize <= 0 { throw ValidationError("--batch-size must be positive") }
    }

    func run() async throws {
        try await reporting(global) {
            try global.ref.validate()
            try await global.withStores(.existing) { stores in
                let store = try stores.require(\.generations, "reindex")
                if status { return try await printStatus(store) }
                if abandon {
                    let abandoned = try await store.withReindexLock(global.ref) { try await store.abandonGeneration(global.ref) }
                    if global.json {
                        Output.printJSON(Wire.Abandoned(abandoned: abandoned))
                    } else {
                        Output.say(abandoned ? "abandoned the unfinished reindex of \(global.ref)" : "no unfinished reindex of \(global.ref)")
                    }
                    return
                }
                let target = try await EmbedderSpec.parse(embedder!)
                let reindexer = Reindexer(store: store, embedder: target, batchSize: batchSize, logger: try global.logger())
                let showProgress = !global.json && Output.stderrIsTerminal
                let started = Date()
                let report = try await reindexer.run(global.ref, progress: showProgress ? Reindex.progressPrinter : nil)
                let seconds = Date().timeIntervalSince(started)
                if global.json {
                    Output.printJSON(Wire.Reindexed(report, seconds: seconds))
                } else if !report.switched {
                    Output.say("\(report.collection) already uses \(report.to)\(report.droppedRows > 0 ? "; dropped \(report.droppedRows) rows of the old generation" : "")")
                } else {
                    Output.say("\(report.collection): \(report.from) → \(report.to), generation \(report.generation)")
                    Output.say("embedded \(report.embedded) chunks\(report.resumed ? " (resumed; \(report.alreadyCopied) were done before)" : "")"
                          + "\(report.catchUpPasses > 0 ? ", \(report.catchUpPasses) catch-up passes for documents written meanwhile" : ""), "
                          + "dropped \(report.droppedRows) old rows, \(String(format: "%.2f", seconds)) s")
                }
            }
        }
    }

    func printStatus(_ store: any GenerationalStore) async throws {
        let info = try await store.requireCollection(global.ref)
        let pending = try await store.pendingGeneration(global.ref)
        var progress: GenerationProgress?
        if let pending { progress = try await store.generationProgress(global.ref, generation: pending.generation) }
        if global.json {
            Output.printJSON(Wire.ReindexStatus(info, pending: pending.flatMap { p in progress.map { (p.identity, p.generation, $0) } }))
        } else {
            Output.say("\(info.ref): generation \(info.generation), embedding \(info.identity)")
            if let pending, let progress {
                Output.say("unfinished reindex: generation \(pending.generation), embedding \(pending.identity), \(progress.copied)/\(progress.chunks) chunks copied")
            } else {
                Output.say("no unfinished reindex")
            }
        }
    }

    static func progressPrinter(_ p: ReindexProgress) {
        let width = 30
        let filled = p.chunks > 0 ? min(width, p.copied * width / p.chunks) : width
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        FileHandle.standardError.write(Data("\r\(p.phase.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \(bar) \(p.copied)/\(p.chunks) chunks".utf8))
        if p.phase == .dropping { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
