@testable import EngramPostgres
import PostgresNIO
import Testing

@Suite struct PostgresSQLTests {
    @Test func valuesAreBoundAndFragmentsNumberedWhenSent() throws {
        let tenant = "t'; DROP TABLE chunks; --"
        let condition: PostgresSQL = "tenant_id = \(tenant) AND name = \("docs")"
        let statement: PostgresSQL = "SELECT id FROM \(SQLIdentifier(trusted: "engram")).collections WHERE \(condition) AND kind = \("x") LIMIT \(10)"
        let query = statement.query
        #expect(query.sql == "SELECT id FROM engram.collections WHERE tenant_id = $1 AND name = $2 AND kind = $3 LIMIT 10")
        #expect(query.binds.count == 3, "the hostile tenant is a parameter, never text")
        #expect(!query.sql.contains("DROP"))
    }

    @Test func aNamedValueIsOneParameterHoweverOftenItAppears() throws {
        let key = SQLValue("lang")
        let leaf: PostgresSQL = "(m -> \(key)) IS NOT NULL AND m ->> \(key) = \("en")"
        let query = ("SELECT \(leaf) OR \(leaf)" as PostgresSQL).query
        #expect(query.sql == "SELECT (m -> $1) IS NOT NULL AND m ->> $1 = $2 OR (m -> $1) IS NOT NULL AND m ->> $1 = $2")
        #expect(query.binds.count == 2)
    }

    @Test func nilIsNullAndWideConditionsNestShallowly() throws {
        let none: String? = nil
        #expect(("x = \(none)" as PostgresSQL).query.sql == "x = NULL")
        let conditions = (0..<10_000).map { "a = \(String($0))" as PostgresSQL }
        let query = PostgresSQL.boolean(conditions, "OR").query
        #expect(query.binds.count == 10_000)
        var depth = 0, deepest = 0
        for ch in query.sql {
            if ch == "(" { depth += 1; deepest = max(deepest, depth) } else if ch == ")" { depth -= 1 }
        }
        #expect(deepest <= 12, "10,000 conditions nest \(deepest) levels")
    }

    @Test func identifiersAreValidatedBeforeTheyAreSpliced() throws {
        #expect(throws: (any Error).self) { try SQLIdentifier("engram; DROP SCHEMA x", what: "schema") }
        #expect(try SQLIdentifier("engram_2", what: "schema").name == "engram_2")
    }
}
