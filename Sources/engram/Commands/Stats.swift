import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import Foundation

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
