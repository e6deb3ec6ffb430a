import EngramCore
import PostgresNIO

/// SQL text with `$n` placeholders and the values bound to them.
struct BoundSQL {
    var bindings = PostgresBindings()
    var count = 0

    mutating func bind(_ value: some PostgresDynamicTypeEncodable & Sendable) -> String {
        bindings.append(value)
        count += 1
        return "$\(count)"
    }
}

/// Compiles a ``Filter`` to a PostgreSQL boolean expression over a `jsonb` metadata column. Keys and
/// values are always bound parameters. Each leaf is wrapped in `COALESCE(…, false)` so that a missing key
/// is false, never NULL, and `NOT` keeps the reference semantics of ``Filter/matches(_:)``. Strings
/// compare under `COLLATE "C"` (code-point order), numbers as `float8`, dates by their canonical text.
struct PostgresFilterCompiler {
    let column: String

    func compile(_ filter: Filter, into sql: inout BoundSQL) throws -> String {
        try filter.validate()
        var conjuncts = [expression(filter, &sql)]
        // Every string or boolean equality the filter requires is repeated as a top-level containment
        // test: implied by the exact test (so the result is the same), and answerable from the GIN index
        // on metadata, so a selective filter does not read every row of the collection.
        for (key, value) in Self.requiredEqualities(filter) {
            switch value {
            case .string(let s): conjuncts.append("\(column) @> jsonb_build_object(\(sql.bind(key))::text, \(sql.bind(s))::text)")
            case .bool(let b): conjuncts.append("\(column) @> jsonb_build_object(\(sql.bind(key))::text, \(sql.bind(b))::boolean)")
            default: continue
            }
        }
        return SQLBoolean.join(conjuncts, "AND")
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

    func expression(_ filter: Filter, _ sql: inout BoundSQL) -> String {
        switch filter {
        case .and(let fs): return fs.isEmpty ? "true" : SQLBoolean.join(fs.map { expression($0, &sql) }, "AND")
        case .or(let fs): return fs.isEmpty ? "false" : SQLBoolean.join(fs.map { expression($0, &sql) }, "OR")
        case .not(let f): return "(NOT \(expression(f, &sql)))"
        case .exists(let key, let flag):
            return "((\(column) -> \(sql.bind(key))) IS \(flag ? "NOT " : "")NULL)"
        case .compare(let key, let op, let value):
            switch op {
            case .eq: return equals(key, value, &sql)
            case .ne: return "(NOT \(equals(key, value, &sql)))"
            case .lt: return ordered(key, "<", value, &sql)
            case .lte: return ordered(key, "<=", value, &sql)
            case .gt: return ordered(key, ">", value, &sql)
            case .gte: return ordered(key, ">=", value, &sql)
            }
        case .oneOf(let key, let list): return isIn(key, list, &sql)
        case .noneOf(let key, let list): return "(NOT \(isIn(key, list, &sql)))"
        case .contains(let key, let value):
            var parts: [String] = []
            if case .string(let s) = value {
                let k = sql.bind(key)
                parts.append("(jsonb_typeof(\(column) -> \(k)) = 'string' AND strpos(\(column) ->> \(k), \(sql.bind(s))) > 0)")
            }
            parts.append(arrayHas(key, [value], &sql))
            return "COALESCE(" + SQLBoolean.join(parts, "OR") + ", false)"
        }
    }

    func equals(_ key: String, _ value: MetadataValue, _ sql: inout BoundSQL) -> String {
        let k = sql.bind(key)
        let typeOf = "jsonb_typeof(\(column) -> \(k))"
        switch value {
        case .string(let s): return "COALESCE((\(typeOf) = 'string' AND (\(column) ->> \(k)) = \(sql.bind(s))), false)"
        case .int, .double: return "COALESCE((\(typeOf) = 'number' AND (\(column) ->> \(k))::float8 = \(sql.bind(value.asDouble))), false)"
        case .bool(let b): return "COALESCE((\(typeOf) = 'boolean' AND (\(column) ->> \(k))::boolean = \(sql.bind(b))), false)"
        case .null: return "COALESCE((\(typeOf) = 'null'), false)"
        case .date(let d): return "COALESCE((\(typeOf) = 'object' AND (\(column) -> \(k) ->> '$date') = \(sql.bind(MetadataValue.canonicalDateString(d)))), false)"
        case .array: return "false"
        }
    }

    func ordered(_ key: String, _ op: String, _ value: MetadataValue, _ sql: inout BoundSQL) -> String {
        let k = sql.bind(key)
        let typeOf = "jsonb_typeof(\(column) -> \(k))"
        switch value {
        case .string(let s): return "COALESCE((\(typeOf) = 'string' AND (\(column) ->> \(k)) COLLATE \"C\" \(op) \(sql.bind(s))), false)"
        case .int, .double: return "COALESCE((\(typeOf) = 'number' AND (\(column) ->> \(k))::float8 \(op) \(sql.bind(value.asDouble))), false)"
        case .date(let d): return "COALESCE((\(typeOf) = 'object' AND (\(column) -> \(k) ->> '$date') COLLATE \"C\" \(op) \(sql.bind(MetadataValue.canonicalDateString(d)))), false)"
        default: return "false"
        }
    }

    func isIn(_ key: String, _ list: [MetadataValue], _ sql: inout BoundSQL) -> String {
        guard !list.isEmpty else { return "false" }
        var parts = list.map { equals(key, $0, &sql) }
        parts.append(arrayHas(key, list, &sql))
        return "COALESCE(" + SQLBoolean.join(parts, "OR") + ", false)"
    }

    func arrayHas(_ key: String, _ values: [MetadataValue], _ sql: inout BoundSQL) -> String {
        guard values.contains(where: \.isScalar) else { return "false" }
        let k = sql.bind(key)
        var conditions: [String] = []
        for v in values {
            switch v {
            case .string(let s): conditions.append("(jsonb_typeof(e.v) = 'string' AND (e.v #>> '{}') = \(sql.bind(s)))")
            case .int, .double: conditions.append("(jsonb_typeof(e.v) = 'number' AND (e.v #>> '{}')::float8 = \(sql.bind(v.asDouble)))")
            case .bool(let b): conditions.append("(jsonb_typeof(e.v) = 'boolean' AND (e.v #>> '{}')::boolean = \(sql.bind(b)))")
            case .null: conditions.append("jsonb_typeof(e.v) = 'null'")
            case .date(let d): conditions.append("(jsonb_typeof(e.v) = 'object' AND (e.v ->> '$date') = \(sql.bind(MetadataValue.canonicalDateString(d))))")
            case .array: continue
            }
        }
        return "COALESCE((jsonb_typeof(\(column) -> \(k)) = 'array' AND EXISTS (SELECT 1 FROM jsonb_array_elements(\(column) -> \(k)) AS e(v) WHERE \(SQLBoolean.join(conditions, "OR")))), false)"
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
