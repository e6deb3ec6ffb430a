import Foundation

/// Splits text into keyword tokens the way SQLite FTS5's `unicode61 remove_diacritics 2` tokenizer does:
/// letters and digits form tokens, everything else separates them; tokens are lowercased and lose
/// diacritics. Every backend's keyword search uses these tokens, so their results agree.
public enum KeywordTokenizer {
    public static func tokens(_ text: String) -> [String] {
        var out: [String] = []
        forEachToken(text) { out.append(String(decoding: $0, as: UTF8.self)) }
        return out
    }

    /// Calls `body` with the folded UTF-8 bytes of each token, without allocating a string per ASCII
    /// token (the common case, and the hot loop of the hash embedder).
    public static func forEachToken(_ text: String, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(64)
        var ascii = true
        func flush() {
            guard !buffer.isEmpty else { return }
            if ascii {
                buffer.withUnsafeBufferPointer(body)
            } else {
                var folded = fold(String(decoding: buffer, as: UTF8.self))
                folded.withUTF8(body)
            }
            buffer.removeAll(keepingCapacity: true)
            ascii = true
        }
        for scalar in text.unicodeScalars {
            if scalar.isASCII {
                let v = UInt8(scalar.value)
                if (v >= 0x61 && v <= 0x7A) || (v >= 0x30 && v <= 0x39) {
                    buffer.append(v)
                } else if v >= 0x41 && v <= 0x5A {
                    buffer.append(v + 0x20)
                } else {
                    flush()
                }
            } else if isTokenScalar(scalar) {
                ascii = false
                buffer.append(contentsOf: UTF8.encode(scalar)!)
            } else {
                flush()
            }
        }
        flush()
    }

    /// Whether a scalar belongs to a token (letters, digits, marks, private use).
    @inlinable
    public static func isTokenScalar(_ s: Unicode.Scalar) -> Bool {
        if s.isASCII {
            let v = s.value
            return (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A)
        }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .decimalNumber, .letterNumber, .otherNumber, .privateUse, .nonspacingMark, .spacingMark, .enclosingMark:
            return true
        default:
            return false
        }
    }

    static func fold(_ token: String) -> String {
        if token.unicodeScalars.allSatisfy({ $0.isASCII }) { return token.lowercased() }
        var out = String.UnicodeScalarView()
        for s in token.lowercased().decomposedStringWithCanonicalMapping.unicodeScalars {
            switch s.properties.generalCategory {
            case .nonspacingMark, .spacingMark, .enclosingMark: continue
            default: out.append(s)
            }
        }
        return String(out)
    }

    /// The distinct tokens of a query, in first-seen order.
    public static func queryTerms(_ text: String) -> [String] {
        var seen = Set<String>()
        return tokens(text).filter { seen.insert($0).inserted }
    }
}

/// Okapi BM25 exactly as SQLite FTS5's `bm25()` computes it (k1 = 1.2, b = 0.75, IDF floored at 1e-6),
/// so that the in-memory reference ranks keyword hits like the SQLite backend. Scores are positive
/// (higher is better).
public struct BM25Scorer: Sendable {
    public static let k1 = 1.2
    public static let b = 0.75

    public let documentCount: Int
    public let averageLength: Double

    public init(documentCount: Int, totalTokens: Int) {
        self.documentCount = documentCount
        self.averageLength = documentCount > 0 ? Double(totalTokens) / Double(documentCount) : 0
    }

    public func idf(documentFrequency n: Int) -> Double {
        let v = log((Double(documentCount) - Double(n) + 0.5) / (Double(n) + 0.5))
        return v <= 0 ? 1e-6 : v
    }

    /// Score of one document given, per query term, its frequency in the document and its document
    /// frequency.
    public func score(termFrequencies: [(tf: Int, df: Int)], length: Int) -> Double {
        var s = 0.0
        for (tf, df) in termFrequencies where tf > 0 {
            let f = Double(tf)
            s += idf(documentFrequency: df) * (f * (BM25Scorer.k1 + 1))
                / (f + BM25Scorer.k1 * (1 - BM25Scorer.b + BM25Scorer.b * Double(length) / averageLength))
        }
        return s
    }
}
