/// Text of SQL boolean expressions that every SQL backend builds the same way.
public enum SQLBoolean {
    /// Joins conditions with `AND` or `OR` as a balanced tree of parenthesized groups (eight at most per
    /// group), so that N conditions nest about log2(N) levels deep. `a OR b OR c …` nests one level per
    /// condition in SQLite's parser, which refuses expression trees deeper than 1000.
    public static func join(_ parts: [String], _ op: String) -> String {
        if parts.count == 1 { return parts[0] }
        if parts.count <= 8 { return "(" + parts.joined(separator: " \(op) ") + ")" }
        let middle = parts.count / 2
        return "(" + join(Array(parts[..<middle]), op) + " \(op) " + join(Array(parts[middle...]), op) + ")"
    }
}
