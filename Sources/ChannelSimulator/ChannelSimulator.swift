import Foundation
import Logging
import PaystreamChannels
import PaystreamRuntime
import Synchronization

/// The keys and names a simulated channel knows: its own signing key (Alipay's / WeChat Pay's),
/// the merchant's public key (checks the gateway's requests), the merchant's ids and, for WeChat
/// Pay, the APIv3 key and the serial its public key goes by.
public struct SimulatorIdentity: Sendable {
    public var channelKey: RSASigningKey
    public var channelSerial: String
    public var merchantKey: RSAVerifyingKey
    /// Alipay `app_id`, WeChat Pay `mchid`.
    public var merchantId: String
    public var apiV3Key: String?

    public init(channelKey: RSASigningKey, channelSerial: String, merchantKey: RSAVerifyingKey, merchantId: String, apiV3Key: String?) {
        self.channelKey = channelKey
        self.channelSerial = channelSerial
        self.merchantKey = merchantKey
        self.merchantId = merchantId
        self.apiV3Key = apiV3Key
    }
}

/// What the simulator counted (served at `GET /_sim/stats`).
public struct SimulatorStats: Sendable, Codable, Equatable {
    public var calls: [String: Int] = [:]
    /// Requests whose signature did not verify (answered 401 / `isv.invalid-signature`).
    public var badSignatures = 0
    public var tradesCreated = 0
    public var tradesPaid = 0
    public var tradesClosed = 0
    public var refunds = 0
    public var notifiesSent = 0
    public var notifiesAccepted = 0
    public var notifiesRefused = 0
    public var hangs = 0
    public var systemErrors = 0

    enum CodingKeys: String, CodingKey {
        case calls, badSignatures = "bad_signatures", tradesCreated = "trades_created", tradesPaid = "trades_paid"
        case tradesClosed = "trades_closed", refunds, notifiesSent = "notifies_sent", notifiesAccepted = "notifies_accepted"
        case notifiesRefused = "notifies_refused", hangs, systemErrors = "system_errors"
    }
}

/// A trade as the simulated channel keeps it.
struct SimulatedTrade: Sendable, Codable {
    enum State: String, Codable { case waiting, paid, closed, failed }
    var outTradeNo: String
    var amount: Int64
    var subject: String
    var notifyURL: String?
    var state: State
    var tradeNo: String
    var paidAt: Date?
    var closedAt: Date?
    var refunds: [String: SimulatedRefund] = [:]
    var notifyCount = 0

    enum CodingKeys: String, CodingKey {
        case outTradeNo = "out_trade_no", amount, subject, notifyURL = "notify_url", state, tradeNo = "trade_no", paidAt = "paid_at"
        case closedAt = "closed_at", refunds, notifyCount = "notify_count"
    }
}

struct SimulatedRefund: Sendable, Codable {
    var outRefundNo: String
    var amount: Int64
    var refundId: String
    var done: Bool
    /// When it was done.
    var at: Date?
}

/// A local stand-in for Alipay's open platform or WeChat Pay APIv3 that speaks their wire
/// formats: it checks the merchant's request signatures, signs its replies and notifications
/// with its own key, plays the payer (pays after a delay, or never), and misbehaves as
/// `SimulatorBehaviour` says (timeouts, SYSTEM_ERROR, duplicate notifies, a payment that beats
/// the close). Notifications are retried on the channel's schedule until the merchant takes them.
public final class ChannelSimulator: Sendable {
    public let kind: ChannelKind
    public let behaviour: SimulatorBehaviour
    public let identity: SimulatorIdentity
    let logger: Logger
    let trades = Mutex([String: SimulatedTrade]())
    let counters = Mutex(SimulatorStats())
    let transport = HTTPChannelTransport()
    let tasks = Mutex([Task<Void, Never>]())

    /// Alipay: "25 小时以内完成 8 次通知 (4m,10m,10m,1h,2h,6h,15h)"; WeChat Pay:
    /// 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h (seconds before each resend).
    public static func retrySchedule(_ kind: ChannelKind) -> [Double] {
        switch kind {
        case .alipay: [240, 600, 600, 3600, 7200, 21_600, 54_000]
        case .weChatPay: [15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10_800, 10_800, 10_800, 21_600, 21_600]
        }
    }

    public init(kind: ChannelKind, behaviour: SimulatorBehaviour, identity: SimulatorIdentity, logger: Logger) {
        self.kind = kind
        self.behaviour = behaviour
        self.identity = identity
        self.logger = logger
    }

    public var stats: SimulatorStats { counters.withLock { $0 } }

