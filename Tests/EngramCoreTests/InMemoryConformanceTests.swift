import EngramCore
import EngramTesting
import Foundation
import Testing

@Suite("In-memory store conformance")
struct InMemoryConformanceTests {
    @Test(arguments: VectorStoreConformance.cases)
    func conformance(_ check: ConformanceCase) async throws {
        try await check.run(on: InMemoryVectorStore())
    }
}

@Suite("In-memory memory store conformance")
struct InMemoryMemoryConformanceTests {
    @Test(arguments: MemoryStoreConformance.cases)
    func conformance(_ check: MemoryConformanceCase) async throws {
        let clock = TestClock()
        try await check.run(on: InMemoryMemoryStore(now: clock.function), clock: clock)
    }
}

@Suite("In-memory run store conformance")
struct InMemoryRunConformanceTests {
    @Test(arguments: RunStoreConformance.cases)
    func conformance(_ check: RunConformanceCase) async throws {
        let clock = TestClock()
        try await check.run(on: InMemoryRunStore(now: clock.function), clock: clock)
    }
}

@Suite("Retention policies")
struct RetentionPolicyTests {
    @Test func policiesParseAndComputeExpiry() throws {
        let p = try RetentionPolicies.parse("session=1d, chat=12h,quick=90s , archive=forever,tick=30m")
        let now = Date(timeIntervalSince1970: 1_000_000)
        #expect(try p.expiry(of: "session", from: now) == now.addingTimeInterval(86_400))
        #expect(try p.expiry(of: "chat", from: now) == now.addingTimeInterval(43_200))
        #expect(try p.expiry(of: "quick", from: now) == now.addingTimeInterval(90))
        #expect(try p.expiry(of: "tick", from: now) == now.addingTimeInterval(1_800))
        #expect(try p.expiry(of: "archive", from: now) == nil)
        #expect(throws: EngramError.self) { try p.expiry(of: "default", from: now) }
        for bad in ["", "session", "session=", "session=1w", "session=-1d", "session=0d", "bad name=1d", "x=1d;drop"] {
            #expect(throws: EngramError.self, "\(bad)") { try RetentionPolicies.parse(bad) }
        }
        #expect(try RetentionPolicies.standard.expiry(of: "default", from: now) == now.addingTimeInterval(365 * 86_400))
    }
}

@Suite("Metadata values")
struct MetadataValueTests {
    @Test func canonicalDatesRoundTripAtMillisecondPrecision() throws {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<2000 {
            let t = Double(rng.next() % 4_000_000_000_000) / 1000 + rng.nextDouble() / 1000
            let text = MetadataValue.canonicalDateString(Date(timeIntervalSince1970: t))
            let parsed = try #require(MetadataValue.parseDate(text))
            #expect(MetadataValue.canonicalDateString(parsed) == text)
            #expect(MetadataValue.milliseconds(parsed) == Int64((t * 1000).rounded()))
        }
        #expect(MetadataValue.canonicalDateString(Date(timeIntervalSince1970: 0.5)) == "1970-01-01T00:00:00.500Z")
        #expect(MetadataValue.parseDate("2024-05-01").map(MetadataValue.canonicalDateString) == "2024-05-01T00:00:00.000Z")
        #expect(MetadataValue.parseDate("2024-05-01T10:00:00+02:00").map(MetadataValue.canonicalDateString) == "2024-05-01T08:00:00.000Z")
        #expect(MetadataValue.parseDate("yesterday") == nil)
    }

    @Test func metadataJSONRoundTrip() throws {
        let m: Metadata = ["s": .string("x\"y"), "i": .int(-3), "d": .double(2.5), "b": .bool(true), "n": .null,
                           "t": .date(Date(timeIntervalSince1970: 1_700_000_000.123)), "a": .array([.string("a"), .int(1)])]
        #expect(try Metadata.parse(json: m.canonicalJSON) == m)
        #expect(m.canonicalJSON.hasPrefix(#"{"a":["a",1],"b":true,"d":2.5,"i":-3,"n":null,"s":"x\"y","t":{"$date":"2023-11-14T22:13:20.123Z"}}"#))
    }
}

@Suite("In-memory API key store conformance")
struct InMemoryAPIKeyConformanceTests {
    @Test(arguments: APIKeyStoreConformance.cases)
    func conformance(_ check: APIKeyConformanceCase) async throws {
        try await check.run(on: InMemoryAPIKeyStore())
    }
}
