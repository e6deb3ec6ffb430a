import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import EngramWire
import Foundation

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
            try await global.withStore(.read) { store in
                let info = try await store.requireCollection(global.ref)
                let parsedFilter = try filter.map(Filter.parseAny)
                var queryVector: [Float]? = nil
                if let vectorText = try vector ?? vectorFile.map(Search.readFile) {
                    queryVector = try Search.parseVector(vectorText)
                }
                let chosen = mode ?? Retriever.defaultMode(identity: info.identity, text: query != nil, vector: queryVector != nil)
                let needsEmbedder = Retriever.needsEmbedder(identity: info.identity, mode: chosen, text: query != nil, vector: queryVector != nil)
                let embedder = needsEmbedder ? try await EmbedderSpec.embedder(for: info.identity) : nil
                let retriever = Retriever(store: store, embedder: embedder, logger: try global.logger())
                let result = try await retriever.search(text: query, vector: queryVector, mode: chosen, filter: parsedFilter, k: k, in: global.ref)
                let canonical = result.manifest.canonicalJSON
                try manifestFile?.write(Data((canonical + "\n").utf8))
                if global.json {
                    Output.printJSON(try Wire.SearchResult(result.response, mode: chosen, manifest: result.manifest))
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
}

extension SearchMode: ExpressibleByArgument {}
