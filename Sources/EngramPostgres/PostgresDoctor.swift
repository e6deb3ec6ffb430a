import EngramCore
import Foundation
import PostgresNIO

extension PostgresVectorStore: StoreDoctor {
    /// Row-level security shows one tenant per transaction: `tenants` nil checks the tenant `default`.
    public func diagnose(tenants: [String]?) async throws -> DoctorReport {
        guard let tenants else {
            throw EngramError(.invalidInput, "--all-tenants is for SQLite stores; on PostgreSQL name each tenant with --tenant (row-level security shows one tenant at a time)")
        }
        let status = try await PostgresMigrator(schema: schema).status(client)
        var report = DoctorReport(appliedMigrations: status.filter { $0.state == .applied }.map { "\($0.version)_\($0.name)" },
                                  pendingMigrations: status.filter { $0.state == .pending }.map { "\($0.version)_\($0.name)" })
        if !report.pendingMigrations.isEmpty {
            report.findings.append(DoctorChecks.pending(report.pendingMigrations))
            return report
        }
        for tenant in tenants {
            let part = try await reading(tenant) { c in
                var part = DoctorReport(appliedMigrations: [], pendingMigrations: [])
                let collections = try await self.rows(c, "\(self.collectionColumns) WHERE tenant_id = \(tenant) ORDER BY name COLLATE \"C\"").map(Self.collectionRow)
                for col in collections {
                    part.collections += 1
                    let ref = col.info.ref
                    let counts = try await self.rows(c, """
                        SELECT count(*) AS total, count(*) FILTER (WHERE embedding IS NOT NULL) AS embedded,
                               count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM \(self.schemaName).documents d WHERE d.collection_id = ch.collection_id AND d.id = ch.document_id)) AS orphans
                        FROM \(self.schemaName).chunks ch WHERE ch.collection_id = \(col.id) AND ch.generation = \(col.info.generation)
                        """)[0]
                    let leftover = try await self.rows(c, """
                        SELECT count(*) AS n FROM \(self.schemaName).chunks WHERE collection_id = \(col.id)
                          AND generation <> \(col.info.generation) AND generation <> \(col.pending?.generation ?? col.info.generation)
                        """)[0]["n"].decode(Int.self)
                    var progress: GenerationProgress?
                    if let pending = col.pending { progress = try await self.progress(c, col, generation: pending.generation) }
                    part.findings += DoctorChecks.generations(ref: ref, active: col.info.identity, pending: col.pending, progress: progress, leftoverRows: leftover)
                    let embedded = try counts["embedded"].decode(Int.self), orphans = try counts["orphans"].decode(Int.self)
                    if orphans > 0 { part.findings.append(DoctorChecks.orphans(ref: ref, count: orphans)) }
                    if embedded >= self.options.exactThreshold, col.info.identity.dimension <= PostgresVectorStore.maxIndexedDimension {
                        let state = try await self.indexState(c, collectionID: col.id, generation: col.info.generation)
                        if state != .valid {
                            part.findings.append(DoctorFinding(check: "index", subject: "\(ref)",
                                                               problem: "the vector index of generation \(col.info.generation) is \(state == .absent ? "missing" : "invalid (an interrupted build)"); searches rank all \(embedded) chunks exactly",
                                                               fix: "build it: engram ingest into the collection builds it at the end, or call PostgresVectorStore.buildIndexes"))
                        }
                    }
                    let total = try counts["total"].decode(Int.self)
                    if total >= self.options.exactThreshold {
                        let state = try await self.indexState(c, name: self.keywordIndexName(collectionID: col.id, generation: col.info.generation))
                        if state != .valid {
                            part.findings.append(DoctorFinding(check: "index", subject: "\(ref)",
                                                               problem: "the keyword index of generation \(col.info.generation) is \(state == .absent ? "missing" : "invalid (an interrupted build)"); keyword searches scan all \(total) chunks",
                                                               fix: "build it: engram ingest into the collection builds it at the end, or call PostgresVectorStore.buildIndexes"))
                        }
                    }
                    let documents = try await self.rows(c, "SELECT id, source_uri, sha256, text FROM \(self.schemaName).documents WHERE collection_id = \(col.id) ORDER BY source_uri COLLATE \"C\"")
                    let chunkRows = try await self.rows(c, """
                        SELECT document_id, id, ordinal, char_start, char_end, text, sha256, vector_dims(embedding) AS dims FROM \(self.schemaName).chunks
                        WHERE collection_id = \(col.id) AND generation = \(col.info.generation) ORDER BY document_id, ordinal
                        """)
                    var byDocument: [String: [DoctorChecks.StoredChunkFacts]] = [:]
                    for r in chunkRows {
                        byDocument[try r["document_id"].decode(String.self), default: []].append(DoctorChecks.StoredChunkFacts(
                            id: try r["id"].decode(String.self), ordinal: try r["ordinal"].decode(Int.self), charStart: try r["char_start"].decode(Int.self),
                            charEnd: try r["char_end"].decode(Int.self), text: try r["text"].decode(String.self), sha256: try r["sha256"].decode(String.self),
                            dimension: try r["dims"].decode(Int?.self)))
                    }
                    for doc in documents {
                        part.documents += 1
                        let chunks = byDocument[try doc["id"].decode(String.self)] ?? []
                        part.chunks += chunks.count
                        part.findings += DoctorChecks.document(ref: ref, sourceURI: try doc["source_uri"].decode(String.self), text: try doc["text"].decode(String.self),
                                                              sha256: try doc["sha256"].decode(String.self), chunks: chunks, dimension: col.info.identity.dimension)
                    }
                }
                return part
            }
            report.collections += part.collections
            report.documents += part.documents
            report.chunks += part.chunks
            report.findings += part.findings
        }
        return report
    }
}
