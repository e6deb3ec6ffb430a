import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import EngramWire
import Foundation

enum Output {
    static func exitCode(for code: EngramError.Code) -> Int32 {
        switch code {
        case .invalidInput, .invalidFilter, .invalidManifest, .embeddingMismatch, .emptyDocument, .loadFailed, .collectionExists, .conflict, .legalHold, .superseded: 65
        case .collectionNotFound, .notFound: 66
        case .invalidConfiguration, .unsupported, .schemaMismatch: 78
        default: 1
        }
    }

    static func error(_ e: EngramError, json: Bool) {
        if json {
            printJSON(Wire.ErrorBody(e))
        }
        FileHandle.standardError.write(Data("engram: error: \(TerminalText.escaped(e.message))\n".utf8))
    }

    static func notice(_ text: String) {
        FileHandle.standardError.write(Data("engram: \(TerminalText.escaped(text))\n".utf8))
    }

    /// One line of human output: control characters (escape sequences, carriage returns, newlines from
    /// a file name or a stored text) are shown escaped, so stored text cannot drive the terminal or
    /// forge lines of a report.
    static func say(_ line: String) {
        print(TerminalText.escaped(line))
    }

    /// Stored text printed as it is, over several lines: escaped (newlines and tabs kept) when standard
    /// output is a terminal, byte for byte when it is a pipe or a file.
    static func text(_ text: String) {
        print(isatty(1) == 1 ? TerminalText.escaped(text, keepNewlines: true) : text)
    }

    /// The JSON of a wire type (EngramWire), on one line.
    static func printJSON(_ value: some Encodable) {
        // The wire types hold nothing that cannot be encoded (the encoder writes non-finite numbers as null).
        print(try! Wire.text(value))
    }

    static func oneLine(_ text: String, max: Int) -> String {
        let flat = text.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        return flat.count <= max ? flat : String(flat.prefix(max - 1)) + "…"
    }

    static var stderrIsTerminal: Bool { isatty(2) == 1 }
}
