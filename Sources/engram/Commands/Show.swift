import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import EngramWire
import Foundation

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a chunk (chk_…), a document (doc_…) or a document by source URI or path.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Chunk id, document id, source URI or file path.")
    var id: String

    func run() async throws {
        try await reporting(global) {
            try await global.withStore(.read) { store in
                let ref = global.ref
                _ = try await store.requireCollection(ref)
                if id.hasPrefix("chk_") {
                    guard let c = try await store.chunks(ids: [id], in: ref).first else {
                        throw EngramError(.notFound, "no chunk \(id) in \(ref)")
                    }
                    if global.json {
                        Output.printJSON(Wire.Chunk(c))
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
                    Output.printJSON(Wire.Document(info, chunks: chunks))
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
