import Foundation
import GRDB
import Logging
import PaystreamChannels
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime
import PaystreamStore

/// channel-gateway: the real channels at the edge. It answers `channel.requests` for the methods
/// its connectors are configured for (Alipay, WeChat Pay APIv3) on `channel.confirmations`,
/// exactly as the sandbox does for the others.
///
/// - `apply` records what is asked: an order at the channel (our number, `OutNumber`) and the
///   call due on it; a query or cancel waits on its authorization's order.
/// - The companion (`GatewayCalls`) makes the calls beside the loop and records each outcome in
///   the shard, decided by `GatewayDecision`; `tick` publishes the answers it recorded.
/// - Notifications arrive at the listener (`CallbackService`), which checks them and writes
///   them, raw, to `channel.notifications` at the partition their number names; `apply` checks
///   the signature again and decides them like a call's outcome.
public struct ChannelGatewayStage: Stage {
    public let name = "channel-gateway"
    public let topics: TopicNames
    public let settings: GatewaySettings
    let connectors: [ChannelKind: any ChannelConnector]
    /// Which connector answers each method.
    let methods: [String: ChannelKind]
    let calls: GatewayCalls
    /// The keys answers are sealed with, one per method answered; nil: unsealed (development).
    public let answerKeys: AnswerKeyring?

    public init(topics: TopicNames, settings: GatewaySettings, connectors: [any ChannelConnector], answerKeys: AnswerKeyring?) {
        self.topics = topics
        self.settings = settings
        self.answerKeys = answerKeys
        let byKind = Dictionary(uniqueKeysWithValues: connectors.map { ($0.kind, $0) })
        self.connectors = byKind
        var methods: [String: ChannelKind] = [:]
        for method in settings.alipay?.methods ?? [] { methods[method] = .alipay }
        for method in settings.weChatPay?.methods ?? [] { methods[method] = .weChatPay }
        self.methods = methods.filter { byKind[$0.value] != nil }
        calls = GatewayCalls(settings: settings, connectors: byKind)
    }

    /// The connectors in use (the callback listener checks notifications with the same ones).
    public var connectorList: [any ChannelConnector] { connectors.values.sorted { $0.kind.rawValue < $1.kind.rawValue } }

    /// Whose answers the gateway gives, so whose keys it needs: the methods of its connectors.
    public static func signers(_ settings: GatewaySettings) -> [String] {
        ((settings.alipay?.methods ?? []) + (settings.weChatPay?.methods ?? [])).sorted()
    }

    public var inputTopics: [String] { [topics.channelRequests, topics.channelNotifications] }
    public var outputTopics: [String] { [topics.channelConfirmations] }
    /// The callback listener publishes what the channels notify.
    public var sideOutputTopics: [String] { [topics.channelNotifications] }
    public var schema: StageSchema { GatewayTables.schema }
    public var keepsMoney: Bool { true }
    public var tickInterval: Duration? { .milliseconds(settings.tickIntervalMs) }
    public var companion: (any ShardCompanion)? { calls }

    /// A notification is decided where the listener wrote it (the partition its number names).
    public func shardKey(of record: ConsumedRecord) -> [UInt8]? {
        record.topic == topics.channelNotifications ? nil : record.key
    }

    public enum Input: Sendable {
        case request(ChannelRequest)
        case notification(ChannelNotificationRecord)
    }

    public func decode(_ record: ConsumedRecord) throws(DeadLetter) -> Input {
        if record.topic == topics.channelNotifications {
            return .notification(try decodeMessage(ChannelNotificationRecord.self, schema: ChannelNotificationRecord.schemaName, from: record))
        }
        return .request(try decodeMessage(ChannelRequest.self, schema: ChannelRequest.schemaName, from: record))
    }

    public func messageID(of input: Input) -> String? {
        switch input {
        case .request(let request): "channel-request:\(request.channelRequestId)"
        case .notification(let notification): "notification:\(notification.channel):\(notification.notificationId)"
        }
    }

    public func apply(_ input: Input, record: ConsumedRecord, in context: StageContext) throws {
        switch input {
        case .request(let request): try apply(request, key: record.keyString ?? request.payerId, context: context)
        case .notification(let notification): try apply(notification, context: context)
        }
        try publishAnswers(context)
    }

    public func tick(in context: StageContext) throws {
        try publishAnswers(context)
    }

    func publishAnswers(_ context: StageContext) throws {
        for answer in try GatewayTables.takeAnswers(context.db, limit: 2000) {
            var confirmation = answer.confirmation
            if confirmation.confirmedAt.isEmpty { confirmation.confirmedAt = context.timestamp }
            try context.emit(confirmation, topic: topics.channelConfirmations, key: answer.key, eventID: answer.eventID,
                             sealedBy: answer.signer, keys: answerKeys)
        }
    }

    // MARK: instructions

