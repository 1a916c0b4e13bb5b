import Foundation
import Logging
import PaystreamChannels
import PaystreamRuntime
import PaystreamStore
import Synchronization

/// What the gateway counts (through `PaystreamMetrics`).
enum GatewayMetrics {
    static func call(channel: ChannelKind, action: GatewayAction, outcome: ChannelOutcome) {
        PaystreamMetrics.channelCall(channel: channel.rawValue, action: action.rawValue, outcome: name(outcome))
    }

    static func notification(channel: ChannelKind, result: String) {
        PaystreamMetrics.channelNotification(channel: channel.rawValue, result: result)
    }

    static func name(_ outcome: ChannelOutcome) -> String {
        switch outcome {
        case .accepted: "accepted"
        case .paid: "paid"
        case .awaitingPayment: "awaiting_payment"
        case .closed: "closed"
        case .notFound: "not_found"
        case .alreadyPaid: "already_paid"
        case .refunded: "refunded"
        case .refundPending: "refund_pending"
        case .refused: "refused"
        case .unknown: "unknown"
        }
    }
}

/// The calls of one shard on their way.
private final class CallsInFlight: Sendable {
    let keys = Mutex(Set<String>())
}

/// The gateway's calls beside the consumer loop (`ShardCompanion`): on each owned shard, take
/// the calls that are due, make each (at most `max_calls_in_flight` per process), and record its
/// outcome in the shard as `GatewayDecision` says. A call is marked only after its outcome, so
/// one cut short by a crash or a rebalance is made again by the shard's next owner — with the
/// same number, which the channels treat as the same call.
final class GatewayCalls: ShardCompanion {
    let settings: GatewaySettings
    let connectors: [ChannelKind: any ChannelConnector]
    let slots = Mutex(0)

    init(settings: GatewaySettings, connectors: [ChannelKind: any ChannelConnector]) {
        self.settings = settings
        self.connectors = connectors
    }

    static func key(_ call: GatewayCall) -> String { "\(call.outNo)|\(call.action.rawValue)" }

    func takeSlot() -> Bool {
        slots.withLock { taken in
            guard taken < settings.maxCallsInFlight else { return false }
            taken += 1
            return true
        }
    }

    func run(shard: ShardStore, partition: Int32, clock: any PaystreamClock, logger: Logger) async {
        let inFlight = CallsInFlight()
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                do {
                    let now = ChannelGatewayStage.milliseconds(clock.now())
                    let taken = inFlight.keys.withLock { $0 }
                    let due = try await shard.read { db in try GatewayTables.due(db, at: now, limit: 64) }
                        .filter { !taken.contains(Self.key($0)) }
                    // Changelog first: a call leaves once the transaction that asked for it is in Kafka.
                    if !due.isEmpty { try await shard.waitUntilDurable() }
                    for call in due where takeSlot() {
                        inFlight.keys.withLock { _ = $0.insert(Self.key(call)) }
                        group.addTask { [self] in
                            await perform(call, shard: shard, clock: clock, logger: logger)
                            slots.withLock { $0 -= 1 }
                            inFlight.keys.withLock { _ = $0.remove(Self.key(call)) }
                        }
                    }
                } catch is CancellationError {
                    break
                } catch {
                    logger.warning("cannot read the gateway's calls; trying again", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .milliseconds(settings.tickIntervalMs))
            }
        }
    }

    func perform(_ call: GatewayCall, shard: ShardStore, clock: any PaystreamClock, logger: Logger) async {
        var logger = logger
        logger[metadataKey: "channel.out_no"] = "\(call.outNo)"
        logger[metadataKey: "channel.call"] = "\(call.action.rawValue)"
        guard let order = try? await shard.read({ db in try GatewayTables.order(db, outNo: call.outNo) }),
              let connector = connectors[order.channel] else { return }
        let request = ChannelOrder(outNo: order.outNo, amount: order.amount, currency: order.currency,
                                   subject: "Order \(order.paymentId.prefix(100))", paymentOutNo: order.paymentOutNo,
                                   paymentAmount: order.paymentAmount)
        let outcome: ChannelOutcome = switch call.action {
        case .create: await connector.create(request)
        case .query: await connector.query(request)
        case .close: await connector.close(request)
        case .refund: await connector.refund(request)
        case .refundQuery: await connector.queryRefund(request)
        }
        if Task.isCancelled, case .unknown = outcome { return }  // cut short: the next owner makes it again
        GatewayMetrics.call(channel: order.channel, action: call.action, outcome: outcome)
        if case .unknown(let why) = outcome {
            logger.info("channel call without a usable answer; will ask again", metadata: ["error": "\(why)", "channel.attempt": "\(call.attempts + 1)"])
        } else {
            logger.debug("channel call answered", metadata: ["channel.outcome": "\(GatewayMetrics.name(outcome))"])
        }
        let now = clock.now()
        do {
            try await shard.write { [settings] db in
                guard let order = try GatewayTables.order(db, outNo: call.outNo) else { return }
                // The call as it stands now: dropped or moved meanwhile (a notification settled
                // the order), only news that money moved still counts.
                let current = try GatewayTables.call(db, outNo: call.outNo, action: call.action)
                let same = current.map { $0.dueMs == call.dueMs && $0.attempts == call.attempts } ?? false
                switch outcome {
                case .paid, .refunded: break
                default: guard same else { return }
                }
                let waiting = try GatewayTables.waiting(db, outNo: order.outNo)
                let plan = GatewayDecision.plan(outcome, after: call.action, call: same ? current : call, order: order, waiting: waiting)
                try GatewayEffects.apply(plan, order: order, completed: same ? current : nil, nowMs: ChannelGatewayStage.milliseconds(now),
                                         settings: settings, db: db)
            }
        } catch {
            // Not recorded: the call stays due and is made again (same number).
            logger.error("cannot record a channel call's outcome; it will be made again", metadata: ["error": "\(error)"])
        }
    }
}
