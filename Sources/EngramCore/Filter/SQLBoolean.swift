/// The shape of SQL boolean expressions that every SQL backend builds the same way.
public enum SQLBoolean {
    /// Conditions joined with `AND` or `OR` as a balanced tree of parenthesized groups (eight at most per
    /// group), so that N conditions nest about log2(N) levels deep. `a OR b OR c …` nests one level per
    /// condition in SQLite's parser, which refuses expression trees deeper than 1000. `group`
    /// parenthesizes two to eight members joined by the operator (each member a condition or a group),
    /// in the backend's statement type.
    public static func balanced<T>(_ parts: [T], group: ([T]) -> T) -> T {
        if parts.count == 1 { return parts[0] }
        if parts.count <= 8 { return group(parts) }
        let middle = parts.count / 2
        return group([balanced(Array(parts[..<middle]), group: group), balanced(Array(parts[middle...]), group: group)])
    }
}