    /// Stops every payer and notification still on its way.
    public func stop() {
        for task in tasks.withLock({ tasks in defer { tasks.removeAll() }; return tasks }) { task.cancel() }
    }

    func count(_ call: String) { counters.withLock { $0.calls[call, default: 0] += 1 } }

    func spawn(_ work: @escaping @Sendable () async -> Void) {
        let task = Task { await work() }
        tasks.withLock { tasks in
            tasks.removeAll { $0.isCancelled }
            tasks.append(task)
        }
    }

    /// The entry point for the HTTP listener.
    public func handle(_ request: HTTPRequest) async -> HTTPResponse {
        if request.path.hasPrefix("/_sim/") { return control(request) }
        switch kind {
        case .alipay: return await alipay(request)
        case .weChatPay: return await weChat(request)
        }
    }

    /// `GET /_sim/stats`, `GET /_sim/trades/<out_trade_no>`, `POST /_sim/notify/<out_trade_no>`
    /// (send its notification again now, as a channel's resend would), `GET /_sim/bill?date=D`
    /// (the day's bill in the channel's own format, D a China Standard Time date, as the
    /// channels cut their bills).
    func control(_ request: HTTPRequest) -> HTTPResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let parts = request.path.split(separator: "/").map(String.init)
        if parts == ["_sim", "stats"] { return .json(200, (try? encoder.encode(stats)) ?? Data()) }
        if parts == ["_sim", "bill"] {
            let query = (try? FormEncoding.decode(Data((request.target.split(separator: "?", maxSplits: 1).dropFirst().first ?? "").utf8))) ?? [:]
            guard let day = query["date"], ChinaTime.parse(day + " 00:00:00") != nil else { return .text(400, "date=YYYY-MM-DD\n") }
            return bill(day: day)
        }
        if parts.count == 3, parts[1] == "trades" {
            guard let trade = trades.withLock({ $0[parts[2]] }) else { return .text(404, "no such trade\n") }
            return .json(200, (try? encoder.encode(trade)) ?? Data())
        }
        if parts.count == 3, parts[1] == "notify", request.method == "POST" {
            guard let trade = trades.withLock({ $0[parts[2]] }), trade.state != .waiting else { return .text(404, "nothing to notify\n") }
            spawn { [self] in await notify(trade.outTradeNo, refund: nil, attempt: 0, retry: false) }
            return .text(202, "sending\n")
        }
        return .text(404, "not found\n")
    }

    /// The day's payments and refunds (China Standard Time day) as the channel's bill.
    func bill(day: String) -> HTTPResponse {
        func onDay(_ date: Date?) -> Bool { date.map { ChinaTime.format($0).hasPrefix(day) } ?? false }
        var entries: [BillEntry] = []
        for trade in trades.withLock({ Array($0.values) }).sorted(by: { $0.outTradeNo < $1.outTradeNo }) {
            if trade.state == .paid, onDay(trade.paidAt), let paidAt = trade.paidAt {
                let fee = (trade.amount * behaviour.feeBasisPoints + 5_000) / 10_000
                entries.append(BillEntry(kind: .payment, at: paidAt, tradeNo: trade.tradeNo, outTradeNo: trade.outTradeNo, amount: trade.amount,
                                         fee: fee, subject: trade.subject))
            }
            for refund in trade.refunds.values.sorted(by: { $0.outRefundNo < $1.outRefundNo }) where refund.done && onDay(refund.at) {
                entries.append(BillEntry(kind: .refund, at: refund.at!, tradeNo: trade.tradeNo, outTradeNo: trade.outTradeNo,
                                         amount: refund.amount, fee: 0, subject: trade.subject, refundId: refund.refundId,
                                         outRefundNo: refund.outRefundNo))
            }
        }
        entries.sort { $0.at < $1.at }
        switch kind {
        case .alipay:
            return HTTPResponse(status: 200, headers: [("content-type", "text/csv; charset=GBK")],
                                body: StatementWriter.alipayBusinessDetail(entries, day: day, account: "20880000000000000156"))
        case .weChatPay:
            return HTTPResponse(status: 200, headers: [("content-type", "text/csv; charset=utf-8")],
                                body: Data(StatementWriter.weChatTradeBill(entries, appid: "wxsimulator00000001", mchid: identity.merchantId).utf8))
        }
    }

    // MARK: the payer

    /// After a trade is created: the payer pays (or fails, or never does) after the delay.
    func playPayer(_ outTradeNo: String, amount: Int64) {
        guard !behaviour.happens(.unpaid, rate: behaviour.unpaidRate, outTradeNo), !behaviour.unpaidAmounts.contains(amount) else { return }
        spawn { [self] in
            try? await Task.sleep(for: .milliseconds(behaviour.payDelayMs))
            guard !Task.isCancelled else { return }
            let fails = behaviour.happens(.payFail, rate: behaviour.payFailRate, outTradeNo)
            if pay(outTradeNo, fails: fails) && !fails {
                await notifyWithRetries(outTradeNo, refund: nil)
            }
        }
    }

    /// Marks a waiting trade paid (or failed); false if it was no longer waiting.
    func pay(_ outTradeNo: String, fails: Bool) -> Bool {
        let changed = trades.withLock { trades -> Bool in
            guard var trade = trades[outTradeNo], trade.state == .waiting else { return false }
            trade.state = fails ? .failed : .paid
            trade.paidAt = fails ? nil : Date()
            trades[outTradeNo] = trade
            return true
        }
        if changed && !fails { counters.withLock { $0.tradesPaid += 1 } }
        return changed
    }

    // MARK: notifications

    /// The first notification, its duplicates, and resends on the channel's schedule until one
    /// is taken.
    func notifyWithRetries(_ outTradeNo: String, refund: String?) async {
        if let amount = trades.withLock({ $0[outTradeNo]?.amount }), behaviour.unnotifiedAmounts.contains(amount) { return }
        if behaviour.notifyDelayMs > 0 { try? await Task.sleep(for: .milliseconds(behaviour.notifyDelayMs)) }
        for _ in 0..<behaviour.duplicateNotifies {
            spawn { [self] in await notify(outTradeNo, refund: refund, attempt: 0, retry: false) }
        }
        let schedule = Self.retrySchedule(kind)
        var attempt = 0
        while !Task.isCancelled {
            if await notify(outTradeNo, refund: refund, attempt: attempt, retry: true) { return }
            guard attempt < schedule.count else {
                logger.warning("notification given up after the channel's schedule", metadata: ["out_trade_no": "\(outTradeNo)"])
                return
            }
            try? await Task.sleep(for: .milliseconds(Int64(schedule[attempt] * behaviour.timeScale * 1000)))
            attempt += 1
        }
    }

    /// One delivery; true if the merchant took it.
    @discardableResult
    func notify(_ outTradeNo: String, refund: String?, attempt: Int, retry: Bool) async -> Bool {
        guard let trade = trades.withLock({ $0[outTradeNo] }), let url = trade.notifyURL else { return true }
        let message: (headers: [(String, String)], body: Data)?
        switch kind {
        case .alipay: message = alipayNotification(trade)
        case .weChatPay: message = weChatNotification(trade, refund: refund)
        }
        guard let message else { return true }
        counters.withLock { $0.notifiesSent += 1 }
        let sent = await transport.send(method: "POST", url: url, headers: message.headers, body: message.body, timeout: .seconds(5))
        let accepted: Bool
        switch sent {
        case .success(let response):
            switch kind {
            case .alipay: accepted = response.status == 200 && response.body == Data("success".utf8)
            case .weChatPay: accepted = response.status == 200 || response.status == 204
            }
        case .failure:
            accepted = false
        }
        counters.withLock { accepted ? ($0.notifiesAccepted += 1) : ($0.notifiesRefused += 1) }
        return accepted
    }

    // MARK: misbehaviour on calls

    /// Before a call is done: SYSTEM_ERROR (nothing done) or a hang (done, answered late).
    enum Misbehaviour { case none, systemError, hang }

    func misbehaviour(_ call: String, _ id: String, firstCreateOf amount: Int64? = nil) -> Misbehaviour {
        if let amount, behaviour.hangAmounts.contains(amount), trades.withLock({ $0[id] == nil }) {
            counters.withLock { $0.hangs += 1 }
            return .hang
        }
        let n = counters.withLock { $0.calls[call, default: 0] }
        if behaviour.happens(.systemError, rate: behaviour.systemErrorRate, "\(call)|\(id)", n) {
            counters.withLock { $0.systemErrors += 1 }
            return .systemError
        }
        if behaviour.happens(.timeout, rate: behaviour.timeoutRate, "\(call)|\(id)", n) {
            counters.withLock { $0.hangs += 1 }
            return .hang
        }
        return .none
    }

    func hang() async {
        try? await Task.sleep(for: .milliseconds(behaviour.hangMs))
    }

    /// A 28-digit channel reference, as both channels write them.
    func reference(_ prefix: String) -> String {
        let digits = String(UInt64.random(in: 0..<10_000_000_000_000_000_000))
        return prefix + String(repeating: "0", count: max(0, 28 - prefix.count - digits.count)) + digits
    }
}