    func apply(_ request: ChannelRequest, key: String, context: StageContext) throws {
        // Other methods are the sandbox's (or another gateway's): not ours to answer.
        guard let channel = methods[request.method] else { return }
        guard let type = ChannelRequestType(rawValue: request.requestType) else {
            throw DeadLetter(code: "unsupported_request", message: "request_type '\(request.requestType.prefix(40))' is not one of \(ChannelRequestType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard request.amount > 0 else { throw DeadLetter(code: "invalid_request", message: "amount must be positive") }
        if type != .authorize, request.targetRequestId?.isEmpty ?? true {
            throw DeadLetter(code: "invalid_request", message: "a \(type.rawValue) instruction needs target_request_id")
        }
        let db = context.db
        let now = Self.milliseconds(context.now)
        // Seen before (and forgotten by the inbox since): the first decision stands.
        if type == .authorize || type == .refund, try GatewayTables.order(db, channelRequestId: request.channelRequestId) != nil { return }
        switch type {
        case .authorize:
            let order = GatewayOrder(outNo: outNumber(request.channelRequestId, context), channel: channel, kind: .payment,
                                     channelRequestId: request.channelRequestId, paymentId: request.paymentId, recordKey: key,
                                     method: request.method, amount: request.amount, currency: request.currency)
            try GatewayTables.insert(db, order, at: context.timestamp)
            if request.currency != "CNY" {
                try settle(GatewayPlan(answer: .init(status: .declined, amount: request.amount, reason: "unsupported_currency"), settle: .declined),
                           order: order, waiting: [], completed: nil, nowMs: now, context: context)
            } else {
                try GatewayTables.schedule(db, outNo: order.outNo, action: .create, dueMs: now)
            }

        case .query, .cancel:
            let target = request.targetRequestId ?? ""
            guard let order = try GatewayTables.order(db, channelRequestId: target), order.kind == .payment else {
                // The channel never saw it: unknown to a query; nothing to void for a cancel.
                try queue(request, type == .query ? .unknown : .approved, amount: request.amount, reason: nil, key: key, db: db)
                return
            }
            switch order.answer {
            case .approved?:
                try queue(request, type == .query ? .approved : .declined, amount: type == .query ? order.answeredAmount ?? order.amount : request.amount,
                          reason: type == .query ? nil : "already_captured", key: key, db: db, reference: order.reference)
            case .declined?:
                try queue(request, type == .query ? .declined : .approved, amount: request.amount, reason: type == .query ? order.reason : nil,
                          key: key, db: db)
            case .silent?:
                try queue(request, type == .query ? .unknown : .approved, amount: request.amount, reason: nil, key: key, db: db)
            case nil:
                try GatewayTables.wait(db, GatewayWaiting(channelRequestId: request.channelRequestId, outNo: order.outNo, requestType: type,
                                                          paymentId: request.paymentId, amount: request.amount, currency: request.currency,
                                                          recordKey: key))
                if type == .cancel {
                    try GatewayTables.schedule(db, outNo: order.outNo, action: .close, dueMs: now)
                } else if try GatewayTables.call(db, outNo: order.outNo, action: .close) == nil {
                    try GatewayTables.schedule(db, outNo: order.outNo, action: .query, dueMs: now,
                                               attempts: try GatewayTables.call(db, outNo: order.outNo, action: .query)?.attempts ?? 0)
                }
            }

        case .refund:
            let target = request.targetRequestId ?? ""
            guard let payment = try GatewayTables.order(db, channelRequestId: target), payment.kind == .payment, payment.answer == .approved else {
                try queue(request, .declined, amount: request.amount, reason: "not_captured", key: key, db: db)
                return
            }
            let order = GatewayOrder(outNo: outNumber(request.channelRequestId, context), channel: payment.channel, kind: .refund,
                                     channelRequestId: request.channelRequestId, paymentId: request.paymentId, recordKey: key,
                                     method: request.method, amount: request.amount, currency: request.currency,
                                     paymentOutNo: payment.outNo, paymentAmount: payment.answeredAmount ?? payment.amount)
            try GatewayTables.insert(db, order, at: context.timestamp)
            try GatewayTables.schedule(db, outNo: order.outNo, action: .refund, dueMs: now)
        }
    }

    func outNumber(_ channelRequestId: String, _ context: StageContext) -> String {
        OutNumber(prefix: settings.outNoPrefix, partition: context.partition, channelRequestId: channelRequestId).text
    }

    /// Queues the answer to an instruction decided at once.
    func queue(_ request: ChannelRequest, _ status: ChannelAnswer, amount: Int64, reason: String?, key: String, db: Database,
               reference: String? = nil) throws {
        try GatewayTables.queue(db, eventID: "cc:\(request.channelRequestId)", key: key, signer: request.method, ChannelConfirmation(
            confirmationId: "cc-\(request.channelRequestId)", channelRequestId: request.channelRequestId, paymentId: request.paymentId,
            status: status.rawValue, amount: amount, currency: request.currency, channelReference: reference, reason: reason,
            message: reason.map { "\(request.method): \($0)" }, confirmedAt: "", requestType: request.requestType))
    }

    // MARK: notifications

    func apply(_ notification: ChannelNotificationRecord, context: StageContext) throws {
        guard let kind = ChannelKind(rawValue: notification.channel), let connector = connectors[kind] else {
            throw DeadLetter(code: "unknown_channel", message: "no connector for channel '\(notification.channel.prefix(40))'")
        }
        guard let callback = notification.callback else { throw DeadLetter.undecodable("body is not base64") }
        let event: ChannelEvent
        do {
            event = try connector.read(callback)
        } catch {
            // Only the listener writes this topic, after the same check: a record that fails it
            // was not written by the listener.
            GatewayMetrics.notification(channel: kind, result: "forged_record")
            throw DeadLetter(code: "forged_notification", message: error.description)
        }
        let db = context.db
        guard let order = try GatewayTables.order(db, outNo: event.outRefundNo ?? event.outTradeNo) else {
            throw DeadLetter(code: "unknown_trade", message: "no order \(event.outRefundNo ?? event.outTradeNo) in this shard")
        }
        let waiting = try GatewayTables.waiting(db, outNo: order.outNo)
        try settle(GatewayDecision.plan(event.outcome, after: nil, call: nil, order: order, waiting: waiting), order: order, waiting: waiting,
                   completed: nil, nowMs: Self.milliseconds(context.now), context: context)
    }

    func settle(_ plan: GatewayPlan, order: GatewayOrder, waiting: [GatewayWaiting], completed: GatewayCall?, nowMs: Int64,
                context: StageContext) throws {
        try GatewayEffects.apply(plan, order: order, completed: completed, nowMs: nowMs, settings: settings, db: context.db)
    }

    /// Milliseconds since 1970 on the worker's clock.
    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
}

/// Writes a plan into the shard: the order settled, the answers queued for publication, the
/// completed call dropped and the next ones scheduled.
enum GatewayEffects {
    static func apply(_ plan: GatewayPlan, order: GatewayOrder, completed: GatewayCall?, nowMs: Int64, settings: GatewaySettings,
                      db: Database) throws {
        var order = order
        if let completed { try GatewayTables.dropCall(db, outNo: completed.outNo, action: completed.action) }
        if plan.dropCalls { try GatewayTables.dropCalls(db, outNo: order.outNo) }
        var changed = false
        if plan.created && !order.created { order.created = true; changed = true }
        if let settle = plan.settle {
            order.answer = settle
            order.reason = plan.answer?.reason
            if settle == .approved { order.answeredAmount = plan.answer?.amount }
            changed = true
        }
        if let answer = plan.answer {
            if answer.reference != nil { order.reference = answer.reference }
            if answer.late { order.lateAnswered = true }
            changed = true
            let id = order.channelRequestId + (answer.late ? "-late" : "")
            try GatewayTables.queue(db, eventID: "cc:\(id)", key: order.recordKey, signer: order.method, ChannelConfirmation(
                confirmationId: "cc-\(id)", channelRequestId: order.channelRequestId, paymentId: order.paymentId, status: answer.status.rawValue,
                amount: answer.amount, currency: order.currency, channelReference: answer.reference, reason: answer.reason,
                message: answer.reason.map { "\(order.channel.rawValue): \($0)" }, confirmedAt: answer.at.map(Wire.timestamp) ?? "",
                requestType: order.kind == .payment ? ChannelRequestType.authorize.rawValue : ChannelRequestType.refund.rawValue))
        }
        if changed { try GatewayTables.update(db, order) }
        for answer in plan.waitingAnswers {
            let waiting = answer.waiting
            try GatewayTables.stopWaiting(db, channelRequestId: waiting.channelRequestId)
            try GatewayTables.queue(db, eventID: "cc:\(waiting.channelRequestId)", key: waiting.recordKey, signer: order.method, ChannelConfirmation(
                confirmationId: "cc-\(waiting.channelRequestId)", channelRequestId: waiting.channelRequestId, paymentId: waiting.paymentId,
                status: answer.status.rawValue, amount: answer.amount, currency: waiting.currency, channelReference: order.reference,
                reason: answer.reason, message: answer.reason.map { "\(order.channel.rawValue): \($0)" }, confirmedAt: "",
                requestType: waiting.requestType.rawValue))
        }
        for next in plan.schedule {
            let attempts = next.when == .retry ? (completed?.attempts ?? 0) + 1 : 0
            let due: Int64 = switch next.when {
            case .now: nowMs
            case .retry: nowMs + settings.delay(afterAttempt: attempts)
            case .poll: nowMs + Int64(settings.pollAfterMs)
            }
            try GatewayTables.schedule(db, outNo: order.outNo, action: next.action, dueMs: due, attempts: attempts, reason: next.reason)
        }
    }
}
