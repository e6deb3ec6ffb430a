import Foundation

extension Filter {
    /// Parses the readable form, for example `lang == "en" and (year >= 2020 or tag in ["a", "b"])`.
    ///
    /// Grammar: `or`/`and`/`not` (any case) with parentheses, `true` and `false`; comparisons `key == value`, `!=`, `<`, `<=`,
    /// `>`, `>=`; `key in [v, ...]`, `key not in [...]`; `key exists`, `key not exists`;
    /// `key contains value`. Values: `"text"` or `'text'` (backslash escapes), numbers, `true`, `false`,
    /// `null`, `date("2024-05-01")`. Keys are bare words (letters, digits, `_ . -`) or `` `any key` `` (backslash
    /// escapes, as in strings).
    /// - Throws: ``EngramError`` `invalid_filter` naming the position (1-based character column) and token.
    public static func parse(_ text: String) throws -> Filter {
        var p = try FilterParser(text)
        let f = try p.parseExpression()
        guard p.peek.kind == .end else { throw p.unexpected(p.peek, expected: "'and', 'or' or the end") }
        try f.validate()
        return f
    }

    /// Parses the JSON form: an object whose members are ANDed. A member is either a key with an operator
    /// object (`{"year": {"$gte": 2020}}`) or a plain value meaning `$eq` (`{"lang": "en"}`), or a logical
    /// operator: `"$and": [...]`, `"$or": [...]`, `"$not": {...}`. A key that starts with `$` is written with a
    /// leading backslash (`"\\$schema"`). Key operators: `$eq $ne $lt $lte $gt $gte
    /// $in $nin $exists $contains`. Dates are `{"$date": "2024-05-01"}`.
    /// - Throws: ``EngramError`` `invalid_filter` naming the offending operator, key or JSON position.
    public static func parseJSON(_ text: String) throws -> Filter {
        let json: JSONValue
        do {
            json = try JSONValue.parse(text)
        } catch let e as EngramError {
            throw EngramError(.invalidFilter, "filter: \(e.message)")
        }
        return try parse(json: json)
    }

    /// The JSON form, already parsed (a request body's `filter`).
    public static func parse(json: JSONValue) throws -> Filter {
        let f = try fromJSON(json)
        try f.validate()
        return f
    }

    /// Parses a filter given either as JSON (text starting with `{`) or in the readable form.
    public static func parseAny(_ text: String) throws -> Filter {
        text.drop(while: { $0.isWhitespace }).first == "{" ? try parseJSON(text) : try parse(text)
    }

    static func fromJSON(_ json: JSONValue) throws -> Filter {
        guard case .object(let members) = json else {
            throw EngramError(.invalidFilter, "filter must be a JSON object, got \(json.typeName)")
        }
        var parts: [Filter] = []
        for (key, value) in members {
            switch key {
            case "$and", "$or":
                guard case .array(let items) = value else {
                    throw EngramError(.invalidFilter, "'\(key)' needs an array of filters, got \(value.typeName)")
                }
                let subs = try items.map(fromJSON)
                parts.append(key == "$and" ? .and(subs) : .or(subs))
            case "$not":
                parts.append(.not(try fromJSON(value)))
            default:
                if key.hasPrefix("$") {
                    throw EngramError(.invalidFilter, "unknown filter operator '\(key)' at the top level (expected $and, $or, $not or a metadata key; write a key that starts with $ as \\\\\(key))")
                }
                // A leading backslash escapes a key that starts with `$` (or with a backslash).
                let key = key.hasPrefix("\\") ? String(key.dropFirst()) : key
                try Filter.validateKey(key)
                if case .object(let ops) = value, let first = ops.first, first.0.hasPrefix("$"), first.0 != "$date" {
                    for (op, operand) in ops {
                        parts.append(try keyOperator(key: key, op: op, operand: operand))
                    }
                } else {
                    parts.append(.compare(key, .eq, try operandValue(value, key: key)))
                }
            }
        }
        return parts.count == 1 ? parts[0] : .and(parts)
    }

    static func operandValue(_ json: JSONValue, key: String) throws -> MetadataValue {
        do {
            return try MetadataValue(json: json, key: key)
        } catch let e as EngramError {
            throw EngramError(.invalidFilter, "filter operand for \(e.message)")
        }
    }

