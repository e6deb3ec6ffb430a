import EngramCore
import EngramPostgres
import PostgresNIO
import Testing

@Suite("PostgreSQL configuration")
struct PostgresConfigurationTests {
    /// The typed form: durations and a TLS mode, with the URL form as an adapter that builds the same value.
    @Test func typedPartsAndTheURLBuildTheSameConfiguration() throws {
        let typed = try PostgresStoreConfiguration(host: "db.example", port: 6543, username: "app", database: "rag", schema: "mem", tls: .require,
                                                   poolSize: 4, keepAlive: .seconds(45), statementTimeout: .milliseconds(1500), connectTimeout: .seconds(3))
        let parsed = try PostgresStoreConfiguration(url: "postgres://app@db.example:6543/rag?sslmode=require&pool_size=4&keepalive_s=45&statement_timeout_ms=1500&connect_timeout_ms=3000&schema=mem")
        for c in [typed, parsed] {
            #expect(c.tls == .require && c.poolSize == 4 && c.keepAlive == .seconds(45) && c.statementTimeout == .milliseconds(1500) && c.connectTimeout == .seconds(3))
            let client = c.clientConfiguration
            #expect(client.options.connectTimeout == .milliseconds(3000) && client.options.keepAliveBehavior?.frequency == .milliseconds(45_000))
            #expect(client.options.additionalStartupParameters.first.map { $0.0 == "statement_timeout" && $0.1 == "1500" } == true)
        }
        #expect(try PostgresStoreConfiguration(host: "localhost", username: "u", database: "d").tls == .disable, "loopback: no TLS by default")
        #expect(try PostgresStoreConfiguration(host: "db.example", username: "u", database: "d").tls == .prefer)
        #expect(try PostgresStoreConfiguration(host: "h", username: "u", database: "d").clientConfiguration.options.additionalStartupParameters.isEmpty)
        #expect(throws: EngramError.self) { try PostgresStoreConfiguration(host: "h", username: "u", database: "d", schema: "Bad Schema") }
        #expect(throws: EngramError.self) { try PostgresStoreConfiguration(host: "h", username: "u", database: "d", poolSize: 2, minimumConnections: 3) }
    }
}
