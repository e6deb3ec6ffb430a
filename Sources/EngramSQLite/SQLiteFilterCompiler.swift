import EngramCore
import GRDB

/// Compiles a ``Filter`` to an SQLite boolean expression over a JSON metadata column, as a GRDB `SQL`
/// literal in which every key path and value is a bound argument. The expression implements exactly
/// the reference semantics of ``Filter/matches(_:)``; each leaf is wrapped in `COALESCE(…, 0)` so a
/// missing key gives false, never NULL (which would break `NOT`).
struct SQLiteFilterCompiler {
    let column: SQL

    init(column: SQL) {
        self.column = column
    }

    static func path(_ key: String) -> String { "$.\"\(key)\"" }
    static func datePath(_ key: String) -> String { "$.\"\(key)\".\"$date\"" }

    func compile(_ filter: Filter) throws -> SQL {
        try filter.validate()
        return expression(filter)
    }

    /// Conditions joined by `AND` or `OR` as ``SQLBoolean``'s balanced tree (SQLite refuses expression
    /// trees deeper than 1000).
    static func join(_ parts: [SQL], _ op: String) -> SQL {
        SQLBoolean.balanced(parts) { "(" + $0.joined(separator: " \(op) ") + ")" }
    }

    func expression(_ filter: Filter) -> SQL {
        switch filter {
        case .and(let fs):
            return fs.isEmpty ? "1" : Self.join(fs.map(expression), "AND")
        case .or(let fs):
            return fs.isEmpty ? "0" : Self.join(fs.map(expression), "OR")
        case .not(let f):
            return "(NOT \(expression(f)))"
        case .exists(let key, let flag):
            return flag ? "(json_type(\(column), \(Self.path(key))) IS NOT NULL)" : "(json_type(\(column), \(Self.path(key))) IS NULL)"
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
            var parts: [SQL] = []
            if case .string(let s) = value {
                let p = Self.path(key)
                parts.append("(json_type(\(column), \(p)) = 'text' AND instr(json_extract(\(column), \(p)), \(s)) > 0)")
            }
            parts.append(arrayHasElement(key: key, [value]))
            return "COALESCE(\(Self.join(parts, "OR")), 0)"
        }
    }

    /// The JSON type name SQLite reports for a boolean.
    static func jsonType(_ b: Bool) -> String { b ? "true" : "false" }

    /// `key == value` for a scalar value (arrays never equal a scalar).
    func scalarEquals(key: String, _ value: MetadataValue) -> SQL {
        let p = Self.path(key)
        switch value {
        case .string(let s):
            return "COALESCE((json_type(\(column), \(p)) = 'text' AND json_extract(\(column), \(p)) = \(s)), 0)"
        case .int, .double:
            return "COALESCE((json_type(\(column), \(p)) IN ('integer', 'real') AND json_extract(\(column), \(p)) = \(Self.number(value))), 0)"
        case .bool(let b):
            return "COALESCE((json_type(\(column), \(p)) = \(Self.jsonType(b))), 0)"
        case .null:
            return "COALESCE((json_type(\(column), \(p)) = 'null'), 0)"
        case .date(let d):
            let dp = Self.datePath(key)
            return "COALESCE((json_type(\(column), \(dp)) = 'text' AND json_extract(\(column), \(dp)) = \(MetadataValue.canonicalDateString(d))), 0)"
        case .array:
            return "0"
        }
    }

    /// A number as a bound integer or real.
    static func number(_ value: MetadataValue) -> SQL {
        switch value {
        case .int(let i): "\(i)"
        case .double(let d): "\(d)"
        default: "NULL"
        }
    }

    /// `key op value`; `op` is one of the four comparison operators, written above as literals.
    func ordered(key: String, _ op: SQL, _ value: MetadataValue) -> SQL {
        let p = Self.path(key)
        switch value {
        case .string(let s):
            return "COALESCE((json_type(\(column), \(p)) = 'text' AND json_extract(\(column), \(p)) \(op) \(s)), 0)"
        case .int, .double:
            return "COALESCE((json_type(\(column), \(p)) IN ('integer', 'real') AND json_extract(\(column), \(p)) \(op) \(Self.number(value))), 0)"
        case .date(let d):
            let dp = Self.datePath(key)
            return "COALESCE((json_type(\(column), \(dp)) = 'text' AND json_extract(\(column), \(dp)) \(op) \(MetadataValue.canonicalDateString(d))), 0)"
        default:
            return "0"
        }
    }

    func isIn(key: String, _ list: [MetadataValue]) -> SQL {
        guard !list.isEmpty else { return "0" }
        var parts = list.map { scalarEquals(key: key, $0) }
        parts.append(arrayHasElement(key: key, list))
        return "COALESCE(\(Self.join(parts, "OR")), 0)"
    }

    /// The value at `key` is an array with an element equal to one of `values`.
    func arrayHasElement(key: String, _ values: [MetadataValue]) -> SQL {
        let p = Self.path(key)
        guard values.contains(where: \.isScalar) else { return "0" }
        var conditions: [SQL] = []
        for v in values {
            switch v {
            case .string(let s): conditions.append("(je.type = 'text' AND je.value = \(s))")
            case .int, .double: conditions.append("(je.type IN ('integer', 'real') AND je.value = \(Self.number(v)))")
            case .bool(let b): conditions.append("je.type = \(Self.jsonType(b))")
            case .null: conditions.append("je.type = 'null'")
            case .date(let d): conditions.append("(je.type = 'object' AND json_extract(je.value, '$.\"$date\"') = \(MetadataValue.canonicalDateString(d)))")
            case .array: continue
            }
        }
        return "COALESCE((json_type(\(column), \(p)) = 'array' AND EXISTS (SELECT 1 FROM json_each(\(column), \(p)) AS je WHERE \(Self.join(conditions, "OR")))), 0)"
    }
}
