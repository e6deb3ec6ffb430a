import EngramCore
import PostgresNIO
import Synchronization

/// Group commit for the run store's one-statement checkpoints (``PostgresRunStore/putCheckpoint(_:lease:)``):
/// at most ``inFlight`` statements are at the server at once; a writer that arrives while they are takes a
/// place in the next one, which carries every writer that waited (`run_advance_many`, migration 8). A lone
/// writer never waits for company: with nobody in flight its checkpoint goes at once, as `run_advance`.
///
/// Many runs written at once then cost the server and the driver one statement, one transaction and one
/// round trip per group instead of one per checkpoint. Each checkpoint is still checked and written on its
/// own (its lease and head, both locked), and the answer is per checkpoint.
final class PostgresRunAdvances: Sendable {
    typealias Outcome = Result<Bool, any Error>

    struct Pending: Sendable {
        var plan: RunRules.CheckpointPlan
        var lease: RunLease
        /// Where the answer goes; nil for the writer who sends the group.
        var reply: CheckedContinuation<Reply, Never>?
    }

    /// What a waiting writer is told: its outcome, or that it sends the next group (itself first).
    enum Reply: Sendable {
        case done(Outcome)
        case lead([Pending])
    }

    struct State {
        var inFlight = 0
        var waiting: [Pending] = []
    }

    /// Statements at the server at once: two keep both of a small machine's cores busy while the next
    /// group gathers.
    static let inFlight = 2
    /// The most checkpoints in one statement.
    static let groupLimit = 64

    let state = Mutex(State())
    /// Groups of more than one sent so far (for tests and diagnostics).
    let groupsSent = Atomic<Int>(0)
    let send: @Sendable ([Pending]) async -> [Outcome]

    /// - Parameter send: writes a group (one or more), answering for each whether it was written.
    init(send: @escaping @Sendable ([Pending]) async -> [Outcome]) {
        self.send = send
    }

    /// Writes `plan` alone or with the writers waiting beside it; true when it was written, false when its
    /// lease or head had moved (nothing of it was written).
    func advance(_ plan: RunRules.CheckpointPlan, lease: RunLease) async throws -> Bool {
        let leads = state.withLock { s in
            guard s.inFlight < Self.inFlight else { return false }
            s.inFlight += 1
            return true
        }
        if leads { return try await lead([Pending(plan: plan, lease: lease, reply: nil)]).get() }
        let reply: Reply = await withCheckedContinuation { reply in
            let me = Pending(plan: plan, lease: lease, reply: reply)
            // The slot may have freed meanwhile: then lead at once.
            let leadNow = state.withLock { s in
                guard s.inFlight < Self.inFlight else {
                    s.waiting.append(me)
                    return false
                }
                s.inFlight += 1
                return true
            }
            if leadNow { reply.resume(returning: .lead([Pending(plan: plan, lease: lease, reply: nil)])) }
        }
        switch reply {
        case .done(let outcome): return try outcome.get()
        case .lead(var group):
            group[0].reply = nil
            return try await lead(group).get()
        }
    }

    /// Sends `group`, whose first writer is the caller, answers the others, and hands the slot to the
    /// first of the writers that gathered meanwhile (or frees it); the caller's own outcome.
    func lead(_ group: [Pending]) async -> Outcome {
        let outcomes: [Outcome]
        if group.count > 1 {
            groupsSent.add(1, ordering: .relaxed)
            // In a task of its own: the sender's cancellation must not fail the others' checkpoints.
            let send = self.send
            outcomes = await Task { await send(group) }.value
        } else {
            outcomes = await send(group)
        }
        for (p, o) in zip(group, outcomes) { p.reply?.resume(returning: .done(o)) }
        let next: [Pending]? = state.withLock { s in
            guard !s.waiting.isEmpty else {
                s.inFlight -= 1
                return nil
            }
            let n = Array(s.waiting.prefix(Self.groupLimit))
            s.waiting.removeFirst(n.count)
            return n
        }
        if let next { next[0].reply?.resume(returning: .lead(next)) }
        return outcomes[0]
    }
}
