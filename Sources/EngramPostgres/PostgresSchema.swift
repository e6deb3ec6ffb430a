/// One schema change. Append-only: once a migration has shipped, its SQL never changes (the migrator
/// refuses a database whose recorded checksum differs); a change is a new migration.
public struct PostgresMigration: Sendable, Hashable {
    public let version: Int
    public let name: String
    /// Statements, in order, with `{{schema}}` standing for the schema name. (One statement each: the
    /// extended query protocol runs one at a time.)
    public let statements: [String]

    public init(version: Int, name: String, statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }

    /// SHA-256 of the statements: the same for every schema name.
    public var checksum: String { SHA256Hex.hash(statements.joined(separator: "\n;\n")) }

    func sql(schema: String) -> [String] { statements.map { $0.replacingOccurrences(of: "{{schema}}", with: schema) } }
}

import EngramCore

/// Engram's PostgreSQL migrations, oldest first.
public enum PostgresSchema {
    public static let migrations: [PostgresMigration] = [
        // search_text holds the chunk's keyword tokens as Engram folds them (lowercase, no diacritics), so
        // keyword search splits words the same way on every backend without the unaccent extension.
        // Tenant isolation: every statement runs with engram.tenant_id set (SET LOCAL, per transaction), and
        // row-level security is forced, so even the tables' owner sees only that tenant's rows.
        PostgresMigration(version: 1, name: "documents_chunks_tenant_isolation", statements: [
            """
            DO $$
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') THEN
                    RAISE EXCEPTION 'the pgvector extension is not installed in this database: run CREATE EXTENSION vector as a superuser';
                END IF;
            END
            $$
            """,
            """
            CREATE TABLE {{schema}}.collections (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                tenant_id text NOT NULL,
                name text NOT NULL,
                model text NOT NULL,
                revision text NOT NULL,
                dimension integer NOT NULL CHECK (dimension BETWEEN 1 AND 16000),
                distance text NOT NULL CHECK (distance IN ('cosine', 'l2', 'ip')),
                normalized boolean NOT NULL,
                text_search_config regconfig NOT NULL DEFAULT 'simple',
                active_generation integer NOT NULL DEFAULT 1,
                created_at timestamptz NOT NULL DEFAULT now(),
                UNIQUE (tenant_id, name)
            )
            """,
            """
            CREATE TABLE {{schema}}.documents (
                collection_id bigint NOT NULL REFERENCES {{schema}}.collections (id) ON DELETE CASCADE,
                id text NOT NULL,
                tenant_id text NOT NULL,
                source_uri text NOT NULL,
                sha256 text NOT NULL,
                fingerprint text NOT NULL,
                version integer NOT NULL,
                mime text NOT NULL,
                size bigint NOT NULL,
                chunk_count integer NOT NULL,
                metadata jsonb NOT NULL,
                text text NOT NULL,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                PRIMARY KEY (collection_id, id),
                UNIQUE (collection_id, source_uri)
            )
            """,
            """
            CREATE TABLE {{schema}}.chunks (
                collection_id bigint NOT NULL,
                id text NOT NULL,
                tenant_id text NOT NULL,
                document_id text NOT NULL,
                generation integer NOT NULL,
                ordinal integer NOT NULL,
                char_start integer NOT NULL,
                char_end integer NOT NULL,
                token_count integer NOT NULL,
                sha256 text NOT NULL,
                section jsonb NOT NULL,
                metadata jsonb NOT NULL,
                text_search_config regconfig NOT NULL,
                text text NOT NULL,
                search_text text NOT NULL,
                text_search tsvector GENERATED ALWAYS AS (to_tsvector(text_search_config, search_text)) STORED,
                embedding vector,
                PRIMARY KEY (collection_id, id),
                FOREIGN KEY (collection_id, document_id) REFERENCES {{schema}}.documents (collection_id, id) ON DELETE CASCADE
            )
            """,
            """
            CREATE INDEX chunks_by_document ON {{schema}}.chunks (collection_id, document_id)
            """,
            """
            CREATE INDEX chunks_by_generation ON {{schema}}.chunks (collection_id, generation)
            """,
            """
            CREATE INDEX chunks_text_search ON {{schema}}.chunks USING gin (text_search)
            """,
            """
            CREATE INDEX chunks_metadata ON {{schema}}.chunks USING gin (metadata jsonb_path_ops)
            """,
            """
            ALTER TABLE {{schema}}.collections ENABLE ROW LEVEL SECURITY
            """,
            """
            ALTER TABLE {{schema}}.collections FORCE ROW LEVEL SECURITY
            """,
            """
            CREATE POLICY tenant_isolation ON {{schema}}.collections
                USING (tenant_id = current_setting('engram.tenant_id', true))
                WITH CHECK (tenant_id = current_setting('engram.tenant_id', true))
            """,
            """
            ALTER TABLE {{schema}}.documents ENABLE ROW LEVEL SECURITY
            """,
            """
            ALTER TABLE {{schema}}.documents FORCE ROW LEVEL SECURITY
            """,
            """
            CREATE POLICY tenant_isolation ON {{schema}}.documents
                USING (tenant_id = current_setting('engram.tenant_id', true))
                WITH CHECK (tenant_id = current_setting('engram.tenant_id', true))
            """,
            """
            ALTER TABLE {{schema}}.chunks ENABLE ROW LEVEL SECURITY
            """,
            """
            ALTER TABLE {{schema}}.chunks FORCE ROW LEVEL SECURITY
            """,
            """
            CREATE POLICY tenant_isolation ON {{schema}}.chunks
                USING (tenant_id = current_setting('engram.tenant_id', true))
                WITH CHECK (tenant_id = current_setting('engram.tenant_id', true))
            """,
        ]),
    ]
}
