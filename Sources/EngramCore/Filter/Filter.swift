import Foundation

/// A metadata filter.
///
/// Build one in code, parse the readable form with ``Filter/parse(_:)``
/// (`lang == "en" and (year >= 2020 or tag in ["a", "b"])`) or the JSON form with
/// ``Filter/parseJSON(_:)`` (`{"lang": {"$eq": "en"}, "$or": [...]}`).
///
/// ## Semantics (every backend implements exactly these; the conformance suite checks them)
///
/// - `eq`: the key is present and its value equals the operand. Integers and doubles compare
///   numerically; strings compare by Unicode code points (no case folding); dates compare as instants.
///   A value of another type never equals (a string `"2020"` is not the number `2020`). An array value
///   never equals a scalar: use `contains` or `in` for arrays.
/// - `ne`: exactly `not eq`, so a **missing key matches** `ne`.
/// - `lt`, `lte`, `gt`, `gte`: true only when both sides are numbers, both strings (code-point order) or
///   both dates. A missing key or a value of another type does not match.
/// - `in`: the value equals one of the listed values; when the value is an array, at least one of its
///   elements does. `nin` is exactly `not in`, so a missing key matches `nin`.
/// - `exists`: the key is present (a `null` value is present).
/// - `contains`: a string value contains the operand as a substring (case-sensitive), or an array value
///   has an element equal to the operand. Anything else does not match.
/// - `and`, `or`, `not` as in logic; an empty `and` matches everything, an empty `or` nothing.
///
/// Operands are checked when the filter is built by a parser: ordering operators take a number, string
/// or date; `in`/`nin` take a list of scalars; `exists` takes a boolean; `contains` takes a scalar.
public indirect enum Filter: Sendable, Hashable {
    case and([Filter])
    case or([Filter])
    case not(Filter)
    case compare(String, ComparisonOperator, MetadataValue)
    case oneOf(String, [MetadataValue])
    case noneOf(String, [MetadataValue])
    case exists(String, Bool)
    case contains(String, MetadataValue)

    public enum ComparisonOperator: String, Sendable, Hashable, CaseIterable {
        case eq, ne, lt, lte, gt, gte

        var symbol: String {
            switch self {
            case .eq: "=="
            case .ne: "!="
            case .lt: "<"
            case .lte: "<="
            case .gt: ">"
            case .gte: ">="
            }
        }
    }
}

// MARK: - Evaluation (the reference semantics)

extension Filter {
    /// Whether `metadata` satisfies this filter.
    public func matches(_ metadata: Metadata) -> Bool {
        switch self {
        case .and(let fs): return fs.allSatisfy { $0.matches(metadata) }
        case .or(let fs): return fs.contains { $0.matches(metadata) }
        case .not(let f): return !f.matches(metadata)
        case .exists(let k, let flag): return (metadata[k] != nil) == flag
        case .compare(let k, let op, let operand):
            guard let value = metadata[k] else { return op == .ne }
            switch op {
            case .eq: return Filter.scalarEquals(value, operand)
            case .ne: return !Filter.scalarEquals(value, operand)
            case .lt, .lte, .gt, .gte:
                guard let order = Filter.order(value, operand) else { return false }
                switch op {
                case .lt: return order < 0
                case .lte: return order <= 0
                case .gt: return order > 0
                default: return order >= 0
                }
            }
        case .oneOf(let k, let list):
            guard let value = metadata[k] else { return false }
            return Filter.isIn(value, list)
        case .noneOf(let k, let list):
            guard let value = metadata[k] else { return true }
            return !Filter.isIn(value, list)
        case .contains(let k, let operand):
            guard let value = metadata[k] else { return false }
            switch value {
            case .string(let s):
                guard case .string(let needle) = operand else { return false }
                return Filter.utf8Contains(s, needle)
            case .array(let items):
                return items.contains { Filter.scalarEquals($0, operand) }
            default:
                return false
            }
        }
    }

