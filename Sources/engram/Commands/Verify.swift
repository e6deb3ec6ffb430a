import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import EngramWire
import Foundation

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Re-check an evidence manifest against the store: verified, changed or missing per hit.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Manifest file written by search --manifest.")
    var manifest: String

    func run() async throws {
        var allVerified = true
        try await reporting(global) {
            let data = try InputFile.read(manifest, limit: EvidenceManifest.maxBytes, what: "manifest")
            let m = try EvidenceManifest.parse(String(decoding: data, as: UTF8.self))
            try await global.withStore(.read) { store in
                let report = try await ManifestVerifier.verify(m, against: store, tenant: global.tenant)
                allVerified = report.allVerified
                if global.json {
                    Output.printJSON(Wire.Verification(report))
                } else {
                    Output.say("manifest \(report.manifestID)")
                    for r in report.results {
                        Output.say("  \(r.rank). \(r.status.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(r.chunkID)  \(r.sourceURI)\(r.reason.map { "  — \($0)" } ?? "")")
                    }
                    Output.say("\(report.count(.verified)) verified, \(report.count(.changed)) changed, \(report.count(.missing)) missing")
                }
            }
        }
        if !allVerified { throw ExitCode(2) }
    }
}
