import EngramCore
import PostgresNIO

/// Compiles a ``Filter`` to a PostgreSQL boolean expression over a `jsonb` metadata column. Keys and
/// values are always bound parameters. Each leaf is wrapped in `COALESCE(…, false)` so that a missing key
/// is false, never NULL, and `NOT` keeps the reference semantics of ``Filter/matches(_:)``. Strings
/// compare under `COLLATE "C"` (code-point order), numbers as `float8`, dates by their canonical text.
struct PostgresFilterCompiler {
    /// The metadata column (`c.metadata`, `m.metadata`): text of this module.
    let column: PostgresSQL

    init(column: String) { self.column = PostgresSQL(unsafeRaw: column) }

    func compile(_ filter: Filter) throws -> PostgresSQL {
        try filter.validate()
        var conjuncts = [expression(filter)]
        // Every string or boolean equality the filter requires is repeated as a top-level containment
        // test: implied by the exact test (so the result is the same), and answerable from the GIN index
        // on metadata, so a selective filter does not read every row of the collection.
        for (key, value) in Self.requiredEqualities(filter) {
            switch value {
            case .string(let s): conjuncts.append("\(column) @> jsonb_build_object(\(key)::text, \(s)::text)")
            case .bool(let b): conjuncts.append("\(column) @> jsonb_build_object(\(key)::text, \(b)::boolean)")
            default: continue
            }
        }
        return PostgresSQL.boolean(conjuncts, "AND")
    }

    /// The string and boolean equalities every matching row satisfies (those at the top, or under AND).
    static func requiredEqualities(_ filter: Filter) -> [(String, MetadataValue)] {
        switch filter {
        case .compare(let key, .eq, let value):
            switch value {
            case .string, .bool: return [(key, value)]
            default: return []
            }
        case .and(let fs): return fs.flatMap(requiredEqualities)
        default: return []
        }
    }

    func expression(_ filter: Filter) -> PostgresSQL {
        switch filter {
        case .and(let fs): return fs.isEmpty ? "true" : PostgresSQL.boolean(fs.map(expression), "AND")
        case .or(let fs): return fs.isEmpty ? "false" : PostgresSQL.boolean(fs.map(expression), "OR")
        case .not(let f): return "(NOT \(expression(f)))"
        case .exists(let key, let flag):
            return "((\(column) -> \(key)) IS \(unsafeRaw: flag ? "NOT " : "")NULL)"
        case .compare(let key, let op, let value):
            switch op {
            case .eq: return equals(key, value)
            case .ne: return "(NOT \(equals(key, value)))"
            case .lt: return ordered(key, "<", value)
            case .lte: return ordered(key, "<=", value)
            case .gt: return ordered(key, ">", value)
            case .gte: return ordered(key, ">=", value)
            }
        case .oneOf(let key, let list): return isIn(key, list)
        case .noneOf(let key, let list): return "(NOT \(isIn(key, list)))"
        case .contains(let key, let value):
            var parts: [PostgresSQL] = []
            if case .string(let s) = value {
                let k = SQLValue(key)
                parts.append("(jsonb_typeof(\(column) -> \(k)) = 'string' AND strpos(\(column) ->> \(k), \(s)) > 0)")
            }
            parts.append(arrayHas(key, [value]))
            return "COALESCE(\(PostgresSQL.boolean(parts, "OR")), false)"
        }
    }

    func equals(_ key: String, _ value: MetadataValue) -> PostgresSQL {
        let k = SQLValue(key)
        let typeOf: PostgresSQL = "jsonb_typeof(\(column) -> \(k))"
        switch value {
        case .string(let s): return "COALESCE((\(typeOf) = 'string' AND (\(column) ->> \(k)) = \(s)), false)"
        case .int, .double: return "COALESCE((\(typeOf) = 'number' AND (\(column) ->> \(k))::float8 = \(value.asDouble)), false)"
        case .bool(let b): return "COALESCE((\(typeOf) = 'boolean' AND (\(column) ->> \(k))::boolean = \(b)), false)"
        case .null: return "COALESCE((\(typeOf) = 'null'), false)"
        case .date(let d): return "COALESCE((\(typeOf) = 'object' AND (\(column) -> \(k) ->> '$date') = \(MetadataValue.canonicalDateString(d))), false)"
        case .array: return "false"
        }
    }

    /// `op` is one of this module's comparison operators.
    func ordered(_ key: String, _ op: String, _ value: MetadataValue) -> PostgresSQL {
        let k = SQLValue(key)
        let typeOf: PostgresSQL = "jsonb_typeof(\(column) -> \(k))"
        switch value {
        case .string(let s): return "COALESCE((\(typeOf) = 'string' AND (\(column) ->> \(k)) COLLATE \"C\" \(unsafeRaw: op) \(s)), false)"
        case .int, .double: return "COALESCE((\(typeOf) = 'number' AND (\(column) ->> \(k))::float8 \(unsafeRaw: op) \(value.asDouble)), false)"
        case .date(let d): return "COALESCE((\(typeOf) = 'object' AND (\(column) -> \(k) ->> '$date') COLLATE \"C\" \(unsafeRaw: op) \(MetadataValue.canonicalDateString(d))), false)"
        default: return "false"
        }
    }

    func isIn(_ key: String, _ list: [MetadataValue]) -> PostgresSQL {
        guard !list.isEmpty else { return "false" }
        var parts = list.map { equals(key, $0) }
        parts.append(arrayHas(key, list))
        return "COALESCE(\(PostgresSQL.boolean(parts, "OR")), false)"
    }

    func arrayHas(_ key: String, _ values: [MetadataValue]) -> PostgresSQL {
        guard values.contains(where: \.isScalar) else { return "false" }
        let k = SQLValue(key)
        var conditions: [PostgresSQL] = []
        for v in values {
            switch v {
            case .string(let s): conditions.append("(jsonb_typeof(e.v) = 'string' AND (e.v #>> '{}') = \(s))")
            case .int, .double: conditions.append("(jsonb_typeof(e.v) = 'number' AND (e.v #>> '{}')::float8 = \(v.asDouble))")
            case .bool(let b): conditions.append("(jsonb_typeof(e.v) = 'boolean' AND (e.v #>> '{}')::boolean = \(b))")
            case .null: conditions.append("jsonb_typeof(e.v) = 'null'")
            case .date(let d): conditions.append("(jsonb_typeof(e.v) = 'object' AND (e.v ->> '$date') = \(MetadataValue.canonicalDateString(d)))")
            case .array: continue
            }
        }
        return "COALESCE((jsonb_typeof(\(column) -> \(k)) = 'array' AND EXISTS (SELECT 1 FROM jsonb_array_elements(\(column) -> \(k)) AS e(v) WHERE \(PostgresSQL.boolean(conditions, "OR")))), false)"
    }
}

extension MetadataValue {
    var asDouble: Double {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        default: .nan
        }
    }
}
