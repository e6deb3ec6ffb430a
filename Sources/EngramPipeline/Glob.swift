/// Shell-style path patterns for include/exclude lists.
///
/// `*` matches within one path component, `**` across components, `?` one character, `[abc]` a set.
/// A pattern without `/` is matched against the file name alone (like `.gitignore`); a pattern with `/`
/// against the path relative to the folder being walked.
public struct Glob: Sendable, Hashable {
    public let pattern: String
    private let chars: [Character]

    public init(_ pattern: String) {
        self.pattern = pattern
        self.chars = Array(pattern)
    }

    public func matches(relativePath: String) -> Bool {
        if !pattern.contains("/") {
            let name = relativePath.split(separator: "/").last.map(String.init) ?? relativePath
            return Glob.match(chars, 0, Array(name), 0)
        }
        let p = pattern.hasPrefix("/") ? Array(pattern.dropFirst()) : chars
        return Glob.match(p, 0, Array(relativePath), 0)
    }

    static func match(_ p: [Character], _ pi: Int, _ s: [Character], _ si: Int) -> Bool {
        var pi = pi, si = si
        while pi < p.count {
            let c = p[pi]
            if c == "*" {
                let double = pi + 1 < p.count && p[pi + 1] == "*"
                var next = pi + (double ? 2 : 1)
                if double, next < p.count, p[next] == "/" {
                    // `**/` also matches zero folders.
                    if match(p, next + 1, s, si) { return true }
                    next += 0
                }
                var k = si
                while true {
                    if match(p, next, s, k) { return true }
                    if k >= s.count { return false }
                    if !double, s[k] == "/" { return false }
                    k += 1
                }
            }
            guard si < s.count else { return false }
            if c == "?" {
                if s[si] == "/" { return false }
            } else if c == "[", let close = p[(pi + 1)...].firstIndex(of: "]") {
                let set = p[(pi + 1)..<close]
                let negate = set.first == "!" || set.first == "^"
                let members = negate ? set.dropFirst() : set
                var found = false
                var k = members.startIndex
                while k < members.endIndex {
                    if k + 2 < members.endIndex, members[k + 1] == "-" {
                        if members[k] <= s[si] && s[si] <= members[k + 2] { found = true }
                        k += 3
                    } else {
                        if members[k] == s[si] { found = true }
                        k += 1
                    }
                }
                if found == negate { return false }
                pi = close
            } else if c != s[si] {
                return false
            }
            pi += 1
            si += 1
        }
        return si == s.count
    }
}
