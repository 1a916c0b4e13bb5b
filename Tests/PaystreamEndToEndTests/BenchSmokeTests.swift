import Foundation
import PaystreamBench
import PaystreamTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("The benchmark, smoke form")
struct BenchSmokeTests {
    @Test("a few hundred payments through the four daemons and through the relay, and each stage offline: daemons restarted, none lost, every figure measured")
    func smoke() async throws {
        var options = BenchRun.Options()
        options.payments = 150
        options.repeats = 1
        options.rate = 50
        options.pacedSeconds = 2
        options.offlineRecords = 100
        options.idleSeconds = 1
        options.progress = { print("[bench] \($0)") }
        let report = try await BenchRun(options).run()
        print(report)
        #expect(report.problems.isEmpty, "\(report.problems)")
        let pipeline = try #require(report.pipelineBursts.first)
        #expect(pipeline.completed == 150 && pipeline.perSecond > 0)
        #expect(Set(pipeline.cpuSeconds.keys) == ["payment-worker", "channel-sandbox", "settlement-worker", "notifier"])
        #expect(pipeline.cpuSeconds.values.allSatisfy { $0 > 0 }, "\(pipeline.cpuSeconds)")
        #expect((pipeline.cpu.broker ?? 0) > 0 && pipeline.cpu.bench > 0 && pipeline.cpu.busyShare > 0, "\(pipeline.cpu)")
        let paced = try #require(report.pipelinePaced)
        #expect(paced.completed == 100 && paced.percentile(99) >= paced.percentile(50))
        #expect(paced.cpu.processes.count == 4 && (paced.cpu.broker ?? 0) > 0 && paced.cpu.wallSeconds > 0, "\(paced.cpu)")
        #expect(paced.hops.count == 4 && paced.hops.allSatisfy { $0.1 > 0 }, "\(paced.hops)")
        let idle = try #require(report.pipelineIdle)
        #expect(idle.processes.count == 4 && (idle.broker ?? 0) > 0 && idle.wallSeconds >= 1, "\(idle)")
        #expect(report.relayIdle?.processes.count == 4)
        #expect(report.restarts.map(\.daemon) == ["payment-worker", "channel-sandbox", "notifier"])
        #expect(report.restarts.allSatisfy { ($0.firstOutputSeconds ?? 0) >= ($0.assignedSeconds ?? .infinity) - 0.1
            && $0.completed == $0.payments && $0.stopStatus == 0 }, "\(report.restarts)")
        let relay = try #require(report.relayBursts.first)
        #expect(relay.completed == 150 && relay.cpuSeconds.count == 4)
        #expect(report.relayPaced?.completed == 100)
        #expect(report.offline.map(\.stage) == ["payment-worker", "channel-sandbox", "settlement-worker", "notifier"])
        #expect(report.offline.allSatisfy { $0.recordsPerSecond > 0 })
        #expect("\(report)".contains("ratio relay / pipeline"))
    }

    @Test("the benchmark stopped with SIGTERM takes its broker and daemons with it")
    func stoppedBench() async throws {
        let bench = try DaemonProcess("paystream-bench", arguments: [
            "run", "--smoke", "--no-relay", "--no-offline", "--no-restart", "--idle-seconds", "120",
        ], logDirectory: try temporaryDirectory("bench-stopped"))
        // Warmed up: the broker and the four daemons run, and the bench idles for two minutes.
        try await bench.waitForLog("warmed up", timeout: .seconds(120))
        let children = Self.children(of: bench.pid)
        #expect(children.count >= 5, "the broker and four daemons: \(children)")
        let status = await bench.stop(grace: .seconds(30))
        #expect(status == 128 + SIGTERM, "\(bench.log)")
        let deadline = ContinuousClock.now + .seconds(10)
        while !children.allSatisfy(Self.isGone), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(children.filter { !Self.isGone($0) } == [], "still running after the bench")
    }

    /// The children of every thread of `pid` (Linux's /proc/<pid>/task/<tid>/children).
    static func children(of pid: Int32) -> [Int32] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { tid in
            ((try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/children", encoding: .utf8)) ?? "")
                .split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int32(String($0)) }
        }
    }

    /// Ended: no such process, or a zombie waiting for its new parent to reap it.
    static func isGone(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }
}
