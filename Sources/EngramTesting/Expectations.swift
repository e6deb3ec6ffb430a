import EngramCore

/// A failed conformance check, with where it was checked.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public var message: String
    public var location: String

    public var description: String { "\(location): \(message)" }
}

func expect(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) throws {
    if !condition { throw ConformanceFailure(message: message(), location: "\(file):\(line)") }
}

func expectEqual<T: Equatable>(_ a: T, _ b: T, _ message: @autoclosure () -> String = "", file: StaticString = #fileID, line: UInt = #line) throws {
    if a != b {
        let m = message()
        throw ConformanceFailure(message: "\(m.isEmpty ? "" : m + ": ")expected \(b), got \(a)", location: "\(file):\(line)")
    }
}

func expectError<T>(_ code: EngramError.Code, _ message: @autoclosure () -> String = "", file: StaticString = #fileID, line: UInt = #line, _ body: () async throws -> T) async throws {
    do {
        _ = try await body()
    } catch let e as EngramError {
        if e.code != code {
            throw ConformanceFailure(message: "\(message()): expected error \(code), got \(e.code): \(e.message)", location: "\(file):\(line)")
        }
        return
    } catch {
        throw ConformanceFailure(message: "\(message()): expected EngramError \(code), got \(error)", location: "\(file):\(line)")
    }
    throw ConformanceFailure(message: "\(message()): expected error \(code), but the call succeeded", location: "\(file):\(line)")
}

func expectValue<T>(_ value: T?, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) throws -> T {
    guard let value else { throw ConformanceFailure(message: message(), location: "\(file):\(line)") }
    return value
}
