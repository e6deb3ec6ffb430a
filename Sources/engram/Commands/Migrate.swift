import ArgumentParser
import EngramCore
import EngramKit
import EngramWire
import Foundation

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending schema migrations (`engram migrate status` lists them without applying).",
        discussion: "PostgreSQL migrations run in one transaction under an advisory lock, so concurrent runs are safe; a database with an edited or unknown migration is refused. SQLite stores migrate when opened for writing.",
        subcommands: [Status.self])

    @OptionGroup var global: GlobalOptions

    @Option(help: "PostgreSQL: a role to grant the privileges an application needs.")
    var grantTo: String?

    func run() async throws {
        try await reporting(global) {
            let role = grantTo
            let (status, appliedNow) = try await Engram.withMigrations(global.storeURL) { migrations in
                let applied = try await migrations.migrate(grantTo: role)
                return (try await migrations.status(), applied)
            }
            Self.print(status, appliedNow: appliedNow, json: global.json)
        }
    }

    static func print(_ status: [MigrationState], appliedNow: [Int]?, json: Bool) {
        let rows = status.map { (version: $0.version, name: $0.name, state: $0.applied ? "applied" : "pending") }
        if json {
            Output.printJSON(Wire.Migrations(status, appliedNow: appliedNow ?? []))
        } else {
            for r in rows { Output.say("\(String(r.version).padding(toLength: 4, withPad: " ", startingAt: 0)) \(r.name.padding(toLength: 40, withPad: " ", startingAt: 0)) \(r.state)") }
            if let appliedNow { Output.say(appliedNow.isEmpty ? "schema is up to date" : "applied \(appliedNow.map(String.init).joined(separator: ", "))") }
        }
    }
}

extension Migrate {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List applied and pending migrations; change nothing.")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reporting(global) {
                let status = try await Engram.withMigrations(global.storeURL) { try await $0.status() }
                Migrate.print(status, appliedNow: nil, json: global.json)
            }
        }
    }
}
