import Foundation
import Logging
import PaystreamChannels
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime
import ServiceLifecycle

/// The gateway's HTTP listener for the channels' notifications (`POST /alipay/notify`,
/// `POST /wechatpay/notify`), a `Service` in the daemon's group. Each notification is checked at
/// once (signature, and for WeChat Pay the 5-minute window and probes: refused with 4xx and
/// counted), then written raw to `channel.notifications` at the partition its number names; the
/// channel is told `success` / 204 only once the broker has it (acks=all). A notification lost
/// between the two (the gateway killed) is sent again by the channel.
public struct CallbackService: Service {
    public static let paths: [String: ChannelKind] = ["/alipay/notify": .alipay, "/wechatpay/notify": .weChatPay]

    let settings: GatewaySettings
    let connectors: [ChannelKind: any ChannelConnector]
    let producer: KafkaProducer
    let topics: TopicNames
    let logger: Logger
    let clock: any PaystreamClock

    public init(settings: GatewaySettings, connectors: [any ChannelConnector], kafka: KafkaConfiguration, topics: TopicNames,
                logger: Logger, clock: any PaystreamClock = SystemClock()) throws {
        self.settings = settings
        self.connectors = Dictionary(uniqueKeysWithValues: connectors.map { ($0.kind, $0) })
        producer = try KafkaProducer(configuration: kafka, logger: logger)
        self.topics = topics
        self.logger = logger
        self.clock = clock
    }

    public func run() async throws {
        let listener = try await HTTPListener.start(listen: settings.listen, maxBody: settings.maxBodyBytes,
                                                    idleTimeout: .milliseconds(settings.idleTimeoutMs)) { request in
            await handle(request)
        }
        logger.info("callbacks listening", metadata: ["callbacks.address": "\(listener.address)",
                                                      "callbacks.paths": "\(Self.paths.keys.sorted().joined(separator: " "))"])
        try? await gracefulShutdown()
        await listener.stop()
        await producer.close()
    }

    func handle(_ request: HTTPRequest) async -> HTTPResponse {
        guard let kind = Self.paths[request.path], let connector = connectors[kind] else {
            return .text(404, "not found\n")
        }
        guard request.method == "POST" else { return .text(405, "POST only\n") }
        // Only the headers that sign it are kept with it.
        let signing = request.headers.filter { $0.key.hasPrefix("wechatpay-") }
        let callback = ChannelCallback(headers: signing, body: request.body)
        let event: ChannelEvent
        do {
            event = try connector.check(callback, now: clock.now())
        } catch {
            GatewayMetrics.notification(channel: kind, result: error.code)
            logger.warning("channel notification refused", metadata: ["channel": "\(kind.rawValue)", "refusal": "\(error.code)",
                                                                       "http.peer": "\(request.peer)"])
            return reply(connector.reply(accepted: false, message: error.code))
        }
        guard let partition = OutNumber.partition(of: event.outTradeNo, prefix: settings.outNoPrefix) else {
            GatewayMetrics.notification(channel: kind, result: "unroutable")
            logger.warning("channel notification for a trade number we did not make", metadata: ["channel": "\(kind.rawValue)"])
            return reply(connector.reply(accepted: false, message: "unknown out_trade_no"))
        }
        let record = ChannelNotificationRecord(channel: kind.rawValue, notificationId: event.notificationId,
                                               receivedAt: Wire.timestamp(clock.now()), headers: signing, body: request.body)
        do {
            let message = OutgoingMessage(topic: topics.channelNotifications, key: Array(event.outTradeNo.utf8),
                                          value: Array(try Wire.encode(record)), partition: partition)
            _ = try await producer.send(message)
        } catch {
            GatewayMetrics.notification(channel: kind, result: "not_written")
            logger.error("cannot write a channel notification to Kafka; the channel will send it again",
                         metadata: ["channel": "\(kind.rawValue)", "error": "\(error)"])
            var answer = connector.reply(accepted: false, message: "try again")
            answer.status = 503
            return reply(answer)
        }
        GatewayMetrics.notification(channel: kind, result: "accepted")
        logger.debug("channel notification written", metadata: ["channel": "\(kind.rawValue)", "kafka.partition": "\(partition)"])
        return reply(connector.reply(accepted: true, message: ""))
    }

    func reply(_ reply: CallbackReply) -> HTTPResponse {
        HTTPResponse(status: reply.status, headers: reply.contentType.map { [("content-type", $0)] } ?? [], body: reply.body)
    }
}
