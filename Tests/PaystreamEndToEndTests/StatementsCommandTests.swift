import Foundation
import PaystreamChannels
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime
import PaystreamTesting
import Testing

/// `paystream statements load` as a process against Tansu: the three formats told apart by their
/// content, a directory searched, every line keyed by its payment id; a file it cannot read stops
/// it before anything is published.
@Suite("paystream statements load")
struct StatementsCommandTests {
    @Test("sandbox, WeChat Pay and Alipay files (auto-detected, a directory searched) go to channel.statements keyed by payment id; a bad file publishes nothing")
    func load() async throws {
        let broker = try await TansuBroker.start()
        defer { broker.stop() }
        let directory = try temporaryDirectory()
        let topics = TopicNames()
        let created = try await ReferenceCommandTests.paystream(["topics", "create", "--partitions", "2"], broker: broker, directory: directory)
        #expect(created.status == 0, "\(created.output)")
        let sandboxDay = "\(directory)/statements/2026-11-24"
        try FileManager.default.createDirectory(atPath: sandboxDay, withIntermediateDirectories: true)
        try SampleStatements.sandbox.write(toFile: "\(sandboxDay)/card.p0.csv", atomically: true, encoding: .utf8)
        try SampleStatements.wechat.write(toFile: "\(directory)/wechat-all-20261124.csv", atomically: true, encoding: .utf8)
        try #require(GBK.encode(SampleStatements.alipay)).write(to: URL(fileURLWithPath: "\(directory)/alipay-20261124.csv"))
        // A WeChat bill cut before its summary: refused, naming the file; nothing is published.
        let cut = "\(directory)/wechat-cut.csv"
        try SampleStatements.wechat.components(separatedBy: "总交易单数")[0].write(toFile: cut, atomically: true, encoding: .utf8)

        let refused = try await ReferenceCommandTests.paystream(["statements", "load", "\(directory)/statements", cut], broker: broker,
                                                                directory: directory)
        #expect(refused.status == 1 && refused.output.contains("wechat-cut.csv: no summary block"), "\(refused.output)")

        let loaded = try await ReferenceCommandTests.paystream(
            ["statements", "load", "\(directory)/statements", "\(directory)/wechat-all-20261124.csv", "\(directory)/alipay-20261124.csv"],
            broker: broker, directory: directory)
        #expect(loaded.status == 0, "\(loaded.output)")
        #expect(loaded.output.contains("card.p0.csv: 3 lines (sandbox: 2 payments, 1 refunds)"), "\(loaded.output)")
        #expect(loaded.output.contains("wechat-all-20261124.csv: 3 lines (wechat_pay: 2 payments, 1 refunds)"), "\(loaded.output)")
        #expect(loaded.output.contains("alipay-20261124.csv: 2 lines (alipay: 1 payments, 1 refunds)"), "\(loaded.output)")
        #expect(loaded.output.contains("published 8 of 8 lines from 3 files"), "\(loaded.output)")

        let reader = try await TopicReader(bootstrapServers: broker.bootstrapServers, topics: [topics.channelStatements])
        let records = try await reader.read(timeout: .seconds(30)) { $0.count >= 8 } + (try await reader.readFor(.seconds(1)))
        await reader.close()
        #expect(records.count == 8, "the refused run published \(records.count - 8) lines")
        let lines = try records.map { try Wire.decode(StatementLine.self, from: Data($0.value)) }
        #expect(zip(records, lines).allSatisfy { $0.keyString == $1.paymentId })
        #expect(Dictionary(grouping: lines, by: \.source).mapValues(\.count) == ["sandbox": 3, "wechat_pay": 3, "alipay": 2])
        #expect(lines.first { $0.source == "sandbox" }?.method == "card")

        let unknown = "\(directory)/notes.csv"
        try "a,b,c\n1,2,3\n".write(toFile: unknown, atomically: true, encoding: .utf8)
        let unknownRun = try await ReferenceCommandTests.paystream(["statements", "load", unknown], broker: broker, directory: directory)
        #expect(unknownRun.status == 1 && unknownRun.output.contains("not a statement this command knows"), "\(unknownRun.output)")
    }
}
