import GRDB

// Every statement on SQLite is a GRDB `SQL` literal: `\(value)` binds the value (a sequence binds as a
// parenthesized list, nil is NULL), `\(fragment)` composes another literal with its bound values,
// `\(identifier: name)` quotes a name, and raw text gets in only through GRDB's visibly named door, the
// interpolation labelled `sql`. Shipped migrations (``SQLiteSchema``) stay frozen literal SQL;
// `SQLiteStatementTests` checks that no other statement is built from a plain string.
extension Database {
    func rows(_ sql: SQL) throws -> [Row] { try Row.fetchAll(self, SQLRequest<Row>(literal: sql)) }
    func row(_ sql: SQL) throws -> Row? { try Row.fetchOne(self, SQLRequest<Row>(literal: sql)) }
    func rowCursor(_ sql: SQL) throws -> RowCursor { try Row.fetchCursor(self, SQLRequest<Row>(literal: sql)) }

    /// The first column of the first row, nil when there is no row or the value is NULL.
    func value<T: DatabaseValueConvertible & StatementColumnConvertible>(_ type: T.Type, _ sql: SQL) throws -> T? {
        try T.fetchOne(self, SQLRequest<T>(literal: sql))
    }

    /// The first column of every row.
    func values<T: DatabaseValueConvertible & StatementColumnConvertible>(_ type: T.Type, _ sql: SQL) throws -> [T] {
        try T.fetchAll(self, SQLRequest<T>(literal: sql))
    }

    /// The number in the first column of the first row (a count), 0 when there is none.
    func count(_ sql: SQL) throws -> Int { try value(Int.self, sql) ?? 0 }
}
