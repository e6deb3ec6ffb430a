import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import EngramWire
import Foundation

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
            try await global.withStore(.existing) { store in
                let ref = global.ref
                if dropCollection {
                    guard try await store.deleteCollection(ref) else {
                        throw EngramError.collectionNotFound(ref)
                    }
                    if global.json { Output.printJSON(Wire.Deleted(deleted: [], notFound: [], droppedCollection: ref.name)) } else { print("dropped collection \(ref)") }
                    return
                }
                _ = try await store.requireCollection(ref)
                var deleted: [String] = []
                var missing: [String] = []
                for d in documents {
                    if try await store.deleteDocument(id: documentID(d, in: ref), in: ref) { deleted.append(d) } else { missing.append(d) }
                }
                if global.json {
                    Output.printJSON(Wire.Deleted(deleted: deleted, notFound: missing))
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
