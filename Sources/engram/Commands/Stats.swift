import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import EngramWire
import Foundation

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Counts for a collection.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await reporting(global) {
            try await global.withStore(.read) { store in
                let info = try await store.requireCollection(global.ref)
                let s = try await store.stats(global.ref)
                if global.json {
                    Output.printJSON(Wire.Stats(info, s, store: store.descriptor))
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