    static func keyOperator(key: String, op: String, operand: JSONValue) throws -> Filter {
        switch op {
        case "$eq", "$ne", "$lt", "$lte", "$gt", "$gte":
            let cmp = ComparisonOperator(rawValue: String(op.dropFirst()))!
            return .compare(key, cmp, try operandValue(operand, key: key))
        case "$in", "$nin":
            guard case .array(let items) = operand else {
                throw EngramError(.invalidFilter, "type mismatch: '\(op)' for '\(key)' needs an array, got \(operand.typeName)")
            }
            let list = try items.map { try operandValue($0, key: key) }
            return op == "$in" ? .oneOf(key, list) : .noneOf(key, list)
        case "$exists":
            guard case .bool(let flag) = operand else {
                throw EngramError(.invalidFilter, "type mismatch: '$exists' for '\(key)' needs true or false, got \(operand.typeName)")
            }
            return .exists(key, flag)
        case "$contains":
            return .contains(key, try operandValue(operand, key: key))
        default:
            throw EngramError(.invalidFilter, "unknown filter operator '\(op)' for key '\(key)' (expected one of $eq $ne $lt $lte $gt $gte $in $nin $exists $contains)")
        }
    }

    /// The JSON form of this filter (the inverse of ``parseJSON(_:)``).
    public var json: JSONValue {
        func k(_ key: String) -> String { key.hasPrefix("$") || key.hasPrefix("\\") ? "\\" + key : key }
        switch self {
        case .and(let fs): return .object([("$and", .array(fs.map(\.json)))])
        case .or(let fs): return .object([("$or", .array(fs.map(\.json)))])
        case .not(let f): return .object([("$not", f.json)])
        case .compare(let key, let op, let v): return .object([(k(key), .object([("$" + op.rawValue, v.json)]))])
        case .oneOf(let key, let l): return .object([(k(key), .object([("$in", .array(l.map(\.json)))]))])
        case .noneOf(let key, let l): return .object([(k(key), .object([("$nin", .array(l.map(\.json)))]))])
        case .exists(let key, let flag): return .object([(k(key), .object([("$exists", .bool(flag))]))])
        case .contains(let key, let v): return .object([(k(key), .object([("$contains", v.json)]))])
        }
    }
}

struct FilterToken {
    enum Kind: Equatable { case word, quotedKey, string, number, symbol, end }
    var kind: Kind
    var text: String
    var position: Int  // 1-based column in characters
}

struct FilterParser {
    static let keywords: Set<String> = ["and", "or", "not", "in", "exists", "contains", "true", "false", "null", "date"]

    var tokens: [FilterToken]
    var index = 0
    /// Open parentheses and `not`s around the current token: bounded, so that no input can overflow the
    /// parser's stack.
    var depth = 0

    init(_ text: String) throws {
        tokens = try FilterParser.tokenize(text)
    }

    var peek: FilterToken { tokens[index] }

    mutating func next() -> FilterToken {
        let t = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return t
    }

    func unexpected(_ t: FilterToken, expected: String) -> EngramError {
        let what = t.kind == .end ? "end of filter" : "'\(t.text)'"
        return EngramError(.invalidFilter, "filter syntax error at position \(t.position): unexpected \(what), expected \(expected)")
    }

    func isKeyword(_ t: FilterToken, _ word: String) -> Bool {
        t.kind == .word && t.text.lowercased() == word
    }

    mutating func parseExpression() throws -> Filter {
        var parts = [try parseAnd()]
        while isKeyword(peek, "or") {
            _ = next()
            parts.append(try parseAnd())
        }
        return parts.count == 1 ? parts[0] : .or(parts)
    }

    mutating func parseAnd() throws -> Filter {
        var parts = [try parseUnary()]
        while isKeyword(peek, "and") {
            _ = next()
            parts.append(try parseUnary())
        }
        return parts.count == 1 ? parts[0] : .and(parts)
    }

