import ArgumentParser
import EngramCore
import EngramKit
import EngramWire
import Foundation

/// `engram keys …`: the API keys `engram serve` accepts. Each key belongs to one tenant (`--tenant`),
/// which every request made with it acts for.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "API keys for engram serve: create (the key is printed once), list, revoke.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    @OptionGroup var global: GlobalOptions

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key for --tenant and print it (only its hash is stored: keep it now).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Comma-separated scopes: read, write, admin.") var scopes: String = "read,write"
        @Option(help: "A name to tell the key by.") var name: String = "key"

        func run() async throws {
            try await reporting(global) {
                let scopes = try APIScope.parse(list: scopes)
                let (key, secret) = try await global.withStores(.create) { try await APIKeys.create(tenant: global.tenant, name: name, scopes: scopes, in: $0.keys) }
                if global.json {
                    Output.printJSON(Wire.CreatedKey(key, secret: secret))
                } else {
                    Output.say(secret)
                    Output.notice("created \(key.id) for tenant \(key.tenant) (\(key.sortedScopes.map(\.rawValue).joined(separator: ","))); the key above is shown only now")
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the keys of --tenant (never their secrets).")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reporting(global) {
                let keys = try await global.withStores(.read) { try await $0.keys.keys(tenant: global.tenant) }
                if global.json { return Output.printJSON(keys.map(Wire.Key.init)) }
                for k in keys {
                    let state = k.revokedAt.map { "revoked \(MetadataValue.canonicalDateString($0))" } ?? "active"
                    Output.say("\(k.id)  \(k.sortedScopes.map(\.rawValue).joined(separator: ","))  \(state)  \(k.name)")
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key of --tenant: requests made with it fail from now on.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The key's id (key_…), or the key itself.") var id: String

        func run() async throws {
            try await reporting(global) {
                let key = try await global.withStores(.existing) { try await $0.keys.revokeKey(id: APIKeys.keyID(of: id) ?? id, tenant: global.tenant, at: Date()) }
                if global.json { Output.printJSON(Wire.Key(key)) } else { Output.say("revoked \(key.id)") }
            }
        }
    }
}