    static func isIn(_ value: MetadataValue, _ list: [MetadataValue]) -> Bool {
        if case .array(let items) = value {
            return items.contains { item in list.contains { Filter.scalarEquals(item, $0) } }
        }
        return list.contains { Filter.scalarEquals(value, $0) }
    }

    /// Equality of two scalars under filter semantics (arrays never equal).
    static func scalarEquals(_ a: MetadataValue, _ b: MetadataValue) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): return x.utf8.elementsEqual(y.utf8)
        case (.bool(let x), .bool(let y)): return x == y
        case (.null, .null): return true
        case (.date(let x), .date(let y)):
            return MetadataValue.milliseconds(x) == MetadataValue.milliseconds(y)
        default:
            if let x = a.numeric, let y = b.numeric { return x == y }
            return false
        }
    }

    /// -1, 0, 1 when `a` and `b` are ordered under filter semantics; nil otherwise.
    static func order(_ a: MetadataValue, _ b: MetadataValue) -> Int? {
        switch (a, b) {
        case (.string(let x), .string(let y)):
            if x.utf8.elementsEqual(y.utf8) { return 0 }
            return x.utf8.lexicographicallyPrecedes(y.utf8) ? -1 : 1
        case (.date, .date):
            guard case .date(let x) = a, case .date(let y) = b else { return nil }
            let mx = MetadataValue.milliseconds(x), my = MetadataValue.milliseconds(y)
            return mx == my ? 0 : (mx < my ? -1 : 1)
        default:
            guard let x = a.numeric, let y = b.numeric else { return nil }
            return x == y ? 0 : (x < y ? -1 : 1)
        }
    }

    static func utf8Contains(_ haystack: String, _ needle: String) -> Bool {
        var haystack = haystack, needle = needle
        return haystack.withUTF8 { h in
            needle.withUTF8 { n in
                if n.isEmpty { return true }
                guard n.count <= h.count else { return false }
                let first = n[0]
                var i = 0
                while i <= h.count - n.count {
                    if h[i] == first, memcmp(h.baseAddress! + i, n.baseAddress!, n.count) == 0 { return true }
                    i += 1
                }
                return false
            }
        }
    }
}

// MARK: - Validation

extension Filter {
    /// The rules for a metadata key in a filter or a document: 1–256 bytes of UTF-8, no double quote and
    /// no control characters. Keys are always passed to SQL as bound values, never spliced.
    public static func validateKey(_ key: String) throws {
        guard !key.isEmpty, key.utf8.count <= 256 else {
            throw EngramError(.invalidFilter, "metadata key must be 1 to 256 bytes long, got \(key.utf8.count)")
        }
        if key.unicodeScalars.contains(where: { $0 == "\"" || $0.value < 0x20 || $0.value == 0x7F }) {
            throw EngramError(.invalidFilter, "metadata key '\(key.debugDescription.dropFirst().dropLast())' contains a double quote or a control character")
        }
    }

    /// How deep `and`, `or` and `not` may nest (parentheses and `not` in the readable form).
    public static let maxDepth = 64
    /// How many conditions and listed values a filter may hold in all (every backend compiles each to a
    /// few bound parameters; SQLite allows 32,766 per statement).
    public static let maxTerms = 4_096

    /// Checks every key and operand, and the filter's depth and size; parsers call this, and stores call
    /// it on filters built in code.
    /// - Throws: `invalid_filter` naming what is wrong.
    public func validate() throws {
        try checkSize()
        try validateNodes()
    }

    /// Depth and size, walked without recursion so that a filter built in code of any depth is refused
    /// instead of overflowing the stack.
    func checkSize() throws {
        var stack: [(Filter, Int)] = [(self, 1)]
        var terms = 0
        while let (f, depth) = stack.popLast() {
            guard depth <= Filter.maxDepth else {
                throw EngramError(.invalidFilter, "filter nests deeper than \(Filter.maxDepth) levels of and, or, not and parentheses")
            }
            switch f {
            case .and(let fs), .or(let fs): stack += fs.map { ($0, depth + 1) }
            case .not(let inner): stack.append((inner, depth + 1))
            case .oneOf(_, let list), .noneOf(_, let list): terms += max(1, list.count)
            case .compare, .exists, .contains: terms += 1
            }
            guard terms <= Filter.maxTerms else {
                throw EngramError(.invalidFilter, "filter has more than \(Filter.maxTerms) conditions and listed values")
            }
        }
    }

