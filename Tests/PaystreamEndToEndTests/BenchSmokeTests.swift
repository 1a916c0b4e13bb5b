import Foundation
import PaystreamBench
import Testing

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
}
