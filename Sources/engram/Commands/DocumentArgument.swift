import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import Foundation

/// A document named on the command line: its id (`doc_…`), its source URI, or a file path.
func documentID(_ argument: String, in ref: CollectionRef) -> String {
    if argument.hasPrefix("doc_") { return argument }
    let uri = argument.contains("://") ? argument : URL(fileURLWithPath: argument).standardizedFileURL.absoluteString
    return DocumentRecord.makeID(ref: ref, sourceURI: uri)
}
