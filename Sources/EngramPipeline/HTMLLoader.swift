import EngramCore
import Foundation

/// HTML: keeps the visible text, with block elements on their own lines; `h1`–`h6` become headings; the
/// `<title>` becomes the `title` metadata and the first line; `script`, `style`, `noscript`, `template`,
/// `svg` and comments are dropped; character references are decoded.
public enum HTMLLoader {
    static let dropped: Set<String> = ["script", "style", "noscript", "template", "svg"]
    static let blocks: Set<String> = [
        "p", "div", "br", "li", "ul", "ol", "table", "tr", "section", "article", "header", "footer", "nav",
        "aside", "main", "blockquote", "pre", "hr", "dl", "dt", "dd", "figure", "figcaption", "form", "h1", "h2",
        "h3", "h4", "h5", "h6", "title", "td", "th", "body", "html",
    ]

    public static func load(html: String, sourceURI: String, sourceHash: String, size: Int) throws -> LoadedDocument {
        var builder = Builder()
        let scalars = Array(html.unicodeScalars)
        var i = 0
        var title: String? = nil
        var skipUntil: String? = nil  // closing tag name that ends a dropped element
        var headingLevel: Int? = nil
        var headingStart = 0
        var inTitle = false
        var titleText = ""
        var preDepth = 0

        while i < scalars.count {
            let c = scalars[i]
            if c == "<" {
                if i + 3 < scalars.count, scalars[i + 1] == "!", scalars[i + 2] == "-", scalars[i + 3] == "-" {
                    // Comment.
                    var j = i + 4
                    while j + 2 < scalars.count, !(scalars[j] == "-" && scalars[j + 1] == "-" && scalars[j + 2] == ">") { j += 1 }
                    i = min(j + 3, scalars.count)
                    continue
                }
                guard let end = scalars[i...].firstIndex(of: ">") else {
                    builder.appendText("<", pre: preDepth > 0)
                    i += 1
                    continue
                }
                let inner = String(String.UnicodeScalarView(scalars[(i + 1)..<end]))
                i = end + 1
                let closing = inner.hasPrefix("/")
                let name = inner.drop(while: { $0 == "/" }).prefix(while: { $0.isLetter || $0.isNumber }).lowercased()
                if name.isEmpty { continue }
                if let s = skipUntil {
                    if closing, name == s { skipUntil = nil }
                    continue
                }
                if !closing, dropped.contains(name), !inner.hasSuffix("/") {
                    skipUntil = name
                    continue
                }
                if name == "title" {
                    if closing {
                        inTitle = false
                        let t = collapse(titleText)
                        if !t.isEmpty, title == nil { title = t }
                    } else {
                        inTitle = true
                        titleText = ""
                    }
                    continue
                }
                if name == "pre" { preDepth += closing ? (preDepth > 0 ? -1 : 0) : 1 }
                if name.count == 2, name.first == "h", let level = Int(String(name.last!)), (1...6).contains(level) {
                    builder.breakBlock()
                    if closing, let l = headingLevel {
                        let t = collapse(builder.text(from: headingStart))
                        if !t.isEmpty { builder.headings.append(Heading(offset: headingStart, level: l, title: t)) }
                        headingLevel = nil
                    } else if !closing {
                        headingLevel = level
                        headingStart = builder.count
                    }
                    continue
                }
                if blocks.contains(name) { builder.breakBlock(paragraph: name != "br" && name != "li" && name != "td" && name != "th" && name != "tr") }
                continue
            }
            // Text run up to the next tag.
            var j = i
            while j < scalars.count, scalars[j] != "<" { j += 1 }
            if skipUntil == nil {
                let raw = String(String.UnicodeScalarView(scalars[i..<j]))
                let decoded = decodeEntities(raw)
                if inTitle { titleText += decoded } else { builder.appendText(decoded, pre: preDepth > 0) }
            }
            i = j
        }
        var text = builder.finish()
        var headings = builder.headings
        if let title {
            // The title leads the text, so it is searchable and cited like the rest.
            let prefix = title + "\n\n"
            let shift = prefix.unicodeScalars.count
            text = prefix + text
            headings = headings.map { Heading(offset: $0.offset + shift, level: $0.level, title: $0.title) }
        }
        var metadata: Metadata = [:]
        if let title { metadata["title"] = .string(title) }
        return LoadedDocument(sourceURI: sourceURI, text: text, mime: "text/html", metadata: metadata, headings: headings, sourceBytesSHA256: sourceHash, size: size)
    }

    static func collapse(_ s: String) -> String {
        s.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }

    struct Builder {
        var scalars = String.UnicodeScalarView()
        var count = 0
        var headings: [Heading] = []
        var pendingSpace = false

        mutating func append(_ s: Unicode.Scalar) {
            scalars.append(s)
            count += 1
        }

        var lastIsNewline: Bool { scalars.last == "\n" || scalars.isEmpty }

        mutating func appendText(_ text: String, pre: Bool) {
            if pre {
                for s in text.unicodeScalars { append(s) }
                return
            }
            for s in text.unicodeScalars {
                if s.properties.isWhitespace {
                    pendingSpace = true
                } else {
                    if pendingSpace, !lastIsNewline { append(" ") }
                    pendingSpace = false
                    append(s)
                }
            }
        }

        mutating func breakBlock(paragraph: Bool = true) {
            pendingSpace = false
            guard !scalars.isEmpty else { return }
            // Trim trailing spaces before the break.
            while scalars.last == " " {
                scalars.removeLast()
                count -= 1
            }
            if paragraph {
                if scalars.last != "\n" { append("\n") }
                let chars = Array(scalars.suffix(2))
                if !(chars.count == 2 && chars[0] == "\n" && chars[1] == "\n") { append("\n") }
            } else if scalars.last != "\n" {
                append("\n")
            }
        }

        func text(from offset: Int) -> String {
            String(String.UnicodeScalarView(scalars.dropFirst(offset)))
        }

        mutating func finish() -> String {
            while let last = scalars.last, last.properties.isWhitespace {
                scalars.removeLast()
                count -= 1
            }
            return String(scalars)
        }
    }

    static let namedEntities: [String: String] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": "\u{00A0}", "copy": "©", "reg": "®",
        "mdash": "—", "ndash": "–", "hellip": "…", "lsquo": "‘", "rsquo": "’", "ldquo": "“", "rdquo": "”",
        "trade": "™", "euro": "€", "middot": "·", "times": "×", "laquo": "«", "raquo": "»", "shy": "\u{00AD}",
    ]

    static func decodeEntities(_ s: String) -> String {
        guard s.contains("&") else { return s }
        var out = ""
        var rest = Substring(s)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            let after = rest[rest.index(after: amp)...]
            if let semi = after.prefix(12).firstIndex(of: ";") {
                let name = String(after[..<semi])
                var replacement: String? = namedEntities[name]
                if replacement == nil, name.hasPrefix("#") {
                    let digits = name.dropFirst()
                    let code = digits.first == "x" || digits.first == "X" ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits)
                    if let code, code != 0, let scalar = Unicode.Scalar(code) { replacement = String(Character(scalar)) }
                }
                if let replacement {
                    out += replacement
                    rest = after[after.index(after: semi)...]
                    continue
                }
            }
            out += "&"
            rest = after
        }
        out += rest
        return out
    }
}

extension String.UnicodeScalarView {
    init(_ slice: some Sequence<Unicode.Scalar>) {
        self.init()
        append(contentsOf: slice)
    }
}
