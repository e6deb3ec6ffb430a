import EngramCore
import Foundation
import Testing

/// `engram runs`: checkpoints and task writes through the command line, killed with SIGKILL in the middle
/// of a write (ENGRAM_FAULT_POINT), and bad input.
extension CLITests {
    @Test(arguments: CLITests.backends)
    func aRunKilledMidStepResumesWithNoTaskRunTwice(backend: String) async throws {
        let cli = try CLI(backend: backend)
        defer { Task { try? await cli.cleanUp() } }
        let start = try await cli.run(["runs", "start", "--agent", "planner", "--id", "run_cli", "--json"])
        #expect(start.status == 0, "\(start.stderr)")
        #expect(try start.json()["status"]?.string == "running")
        try cli.write("state0.json", #"{"messages": ["hi"], "plan": null, "count": 0}"#)
        let first = try await cli.run(["runs", "checkpoint", "run_cli", "--state", cli.path("state0.json"), "--task", "search", "--task", "draft", "--task", "review", "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        let firstID = try #require(try first.json()["id"]?.string)
        try cli.write("search.json", #"{"messages": ["hi", "found 3"]}"#)
        try cli.write("draft.json", #"[{"channel": "plan", "value": "outline"}, {"channel": "count", "value": 1}]"#)
        #expect(try await cli.run(["runs", "write", "run_cli", "--task", "search", "--writes", cli.path("search.json")]).status == 0)

        // Killed between the draft task's two writes: neither is there afterwards.
        let killed = try await cli.run(["runs", "write", "run_cli", "--task", "draft", "--writes", cli.path("draft.json")], environment: ["ENGRAM_FAULT_POINT": "runs.writes"])
        #expect(killed.signaled && killed.status == SIGKILL, "\(killed.stderr)")
        let resumed = try await cli.run(["runs", "show", "run_cli", "--json"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let latest = try resumed.json()["latest"]
        #expect(latest?["checkpoint"]?["id"]?.string == firstID)
        #expect(latest?["remaining_tasks"] == .array([.string("draft"), .string("review")]), "the finished search task is not run again")
        #expect(latest?["pending_writes"]?.array?.compactMap { $0["task_id"]?.string } == ["search"])

        // The rerun of the task records its writes once; repeating it changes nothing.
        let rerun = try await cli.run(["runs", "write", "run_cli", "--task", "draft", "--writes", cli.path("draft.json"), "--json"])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(try rerun.json()["recorded"]?.int == 2)
        #expect(try await cli.run(["runs", "write", "run_cli", "--task", "draft", "--writes", cli.path("draft.json"), "--json"]).json()["recorded"]?.int == 0)
        #expect(try await cli.run(["runs", "show", "run_cli", "--json"]).json()["latest"]?["remaining_tasks"] == .array([.string("review")]))

        // Killed inside the next checkpoint's transaction: the run is exactly where it was.
        try cli.write("state1.json", #"{"messages": ["hi", "found 3"], "plan": "outline", "count": 1}"#)
        let killedCheckpoint = try await cli.run(["runs", "checkpoint", "run_cli", "--state", cli.path("state1.json")], environment: ["ENGRAM_FAULT_POINT": "runs.checkpoint"])
        #expect(killedCheckpoint.signaled, "\(killedCheckpoint.stderr)")
        #expect(try await cli.run(["runs", "history", "run_cli", "--json"]).json().array?.count == 1)
        let second = try await cli.run(["runs", "checkpoint", "run_cli", "--state", cli.path("state1.json"), "--json"])
        #expect(second.status == 0, "\(second.stderr)")
        let summary = try second.json()
        #expect(summary["parent_id"]?.string == firstID && summary["step"]?.int == 1)
        #expect(summary["channels"]?["messages"]?["version"]?.int == 2 && summary["channels"]?["count"]?["version"]?.int == 2)

        // Finished, audited deletion, and the tombstone.
        #expect(try await cli.run(["runs", "status", "run_cli", "completed"]).status == 0)
        let deleted = try await cli.run(["runs", "delete", "run_cli", "--reason", "test over", "--json"])
        #expect(deleted.status == 0, "\(deleted.stderr)")
        #expect(try deleted.json()["removed"]?["checkpoints"]?.int == 2)
        let audit = try await cli.run(["runs", "audit", "--json"]).json()
        #expect(audit.array?.first?["action"]?.string == "deleted" && audit.array?.first?["reason"]?.string == "test over")
        let after = try await cli.run(["runs", "checkpoint", "run_cli", "--state", cli.path("state1.json")])
        #expect(after.status == 66 && after.stderr.contains("was deleted"), "\(after.stderr)")
        let again = try await cli.run(["runs", "start", "--agent", "planner", "--id", "run_cli"])
        #expect(again.status == 65 && again.stderr.contains("taken"), "\(again.stderr)")
    }

    @Test func badRunInputIsRefusedWithItsReason() async throws {
        let cli = try CLI()
        #expect(try await cli.run(["runs", "start", "--agent", "a", "--id", "run_x"]).status == 0)
        try cli.write("array.json", "[1, 2]")
        try cli.write("broken.json", #"{"a": "#)
        try FileManager.default.createDirectory(atPath: cli.path("folder.json"), withIntermediateDirectories: true)
        let notObject = try await cli.run(["runs", "checkpoint", "run_x", "--state", cli.path("array.json")])
        #expect(notObject.status == 65 && notObject.stderr.contains("must be a JSON object"), "\(notObject.stderr)")
        let broken = try await cli.run(["runs", "checkpoint", "run_x", "--state", cli.path("broken.json")])
        #expect(broken.status == 65 && broken.stderr.contains("not JSON"), "\(broken.stderr)")
        let folder = try await cli.run(["runs", "checkpoint", "run_x", "--state", cli.path("folder.json")])
        #expect(folder.status == 65 && folder.stderr.contains("folder"), "\(folder.stderr)")
        let missing = try await cli.run(["runs", "checkpoint", "run_nowhere", "--state", cli.path("array.json")])
        #expect(missing.status == 65, "the state is checked first: \(missing.stderr)")
        try cli.write("state.json", #"{"a": 1}"#)
        let noRun = try await cli.run(["runs", "checkpoint", "run_nowhere", "--state", cli.path("state.json")])
        #expect(noRun.status == 66 && noRun.stderr.contains("does not exist"), "\(noRun.stderr)")
        let badStatus = try await cli.run(["runs", "status", "run_x", "done"])
        #expect(badStatus.status == 64, "\(badStatus.stderr)")
        let collection = try await cli.run(["runs", "list", "--collection", "docs"])
        #expect(collection.status == 65 && collection.stderr.contains("tenant"), "\(collection.stderr)")
        let badDuration = try await cli.run(["runs", "start", "--agent", "a", "--delete-after", "1w"])
        #expect(badDuration.status == 65 && badDuration.stderr.contains("not a duration"), "\(badDuration.stderr)")
        // Each command gives its lease back, so another owner writes next.
        #expect(try await cli.run(["runs", "checkpoint", "run_x", "--state", cli.path("state.json"), "--owner", "w1"]).status == 0)
        #expect(try await cli.run(["runs", "checkpoint", "run_x", "--state", cli.path("state.json"), "--owner", "w2"]).status == 0)
        #expect(try await cli.run(["runs", "history", "run_x", "--json"]).json().array?.count == 2)
        #expect(try await cli.run(["runs", "show", "run_x", "--json"]).json()["run"]?["lease"]?["token"]?.int == 2)
        // A backup leaves run state out, and says so.
        let backup = try await cli.run(["backup", "--out", cli.path("b.zip")])
        #expect(backup.status == 0 && backup.stderr.contains("run state (engram runs) is not in backup archives yet"), "\(backup.stderr)")
    }
}

