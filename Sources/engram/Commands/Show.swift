import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import Foundation

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
