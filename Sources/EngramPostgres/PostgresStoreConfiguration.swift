import EngramCore
import Foundation
import Logging
import PostgresNIO

/// Where and how to reach PostgreSQL, parsed from a `postgres://` URL.
///
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require&pool_size=N&min_connections=N&keepalive_s=N&statement_timeout_ms=N&connect_timeout_ms=N&schema=NAME&index=hnsw|ivfflat&hnsw_m=N&hnsw_ef_construction=N&hnsw_ef_search=N&ivfflat_lists=N&ivfflat_probes=N&max_scan_tuples=N&exact_threshold=N&index_build_memory_mb=N&text_search_config=NAME&bulk_writers=N]`
public struct PostgresStoreConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    /// Whether connections use TLS (`sslmode` in the URL).
    public var tls: TLSMode
    public var poolSize: Int
    /// Connections kept open even when idle (default 1). The pool opens them at start and never times
    /// them out; the others close after a minute of idleness.
    public var minimumConnections: Int
    /// The pause between keep-alive queries on an idle connection; nil (the default): none. Each time a
    /// connection goes back to the pool, postgres-nio schedules its keep-alive on a new task and cancels
    /// it at the next lease, which costs about 0.4 ms per operation on a 2-core machine. Without it, a
    /// connection a firewall dropped while idle is found out at its next use: reads are retried on a new
    /// connection, writes fail with the error and can be repeated.
    public var keepAlive: Duration?
    /// Per-statement limit (`statement_timeout`); nil: none.
    public var statementTimeout: Duration?
    /// How long opening a connection may take before the store says the server cannot be reached.
    public var connectTimeout: Duration
    /// The schema Engram's tables live in.
    public var schema: String
    /// Vector index settings for ``PostgresVectorStore``.
    public var storeOptions: PostgresVectorStore.Options

    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        /// Plain connections (the default for loopback hosts).
        case disable
        /// TLS when the server offers it (the default otherwise).
        case prefer
        /// TLS or no connection.
        case require
    }

    /// A configuration from its parts (the URL form is ``init(url:)``).
    public init(host: String, port: Int = 5432, username: String, password: String? = nil, database: String, schema: String = "engram",
                tls: TLSMode? = nil, poolSize: Int = 10, minimumConnections: Int = 1, keepAlive: Duration? = nil, statementTimeout: Duration? = nil,
                connectTimeout: Duration = .seconds(10), storeOptions: PostgresVectorStore.Options = PostgresVectorStore.Options()) throws {
        try PostgresStoreConfiguration.validateIdentifier(schema, what: "schema")
        guard poolSize >= 1, (0...poolSize).contains(minimumConnections) else {
            throw EngramError(.invalidConfiguration, "the pool needs at least one connection and at most poolSize kept open, got \(poolSize) and \(minimumConnections)")
        }
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.schema = schema
        self.tls = tls ?? (PostgresStoreConfiguration.isLoopback(host) ? .disable : .prefer)
        self.poolSize = poolSize
        self.minimumConnections = minimumConnections
        self.keepAlive = keepAlive
        self.statementTimeout = statementTimeout
        self.connectTimeout = connectTimeout
        self.storeOptions = storeOptions
    }

    static func isLoopback(_ host: String) -> Bool { host == "localhost" || host.hasPrefix("127.") || host == "::1" }

    /// Parses a `postgres://` URL (the adapter from the command line and environment to this type).
    public init(url: String) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme,
              scheme == "postgres" || scheme == "postgresql" else {
            throw EngramError(.invalidConfiguration, "not a PostgreSQL URL: \(url) (expected postgres://USER@HOST:PORT/DATABASE)")
        }
        guard let host = components.host, !host.isEmpty else {
            throw EngramError(.invalidConfiguration, "PostgreSQL URL has no host: \(url)")
        }
        guard let user = components.user, !user.isEmpty else {
            throw EngramError(.invalidConfiguration, "PostgreSQL URL has no user name: \(url)")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty else {
            throw EngramError(.invalidConfiguration, "PostgreSQL URL has no database name: \(url)")
        }
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] { query[item.name] = item.value ?? "" }
        var tls: TLSMode?
        if let mode = query["sslmode"] {
            guard let t = TLSMode(rawValue: mode) else {
                throw EngramError(.invalidConfiguration, "sslmode must be disable, prefer or require, got '\(mode)'")
            }
            tls = t
        }
        func number(_ key: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
            guard let text = query[key] else { return value }
            guard let n = Int(text), range.contains(n) else {
                throw EngramError(.invalidConfiguration, "\(key) must be a whole number in \(range), got '\(text)'")
            }
            return n
        }
        let poolSize = try number("pool_size", default: 10, range: 1...1000)
        let minimumConnections = try number("min_connections", default: 1, range: 0...poolSize)
        let keepAliveSeconds = try number("keepalive_s", default: 0, range: 0...86_400)
        let statementTimeoutMilliseconds = try number("statement_timeout_ms", default: 0, range: 0...86_400_000)
        let connectTimeoutMilliseconds = try number("connect_timeout_ms", default: 10_000, range: 1...600_000)
        let schema = query["schema"] ?? "engram"
        try PostgresStoreConfiguration.validateIdentifier(schema, what: "schema")
        var options = PostgresVectorStore.Options()
        options.hnswM = try number("hnsw_m", default: options.hnswM, range: 2...100)
        options.hnswEfConstruction = try number("hnsw_ef_construction", default: options.hnswEfConstruction, range: 4...1000)
        options.hnswEfSearch = try number("hnsw_ef_search", default: options.hnswEfSearch, range: 1...1000)
        options.maxScanTuples = try number("max_scan_tuples", default: options.maxScanTuples, range: 1...100_000_000)
        options.exactThreshold = try number("exact_threshold", default: options.exactThreshold, range: 0...100_000_000)
        if let type = query["index"] {
            guard let t = PostgresVectorStore.IndexType(rawValue: type) else {
                throw EngramError(.invalidConfiguration, "index must be hnsw or ivfflat, got '\(type)'")
            }
            options.indexType = t
        }
        if query["ivfflat_lists"] != nil {
            options.ivfflatLists = try number("ivfflat_lists", default: 1, range: 1...32_768)
        }
        options.ivfflatProbes = try number("ivfflat_probes", default: options.ivfflatProbes, range: 1...32_768)
        options.indexBuildMemoryMB = try number("index_build_memory_mb", default: options.indexBuildMemoryMB, range: 1...2_097_151)
        if let config = query["text_search_config"] {
            try PostgresStoreConfiguration.validateIdentifier(config, what: "text_search_config")
            options.textSearchConfig = config
        }
        options.bulkWriters = try number("bulk_writers", default: min(options.bulkWriters, poolSize), range: 1...poolSize)
        try self.init(host: host, port: components.port ?? 5432, username: user, password: components.password, database: database, schema: schema, tls: tls,
                      poolSize: poolSize, minimumConnections: minimumConnections,
                      keepAlive: keepAliveSeconds > 0 ? .seconds(keepAliveSeconds) : nil,
                      statementTimeout: statementTimeoutMilliseconds > 0 ? .milliseconds(statementTimeoutMilliseconds) : nil,
                      connectTimeout: .milliseconds(connectTimeoutMilliseconds), storeOptions: options)
    }

    /// Whole milliseconds of a duration (at least 1 for a positive one).
    static func milliseconds(_ d: Duration) -> Int64 {
        let (seconds, attoseconds) = d.components
        let ms = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return d > .zero ? max(1, ms) : ms
    }

    /// Identifiers Engram puts into SQL text (schema names): lowercase letters, digits and `_`, starting
    /// with a letter, at most 63 bytes. Everything else is a bound parameter.
    public static func validateIdentifier(_ name: String, what: String) throws {
        let ok = !name.isEmpty && name.utf8.count <= 63
            && name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
            && ("a"..."z").contains(name.unicodeScalars.first!)
        guard ok else {
            throw EngramError(.invalidConfiguration, "\(what) name '\(name)' must be 1 to 63 lowercase letters, digits or _ and start with a letter")
        }
    }

    /// The postgres-nio client configuration.
    public var clientConfiguration: PostgresClient.Configuration {
        let mode: PostgresClient.Configuration.TLS = switch tls {
        case .require: .require(.makeClientConfiguration())
        case .prefer: .prefer(.makeClientConfiguration())
        case .disable: .disable
        }
        var config = PostgresClient.Configuration(host: host, port: port, username: username, password: password, database: database, tls: mode)
        config.options.maximumConnections = poolSize
        config.options.minimumConnections = minimumConnections
        config.options.keepAliveBehavior = keepAlive.map { .init(frequency: .milliseconds(Self.milliseconds($0))) }
        config.options.connectTimeout = .milliseconds(Self.milliseconds(connectTimeout))
        if let statementTimeout {
            config.options.additionalStartupParameters = [("statement_timeout", "\(Self.milliseconds(statementTimeout))")]
        }
        return config
    }

    /// Runs `body` with a connected client, and shuts the client down afterwards.
    ///
    /// The server is probed first: when no connection can be made within the connect timeout, this
    /// throws `storage_failure` naming the server instead of waiting (the pool itself retries forever).
    /// - Parameter logger: receives the driver's background messages (connection failures and the like);
    ///   by default they are dropped.
    public func withClient<T>(logger: Logger = Logger(label: "engram.postgres", factory: { _ in SwiftLogNoOpLogHandler() }), _ body: (PostgresClient) async throws -> T) async throws -> T {
        let client = PostgresClient(configuration: clientConfiguration, backgroundLogger: logger)
        let host = self.host, port = self.port, timeout = Int(Self.milliseconds(connectTimeout))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            do {
                try await PostgresStoreConfiguration.probe(client, timeoutMilliseconds: timeout, host: host, port: port)
                return try await body(client)
            } catch let e as EngramError {
                throw e
            } catch {
                throw PostgresStoreConfiguration.describe(error, server: "\(host):\(port)")
            }
        }
    }

    static func probe(_ client: PostgresClient, timeoutMilliseconds: Int, host: String, port: Int) async throws {
        let reached = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await client.execute("SELECT 1")
                return true
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(timeoutMilliseconds))
                return false
            }
            defer { group.cancelAll() }
            return try await group.next() ?? false
        }
        guard reached else {
            throw EngramError(.storageFailure, "cannot connect to PostgreSQL at \(host):\(port) within \(timeoutMilliseconds) ms (is the server running? check the host, port, user and database in the URL)")
        }
    }

    /// Turns a driver error into an `EngramError` with the server's message.
    /// - Parameter server: `host:port`, named in messages that have no server text.
    public static func describe(_ error: any Error, server: String? = nil) -> EngramError {
        if let e = error as? EngramError { return e }
        if let t = error as? PostgresTransactionError, let inner = t.closureError ?? t.beginError ?? t.commitError {
            return describe(inner, server: server)
        }
        if error is ConnectionClosedByServer {
            return EngramError(.storageFailure, "PostgreSQL: the connection was closed by the server (the transaction was rolled back)", underlying: error)
        }
        let at = server.map { " at \($0)" } ?? ""
        if let e = error as? PSQLError {
            if let message = e.serverInfo?[.message] {
                let code = e.serverInfo?[.sqlState] ?? ""
                if code == "25006" {
                    return EngramError(.unsupported, "the store was opened for reading: nothing may be written to it (PostgreSQL: \(message))", underlying: e)
                }
                return EngramError(.storageFailure, "PostgreSQL: \(message)\(code.isEmpty ? "" : " (SQLSTATE \(code))")", underlying: e)
            }
            return EngramError(.storageFailure, "PostgreSQL\(at): \(e.code)", underlying: e)
        }
        return EngramError(.storageFailure, "PostgreSQL\(at): \(error)", underlying: error)
    }
}
