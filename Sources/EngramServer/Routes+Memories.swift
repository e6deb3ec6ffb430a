import EngramCore
import EngramPipeline
import EngramWire
import Foundation
import Hummingbird

/// Long-term memory: remember, recall, get, list, forget, hold and the audit events.
extension EngramServer {
    func addMemoryRoutes(_ v1: Routes) {
        v1.post("memories") { r, c in try await self.remember(r, c) }
        v1.get("memories") { r, c in try await self.listMemories(r, c) }
        v1.post("memories/recall") { r, c in try await self.recall(r, c) }
        v1.post("memories/forget") { r, c in try await self.forget(r, c) }
        v1.get("memories/events") { r, c in try await self.memoryEvents(r, c) }
        v1.get("memories/:memory") { _, c in try await self.memory(c) }
        v1.post("memories/:memory/hold") { r, c in try await self.hold(r, c) }
    }

    var memories: any MemoryStore { stores.memories }

    /// The embedder of memories and their queries.
    func memoryEmbedder() async throws -> any Embedder {
        try await embedders.embedder(spec: configuration.embedder ?? EmbedderSpec.defaultSpec())
    }

    func remember(_ r: Request, _ c: EngramRequestContext) async throws -> Response {
        let tenant = try c.tenant(.write)
        let body = try await r.decode(Wire.RememberRequest.self, limit: configuration.maxBodyBytes)
        var draft = MemoryDraft(tenant: tenant, subject: body.subject, namespace: body.namespace ?? "default", kind: MemoryKind(rawValue: body.kind ?? "fact"),
                                content: body.content, metadata: try Wire.metadata(body.metadata), importance: body.importance ?? 0.5,
                                retention: body.retention ?? "default")
        // Checked before the embedder runs, so that bad input costs no model time.
        try MemoryRules.validateContent(body.content)
        let embedder = try await memoryEmbedder()
        draft.embedding = try await embedder.embed(body.content)
        draft.embeddingIdentity = embedder.identity
        let outcome = try await memories.remember(draft, actor: Self.actor(c, nil))
        return try Reply.json(Wire.Remembered(outcome), status: outcome.created ? .created : .ok)
    }

    func recall(_ r: Request, _ c: EngramRequestContext) async throws -> Response {
        let tenant = try c.tenant(.read)
        let body = try await r.decode(Wire.RecallRequest.self, limit: configuration.maxBodyBytes)
        var query = RecallQuery(tenant: tenant, subject: body.subject, namespace: body.namespace, filter: try Wire.filter(body.filter), text: body.query, limit: body.k ?? 10)
        try MemoryRules.validate(query)
        let embedder = try await memoryEmbedder()
        query.vector = try await embedder.embed(body.query)
        query.vectorIdentity = embedder.identity
        return try Reply.json(Wire.Recall(try await memories.recall(query)))
    }

    func memory(_ c: EngramRequestContext) async throws -> Response {
        let tenant = try c.tenant(.read)
        let id = try c.path("memory")
        guard let m = try await memories.memory(id: id, tenant: tenant) else { throw EngramError(.notFound, "no memory \(id)") }
        return try Reply.json(Wire.Memory(m))
    }

    func listMemories(_ r: Request, _ c: EngramRequestContext) async throws -> Response {
        let tenant = try c.tenant(.read)
        let q = r.uri.queryParameters
        let request = MemoryListRequest(tenant: tenant, subject: q.get("subject"), namespace: q.get("namespace"), kind: q.get("kind").map(MemoryKind.init(rawValue:)),
                                        filter: try q.get("filter").map(Filter.parseAny), limit: try r.integer("limit", in: 1...1_000) ?? 100, cursor: q.get("cursor"))
        return try Reply.json(Wire.MemoryList(try await memories.list(request)))
    }

    func forget(_ r: Request, _ c: EngramRequestContext) async throws -> Response {
        let tenant = try c.tenant(.write)
        let body = try await r.decode(Wire.ForgetRequest.self, limit: configuration.maxBodyBytes)
        let selector: ForgetSelector
        switch (body.ids, body.subject, try Wire.filter(body.filter)) {
        case (let ids?, nil, nil) where !ids.isEmpty: selector = .ids(ids)
        case (nil, let subject, let filter?): selector = .filter(filter, subject: subject, namespace: body.namespace)
        case (nil, let subject?, nil): selector = .subject(subject)
        default: throw EngramError(.invalidInput, "give exactly one of ids (non-empty), subject or filter (a filter may be narrowed by subject and namespace)")
        }
        let request = ForgetRequest(tenant: tenant, selector: selector, actor: Self.actor(c, body.actor), reason: body.reason)
        try MemoryRules.validate(request)
        return try Reply.json(Wire.Receipt(try await memories.forget(request)))
    }

    func hold(_ r: Request, _ c: EngramRequestContext) async throws -> Response {
        let tenant = try c.tenant(.write)
        let id = try c.path("memory")
        let body = try await r.decode(Wire.HoldRequest.self, limit: configuration.maxBodyBytes)
        let m = try await memories.setLegalHold(id: id, tenant: tenant, held: body.held ?? true, actor: Self.actor(c, body.actor), reason: body.reason)
        return try Reply.json(Wire.Memory(m))
    }

    func memoryEvents(_ r: Request, _ c: EngramRequestContext) async throws -> Response {
        let tenant = try c.tenant(.read)
        return try Reply.json(try await memories.events(tenant: tenant, memoryID: r.uri.queryParameters.get("memory_id")).map(Wire.MemoryEvent.init))
    }
}
