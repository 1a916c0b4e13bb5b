import Foundation
import PaystreamFaults
import Testing

@Suite("The whole-pipeline fault and fuzz run, short form")
struct FaultRunTests {
    @Test("600 mixed requests and hostile records through the daemons on two hosts (Alipay and WeChat Pay through channel-gateway and the misbehaving simulators) under 10 SIGKILLs, one host lost with its folder and one frozen payment-worker let go on (a zombie), with snapshots and standby copies: every end check holds on shards rebuilt from the changelogs")
    func shortForm() async throws {
        var options = FaultRun.Options()
        options.seed = ProcessInfo.processInfo.environment["PAYSTREAM_FAULT_SEED"].flatMap(UInt64.init) ?? 20_261_130
        options.requests = 600
        options.kills = 10
        options.settleTimeout = .seconds(600)
        options.sessionTimeoutMs = 3000  // a killed daemon's partitions move sooner
        options.channelGateway = true
        options.progress = { print("[faults] \($0)") }
        let report = try await FaultRun(options).run()
        print(report)
        #expect(report.problems.isEmpty, "\(report.problems.joined(separator: "\n"))")
        #expect(report.totalKills >= 10)
        #expect(report.kills.count == 5, "each of the five daemons was killed: \(report.kills)")
        #expect(report.channels?.contains("paid") == true, "\(report.channels ?? "no channels")")
        #expect(report.hosts == 2 && report.hostsLost == 1 && report.zombies == 1)
        // Restores started from snapshots and host B kept standby copies.
        #expect(report.changelogEvents["snapshots published", default: 0] > 0, "\(report.changelogEvents)")
        #expect(report.changelogEvents["restores from a snapshot", default: 0] > 0, "\(report.changelogEvents)")
        #expect(report.changelogEvents["standby copies made", default: 0] > 0, "\(report.changelogEvents)")
        #expect(report.shardsRebuilt >= 8, "every stage's shards came back from the changelogs")
        // The load reached every path the run is for.
        #expect(report.requestKinds.count == FaultLoad.Kind.allCases.count)
        for outcome in ["captured", "failed", "expired", "rejected"] {
            #expect(report.outcomes[outcome, default: 0] > 0, "no request ended \(outcome): \(report.outcomes)")
        }
        #expect(report.outcomes["refunded", default: 0] + report.outcomes["partially_refunded", default: 0] > 0)
        #expect(report.deadLetters.values.reduce(0, +) > 0)
        #expect(report.forwarded["payments.requests", default: 0] > 0)
    }
}
