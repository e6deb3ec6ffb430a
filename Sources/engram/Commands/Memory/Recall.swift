import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import EngramWire
import Foundation

extension MemoryCommand {
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
                let hits = try await global.withMemoryStore(.existing) { try await $0.recall(query) }
                if global.json {
                    Output.printJSON(Wire.Recall(hits))
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
}