    mutating func parseUnary() throws -> Filter {
        if isKeyword(peek, "not") || (peek.kind == .symbol && peek.text == "(") {
            depth += 1
            guard depth < Filter.maxDepth else {
                throw EngramError(.invalidFilter, "filter error at position \(peek.position): nests deeper than \(Filter.maxDepth) levels of parentheses and not")
            }
        }
        if isKeyword(peek, "not") {
            _ = next()
            defer { depth -= 1 }
            return .not(try parseUnary())
        }
        if peek.kind == .symbol, peek.text == "(" {
            _ = next()
            defer { depth -= 1 }
            let inner = try parseExpression()
            let close = next()
            guard close.kind == .symbol, close.text == ")" else { throw unexpected(close, expected: "')'") }
            return inner
        }
        return try parseCondition()
    }

    mutating func parseCondition() throws -> Filter {
        // `true` and `false` stand alone: the empty `and` (matches everything) and the empty `or`.
        if peek.kind == .word, ["true", "false"].contains(peek.text.lowercased()) {
            return next().text.lowercased() == "true" ? .and([]) : .or([])
        }
        let keyToken = next()
        let key: String
        switch keyToken.kind {
        case .quotedKey: key = keyToken.text
        case .word where !FilterParser.keywords.contains(keyToken.text.lowercased()): key = keyToken.text
        default: throw unexpected(keyToken, expected: "a metadata key, 'not' or '('")
        }
        do { try Filter.validateKey(key) } catch let e as EngramError {
            throw EngramError(.invalidFilter, "at position \(keyToken.position): \(e.message)")
        }
        let opToken = next()
        switch opToken.kind {
        case .symbol:
            let op: Filter.ComparisonOperator
            switch opToken.text {
            case "==", "=": op = .eq
            case "!=": op = .ne
            case "<": op = .lt
            case "<=": op = .lte
            case ">": op = .gt
            case ">=": op = .gte
            default: throw unexpected(opToken, expected: "an operator (== != < <= > >= in not in exists contains)")
            }
            let value = try parseValue()
            return .compare(key, op, value)
        case .word:
            switch opToken.text.lowercased() {
            case "in": return .oneOf(key, try parseList())
            case "exists": return .exists(key, true)
            case "contains": return .contains(key, try parseValue())
            case "not":
                let t = next()
                if isKeyword(t, "in") { return .noneOf(key, try parseList()) }
                if isKeyword(t, "exists") { return .exists(key, false) }
                throw unexpected(t, expected: "'in' or 'exists' after 'not'")
            default:
                throw unexpected(opToken, expected: "an operator (== != < <= > >= in not in exists contains)")
            }
        default:
            throw unexpected(opToken, expected: "an operator (== != < <= > >= in not in exists contains)")
        }
    }

    mutating func parseList() throws -> [MetadataValue] {
        let open = next()
        guard open.kind == .symbol, open.text == "[" else { throw unexpected(open, expected: "'[' starting a list") }
        var items: [MetadataValue] = []
        if peek.kind == .symbol, peek.text == "]" {
            _ = next()
            return items
        }
        while true {
            items.append(try parseValue())
            let t = next()
            if t.kind == .symbol, t.text == "," { continue }
            if t.kind == .symbol, t.text == "]" { return items }
            throw unexpected(t, expected: "',' or ']'")
        }
    }

    mutating func parseValue() throws -> MetadataValue {
        let t = next()
        switch t.kind {
        case .string: return .string(t.text)
        case .number:
            if let i = Int64(t.text) { return .int(i) }
            if let d = Double(t.text), d.isFinite { return .double(d) }
            throw EngramError(.invalidFilter, "filter syntax error at position \(t.position): invalid number '\(t.text)'")
        case .word:
            switch t.text.lowercased() {
            case "true": return .bool(true)
            case "false": return .bool(false)
            case "null": return .null
            case "date":
                let open = next()
                guard open.kind == .symbol, open.text == "(" else { throw unexpected(open, expected: "'(' after date") }
                let s = next()
                guard s.kind == .string else { throw unexpected(s, expected: "a quoted date like \"2024-05-01\"") }
                guard let d = MetadataValue.parseDate(s.text) else {
                    throw EngramError(.invalidFilter, "filter error at position \(s.position): invalid date '\(s.text)' (use ISO 8601, e.g. 2024-05-01 or 2024-05-01T12:00:00Z)")
                }
                let close = next()
                guard close.kind == .symbol, close.text == ")" else { throw unexpected(close, expected: "')'") }
                return .date(d)
            default:
                throw unexpected(t, expected: "a value (\"text\", number, true, false, null, date(\"...\"))")
            }
        case .symbol where t.text == "[":
            throw EngramError(.invalidFilter, "type mismatch at position \(t.position): a list is only allowed after 'in' or 'not in'")
        default:
            throw unexpected(t, expected: "a value (\"text\", number, true, false, null, date(\"...\"))")
        }
    }

