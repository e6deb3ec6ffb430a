import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import EngramWire
import Foundation

struct Collections: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the tenant's collections.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await reporting(global) {
            try await global.withStore(.read) { store in
                let list = try await store.collections(tenant: global.tenant)
                if global.json {
                    Output.printJSON(list.map(Wire.Collection.init))
                } else {
                    if list.isEmpty { Output.say("no collections for tenant \(global.tenant)") }
                    for c in list { Output.say("\(c.ref.name)  \(c.identity)") }
                }
            }
        }
    }
}
