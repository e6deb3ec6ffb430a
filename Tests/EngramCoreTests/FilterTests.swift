import EngramCore
import EngramTesting
import Testing

@Suite("Filter language")
struct FilterTests {
    @Test func readableFormParsesToTheExpectedTree() throws {
        let f = try Filter.parse(#"lang == "en" and (year >= 2020 or tag in ["a", "b"])"#)
        #expect(f == .and([
            .compare("lang", .eq, .string("en")),
            .or([.compare("year", .gte, .int(2020)), .oneOf("tag", [.string("a"), .string("b")])]),
        ]))
        #expect(try Filter.parse("not draft == true AND `odd key` exists") == .and([.not(.compare("draft", .eq, .bool(true))), .exists("odd key", true)]))
        #expect(try Filter.parse("x != -1.5e3 or y not in [] or z not exists") == .or([.compare("x", .ne, .double(-1500)), .noneOf("y", []), .exists("z", false)]))
        #expect(try Filter.parse("title contains 'it\\'s'") == .contains("title", .string("it's")))
    }

    @Test func jsonFormParsesToTheExpectedTree() throws {
        let f = try Filter.parseJSON(#"{"lang": {"$eq": "en"}, "$or": [{"year": {"$gte": 2020}}, {"tag": {"$in": ["a", "b"]}}]}"#)
        #expect(f == .and([
            .compare("lang", .eq, .string("en")),
            .or([.compare("year", .gte, .int(2020)), .oneOf("tag", [.string("a"), .string("b")])]),
        ]))
        #expect(try Filter.parseJSON(#"{"lang": "en"}"#) == .compare("lang", .eq, .string("en")))
    }

    @Test(arguments: [
        ("lang == ", "position 9", "end of filter"),
        (#"lang ~ "x""#, "position 6", "'~'"),
        (#"lang == "en" and"#, "position 17", "end of filter"),
        (#"(lang == "en""#, "position 14", "expected ')'"),
        (#"lang === "en""#, "position 8", "'='"),
        (#"lang == "en" lang"#, "position 14", "'lang'"),
        ("year >= true", "type mismatch", ">="),
        (#"tags in "a""#, "position 9", "'['"),
        (#"lang == ["a"]"#, "type mismatch at position 9", "list"),
        (#"d > date("tuesday")"#, "position 10", "invalid date"),
        (#"lang == "unterminated"#, "position 9", "unterminated"),
    ])
    func readableErrorsNameThePositionAndToken(_ input: String, _ position: String, _ token: String) {
        do {
            _ = try Filter.parse(input)
            Issue.record("expected an error for \(input)")
        } catch let e as EngramError {
            #expect(e.code == .invalidFilter)
            #expect(e.message.contains(position), "\(e.message)")
            #expect(e.message.contains(token), "\(e.message)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test(arguments: [
        (#"{"lang": {"$regex": "e.*"}}"#, "unknown filter operator '$regex' for key 'lang'"),
        (#"{"$nor": []}"#, "unknown filter operator '$nor'"),
        (#"{"lang": {"$eq": "en"}"#, "malformed JSON at byte 22"),
        (#"["lang"]"#, "must be a JSON object"),
        (#"{"year": {"$gt": true}}"#, "type mismatch"),
        (#"{"tags": {"$in": "a"}}"#, "type mismatch: '$in' for 'tags' needs an array"),
        (#"{"x": {"$exists": 1}}"#, "type mismatch: '$exists'"),
        (#"{"a\"b": 1}"#, "double quote"),
    ])
    func jsonErrorsNameTheProblem(_ input: String, _ expected: String) {
        do {
            _ = try Filter.parseJSON(input)
            Issue.record("expected an error for \(input)")
        } catch let e as EngramError {
            #expect(e.code == .invalidFilter)
            #expect(e.message.contains(expected), "\(e.message)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func printedFormsRoundTrip() throws {
        let filters = [
            try Filter.parse(#"lang == "en" and (year >= 2020 or tag in ["a", "b"]) and not (draft == true)"#),
            try Filter.parse(#"`weird key` contains "x" or n not in [1, 2.5, null, true] or d <= date("2024-05-01")"#),
            try Filter.parse("a not exists and b exists"),
        ]
        for f in filters {
            #expect(try Filter.parse(f.description) == f, "\(f.description)")
            #expect(try Filter.parseJSON(f.json.serialized()) == f, "\(f.json.serialized())")
        }
    }

    @Test func semanticsOfMissingKeysAndMixedTypes() throws {
        let m: Metadata = ["n": .int(3), "s": .string("3"), "arr": .array([.int(3)])]
        #expect(try Filter.parse("n == 3.0").matches(m))
        #expect(try !Filter.parse(#"n == "3""#).matches(m))
        #expect(try !Filter.parse("s == 3").matches(m))
        #expect(try Filter.parse("missing != 3").matches(m))
        #expect(try !Filter.parse("missing < 3").matches(m))
        #expect(try !Filter.parse("missing >= 3").matches(m))
        #expect(try Filter.parse("missing not in [3]").matches(m))
        #expect(try !Filter.parse("arr == 3").matches(m))
        #expect(try Filter.parse("arr in [3]").matches(m))
        #expect(try Filter.parse("arr contains 3").matches(m))
        #expect(try !Filter.parse(#"s > 10"#).matches(m))
    }
}

@Suite("Embedding and ranking primitives")
struct PrimitiveTests {
    @Test func fnv1aMatchesThePublishedTestVectors() {
        #expect(HashEmbedder.fnv1a("".utf8) == 0xcbf2_9ce4_8422_2325)
        #expect(HashEmbedder.fnv1a("a".utf8) == 0xaf63_dc4c_8601_ec8c)
        #expect(HashEmbedder.fnv1a("foobar".utf8) == 0x8594_4171_f739_67e8)
    }

    @Test func hashEmbedderIsDeterministicNormalizedAndTopical() async throws {
        let e = HashEmbedder(dimension: 128)
        let a = try await e.embed("the cat sat on the mat")
        let b = try await HashEmbedder(dimension: 128).embed("the cat sat on the mat")
        #expect(a == b)
        #expect(abs(VectorMath.norm(a) - 1) < 1e-5)
        func cos(_ x: [Float], _ y: [Float]) -> Float { zip(x, y).reduce(0) { $0 + $1.0 * $1.1 } }
        let near = try await e.embed("a cat on a mat")
        let far = try await e.embed("quarterly revenue forecast")
        #expect(cos(a, near) > cos(a, far) + 0.2)
        #expect(try await e.embed("") == [Float](repeating: 0, count: 128))
        #expect(e.identity.dimension == 128 && e.identity.normalized)
    }

    @Test func topKKeepsTheBestWithDeterministicTies() {
        var rng = SplitMix64(seed: 3)
        let scores = (0..<500).map { _ in Float(Int(rng.next() % 50)) }
        var top = TopK<String, Float>(k: 20)
        for (i, s) in scores.enumerated() { top.insert(score: s, key: String(format: "%04d", i), index: i) }
        let expected = scores.enumerated().map { (s: $0.element, k: String(format: "%04d", $0.offset)) }
            .sorted { $0.s != $1.s ? $0.s > $1.s : $0.k < $1.k }.prefix(20).map(\.k)
        #expect(top.sorted().map(\.key) == Array(expected))
    }

    @Test func reciprocalRankFusionAddsOneOverKPlusRank() {
        let fused = RankFusion.reciprocalRank(
            vector: [ScoredID(id: "a", score: 0.9), ScoredID(id: "b", score: 0.8)],
            keyword: [ScoredID(id: "b", score: 5), ScoredID(id: "c", score: 4)], k: 60, limit: 10)
        #expect(fused.map(\.id) == ["b", "a", "c"])
        #expect(abs(fused[0].score - (1.0 / 62 + 1.0 / 61)) < 1e-15)
        #expect(fused[1].vectorRank == 1 && fused[1].keywordRank == nil)
    }

    @Test func keywordTokensFoldCaseAndDiacritics() {
        #expect(KeywordTokenizer.tokens("Crème Brûlée, naïve-ÉCOLE 42x") == ["creme", "brulee", "naive", "ecole", "42x"])
        #expect(KeywordTokenizer.queryTerms("fox Fox FOX dog") == ["fox", "dog"])
    }
}

@Suite("Filter printing and limits")
struct FilterPrintingTests {
    /// Found by fuzzing: strings and keys with quotes, backslashes, newlines or backticks printed as they
    /// were, so the readable form did not parse back to the same filter.
    @Test func printedStringsAndKeysEscapeWhatTheParserUnescapes() throws {
        let f = Filter.and([.compare("lang", .eq, .string("a\"b\\c\nd\te")), .compare("odd ` key\\", .ne, .string("'")), .oneOf("k", [.string("\\\\")])])
        #expect(try Filter.parse(f.description) == f, "\(f.description)")
    }

    /// Found by fuzzing: `{}` printed as `true`, which the readable form did not accept; a key starting
    /// with `$` printed to JSON as an operator.
    @Test func constantsAndDollarKeysRoundTripThroughBothForms() throws {
        for f in [Filter.and([]), .or([]), .not(.and([])), .and([.compare("$schema", .eq, .string("v1")), .exists("\\odd", true)])] {
            #expect(try Filter.parse(f.description) == f, "\(f.description)")
            #expect(try Filter.parseJSON(f.json.serialized()) == f, "\(f.json.serialized())")
        }
        #expect(try Filter.parseJSON(#"{"\\$schema": "v1"}"#) == .compare("$schema", .eq, .string("v1")))
        #expect(throws: EngramError.self) { try Filter.parseJSON(#"{"$schema": "v1"}"#) }
    }

    @Test func depthAndSizeAreBoundedWithoutRecursion() throws {
        var deep = Filter.compare("a", .eq, .int(1))
        for _ in 0..<5_000 { deep = .not(deep) }
        #expect(throws: EngramError.self) { try deep.validate() }
        let wide = Filter.or((0..<5_000).map { .compare("k", .eq, .int(Int64($0))) })
        #expect(throws: EngramError.self) { try wide.validate() }
        let fine = Filter.or((0..<4_000).map { .compare("k", .eq, .int(Int64($0))) })
        try fine.validate()
        withExtendedLifetime(deep) {}
    }
}

@Suite("Scalar-addressed text")
struct ScalarTextTests {
    /// Slices by scalar offset equal the scalars themselves, on ASCII and on mixed 1- to 4-byte text,
    /// across the index's checkpoints (every 64th scalar).
    @Test func slicesMatchTheScalarsAtEveryOffset() {
        let mixed = String(String.UnicodeScalarView((0..<300).map { i in ["a", "é", "€", "😀", "\u{301}"][i % 5].unicodeScalars.first! }))
        for text in [String(repeating: "abc ", count: 80), mixed, "", "😀"] {
            let s = ScalarText(text)
            let scalars = Array(text.unicodeScalars)
            #expect(s.count == scalars.count)
            var rng = SystemRandomNumberGenerator()
            for _ in 0..<500 {
                let a = scalars.isEmpty ? 0 : Int.random(in: 0...scalars.count, using: &rng)
                let b = Int.random(in: a...scalars.count, using: &rng)
                #expect(s.slice(a, b) == String(String.UnicodeScalarView(scalars[a..<b])), "\(a)..<\(b)")
            }
            #expect(s.slice(0, scalars.count + 1) == nil && s.slice(2, 1) == nil)
        }
    }
}