    /// Whether a scalar may be part of a bare word (a key or keyword): letters of any script with their
    /// combining marks, digits, `_ . -`. The printer (``Filter/quoteKey(_:)``) uses the same rule.
    static func isWordScalar(_ s: Unicode.Scalar) -> Bool {
        if s == "_" || s == "." || s == "-" { return true }
        let p = s.properties
        if p.isAlphabetic || p.numericType != nil { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    static func isDigit(_ s: Unicode.Scalar) -> Bool { ("0"..."9").contains(s) }

    /// Splits the readable form into tokens, scalar by scalar: a quote or backslash followed by a combining
    /// mark is still a quote or a backslash (grapheme clusters would merge them). Positions count scalars.
    static func tokenize(_ text: String) throws -> [FilterToken] {
        let chars = Array(text.unicodeScalars)
        var tokens: [FilterToken] = []
        var i = 0
        while i < chars.count {
            let c = chars[i]
            let position = i + 1
            if c.properties.isWhitespace { i += 1; continue }
            if c == "\"" || c == "'" || c == "`" {
                var out = String.UnicodeScalarView()
                var j = i + 1
                var closed = false
                while j < chars.count {
                    let d = chars[j]
                    if d == "\\", j + 1 < chars.count {
                        let e = chars[j + 1]
                        switch e {
                        case "n": out.append("\n")
                        case "t": out.append("\t")
                        default: out.append(e)
                        }
                        j += 2
                        continue
                    }
                    if d == c { closed = true; break }
                    out.append(d)
                    j += 1
                }
                guard closed else {
                    throw EngramError(.invalidFilter, "filter syntax error at position \(position): unterminated \(c == "`" ? "`key`" : "string")")
                }
                tokens.append(FilterToken(kind: c == "`" ? .quotedKey : .string, text: String(out), position: position))
                i = j + 1
                continue
            }
            if isDigit(c) || ((c == "-" || c == "+") && i + 1 < chars.count && (isDigit(chars[i + 1]) || chars[i + 1] == ".")) {
                var j = i + 1
                while j < chars.count, isDigit(chars[j]) || chars[j] == "." || chars[j] == "e" || chars[j] == "E"
                    || ((chars[j] == "-" || chars[j] == "+") && (chars[j - 1] == "e" || chars[j - 1] == "E")) {
                    j += 1
                }
                // A bare word that starts with a digit (like `2fa`) is a key, not a number.
                if j < chars.count, isWordScalar(chars[j]), c != "-", c != "+" {
                    while j < chars.count, isWordScalar(chars[j]) { j += 1 }
                    tokens.append(FilterToken(kind: .word, text: String(String.UnicodeScalarView(chars[i..<j])), position: position))
                } else {
                    tokens.append(FilterToken(kind: .number, text: String(String.UnicodeScalarView(chars[i..<j])), position: position))
                }
                i = j
                continue
            }
            if isWordScalar(c) {
                var j = i + 1
                while j < chars.count, isWordScalar(chars[j]) { j += 1 }
                tokens.append(FilterToken(kind: .word, text: String(String.UnicodeScalarView(chars[i..<j])), position: position))
                i = j
                continue
            }
            let two = i + 1 < chars.count ? String(String.UnicodeScalarView(chars[i...(i + 1)])) : ""
            if ["==", "!=", "<=", ">="].contains(two) {
                tokens.append(FilterToken(kind: .symbol, text: two, position: position))
                i += 2
                continue
            }
            if "=<>()[],".unicodeScalars.contains(c) {
                tokens.append(FilterToken(kind: .symbol, text: String(c), position: position))
                i += 1
                continue
            }
            throw EngramError(.invalidFilter, "filter syntax error at position \(position): unexpected character '\(TerminalText.escaped(String(c)))'")
        }
        tokens.append(FilterToken(kind: .end, text: "", position: chars.count + 1))
        return tokens
    }
}
