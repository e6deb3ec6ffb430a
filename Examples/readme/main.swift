import EngramCore
import EngramEmbeddings
import EngramKit
import EngramPipeline

// Compiled as Examples/readme/main.swift.
let embedder = try MiniLMEmbedder()                 // the installed model; HashEmbedder() for tests
let docs = CollectionRef(tenant: "acme", name: "handbook")
// sqlite:PATH, postgres://USER@HOST:PORT/DATABASE or memory: — the stores stay open inside the closure.
try await Engram.withStores("sqlite:.engram/engram.sqlite", access: .create) { stores in
    let store = stores.vectors
    if try await store.collection(docs) == nil {
        _ = try await store.createCollection(docs, identity: embedder.identity)
    }
    let report = try await Ingestor(store: store, embedder: embedder, collection: docs)
        .ingest(paths: ["handbook/"])
    print(report.added, report.updated, report.unchanged, report.failed)

    let result = try await Retriever(store: store, embedder: embedder).search(
        text: "how do I request leave?", mode: .hybrid,
        filter: try Filter.parse(#"lang == "en" and year >= 2024"#), k: 5, in: docs)
    for hit in result.response.hits { print(hit.rank, hit.chunk.sourceURI, hit.chunk.text) }
    let manifestJSON = result.manifest.canonicalJSON    // store it next to the answer
    let check = try await ManifestVerifier.verify(try EvidenceManifest.parse(manifestJSON), against: store, tenant: docs.tenant)
    print(check.allVerified)

    _ = try await stores.memories.remember(MemoryDraft(tenant: "acme", subject: "user-42", content: "prefers short answers"), actor: "assistant")
}
