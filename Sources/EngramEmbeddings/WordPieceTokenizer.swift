import EngramCore
import Foundation

/// BERT's uncased WordPiece tokenizer, with the exact behaviour of Hugging Face `tokenizers`'
/// `BertNormalizer` + `BertPreTokenizer` + `WordPiece` as configured for all-MiniLM-L6-v2:
///
/// 1. clean: drop NUL, U+FFFD and "other" characters (Cc, Cf, Cn, Co, Cs) except tab, newline and
///    carriage return; every whitespace character becomes a space;
/// 2. put spaces around CJK ideographs;
/// 3. strip accents (canonical decomposition, then drop nonspacing marks), then lowercase character by
///    character (full Unicode mappings, no context);
/// 4. split on whitespace, and isolate each punctuation character (ASCII punctuation or Unicode P*);
/// 5. WordPiece: greedy longest match, `##` for continuation pieces; a word that cannot be covered, or
///    longer than 100 characters, is one `[UNK]`;
/// 6. `[CLS]` + pieces + `[SEP]`, truncated to `maxTokens` ids in all.
///
/// Tokenization stops reading once `maxTokens` ids are produced, so a megabyte-long text costs no more
/// than its first few hundred words.
public struct WordPieceTokenizer: Sendable {
    public let maxTokens: Int
    public let clsID: Int32
    public let sepID: Int32
    public let unknownID: Int32
    public var vocabularySize: Int { vocabulary.count }

    private let vocabulary: [String: Int32]
    private let maxWordCharacters = 100

    /// Loads `vocab.txt` (one token per line; the line number is the id).
    public init(vocabularyFile url: URL, maxTokens: Int = 256) throws {
        guard let data = try? InputFile.read(url.path, limit: 64 << 20, what: "tokenizer vocabulary") else {
            throw EngramError(.invalidConfiguration, "cannot read the tokenizer vocabulary \(url.path) (missing, not a regular file, or over 64 MiB)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw EngramError(.invalidConfiguration, "tokenizer vocabulary \(url.path) is not UTF-8")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0.hasSuffix("\r") ? $0.dropLast() : $0) }
        if lines.last == "" { lines.removeLast() }
        try self.init(tokens: lines, maxTokens: maxTokens, source: url.path)
    }

    /// A tokenizer over `tokens` (index = id).
    public init(tokens: [String], maxTokens: Int = 256, source: String = "vocabulary") throws {
        guard maxTokens >= 2 else {
            throw EngramError(.invalidInput, "maxTokens must be at least 2 (for [CLS] and [SEP])")
        }
        var vocabulary: [String: Int32] = [:]
        vocabulary.reserveCapacity(tokens.count)
        for (i, token) in tokens.enumerated() where vocabulary[token] == nil {
            vocabulary[token] = Int32(i)
        }
        func id(_ token: String) throws -> Int32 {
            guard let id = vocabulary[token] else {
                throw EngramError(.invalidConfiguration, "tokenizer vocabulary \(source) has no \(token) token")
            }
            return id
        }
        clsID = try id("[CLS]")
        sepID = try id("[SEP]")
        unknownID = try id("[UNK]")
        self.vocabulary = vocabulary
        self.maxTokens = maxTokens
    }

    /// The token ids of `text`: `[CLS]`, the word pieces, `[SEP]`, at most ``maxTokens`` in all.
    public func encode(_ text: String) -> [Int32] {
        var ids: [Int32] = [clsID]
        let budget = maxTokens - 2
        var word: [Unicode.Scalar] = []
        var done = false

        func flushWord() {
            guard !word.isEmpty, !done else { word.removeAll(keepingCapacity: true); return }
            for piece in normalizedWords(word) {
                appendPieces(of: piece, to: &ids)
                if ids.count - 1 >= budget { done = true; break }
            }
            word.removeAll(keepingCapacity: true)
        }

        for scalar in text.unicodeScalars {
            let v = scalar.value
            if v == 0 || v == 0xFFFD || WordPieceTokenizer.isControl(scalar) { continue }
            if WordPieceTokenizer.isWhitespace(scalar) {
                flushWord()
            } else if WordPieceTokenizer.isCJK(v) {
                flushWord()
                word.append(scalar)
                flushWord()
            } else {
                word.append(scalar)
            }
            if done { break }
        }
        flushWord()
        if ids.count - 1 > budget { ids.removeSubrange((budget + 1)...) }
        ids.append(sepID)
        return ids
    }

    /// Strips accents and lowercases one whitespace-free run, then splits it at punctuation.
    private func normalizedWords(_ run: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var scalars = run
        if !run.allSatisfy(\.isASCII) {
            let decomposed = String(String.UnicodeScalarView(run)).decomposedStringWithCanonicalMapping
            scalars = decomposed.unicodeScalars.filter { $0.properties.generalCategory != .nonspacingMark }
        }
        var lowered: [Unicode.Scalar] = []
        lowered.reserveCapacity(scalars.count)
        for s in scalars {
            if s.isASCII {
                lowered.append(s.value >= 65 && s.value <= 90 ? Unicode.Scalar(s.value + 32)! : s)
            } else {
                lowered.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
            }
        }
        var words: [[Unicode.Scalar]] = []
        var current: [Unicode.Scalar] = []
        for s in lowered {
            if WordPieceTokenizer.isWhitespace(s) {
                if !current.isEmpty { words.append(current); current = [] }
            } else if WordPieceTokenizer.isPunctuation(s) {
                if !current.isEmpty { words.append(current); current = [] }
                words.append([s])
            } else {
                current.append(s)
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    /// Greedy longest-match-first WordPiece of one word.
    private func appendPieces(of word: [Unicode.Scalar], to ids: inout [Int32]) {
        guard word.count <= maxWordCharacters else { ids.append(unknownID); return }
        var pieces: [Int32] = []
        var start = 0
        while start < word.count {
            var end = word.count
            var found: Int32? = nil
            while start < end {
                var candidate = start > 0 ? "##" : ""
                candidate.unicodeScalars.append(contentsOf: word[start..<end])
                if let id = vocabulary[candidate] { found = id; break }
                end -= 1
            }
            guard let id = found else { ids.append(unknownID); return }
            pieces.append(id)
            start = end
        }
        ids.append(contentsOf: pieces)
    }

    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x09, 0x0A, 0x0D, 0x20: return true
        default: return s.value > 0x7F && s.properties.isWhitespace
        }
    }

    static func isControl(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x09, 0x0A, 0x0D: return false
        case 0x20..<0x7F: return false
        default:
            switch s.properties.generalCategory {
            case .control, .format, .unassigned, .privateUse, .surrogate: return true
            default: return false
            }
        }
    }

    static func isCJK(_ v: UInt32) -> Bool {
        switch v {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F,
             0x2B740...0x2B81F, 0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }

    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if (0x21...0x2F).contains(v) || (0x3A...0x40).contains(v) || (0x5B...0x60).contains(v) || (0x7B...0x7E).contains(v) {
            return true
        }
        guard v > 0x7F else { return false }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }
}
