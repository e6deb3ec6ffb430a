import GRDB

/// The SQLite schema's migrations. Append-only: a shipped migration is never edited.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1_documents_chunks") { db in
            try db.execute(sql: """
                CREATE TABLE collections (
                    id INTEGER PRIMARY KEY,
                    tenant_id TEXT NOT NULL,
                    name TEXT NOT NULL,
                    model TEXT NOT NULL,
                    revision TEXT NOT NULL,
                    dimension INTEGER NOT NULL,
                    distance TEXT NOT NULL,
                    normalized INTEGER NOT NULL,
                    active_generation INTEGER NOT NULL DEFAULT 1,
                    data_version INTEGER NOT NULL DEFAULT 0,
                    created_at TEXT NOT NULL,
                    UNIQUE (tenant_id, name)
                );
                CREATE TABLE documents (
                    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
                    id TEXT NOT NULL,
                    tenant_id TEXT NOT NULL,
                    source_uri TEXT NOT NULL,
                    sha256 TEXT NOT NULL,
                    fingerprint TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    mime TEXT NOT NULL,
                    size INTEGER NOT NULL,
                    chunk_count INTEGER NOT NULL,
                    metadata TEXT NOT NULL,
                    text TEXT NOT NULL,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    PRIMARY KEY (collection_id, id),
                    UNIQUE (collection_id, source_uri)
                );
                CREATE TABLE chunks (
                    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
                    collection_id INTEGER NOT NULL,
                    id TEXT NOT NULL,
                    tenant_id TEXT NOT NULL,
                    document_id TEXT NOT NULL,
                    generation INTEGER NOT NULL,
                    ordinal INTEGER NOT NULL,
                    char_start INTEGER NOT NULL,
                    char_end INTEGER NOT NULL,
                    token_count INTEGER NOT NULL,
                    sha256 TEXT NOT NULL,
                    section TEXT NOT NULL,
                    metadata TEXT NOT NULL,
                    text TEXT NOT NULL,
                    embedding BLOB,
                    UNIQUE (collection_id, id),
                    FOREIGN KEY (collection_id, document_id) REFERENCES documents(collection_id, id) ON DELETE CASCADE
                );
                CREATE INDEX chunks_by_document ON chunks(collection_id, document_id);
                CREATE INDEX chunks_by_generation ON chunks(collection_id, generation);
                """)
        }
        m.registerMigration("v2_memories") { db in
            try db.execute(sql: """
                CREATE TABLE memories (
                    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    tenant_id TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    namespace TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    content_sha256 TEXT NOT NULL,
                    importance REAL NOT NULL,
                    retention TEXT NOT NULL,
                    legal_hold INTEGER NOT NULL,
                    created_ms INTEGER NOT NULL,
                    updated_ms INTEGER NOT NULL,
                    accessed_ms INTEGER,
                    access_count INTEGER NOT NULL,
                    expires_ms INTEGER,
                    supersedes TEXT,
                    provenance TEXT NOT NULL,
                    metadata TEXT NOT NULL,
                    embedding_identity TEXT,
                    content TEXT NOT NULL,
                    embedding BLOB,
                    UNIQUE (tenant_id, subject, namespace, content_sha256)
                );
                CREATE INDEX memories_in_order ON memories(tenant_id, created_ms, id);
                CREATE INDEX memories_by_subject ON memories(tenant_id, subject, namespace);
                CREATE INDEX memories_by_expiry ON memories(expires_ms) WHERE expires_ms IS NOT NULL;
                CREATE TABLE memory_events (
                    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                    tenant_id TEXT NOT NULL,
                    memory_id TEXT NOT NULL,
                    event TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    content_sha256 TEXT NOT NULL,
                    at_ms INTEGER NOT NULL
                );
                CREATE INDEX memory_events_by_memory ON memory_events(tenant_id, memory_id);
                CREATE TRIGGER memory_events_no_update BEFORE UPDATE ON memory_events
                BEGIN SELECT RAISE(ABORT, 'memory_events is append-only'); END;
                CREATE TRIGGER memory_events_no_delete BEFORE DELETE ON memory_events
                BEGIN SELECT RAISE(ABORT, 'memory_events is append-only'); END;
                """)
        }
        m.registerMigration("v3_chunk_generations") { db in
            // A chunk id may now exist once per generation (a reindex fills the next one beside the
            // active one), so the table is rebuilt with the generation in its key. Rowids are kept (the
            // keyword indexes point at them) and never handed out again (the search cache relies on it).
            let sequence = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'chunks'") ?? 0
            try db.execute(sql: """
                CREATE TABLE chunks_v3 (
                    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
                    collection_id INTEGER NOT NULL,
                    id TEXT NOT NULL,
                    tenant_id TEXT NOT NULL,
                    document_id TEXT NOT NULL,
                    generation INTEGER NOT NULL,
                    ordinal INTEGER NOT NULL,
                    char_start INTEGER NOT NULL,
                    char_end INTEGER NOT NULL,
                    token_count INTEGER NOT NULL,
                    sha256 TEXT NOT NULL,
                    section TEXT NOT NULL,
                    metadata TEXT NOT NULL,
                    text TEXT NOT NULL,
                    embedding BLOB,
                    UNIQUE (collection_id, generation, id),
                    FOREIGN KEY (collection_id, document_id) REFERENCES documents(collection_id, id) ON DELETE CASCADE
                );
                INSERT INTO chunks_v3 (rowid, collection_id, id, tenant_id, document_id, generation, ordinal, char_start, char_end,
                                       token_count, sha256, section, metadata, text, embedding)
                    SELECT rowid, collection_id, id, tenant_id, document_id, generation, ordinal, char_start, char_end,
                           token_count, sha256, section, metadata, text, embedding FROM chunks;
                DROP TABLE chunks;
                ALTER TABLE chunks_v3 RENAME TO chunks;
                CREATE INDEX chunks_by_document ON chunks(collection_id, document_id);
                CREATE INDEX chunks_by_generation ON chunks(collection_id, generation);
                ALTER TABLE collections ADD COLUMN pending_generation INTEGER;
                ALTER TABLE collections ADD COLUMN pending_identity TEXT;
                """)
            try db.execute(sql: "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'chunks'", arguments: [sequence])
        }
        m.registerMigration("v4_memories_in_tenant_order") { db in
            // A rowid table keeps its rows in rowid order. Memories took the next rowid of the whole table,
            // so the memories of tenants writing at the same time were interleaved, and a recall (which
            // reads every memory of its tenant) touched a page per memory. Each tenant now gets a slot and
            // its memories the rowids slot × 2^32 + 1, + 2, …, so a tenant's memories share pages. Memories
            // written before keep their rowids (all below 2^32, slot 0).
            try db.execute(sql: """
                CREATE TABLE memory_tenant_slots (
                    tenant_id TEXT PRIMARY KEY,
                    slot INTEGER NOT NULL UNIQUE CHECK (slot > 0)
                );
                """)
        }
        m.registerMigration("v5_pending_erasure") { db in
            // A deletion whose write-ahead log could not be truncated (another connection held a snapshot
            // that still shows the deleted rows): the next connection that can finish it does, and then
            // deletes this row (see SQLiteErasure).
            try db.execute(sql: """
                CREATE TABLE erasure_pending (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    since_ms INTEGER NOT NULL
                );
                """)
        }
        m.registerMigration("v6_memory_event_origin") { db in
            // Events imported by a restore keep their original time and say which archive they came from;
            // events recorded by the store itself have none.
            try db.execute(sql: "ALTER TABLE memory_events ADD COLUMN origin TEXT")
        }
        m.registerMigration("v7_runs") { db in
            // Run state (SQLiteRunStore). Keys start with the tenant, so one tenant's rows are stored
            // together and no statement reaches a row without naming its tenant. A checkpoint row holds
            // its channels' versions only (`{"channel": version}`); each version is a row of run_channels
            // with the hash of its value, and each distinct value one row of run_values. A deleted run
            // keeps its runs row as a tombstone (deleted_ms set, its metadata emptied). run_audit is
            // append-only.
            try db.execute(sql: """
                CREATE TABLE runs (
                    tenant_id TEXT NOT NULL,
                    id TEXT NOT NULL,
                    agent TEXT NOT NULL,
                    status TEXT NOT NULL,
                    metadata TEXT NOT NULL,
                    created_ms INTEGER NOT NULL,
                    updated_ms INTEGER NOT NULL,
                    finished_ms INTEGER,
                    retention TEXT NOT NULL,
                    legal_hold INTEGER NOT NULL,
                    forked_run_id TEXT,
                    forked_checkpoint_id TEXT,
                    lease_owner TEXT,
                    lease_token INTEGER NOT NULL DEFAULT 0,
                    lease_expires_ms INTEGER,
                    deleted_ms INTEGER,
                    PRIMARY KEY (tenant_id, id)
                ) WITHOUT ROWID;
                CREATE INDEX runs_in_order ON runs(tenant_id, created_ms, id);
                CREATE TABLE run_heads (
                    tenant_id TEXT NOT NULL,
                    run_id TEXT NOT NULL,
                    namespace TEXT NOT NULL,
                    checkpoint_id TEXT NOT NULL,
                    PRIMARY KEY (tenant_id, run_id, namespace)
                ) WITHOUT ROWID;
                CREATE TABLE run_checkpoints (
                    tenant_id TEXT NOT NULL,
                    run_id TEXT NOT NULL,
                    id TEXT NOT NULL,
                    namespace TEXT NOT NULL,
                    parent_id TEXT,
                    step INTEGER NOT NULL,
                    channels TEXT NOT NULL,
                    tasks TEXT NOT NULL,
                    metadata TEXT NOT NULL,
                    created_ms INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, run_id, id)
                ) WITHOUT ROWID;
                CREATE INDEX run_checkpoints_by_step ON run_checkpoints(tenant_id, run_id, namespace, step);
                CREATE TABLE run_channels (
                    tenant_id TEXT NOT NULL,
                    run_id TEXT NOT NULL,
                    namespace TEXT NOT NULL,
                    channel TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    sha256 TEXT NOT NULL,
                    size INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, run_id, namespace, channel, version)
                ) WITHOUT ROWID;
                CREATE INDEX run_channels_by_value ON run_channels(tenant_id, sha256);
                CREATE TABLE run_values (
                    tenant_id TEXT NOT NULL,
                    sha256 TEXT NOT NULL,
                    value TEXT NOT NULL,
                    PRIMARY KEY (tenant_id, sha256)
                ) WITHOUT ROWID;
                CREATE TABLE run_writes (
                    tenant_id TEXT NOT NULL,
                    run_id TEXT NOT NULL,
                    checkpoint_id TEXT NOT NULL,
                    task_id TEXT NOT NULL,
                    idx INTEGER NOT NULL,
                    channel TEXT NOT NULL,
                    value TEXT NOT NULL,
                    PRIMARY KEY (tenant_id, run_id, checkpoint_id, task_id, idx)
                ) WITHOUT ROWID;
                CREATE TABLE run_events (
                    tenant_id TEXT NOT NULL,
                    run_id TEXT NOT NULL,
                    sequence INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    step INTEGER,
                    task_id TEXT,
                    detail TEXT,
                    actor TEXT NOT NULL,
                    at_ms INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, run_id, sequence)
                ) WITHOUT ROWID;
                CREATE TABLE run_audit (
                    tenant_id TEXT NOT NULL,
                    sequence INTEGER NOT NULL,
                    run_id TEXT NOT NULL,
                    action TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    removed TEXT NOT NULL,
                    at_ms INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, sequence)
                ) WITHOUT ROWID;
                CREATE TRIGGER run_audit_no_update BEFORE UPDATE ON run_audit
                BEGIN SELECT RAISE(ABORT, 'run_audit is append-only'); END;
                CREATE TRIGGER run_audit_no_delete BEFORE DELETE ON run_audit
                BEGIN SELECT RAISE(ABORT, 'run_audit is append-only'); END;
                """)
        }
        m.registerMigration("v8_api_keys") { db in
            // API keys (SQLiteAPIKeyStore): the SHA-256 of each key's text, never the text.
            try db.execute(sql: """
                CREATE TABLE api_keys (
                    id TEXT NOT NULL PRIMARY KEY,
                    tenant_id TEXT NOT NULL,
                    name TEXT NOT NULL,
                    scopes TEXT NOT NULL,
                    secret_sha256 BLOB NOT NULL,
                    created_ms INTEGER NOT NULL,
                    revoked_ms INTEGER
                ) WITHOUT ROWID;
                CREATE INDEX api_keys_by_tenant ON api_keys(tenant_id, created_ms, id);
                """)
        }
        return m
    }

    // Chunk rowids never repeat (AUTOINCREMENT): the search cache relies on it to refresh incrementally.
    // Column order matters: small columns first, so that reading metadata for a filter never touches
    // the overflow pages that hold long texts and vectors.

    /// Name of a collection's FTS5 table. Built from the integer collection id only. It indexes the
    /// chunks of the collection's active generation.
    static func ftsName(_ collectionID: Int64) -> String { "fts_\(collectionID)" }
    /// The FTS5 table as an SQL identifier.
    static func ftsTable(_ collectionID: Int64) -> SQL { "\(identifier: ftsName(collectionID))" }

    static func createFTS(_ db: Database, collectionID: Int64) throws {
        try db.execute(literal: "CREATE VIRTUAL TABLE \(ftsTable(collectionID)) USING fts5(text, content='chunks', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2')")
    }
}
