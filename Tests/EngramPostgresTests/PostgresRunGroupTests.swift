import EngramCore
@testable import EngramPostgres
import EngramTesting
import Foundation
import PostgresNIO
import Testing

/// Checkpoints of many writers sent in groups (PostgresRunAdvances, run_advance_many).
@Suite("PostgreSQL run store: grouped checkpoints", .enabled(if: PostgresTestEnvironment.available))
struct PostgresRunGroupTests {
    static func state(_ step: Int) -> [String: JSONValue] {
        var s: [String: JSONValue] = [:]
        for c in 0..<4 { s["ch\(c)"] = c == 0 ? .int(Int64(step)) : .string("fixed \(c)") }
        return s
    }

    @Test func manyWritersAtOnceAreGroupedAndEveryChainHolds() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            try await PostgresMigrator(schema: config.schema).migrate(client)
            let store = try PostgresRunStore(client: client, schema: config.schema)
            let runs = 12, steps = 25
            var leases: [RunLease] = []
            for i in 0..<runs {
                let tenant = "t\(i % 3)"
                let run = try await store.startRun(RunDraft(tenant: tenant, agent: "a"), actor: "test")
                leases.append(try await store.acquireLease(runID: run.id, tenant: tenant, owner: "w\(i)", duration: .seconds(600)))
            }
            // A run whose one writer sends eight next steps from the same parent at once, amid the others.
            let contested = try await store.startRun(RunDraft(tenant: "t0", agent: "a"), actor: "test")
            let contestedLease = try await store.acquireLease(runID: contested.id, tenant: "t0", owner: "racer", duration: .seconds(600))
            let root = try await store.putCheckpoint(CheckpointDraft(tenant: "t0", runID: contested.id, parentID: nil, step: 0, state: Self.state(0)), lease: contestedLease)

            let outcomes = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                for lease in leases {
                    group.addTask {
                        var parent: String?
                        for step in 0..<steps {
                            parent = try await store.putCheckpoint(CheckpointDraft(tenant: lease.tenant, runID: lease.runID, parentID: parent, step: step, state: Self.state(step)), lease: lease).id
                        }
                        return (0, 0)
                    }
                }
                for _ in 0..<8 {
                    group.addTask {
                        do {
                            _ = try await store.putCheckpoint(CheckpointDraft(tenant: "t0", runID: contested.id, parentID: root.id, step: 1, state: Self.state(1)), lease: contestedLease)
                            return (1, 0)
                        } catch let e as EngramError where e.code == .superseded {
                            return (0, 1)
                        }
                    }
                }
                var won = 0, superseded = 0
                for try await (w, s) in group { won += w; superseded += s }
                return (won, superseded)
            }
            #expect(outcomes.0 == 1 && outcomes.1 == 7, "one of the racing steps is written, the others are superseded: \(outcomes)")
            #expect(store.advances.groupsSent.load(ordering: .relaxed) > 0, "some checkpoints went in groups")

            for lease in leases {
                let history = try await store.history(runID: lease.runID, tenant: lease.tenant, namespace: "", limit: 100, before: nil)
                #expect(history.count == steps)
                // Newest first: each names the next as its parent, steps count down without a gap.
                for (newer, older) in zip(history, history.dropFirst()) {
                    #expect(newer.parentID == older.id && newer.step == older.step + 1)
                }
                let latest = try #require(try await store.checkpoint(runID: lease.runID, tenant: lease.tenant, namespace: "", id: nil))
                #expect(latest.state == Self.state(steps - 1) && latest.info.id == history.first?.id)
            }
            let chain = try await store.history(runID: contested.id, tenant: "t0", namespace: "", limit: 10, before: nil)
            #expect(chain.count == 2 && chain[0].parentID == root.id, "one chain: \(chain.map(\.id))")
        }
    }

    @Test func aGroupTheServerRefusesIsWrittenOneByOne() async throws {
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            try await PostgresMigrator(schema: config.schema).migrate(client)
            let store = try PostgresRunStore(client: client, schema: config.schema)
            var pending: [PostgresRunAdvances.Pending] = []
            var taken: String?
            for i in 0..<3 {
                let run = try await store.startRun(RunDraft(tenant: "t", agent: "a"), actor: "test")
                let lease = try await store.acquireLease(runID: run.id, tenant: "t", owner: "w", duration: .seconds(600))
                let first = try await store.putCheckpoint(CheckpointDraft(tenant: "t", runID: run.id, parentID: nil, step: 0, state: Self.state(0)), lease: lease)
                var plan = try RunRules.plan(CheckpointDraft(tenant: "t", runID: run.id, parentID: first.id, step: 1, state: Self.state(1)), after: first, limits: store.limits, now: Date())
                // The second run's next checkpoint takes the id of its first: the server refuses it.
                if i == 1 { plan.info.id = first.id; taken = first.id }
                pending.append(PostgresRunAdvances.Pending(plan: plan, lease: lease, reply: nil))
            }
            let outcomes = await PostgresRunStore.write(pending, store.database)
            #expect(outcomes.count == 3)
            #expect((try? outcomes[0].get()) == true && (try? outcomes[2].get()) == true, "the others are written")
            guard case .failure(let error) = outcomes[1] else {
                Issue.record("the refused checkpoint was reported written")
                return
            }
            #expect((error as? EngramError)?.code == .storageFailure && "\(error)".contains("duplicate"), "\(error)")
            for (i, p) in pending.enumerated() {
                let latest = try await store.checkpoint(runID: p.lease.runID, tenant: "t", namespace: "", id: nil)
                #expect(latest?.info.step == (i == 1 ? 0 : 1), "run \(i)")
                if i == 1 { #expect(latest?.info.id == taken, "the refused one changed nothing") }
            }
        }
    }
}
