import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import EngramWire
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
            try await global.withStore(.create) { store in
                let existed = try await store.collection(global.ref) != nil
                let info = try await store.createCollection(global.ref, identity: e.identity)
                if global.json {
                    Output.printJSON(Wire.Created(info, created: !existed))
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
