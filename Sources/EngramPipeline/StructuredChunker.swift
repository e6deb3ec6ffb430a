import EngramCore

/// A chunk as a range of the normalized text, with its section path.
public struct ChunkSpan: Sendable, Hashable {
    /// Start offset in Unicode scalars.
    public var start: Int
    /// End offset (exclusive).
    public var end: Int
    public var section: [String]
    public var tokenCount: Int
}

/// Splits text into chunks that respect its structure.
///
/// Headings start new sections (the heading path is each chunk's `section`); inside a section, chunks
/// are packed up to ``maxTokens`` tokens and cut at the strongest boundary available — a blank line
/// (paragraph), then a sentence end, then a line break, then any word — and consecutive chunks of a
/// section share ``overlapTokens`` tokens. Every chunk is an exact character range of the text, starting
/// and ending on a token, so `text[start..<end]` is the chunk.
///
/// A token is a run of letters and digits (at most 32 characters) or a single other visible character,
/// a rough stand-in for a model's sub-word tokens.
public struct StructuredChunker: Sendable, Hashable {
    public var maxTokens: Int
    public var overlapTokens: Int

    public init(maxTokens: Int = 200, overlapTokens: Int = 30) {
        precondition(maxTokens >= 8, "maxTokens must be at least 8")
        self.maxTokens = maxTokens
        self.overlapTokens = max(0, min(overlapTokens, maxTokens / 4 - 1))
    }

    /// A string that changes whenever the chunker's output could change; part of document fingerprints.
    public var fingerprint: String { "structured-v1:max=\(maxTokens):overlap=\(overlapTokens)" }

    struct Token {
        var start: Int
        var end: Int
        var boundary: Int  // strength of the boundary before this token: 3 paragraph, 2 sentence, 1 line, 0 word
    }

    static let maxWordLength = 32

    static func tokenize(_ scalars: [Unicode.Scalar], from: Int, to: Int) -> [Token] {
        var tokens: [Token] = []
        var i = from
        var gapStart = from
        var previousEndsSentence = false
        while i < to {
            let s = scalars[i]
            if s.isASCII ? (s == " " || s == "\n" || s == "\t" || s == "\r" || s.value == 0x0B || s.value == 0x0C) : s.properties.isWhitespace {
                i += 1
                continue
            }
            var j = i + 1
            if KeywordTokenizer.isTokenScalar(s) {
                while j < to, j - i < maxWordLength, KeywordTokenizer.isTokenScalar(scalars[j]) { j += 1 }
            }
            var boundary = 0
            if !tokens.isEmpty {
                var newlines = 0
                var k = gapStart
                while k < i {
                    if scalars[k] == "\n" { newlines += 1 }
                    k += 1
                }
                if newlines >= 2 {
                    boundary = 3
                } else if previousEndsSentence && i > gapStart {
                    boundary = 2
                } else if newlines == 1 {
                    boundary = 1
                }
            }
            tokens.append(Token(start: i, end: j, boundary: boundary))
            previousEndsSentence = j - i == 1 && (s == "." || s == "!" || s == "?" || s == "。" || s == "！" || s == "？")
            gapStart = j
            i = j
        }
        return tokens
    }

    /// Chunks `text`, using `headings` (offsets in Unicode scalars) for sections.
    public func chunk(text: String, headings: [Heading]) -> [ChunkSpan] {
        let scalars = Array(text.unicodeScalars)
        let sorted = headings.filter { $0.offset >= 0 && $0.offset < scalars.count }.sorted { $0.offset < $1.offset }
        var sections: [(start: Int, end: Int, path: [String])] = []
        var stack: [Heading] = []
        var start = 0
        var path: [String] = []
        for h in sorted {
            if h.offset > start { sections.append((start, h.offset, path)) }
            while let last = stack.last, last.level >= h.level { stack.removeLast() }
            stack.append(h)
            path = stack.map(\.title)
            start = h.offset
        }
        sections.append((start, scalars.count, path))

        var spans: [ChunkSpan] = []
        for section in sections {
            let tokens = StructuredChunker.tokenize(scalars, from: section.start, to: section.end)
            pack(tokens, section: section.path, into: &spans)
        }
        return spans
    }

    func pack(_ tokens: [Token], section: [String], into spans: inout [ChunkSpan]) {
        var i = 0
        while i < tokens.count {
            let limit = min(tokens.count, i + maxTokens)
            var cut = limit
            if limit < tokens.count {
                // Prefer the latest strongest boundary that keeps the chunk at least a quarter full.
                let minimum = i + max(1, maxTokens / 4)
                search: for strength in stride(from: 3, through: 1, by: -1) {
                    var j = limit
                    while j > minimum {
                        if tokens[j].boundary >= strength {
                            cut = j
                            break search
                        }
                        j -= 1
                    }
                }
            }
            spans.append(ChunkSpan(start: tokens[i].start, end: tokens[cut - 1].end, section: section, tokenCount: cut - i))
            if cut >= tokens.count { break }
            i = max(i + 1, cut - overlapTokens)
        }
    }
}
