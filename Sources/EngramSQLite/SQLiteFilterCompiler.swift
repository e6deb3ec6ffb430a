import EngramCore
import GRDB

/// Compiles a ``Filter`` to an SQLite boolean expression over a JSON metadata column, with every key
/// and value passed as a bound argument. The expression implements exactly the reference semantics of
/// ``Filter/matches(_:)``; each leaf is wrapped in `COALESCE(…, 0)` so a missing key gives false, never
/// NULL (which would break `NOT`).
struct SQLiteFilterCompiler {
    let column: String
    var arguments: [any DatabaseValueConvertible] = []

    init(column: String) {
        self.column = column
    }

    static func path(_ key: String) -> String { "$.\"\(key)\"" }
    static func datePath(_ key: String) -> String { "$.\"\(key)\".\"$date\"" }

    mutating func compile(_ filter: Filter) throws -> String {
        try filter.validate()
        return expression(filter)
    }

    mutating func bind(_ value: any DatabaseValueConvertible) -> String {
        arguments.append(value)
        return "?"
    }

    mutating func expression(_ filter: Filter) -> String {
        switch filter {
        case .and(let fs):
            return fs.isEmpty ? "1" : SQLBoolean.join(fs.map { expression($0) }, "AND")
        case .or(let fs):
            return fs.isEmpty ? "0" : SQLBoolean.join(fs.map { expression($0) }, "OR")
        case .not(let f):
            return "(NOT \(expression(f)))"
        case .exists(let key, let flag):
            return "(json_type(\(column), \(bind(Self.path(key)))) IS \(flag ? "NOT " : "")NULL)"
        case .compare(let key, let op, let value):
            switch op {
            case .eq: return scalarEquals(key: key, value)
            case .ne: return "(NOT \(scalarEquals(key: key, value)))"
            case .lt: return ordered(key: key, "<", value)
            case .lte: return ordered(key: key, "<=", value)
            case .gt: return ordered(key: key, ">", value)
            case .gte: return ordered(key: key, ">=", value)
            }
        case .oneOf(let key, let list):
            return isIn(key: key, list)
        case .noneOf(let key, let list):
            return "(NOT \(isIn(key: key, list)))"
        case .contains(let key, let value):
            var parts: [String] = []
            if case .string(let s) = value {
                let p = bind(Self.path(key)), p2 = bind(Self.path(key))
                parts.append("(json_type(\(column), \(p)) = 'text' AND instr(json_extract(\(column), \(p2)), \(bind(s))) > 0)")
            }
            parts.append(arrayHasElement(key: key, [value]))
            return "COALESCE(" + SQLBoolean.join(parts, "OR") + ", 0)"
        }
    }

    /// `key == value` for a scalar value (arrays never equal a scalar).
    mutating func scalarEquals(key: String, _ value: MetadataValue) -> String {
        let p = Self.path(key)
        switch value {
        case .string(let s):
            return "COALESCE((json_type(\(column), \(bind(p))) = 'text' AND json_extract(\(column), \(bind(p))) = \(bind(s))), 0)"
        case .int, .double:
            return "COALESCE((json_type(\(column), \(bind(p))) IN ('integer', 'real') AND json_extract(\(column), \(bind(p))) = \(bindNumber(value))), 0)"
        case .bool(let b):
            return "COALESCE((json_type(\(column), \(bind(p))) = '\(b ? "true" : "false")'), 0)"
        case .null:
            return "COALESCE((json_type(\(column), \(bind(p))) = 'null'), 0)"
        case .date(let d):
            let dp = Self.datePath(key)
            return "COALESCE((json_type(\(column), \(bind(dp))) = 'text' AND json_extract(\(column), \(bind(dp))) = \(bind(MetadataValue.canonicalDateString(d)))), 0)"
        case .array:
            return "0"
        }
    }

    mutating func bindNumber(_ value: MetadataValue) -> String {
        switch value {
        case .int(let i): bind(i)
        case .double(let d): bind(d)
        default: "NULL"
        }
    }

    mutating func ordered(key: String, _ op: String, _ value: MetadataValue) -> String {
        let p = Self.path(key)
        switch value {
        case .string(let s):
            return "COALESCE((json_type(\(column), \(bind(p))) = 'text' AND json_extract(\(column), \(bind(p))) \(op) \(bind(s))), 0)"
        case .int, .double:
            return "COALESCE((json_type(\(column), \(bind(p))) IN ('integer', 'real') AND json_extract(\(column), \(bind(p))) \(op) \(bindNumber(value))), 0)"
        case .date(let d):
            let dp = Self.datePath(key)
            return "COALESCE((json_type(\(column), \(bind(dp))) = 'text' AND json_extract(\(column), \(bind(dp))) \(op) \(bind(MetadataValue.canonicalDateString(d)))), 0)"
        default:
            return "0"
        }
    }

    mutating func isIn(key: String, _ list: [MetadataValue]) -> String {
        guard !list.isEmpty else { return "0" }
        var parts = list.map { scalarEquals(key: key, $0) }
        parts.append(arrayHasElement(key: key, list))
        return "COALESCE(" + SQLBoolean.join(parts, "OR") + ", 0)"
    }

    /// The value at `key` is an array with an element equal to one of `values`.
    mutating func arrayHasElement(key: String, _ values: [MetadataValue]) -> String {
        let p = Self.path(key)
        guard values.contains(where: \.isScalar) else { return "0" }
        // Bind in the order the placeholders appear: the two paths first, then the element conditions.
        let p1 = bind(p), p2 = bind(p)
        var conditions: [String] = []
        for v in values {
            switch v {
            case .string(let s): conditions.append("(je.type = 'text' AND je.value = \(bind(s)))")
            case .int, .double: conditions.append("(je.type IN ('integer', 'real') AND je.value = \(bindNumber(v)))")
            case .bool(let b): conditions.append("je.type = '\(b ? "true" : "false")'")
            case .null: conditions.append("je.type = 'null'")
            case .date(let d): conditions.append("(je.type = 'object' AND json_extract(je.value, '$.\"$date\"') = \(bind(MetadataValue.canonicalDateString(d))))")
            case .array: continue
            }
        }
        return "COALESCE((json_type(\(column), \(p1)) = 'array' AND EXISTS (SELECT 1 FROM json_each(\(column), \(p2)) AS je WHERE \(SQLBoolean.join(conditions, "OR")))), 0)"
    }
}
