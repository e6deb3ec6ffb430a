import EngramCore
import EngramPipeline
import EngramTesting
import Foundation
import Testing

func slice(_ text: String, _ start: Int, _ end: Int) -> String {
    let s = Array(text.unicodeScalars)
    var v = String.UnicodeScalarView()
    v.append(contentsOf: s[start..<end])
    return String(v)
}

@Suite("Normalizer")
struct NormalizerTests {
    @Test func newlinesBOMAndNFC() throws {
        let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("a\r\nb\rc e\u{0301}".utf8)
        #expect(try TextNormalizer.normalize(bytes, source: "f") == "a\nb\nc \u{00E9}")
    }

    @Test(arguments: [
        ([UInt8](), "file is empty"),
        (Array("ab\u{0}c".utf8), "binary file (NUL byte at offset 2)"),
        ([0x61, 0x62, 0xC3, 0x28], "not valid UTF-8 (at byte 2)"),
    ])
    func badBytesAreRefusedWithTheReason(_ bytes: [UInt8], _ reason: String) {
        #expect {
            try TextNormalizer.normalize(bytes, source: "f.txt")
        } throws: { e in
            (e as? EngramError)?.code == .loadFailed && (e as? EngramError)?.message == "f.txt: \(reason)"
        }
    }
}

@Suite("Structured chunker")
struct ChunkerTests {
    let markdown = """
        # Guide

        Intro paragraph. It has two sentences.

        ## Install

        Step one is here. Step two follows.

        ### Linux

        apt-get install engram

        ## Use

        Run it.
        """

    @Test func sectionsFollowHeadingsAndOffsetsAreExact() {
        let chunks = StructuredChunker(maxTokens: 50, overlapTokens: 5).chunk(text: markdown, headings: MarkdownLoader.headings(in: markdown))
        #expect(chunks.map(\.section) == [["Guide"], ["Guide", "Install"], ["Guide", "Install", "Linux"], ["Guide", "Use"]])
        #expect(slice(markdown, chunks[2].start, chunks[2].end) == "### Linux\n\napt-get install engram")
        #expect(slice(markdown, chunks[3].start, chunks[3].end) == "## Use\n\nRun it.")
    }

    @Test func longTextRespectsTheBudgetOverlapsAndPrefersParagraphs() {
        var rng = SplitMix64(seed: 1)
        let words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
        var paragraphs: [String] = []
        for _ in 0..<30 {
            var sentences: [String] = []
            for _ in 0..<4 {
                sentences.append((0..<8).map { _ in words[Int(rng.next() % 8)] }.joined(separator: " ") + ".")
            }
            paragraphs.append(sentences.joined(separator: " "))
        }
        let text = paragraphs.joined(separator: "\n\n")
        let chunker = StructuredChunker(maxTokens: 100, overlapTokens: 10)
        let chunks = chunker.chunk(text: text, headings: [])
        #expect(chunks.count > 5)
        for c in chunks {
            #expect(c.tokenCount <= 100)
            let t = slice(text, c.start, c.end)
            #expect(!t.hasPrefix(" ") && !t.hasSuffix(" "))
        }
        // Consecutive chunks overlap, and together they cover the whole text.
        for (a, b) in zip(chunks, chunks.dropFirst()) {
            #expect(b.start < a.end && b.start > a.start)
        }
        #expect(chunks.first?.start == 0 && chunks.last?.end == text.unicodeScalars.count)
        // Cuts fall at paragraph ends when one is available: every chunk but the last ends with ".".
        #expect(chunks.dropLast().allSatisfy { slice(text, $0.start, $0.end).hasSuffix(".") })
    }

    @Test func unbrokenTextAndWhitespace() {
        let blob = String(repeating: "x", count: 10_000)
        let chunks = StructuredChunker(maxTokens: 50, overlapTokens: 0).chunk(text: blob, headings: [])
        #expect(chunks.allSatisfy { $0.tokenCount <= 50 })
        #expect(chunks.last?.end == 10_000)
        #expect(StructuredChunker().chunk(text: " \n\n\t ", headings: []).isEmpty)
    }
}

@Suite("Loaders")
struct LoaderTests {
    @Test func htmlKeepsVisibleTextTitleAndHeadings() throws {
        let html = """
            <html><head><title>The  Title</title><style>body { color: red }</style><script>var x = "<p>no</p>";</script></head>
            <body><!-- hidden --><h1>Main &amp; More</h1><p>First   para &lt;b&gt; &#233;t&#xE9;.</p><div>Second</div>
            <h2>Sub</h2><ul><li>one</li><li>two</li></ul><noscript>nojs</noscript></body></html>
            """
        let doc = try HTMLLoader.load(html: html, sourceURI: "u", sourceHash: "h", size: 1)
        #expect(doc.text == "The Title\n\nMain & More\n\nFirst para <b> été.\n\nSecond\n\nSub\n\none\ntwo")
        #expect(doc.metadata["title"] == .string("The Title"))
        #expect(doc.headings.map(\.title) == ["Main & More", "Sub"])
        for h in doc.headings {
            #expect(slice(doc.text, h.offset, h.offset + h.title.unicodeScalars.count) == h.title)
        }
        #expect(!doc.text.contains("color") && !doc.text.contains("var x") && !doc.text.contains("hidden") && !doc.text.contains("nojs"))
    }

    @Test func markdownHeadingsSkipCodeFences() {
        let md = "# A\n```\n# not a heading\n```\n## B ##\n#hashtag\n"
        #expect(MarkdownLoader.headings(in: md).map(\.title) == ["A", "B"])
    }

    @Test func jsonLinesRecordsBecomeDocuments() {
        let text = """
            {"id": "a", "text": "alpha", "lang": "en", "meta": {"author": "x", "n": 2}, "embedding": [0.5, 1]}
            {"text": "no id", "tags": ["t", 1], "deep": [[1]]}
            not json
            {"id": "a", "text": "duplicate"}
            {"id": "c", "body": "wrong field"}
            """
        let (docs, failures) = JSONRecordLoader.load(text: text, fileURI: "file:///r.jsonl", jsonLines: true, options: .init())
        #expect(docs.map(\.sourceURI) == ["file:///r.jsonl#a", "file:///r.jsonl#L2"])
        #expect(docs[0].metadata == ["id": .string("a"), "lang": .string("en"), "meta.author": .string("x"), "meta.n": .int(2)])
        #expect(docs[0].embedding == [0.5, 1])
        #expect(docs[1].metadata["deep"] == .string("[[1]]"))
        #expect(failures.map(\.source) == ["file:///r.jsonl#L3", "file:///r.jsonl#a", "file:///r.jsonl#c"])
        #expect(failures[1].error.message.contains("duplicate record id"))
        #expect(failures[2].error.message.contains("no string field 'text'"))
    }

    @Test func globs() {
        #expect(Glob("*.md").matches(relativePath: "a/b/c.md"))
        #expect(!Glob("*.md").matches(relativePath: "a/b/c.mdx"))
        #expect(Glob("docs/**/*.txt").matches(relativePath: "docs/x.txt"))
        #expect(Glob("docs/**/*.txt").matches(relativePath: "docs/a/b/x.txt"))
        #expect(!Glob("docs/*.txt").matches(relativePath: "docs/a/x.txt"))
        #expect(Glob("file[0-9].?s").matches(relativePath: "file7.js"))
        #expect(Glob("build").matches(relativePath: "x/build"))
    }
}
