import EngramCore
import Foundation
import GRDB

extension SQLiteVectorStore: StoreDoctor {
    public func diagnose(tenants: [String]?) async throws -> DoctorReport {
        try await wrap {
            // The FTS5 integrity check is a write statement (it changes nothing), so the check runs on the writer.
            try await writer().write { db in
                let applied = try SQLiteSchema.migrator.appliedMigrations(db)
                let pending = SQLiteSchema.migrator.migrations.filter { !applied.contains($0) }
                var report = DoctorReport(appliedMigrations: applied, pendingMigrations: pending)
                if !pending.isEmpty { report.findings.append(DoctorChecks.pending(pending)) }
                var collections = try db.rows(Self.allCollectionsSQL).map(Self.collectionRow)
                if let tenants { collections = collections.filter { tenants.contains($0.info.ref.tenant) } }
                for c in collections {
                    report.collections += 1
                    let ref = c.info.ref
                    let fts = SQLiteSchema.ftsName(c.id), table = SQLiteSchema.ftsTable(c.id)
                    if try !db.tableExists(fts) {
                        report.findings.append(DoctorFinding(check: "index", subject: "\(ref)", problem: "the keyword index \(fts) is missing",
                                                             fix: "re-ingest the collection into a new one, or restore it from a backup"))
                    } else {
                        do {
                            try db.execute(literal: "INSERT INTO \(table) (\(table), rank) VALUES ('integrity-check', 1)")
                        } catch {
                            report.findings.append(DoctorFinding(check: "index", subject: "\(ref)", problem: "the keyword index \(fts) does not match the chunks: \(error)",
                                                                 fix: "rebuild it: INSERT INTO \(fts)(\(fts)) VALUES ('rebuild')"))
                        }
                    }
                    let leftover = try db.count("SELECT count(*) FROM chunks WHERE collection_id = \(c.id) AND generation NOT IN \([c.info.generation, c.pending?.generation ?? c.info.generation])")
                    let progress = try c.pending.map { try Self.progress(db, c, generation: $0.generation) }
                    report.findings += DoctorChecks.generations(ref: ref, active: c.info.identity, pending: c.pending, progress: progress, leftoverRows: leftover)
                    let orphans = try db.count("""
                        SELECT count(*) FROM chunks c LEFT JOIN documents d ON d.collection_id = c.collection_id AND d.id = c.document_id
                        WHERE c.collection_id = \(c.id) AND d.id IS NULL
                        """)
                    if orphans > 0 { report.findings.append(DoctorChecks.orphans(ref: ref, count: orphans)) }
                    let documents = try db.rowCursor("SELECT id, source_uri, sha256, text FROM documents WHERE collection_id = \(c.id) ORDER BY source_uri")
                    while let d = try documents.next() {
                        report.documents += 1
                        let chunks = try db.rows(Self.documentChunkFacts(c.id, d["id"], c.info.generation)).map { r in
                            DoctorChecks.StoredChunkFacts(id: r["id"], ordinal: r["ordinal"], charStart: r["char_start"], charEnd: r["char_end"], text: r["text"],
                                                          sha256: r["sha256"], dimension: (r["bytes"] as Int?).map { $0 / 4 })
                        }
                        report.chunks += chunks.count
                        report.findings += DoctorChecks.document(ref: ref, sourceURI: d["source_uri"], text: d["text"], sha256: d["sha256"], chunks: chunks, dimension: c.info.identity.dimension)
                    }
                }
                return report
            }
        }
    }
}
