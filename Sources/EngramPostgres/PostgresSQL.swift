import EngramCore
import PostgresNIO

/// A PostgreSQL statement, or a fragment of one, whose interpolations **bind** values: `"… WHERE id =
/// \(id)"` sends `id` as a parameter, never as text. Fragments compose (`"SELECT … WHERE \(condition)"`)
/// and their parameters are numbered when the statement is sent, so no author counts `$n`. Text that is
/// not a value goes in only through named doors: ``SQLIdentifier`` (a validated name, such as the schema)
/// and `\(unsafeRaw:)` (text this module wrote itself: operators, numbers of its own settings, shipped
/// migrations).
///
/// A value interpolated twice is bound twice; a ``SQLValue`` interpolated twice is one parameter (the
/// filter compiler names a key once per leaf that way).
struct PostgresSQL: Sendable, ExpressibleByStringInterpolation {
    enum Part: Sendable {
        case text(String)
        case value(SQLValue)
    }

    private(set) var parts: [Part]

    init(stringLiteral text: String) { parts = [.text(text)] }

    init(stringInterpolation: StringInterpolation) { parts = stringInterpolation.parts }

    init(parts: [Part]) { self.parts = parts }

    /// Text this module wrote (see the type's documentation); never a value from a caller.
    init(unsafeRaw text: String) { parts = [.text(text)] }

    struct StringInterpolation: StringInterpolationProtocol {
        var parts: [Part] = []

        init(literalCapacity: Int, interpolationCount: Int) { parts.reserveCapacity(2 * interpolationCount + 1) }

        mutating func appendLiteral(_ literal: String) { if !literal.isEmpty { parts.append(.text(literal)) } }

        /// A value: bound as a parameter.
        mutating func appendInterpolation(_ value: some PostgresDynamicTypeEncodable & Sendable) { parts.append(.value(SQLValue(value))) }

        /// A value that may be NULL.
        mutating func appendInterpolation(_ value: (some PostgresDynamicTypeEncodable & Sendable)?) {
            if let value { parts.append(.value(SQLValue(value))) } else { parts.append(.text("NULL")) }
        }

        /// An integer is spliced as its digits, not bound: digits cannot carry SQL, and the planner then
        /// sees a constant (a partial index's predicate, a type modifier such as `vector(384)`).
        mutating func appendInterpolation(_ value: Int) { parts.append(.text(String(value))) }
        mutating func appendInterpolation(_ value: Int64) { parts.append(.text(String(value))) }
        mutating func appendInterpolation(_ value: Int32) { parts.append(.text(String(value))) }

        /// One parameter, however often it is interpolated.
        mutating func appendInterpolation(_ value: SQLValue) { parts.append(.value(value)) }

        /// A fragment, with its parameters.
        mutating func appendInterpolation(_ fragment: PostgresSQL) { parts += fragment.parts }

        /// A validated name (schema, table, index), spliced as text.
        mutating func appendInterpolation(_ name: SQLIdentifier) { parts.append(.text(name.name)) }

        /// Text this module wrote; the name says what it is.
        mutating func appendInterpolation(unsafeRaw text: String) { parts.append(.text(text)) }
    }

    static func + (a: PostgresSQL, b: PostgresSQL) -> PostgresSQL { PostgresSQL(parts: a.parts + b.parts) }

    static func += (a: inout PostgresSQL, b: PostgresSQL) { a.parts += b.parts }

    /// The fragments joined by `separator` (text of this module: `", "`, `" AND "`).
    static func joined(_ fragments: [PostgresSQL], separator: String) -> PostgresSQL {
        var parts: [Part] = []
        for (i, f) in fragments.enumerated() {
            if i > 0 { parts.append(.text(separator)) }
            parts += f.parts
        }
        return PostgresSQL(parts: parts)
    }

    /// Joins conditions with `AND` or `OR` in ``SQLBoolean``'s balanced tree: N conditions nest about
    /// log2(N) levels deep.
    static func boolean(_ conditions: [PostgresSQL], _ op: String) -> PostgresSQL {
        SQLBoolean.balanced(conditions) { "(" + joined($0, separator: " \(op) ") + ")" }
    }

    /// The statement for the driver: the text with `$1`, `$2`, … in order of first use, and the bindings.
    var query: PostgresQuery {
        var text = ""
        var bindings = PostgresBindings()
        var numbers: [ObjectIdentifier: Int] = [:]
        for part in parts {
            switch part {
            case .text(let t): text += t
            case .value(let v):
                if let n = numbers[ObjectIdentifier(v)] {
                    text += "$\(n)"
                } else {
                    v.append(to: &bindings)
                    numbers[ObjectIdentifier(v)] = numbers.count + 1
                    text += "$\(numbers.count)"
                }
            }
        }
        return PostgresQuery(unsafeSQL: text, binds: bindings)
    }
}

/// A bound value that keeps its identity: interpolated twice, it is one parameter.
final class SQLValue: Sendable {
    private let append: @Sendable (inout PostgresBindings) -> Void

    init(_ value: some PostgresDynamicTypeEncodable & Sendable) {
        append = { $0.append(value) }
    }

    func append(to bindings: inout PostgresBindings) { append(&bindings) }
}

/// A name spliced into SQL text: checked once (``PostgresStoreConfiguration/validateIdentifier(_:what:)``)
/// when it is made, so that it can be interpolated without binding.
struct SQLIdentifier: Sendable, Hashable, CustomStringConvertible {
    let name: String

    init(_ name: String, what: String) throws {
        try PostgresStoreConfiguration.validateIdentifier(name, what: what)
        self.name = name
    }

    /// A name this module composes from validated parts or reads from the catalog (`chunks_hnsw_c12_g1`).
    init(trusted name: String) { self.name = name }

    var description: String { name }
}