    func validateNodes() throws {
        switch self {
        case .and(let fs), .or(let fs): for f in fs { try f.validateNodes() }
        case .not(let f): try f.validateNodes()
        case .exists(let k, _): try Filter.validateKey(k)
        case .compare(let k, let op, let v):
            try Filter.validateKey(k)
            try Filter.validateOperand(v, key: k)
            switch op {
            case .eq, .ne:
                if case .array = v {
                    throw EngramError(.invalidFilter, "'\(k)' \(op.symbol): an array operand is not allowed; use 'in' or 'contains'")
                }
            case .lt, .lte, .gt, .gte:
                switch v {
                case .string, .int, .double, .date: break
                default:
                    throw EngramError(.invalidFilter, "type mismatch: '\(k)' \(op.symbol) needs a number, string or date, got \(v.typeName)")
                }
            }
        case .oneOf(let k, let list), .noneOf(let k, let list):
            try Filter.validateKey(k)
            for v in list {
                try Filter.validateOperand(v, key: k)
                if case .array = v { throw EngramError(.invalidFilter, "type mismatch: 'in' list for '\(k)' may hold only scalars") }
            }
        case .contains(let k, let v):
            try Filter.validateKey(k)
            try Filter.validateOperand(v, key: k)
            if case .array = v { throw EngramError(.invalidFilter, "type mismatch: 'contains' for '\(k)' needs a scalar, got array") }
        }
    }

    static func validateOperand(_ v: MetadataValue, key: String) throws {
        switch v {
        case .double(let d) where !d.isFinite:
            throw EngramError(.invalidFilter, "'\(key)': operand must be a finite number")
        case .array(let items):
            for i in items { try validateOperand(i, key: key) }
        default: break
        }
    }
}

// MARK: - Printing

extension Filter: CustomStringConvertible {
    /// The readable form; parsing it gives back an equal filter.
    public var description: String {
        switch self {
        case .and(let fs): return fs.isEmpty ? "true" : fs.map { $0.parenthesized }.joined(separator: " and ")
        case .or(let fs): return fs.isEmpty ? "false" : fs.map { $0.parenthesized }.joined(separator: " or ")
        case .not(let f): return "not " + f.parenthesized
        case .compare(let k, let op, let v): return "\(Filter.quoteKey(k)) \(op.symbol) \(v)"
        case .oneOf(let k, let l): return "\(Filter.quoteKey(k)) in [\(l.map(\.description).joined(separator: ", "))]"
        case .noneOf(let k, let l): return "\(Filter.quoteKey(k)) not in [\(l.map(\.description).joined(separator: ", "))]"
        case .exists(let k, let flag): return flag ? "\(Filter.quoteKey(k)) exists" : "\(Filter.quoteKey(k)) not exists"
        case .contains(let k, let v): return "\(Filter.quoteKey(k)) contains \(v)"
        }
    }

    private var parenthesized: String {
        switch self {
        case .and(let fs) where fs.count > 1: "(\(description))"
        case .or(let fs) where fs.count > 1: "(\(description))"
        default: description
        }
    }

    static func quoteKey(_ k: String) -> String {
        // A bare word reads back as this key only when the tokenizer would take all of it as one word that
        // is not a number or a keyword.
        let plain = k.unicodeScalars.allSatisfy(FilterParser.isWordScalar)
        let first = k.unicodeScalars.first!
        if plain, FilterParser.isWordScalar(first), !FilterParser.isDigit(first), first != "-", first != ".", !first.properties.isDiacritic,
           first.properties.generalCategory != .nonspacingMark, !FilterParser.keywords.contains(k.lowercased()) { return k }
        return MetadataValue.quoted(k, by: "`")
    }
}
