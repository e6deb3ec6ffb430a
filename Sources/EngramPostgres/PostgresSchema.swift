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
        // Long-term memory. `terms` holds the content's distinct keyword tokens as Engram folds them, for
        // keyword recall (GIN) and its share of matched words. `memory_events` is append-only: a trigger
        // refuses UPDATE, DELETE and TRUNCATE for everyone, and the application role is not even granted
        // them. `memory_tenants` lists tenant ids only (no content, no row-level security), so that a
        // sweep of every tenant can visit each one inside its own tenant-scoped transaction.
        PostgresMigration(version: 2, name: "memories_audit", statements: [
            """
            CREATE TABLE {{schema}}.memories (
                id text PRIMARY KEY,
                tenant_id text NOT NULL,
                subject text NOT NULL,
                namespace text NOT NULL,
                kind text NOT NULL,
                content text NOT NULL,
                content_sha256 text NOT NULL,
                terms text[] NOT NULL,
                metadata jsonb NOT NULL,
                importance double precision NOT NULL CHECK (importance BETWEEN 0 AND 1),
                provenance jsonb NOT NULL,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                accessed_at timestamptz,
                access_count integer NOT NULL,
                expires_at timestamptz,
                retention text NOT NULL,
                legal_hold boolean NOT NULL,
                supersedes text,
                embedding_identity text,
                embedding vector,
                UNIQUE (tenant_id, subject, namespace, content_sha256)
            )
            """,
            """
            CREATE INDEX memories_in_order ON {{schema}}.memories (tenant_id, created_at, id)
            """,
            """
            CREATE INDEX memories_by_expiry ON {{schema}}.memories (expires_at) WHERE expires_at IS NOT NULL
            """,
            """
            CREATE INDEX memories_terms ON {{schema}}.memories USING gin (terms)
            """,
            """
            CREATE TABLE {{schema}}.memory_events (
                sequence bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                tenant_id text NOT NULL,
                memory_id text NOT NULL,
                event text NOT NULL,
                actor text NOT NULL,
                reason text NOT NULL,
                content_sha256 text NOT NULL,
                at timestamptz NOT NULL
            )
            """,
            """
            CREATE INDEX memory_events_by_memory ON {{schema}}.memory_events (tenant_id, memory_id)
            """,
            """
            CREATE FUNCTION {{schema}}.memory_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'memory_events is append-only';
            END
            $$
            """,
            """
            CREATE TRIGGER memory_events_append_only BEFORE UPDATE OR DELETE ON {{schema}}.memory_events
                FOR EACH ROW EXECUTE FUNCTION {{schema}}.memory_events_append_only()
            """,
            """
            CREATE TRIGGER memory_events_no_truncate BEFORE TRUNCATE ON {{schema}}.memory_events
                FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.memory_events_append_only()
            """,
            """
            CREATE TABLE {{schema}}.memory_tenants (tenant_id text PRIMARY KEY)
            """,
            """
            ALTER TABLE {{schema}}.memories ENABLE ROW LEVEL SECURITY
            """,
            """
            ALTER TABLE {{schema}}.memories FORCE ROW LEVEL SECURITY
            """,
            """
            CREATE POLICY tenant_isolation ON {{schema}}.memories
                USING (tenant_id = current_setting('engram.tenant_id', true))
                WITH CHECK (tenant_id = current_setting('engram.tenant_id', true))
            """,
            """
            ALTER TABLE {{schema}}.memory_events ENABLE ROW LEVEL SECURITY
            """,
            """
            ALTER TABLE {{schema}}.memory_events FORCE ROW LEVEL SECURITY
            """,
            """
            CREATE POLICY tenant_isolation ON {{schema}}.memory_events
                USING (tenant_id = current_setting('engram.tenant_id', true))
                WITH CHECK (tenant_id = current_setting('engram.tenant_id', true))
            """,
        ]),
        // A memory row with a 384-d vector is about 2 kB, where PostgreSQL starts compressing: every recall
        // then decompressed every vector it scored (3.3x slower on 90,000 memories). Rows are left alone up
        // to a page; larger ones are still moved out of line.
        PostgresMigration(version: 3, name: "memories_vectors_uncompressed", statements: [
            """
            ALTER TABLE {{schema}}.memories SET (toast_tuple_target = 8160)
            """,
        ]),
        // The keyword tokens were stored twice: as search_text and as the text search vector generated from
        // it. The insert now computes the vector from the tokens, passed as a parameter, and the tokens are
        // not kept: a load writes 600 bytes less per chunk, and the heap that filtered exact scans read is a
        // quarter smaller. Existing vectors stay as they are.
        PostgresMigration(version: 4, name: "chunks_tokens_not_stored", statements: [
            """
            ALTER TABLE {{schema}}.chunks ALTER COLUMN text_search DROP EXPRESSION
            """,
            """
            ALTER TABLE {{schema}}.chunks DROP COLUMN search_text
            """,
        ]),
        // A chunk id may exist once per generation: a reindex fills the next generation with copies of the
        // active chunks beside them. The key leads with the generation, so it also serves every lookup the
        // (collection, generation) index served, and that index goes (one index less to write per chunk).
        PostgresMigration(version: 5, name: "chunk_generations", statements: [
            """
            ALTER TABLE {{schema}}.collections ADD COLUMN pending_generation integer, ADD COLUMN pending_identity text
            """,
            """
            ALTER TABLE {{schema}}.chunks DROP CONSTRAINT chunks_pkey
            """,
            """
            ALTER TABLE {{schema}}.chunks ADD PRIMARY KEY (collection_id, generation, id)
            """,
            """
            DROP INDEX {{schema}}.chunks_by_generation
            """,
        ]),
        // The keyword (GIN) index covered every collection, so each chunk written paid for it: 30% of a
        // bulk load measured with psql (100,000 chunks: 12.5 s with it, 8.6 s without). Each collection
        // generation now gets its own, built like its vector index: after a bulk load, or once it holds
        // enough chunks to need one (PostgresVectorStore.buildIndexes).
        PostgresMigration(version: 6, name: "keyword_index_per_generation", statements: [
            """
            DROP INDEX {{schema}}.chunks_text_search
            """,
        ]),
        // Events imported by a restore keep their original time and say which archive they came from;
        // events recorded by the store itself have none.
        PostgresMigration(version: 7, name: "memory_event_origin", statements: [
            """
            ALTER TABLE {{schema}}.memory_events ADD COLUMN origin text
            """,
        ]),
        // Run state (PostgresRunStore), tenant-isolated like every other table. A checkpoint row holds its
        // channels' versions only (`{"channel":version}`, kept as compact `json` text: half the size of
        // jsonb for this shape); each version is a row of run_channels with the SHA-256 of its value (32
        // bytes, not hex), each distinct value of a tenant one row of run_values, kept as the exact
        // canonical JSON text that was hashed. A deleted run keeps its runs row as a tombstone. run_audit is
        // append-only (a trigger refuses UPDATE, DELETE and TRUNCATE; the application role is not granted
        // them); run_tenants lists tenant ids only, for a sweep of every tenant.
        PostgresMigration(version: 8, name: "runs", statements: [
            """
            CREATE TABLE {{schema}}.runs (
                tenant_id text NOT NULL,
                id text NOT NULL,
                agent text NOT NULL,
                status text NOT NULL,
                metadata jsonb NOT NULL,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                finished_at timestamptz,
                retention jsonb NOT NULL,
                legal_hold boolean NOT NULL,
                forked_run_id text,
                forked_checkpoint_id text,
                lease_owner text,
                lease_token bigint NOT NULL DEFAULT 0,
                lease_expires_at timestamptz,
                deleted_at timestamptz,
                PRIMARY KEY (tenant_id, id)
            )
            """,
            """
            CREATE INDEX runs_in_order ON {{schema}}.runs (tenant_id, created_at, id)
            """,
            """
            CREATE TABLE {{schema}}.run_heads (
                tenant_id text NOT NULL,
                run_id text NOT NULL,
                namespace text NOT NULL,
                checkpoint_id text NOT NULL,
                PRIMARY KEY (tenant_id, run_id, namespace)
            )
            """,
            """
            CREATE TABLE {{schema}}.run_checkpoints (
                tenant_id text NOT NULL,
                run_id text NOT NULL,
                id text NOT NULL,
                namespace text NOT NULL,
                parent_id text,
                step integer NOT NULL,
                channels json NOT NULL,
                tasks jsonb NOT NULL,
                metadata jsonb NOT NULL,
                created_at timestamptz NOT NULL,
                PRIMARY KEY (tenant_id, run_id, id)
            )
            """,
            """
            CREATE INDEX run_checkpoints_by_step ON {{schema}}.run_checkpoints (tenant_id, run_id, namespace, step)
            """,
            """
            CREATE TABLE {{schema}}.run_channels (
                tenant_id text NOT NULL,
                run_id text NOT NULL,
                namespace text NOT NULL,
                channel text NOT NULL,
                version integer NOT NULL,
                sha256 bytea NOT NULL,
                size integer NOT NULL,
                PRIMARY KEY (tenant_id, run_id, namespace, channel, version)
            )
            """,
            """
            CREATE INDEX run_channels_by_value ON {{schema}}.run_channels (tenant_id, sha256)
            """,
            """
            CREATE TABLE {{schema}}.run_values (
                tenant_id text NOT NULL,
                sha256 bytea NOT NULL,
                value text NOT NULL,
                PRIMARY KEY (tenant_id, sha256)
            )
            """,
            """
            CREATE TABLE {{schema}}.run_writes (
                tenant_id text NOT NULL,
                run_id text NOT NULL,
                checkpoint_id text NOT NULL,
                task_id text NOT NULL,
                idx integer NOT NULL,
                channel text NOT NULL,
                value text NOT NULL,
                PRIMARY KEY (tenant_id, run_id, checkpoint_id, task_id, idx)
            )
            """,
            """
            CREATE TABLE {{schema}}.run_events (
                tenant_id text NOT NULL,
                run_id text NOT NULL,
                sequence bigint NOT NULL,
                kind text NOT NULL,
                step integer,
                task_id text,
                detail text,
                actor text NOT NULL,
                at timestamptz NOT NULL,
                PRIMARY KEY (tenant_id, run_id, sequence)
            )
            """,
            """
            CREATE TABLE {{schema}}.run_audit (
                tenant_id text NOT NULL,
                sequence bigint NOT NULL,
                run_id text NOT NULL,
                action text NOT NULL,
                actor text NOT NULL,
                reason text NOT NULL,
                removed text NOT NULL,
                at timestamptz NOT NULL,
                PRIMARY KEY (tenant_id, sequence)
            )
            """,
            """
            CREATE FUNCTION {{schema}}.run_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'run_audit is append-only';
            END
            $$
            """,
            """
            CREATE TRIGGER run_audit_append_only BEFORE UPDATE OR DELETE ON {{schema}}.run_audit
                FOR EACH ROW EXECUTE FUNCTION {{schema}}.run_audit_append_only()
            """,
            """
            CREATE TRIGGER run_audit_no_truncate BEFORE TRUNCATE ON {{schema}}.run_audit
                FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.run_audit_append_only()
            """,
            """
            CREATE TABLE {{schema}}.run_tenants (tenant_id text PRIMARY KEY)
            """,
            // A writer's next checkpoint, planned by Engram from the checkpoint it wrote last, in one statement
            // outside any explicit transaction (its own implicit one, whose tenant it sets first): written only
            // if the run's lease is still the writer's and the namespace's head is still the parent (both rows
            // locked, the run's first as every writer does, so a concurrent writer from the same parent waits
            // and then finds the head moved); it answers whether it wrote, and changes nothing when it did not.
            // The statements' plans are made once per session (generic plans: every lookup is by a whole key),
            // which an ad-hoc statement of this size would pay for on every step.
            """
            CREATE FUNCTION {{schema}}.run_advance(
                p_tenant text, p_run text, p_namespace text, p_parent text, p_token bigint, p_owner text,
                p_id text, p_step integer, p_channels json, p_tasks jsonb, p_metadata jsonb, p_created timestamptz,
                p_value_shas text[], p_values text[], p_names text[], p_versions integer[], p_version_shas text[], p_sizes integer[]
            ) RETURNS boolean LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
            BEGIN
                PERFORM set_config('engram.tenant_id', p_tenant, true);
                PERFORM 1 FROM {{schema}}.runs r
                JOIN {{schema}}.run_heads h ON h.tenant_id = r.tenant_id AND h.run_id = r.id AND h.namespace = p_namespace
                WHERE r.tenant_id = p_tenant AND r.id = p_run AND r.deleted_at IS NULL AND r.status IN ('running', 'waiting')
                  AND r.lease_token = p_token AND r.lease_owner = p_owner AND h.checkpoint_id = p_parent
                FOR UPDATE OF r, h;
                IF NOT FOUND THEN
                    RETURN false;
                END IF;
                INSERT INTO {{schema}}.run_values (tenant_id, sha256, value)
                    SELECT p_tenant, decode(s, 'hex'), x FROM unnest(p_value_shas, p_values) AS u(s, x) ON CONFLICT DO NOTHING;
                INSERT INTO {{schema}}.run_channels (tenant_id, run_id, namespace, channel, version, sha256, size)
                    SELECT p_tenant, p_run, p_namespace, n, ver, decode(s, 'hex'), sz FROM unnest(p_names, p_versions, p_version_shas, p_sizes) AS u(n, ver, s, sz);
                INSERT INTO {{schema}}.run_checkpoints (tenant_id, run_id, id, namespace, parent_id, step, channels, tasks, metadata, created_at)
                    VALUES (p_tenant, p_run, p_id, p_namespace, p_parent, p_step, p_channels, p_tasks, p_metadata, p_created);
                UPDATE {{schema}}.run_heads SET checkpoint_id = p_id WHERE tenant_id = p_tenant AND run_id = p_run AND namespace = p_namespace;
                UPDATE {{schema}}.runs SET updated_at = p_created WHERE tenant_id = p_tenant AND id = p_run;
                RETURN true;
            END
            $$
            """,
            // Several writers' next checkpoints (of any runs and tenants) in one statement: run_advance for each
            // in turn; the answer says, for each, whether it was written. The values and versions arrays are
            // flat, each element tagged with the 1-based position of its checkpoint (p_value_of, p_version_of).
            """
            CREATE FUNCTION {{schema}}.run_advance_many(
                p_tenants text[], p_runs text[], p_namespaces text[], p_parents text[], p_tokens bigint[], p_owners text[],
                p_ids text[], p_steps integer[], p_channels json[], p_tasks jsonb[], p_metadata jsonb[], p_created timestamptz[],
                p_value_of integer[], p_value_shas text[], p_values text[],
                p_version_of integer[], p_names text[], p_versions integer[], p_version_shas text[], p_sizes integer[]
            ) RETURNS boolean[] LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
            DECLARE
                written boolean[] := '{}';
            BEGIN
                FOR i IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP
                    written := written || {{schema}}.run_advance(
                        p_tenants[i], p_runs[i], p_namespaces[i], p_parents[i], p_tokens[i], p_owners[i],
                        p_ids[i], p_steps[i], p_channels[i], p_tasks[i], p_metadata[i], p_created[i],
                        ARRAY(SELECT s FROM unnest(p_value_of, p_value_shas) AS u(o, s) WHERE o = i),
                        ARRAY(SELECT x FROM unnest(p_value_of, p_values) AS u(o, x) WHERE o = i),
                        ARRAY(SELECT n FROM unnest(p_version_of, p_names) AS u(o, n) WHERE o = i),
                        ARRAY(SELECT v FROM unnest(p_version_of, p_versions) AS u(o, v) WHERE o = i),
                        ARRAY(SELECT s FROM unnest(p_version_of, p_version_shas) AS u(o, s) WHERE o = i),
                        ARRAY(SELECT z FROM unnest(p_version_of, p_sizes) AS u(o, z) WHERE o = i));
                END LOOP;
                RETURN written;
            END
            $$
            """,
            // Checkpoints with their channels' hashes and sizes (and values): one by id (in p_namespace
            // unless it is null), the namespace's latest (p_id and p_limit null), or its newest p_limit
            // before step p_before. Each channel is found by its whole key.
            """
            CREATE FUNCTION {{schema}}.run_checkpoint_rows(
                p_tenant text, p_run text, p_namespace text, p_id text, p_limit integer, p_before integer, p_values boolean
            ) RETURNS TABLE (id text, namespace text, parent_id text, step integer, tasks text, metadata text, created_at timestamptz,
                             channel text, version integer, sha256 text, size integer, value text)
            LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
            #variable_conflict use_column
            DECLARE
                ids text[];
            BEGIN
                IF p_id IS NOT NULL THEN
                    ids := ARRAY[p_id];
                ELSIF p_limit IS NULL THEN
                    SELECT ARRAY[h.checkpoint_id] INTO ids FROM {{schema}}.run_heads h
                    WHERE h.tenant_id = p_tenant AND h.run_id = p_run AND h.namespace = p_namespace;
                ELSE
                    SELECT array_agg(s.id ORDER BY s.step DESC) INTO ids FROM (
                        SELECT s.id, s.step FROM {{schema}}.run_checkpoints s
                        WHERE s.tenant_id = p_tenant AND s.run_id = p_run AND s.namespace = p_namespace AND (p_before IS NULL OR s.step < p_before)
                        ORDER BY s.step DESC LIMIT p_limit) s;
                END IF;
                -- Each row is looked up by its whole key in a subquery the planner may not flatten (OFFSET 0):
                -- a plan made before the tables' statistics caught up scanned every checkpoint and version
                -- of the run instead.
                RETURN QUERY
                    SELECT c.id, c.namespace, c.parent_id, c.step, c.tasks::text, c.metadata::text, c.created_at, ch.key, ch.version, encode(ch.sha256, 'hex'), ch.size, ch.value
                    FROM unnest(ids) AS i(id)
                    CROSS JOIN LATERAL (
                        SELECT * FROM {{schema}}.run_checkpoints c WHERE c.tenant_id = p_tenant AND c.run_id = p_run AND c.id = i.id OFFSET 0
                    ) c
                    LEFT JOIN LATERAL (
                        SELECT j.key, j.value::integer AS version, rc.sha256, rc.size,
                               CASE WHEN p_values THEN (SELECT v.value FROM {{schema}}.run_values v WHERE v.tenant_id = c.tenant_id AND v.sha256 = rc.sha256 OFFSET 0) END AS value
                        FROM json_each_text(c.channels) j
                        LEFT JOIN LATERAL (
                            SELECT rc.sha256, rc.size FROM {{schema}}.run_channels rc
                            WHERE rc.tenant_id = c.tenant_id AND rc.run_id = c.run_id AND rc.namespace = c.namespace AND rc.channel = j.key AND rc.version = j.value::integer
                            OFFSET 0
                        ) rc ON true
                    ) ch ON true
                    WHERE p_id IS NULL OR p_namespace IS NULL OR c.namespace = p_namespace
                    ORDER BY c.step DESC, c.id;
            END
            $$
            """,
            """
            ALTER TABLE {{schema}}.runs ENABLE ROW LEVEL SECURITY
            """,
            """
            ALTER TABLE {{schema}}.runs FORCE ROW LEVEL SECURITY
            """,
            """
            CREATE POLICY tenant_isolation ON {{schema}}.runs
                USING (tenant_id = current_setting('engram.tenant_id', true))
                WITH CHECK (tenant_id = current_setting('engram.tenant_id', true))
            """,
            """
            ALTER TABLE {{schema}}.run_heads ENABLE ROW LEVEL SECURITY
            """,
            """
            ALTER TABLE {{schema}}.run_heads FORCE ROW LEVEL SECURITY
            """,
            """
            CREATE POLICY tenant_isolation ON {{schema}}.run_heads
                USING (tenant_id = current_setting('engram.tenant_id', true))
                WITH CHECK (tenant_id = current_setting('engram.tenant_id', true))
            """,
            """
            ALTER TABLE {{schema}}.run_checkpoints ENABLE ROW LEVEL SECURITY
            """,
            """
            ALTER TABLE {{schema}}.run_checkpoints FORCE ROW LEVEL SECURITY
            """,
            """
            CREATE POLICY tenant_isolation ON {{schema}}.run_checkpoints
                USING (tenant_id = current_setting('engram.tenant_id', true))
                WITH CHECK (tenant_id = current_setting('engram.tenant_id', true))
            """,
            """
            ALTER TABLE {{schema}}.run_channels ENABLE ROW LEVEL SECURITY
            """,
            """
            ALTER TABLE {{schema}}.run_channels FORCE ROW LEVEL SECURITY
            """,
            """
            CREATE POLICY tenant_isolation ON {{schema}}.run_channels
                USING (tenant_id = current_setting('engram.tenant_id', true))
                WITH CHECK (tenant_id = current_setting('engram.tenant_id', true))
            """,
            """
            ALTER TABLE {{schema}}.run_values ENABLE ROW LEVEL SECURITY
            """,
            """
            ALTER TABLE {{schema}}.run_values FORCE ROW LEVEL SECURITY
            """,
            """
            CREATE POLICY tenant_isolation ON {{schema}}.run_values
                USING (tenant_id = current_setting('engram.tenant_id', true))
                WITH CHECK (tenant_id = current_setting('engram.tenant_id', true))
            """,
            """
            ALTER TABLE {{schema}}.run_writes ENABLE ROW LEVEL SECURITY
            """,
            """
            ALTER TABLE {{schema}}.run_writes FORCE ROW LEVEL SECURITY
            """,
            """
            CREATE POLICY tenant_isolation ON {{schema}}.run_writes
                USING (tenant_id = current_setting('engram.tenant_id', true))
                WITH CHECK (tenant_id = current_setting('engram.tenant_id', true))
            """,
            """
            ALTER TABLE {{schema}}.run_events ENABLE ROW LEVEL SECURITY
            """,
            """
            ALTER TABLE {{schema}}.run_events FORCE ROW LEVEL SECURITY
            """,
            """
            CREATE POLICY tenant_isolation ON {{schema}}.run_events
                USING (tenant_id = current_setting('engram.tenant_id', true))
                WITH CHECK (tenant_id = current_setting('engram.tenant_id', true))
            """,
            """
            ALTER TABLE {{schema}}.run_audit ENABLE ROW LEVEL SECURITY
            """,
            """
            ALTER TABLE {{schema}}.run_audit FORCE ROW LEVEL SECURITY
            """,
            """
            CREATE POLICY tenant_isolation ON {{schema}}.run_audit
                USING (tenant_id = current_setting('engram.tenant_id', true))
                WITH CHECK (tenant_id = current_setting('engram.tenant_id', true))
            """,
        ]),
        // API keys: the SHA-256 of each key's text, never the text. A request names no tenant before it is
        // authenticated, so a second policy shows a key's row (for reading only) to a session that presents
        // that key's hash in engram.key_sha256: only the holder of the key can compute it. Every other
        // statement sees, adds and changes only the keys of the tenant in engram.tenant_id.
        PostgresMigration(version: 9, name: "api_keys", statements: [
            """
            CREATE TABLE {{schema}}.api_keys (
                id text PRIMARY KEY,
                tenant_id text NOT NULL,
                name text NOT NULL,
                scopes text NOT NULL,
                secret_sha256 bytea NOT NULL CHECK (octet_length(secret_sha256) = 32),
                created_at timestamptz NOT NULL,
                revoked_at timestamptz
            )
            """,
            """
            CREATE INDEX api_keys_by_tenant ON {{schema}}.api_keys (tenant_id, created_at, id)
            """,
            """
            ALTER TABLE {{schema}}.api_keys ENABLE ROW LEVEL SECURITY
            """,
            """
            ALTER TABLE {{schema}}.api_keys FORCE ROW LEVEL SECURITY
            """,
            """
            CREATE POLICY tenant_isolation ON {{schema}}.api_keys
                USING (tenant_id = current_setting('engram.tenant_id', true))
                WITH CHECK (tenant_id = current_setting('engram.tenant_id', true))
            """,
            """
            CREATE POLICY key_presented ON {{schema}}.api_keys FOR SELECT
                USING (secret_sha256 = decode(current_setting('engram.key_sha256', true), 'hex'))
            """,
        ]),
    ]
}
