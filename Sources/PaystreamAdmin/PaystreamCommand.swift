import ArgumentParser
import Foundation
import Logging
import PaystreamKafka
import PaystreamRuntime

/// The `paystream` admin CLI: what operators and developers do by hand.
public struct PaystreamCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "paystream",
        abstract: "Paystream admin: topics, publishing requests, and what became of them.",
        subcommands: [TopicsCommand.self, PublishCommand.self, ReferenceCommand.self, OutcomesCommand.self,
                      VerifyCommand.self, CurrenciesCommand.self, DlqCommand.self, ShowCommand.self, LedgerCommand.self, ReportCommand.self,
                      StatementsCommand.self, WebhooksCommand.self, ChangelogCommand.self, AclCommand.self])

    public init() {}
}

/// Where the cluster is; flags fall back to the same environment variables as the daemons.
public struct ClusterOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("brokers"), help: "Kafka bootstrap servers, HOST:PORT,… (env PAYSTREAM_BROKERS).")
    public var brokers: String?

    @Option(name: .customLong("topic-prefix"), help: "Prefix for every topic name (env PAYSTREAM_TOPIC_PREFIX).")
    public var topicPrefix: String?

    @Option(name: .customLong("connect-timeout"), help: "Seconds to wait for a broker (default 10).")
    public var connectTimeout: Double = 10

    public init() {}

    var resolvedBrokers: String {
        get throws {
            guard let brokers = brokers ?? ProcessInfo.processInfo.environment["PAYSTREAM_BROKERS"], !brokers.isEmpty else {
                throw ValidationError("no brokers: pass --brokers HOST:PORT or set PAYSTREAM_BROKERS")
            }
            return brokers
        }
    }

    var topics: TopicNames {
        TopicNames(prefix: topicPrefix ?? ProcessInfo.processInfo.environment["PAYSTREAM_TOPIC_PREFIX"] ?? "")
    }

    /// Sends `messages` with a producer of its own (closed when they are all delivered or
    /// failed) and returns each one's delivery, in order.
    func send(_ messages: [OutgoingMessage]) async throws -> [Result<DeliveryReport, KafkaError>] {
        let producer = try KafkaProducer(configuration: try kafka, logger: quietLogger())
        let results = await producer.send(messages)
        await producer.close()
        return results
    }

    var kafka: KafkaConfiguration {
        get throws {
            var properties = ["fetch.wait.max.ms": "10"]
            properties.merge(kafkaProperties(fromEnvironment: ProcessInfo.processInfo.environment)) { _, env in env }
            let brokers = try resolvedBrokers
            properties["bootstrap.servers"] = brokers
            return KafkaConfiguration(bootstrapServers: brokers, properties: properties)
        }
    }

    var timeout: Duration { .milliseconds(Int(connectTimeout * 1000)) }
}

func quietLogger() -> Logger {
    var logger = Logger(label: "paystream")
    logger.logLevel = .warning
    return logger
}
