import EngramCore
import EngramPostgres
import EngramTesting
import PostgresNIO
import Testing

@Suite("PostgreSQL store conformance", .enabled(if: PostgresTestEnvironment.available))
struct PostgresConformanceTests {
    @Test(arguments: VectorStoreConformance.cases)
    func conformance(_ check: ConformanceCase) async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            try await PostgresMigrator(schema: config.schema).migrate(client)
            try await check.run(on: PostgresVectorStore(client: client, schema: config.schema))
        }
    }
}
