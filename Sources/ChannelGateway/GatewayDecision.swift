import Foundation
import PaystreamChannels
import PaystreamDomain
import PaystreamWire

/// The calls the gateway makes at a channel.
enum GatewayAction: String, Sendable, CaseIterable {
    case create, query, close, refund
    case refundQuery = "refund_query"
}

/// What to do after a channel said something about an order (a call's outcome, or a
/// notification): a value, decided without I/O by `GatewayDecision.plan`.
struct GatewayPlan: Equatable {
    struct Answer: Equatable {
        var status: ChannelAnswer
        var amount: Int64
        var reference: String?
        var reason: String?
        var at: Date?
        /// A payment that came after the order was declined or voided: answered once more, under
        /// its own id (payment-worker books it as a late capture and gives it back).
        var late = false
    }

    struct WaitingAnswer: Equatable {
        var waiting: GatewayWaiting
        var status: ChannelAnswer
        var amount: Int64
        var reason: String?
    }

    enum When: Equatable {
        case now
        /// After the retry delay of the next attempt of the same call.
        case retry
        /// After `poll_after_ms`.
        case poll
    }

    struct Scheduled: Equatable {
        var action: GatewayAction
        var when: When
        var reason: String?
    }

    /// The order's own answer to publish.
    var answer: Answer?
    /// How the order is settled from now on (nil: unchanged).
    var settle: GatewayOrder.Answer?
    /// The channel said the trade exists.
    var created = false
    var waitingAnswers: [WaitingAnswer] = []
    var schedule: [Scheduled] = []
    /// Every other call on the order is dropped (it is settled).
    var dropCalls = false
}

/// The gateway's rules, as values: what an outcome means for an order and the queries and
/// cancels waiting on it. Money rules first: nothing is declined unless the channel said no money
/// was or can be taken (a refused create, a trade it reports closed, or one it closed for us);
/// everything unknown is asked again; a payment that comes after all is answered (late).
enum GatewayDecision {
    /// Closed states that are final (nothing can be paid any more). Others (`PAYERROR`,
    /// `REVOKED`) are closed by us first, so that a decline is never followed by a payment.
    static let finalClosed: Set<String> = ["closed", "CLOSED", "TRADE_CLOSED"]

    static func plan(_ outcome: ChannelOutcome, after action: GatewayAction?, call: GatewayCall?, order: GatewayOrder,
                     waiting: [GatewayWaiting]) -> GatewayPlan {
        switch order.kind {
        case .payment: paymentPlan(outcome, after: action, call: call, order: order, waiting: waiting)
        case .refund: refundPlan(outcome, after: action, order: order)
        }
    }

    static func paymentPlan(_ outcome: ChannelOutcome, after action: GatewayAction?, call: GatewayCall?, order: GatewayOrder,
                            waiting: [GatewayWaiting]) -> GatewayPlan {
        var plan = GatewayPlan()
        switch outcome {
        case .paid(let amount, let reference, let at):
            plan.created = true
            plan.dropCalls = true
            if order.isOpen {
                plan.answer = .init(status: .approved, amount: amount, reference: reference, at: at)
                plan.settle = .approved
            } else if order.answer != .approved && !order.lateAnswered {
                plan.answer = .init(status: .approved, amount: amount, reference: reference, at: at, late: true)
            }
            plan.waitingAnswers = waiting.map {
                $0.requestType == .query ? .init(waiting: $0, status: .approved, amount: amount)
                    : .init(waiting: $0, status: .declined, amount: $0.amount, reason: "already_captured")
            }

        case .closed(let reason):
            guard order.isOpen else { plan.dropCalls = true; break }
            plan.created = true
            let final = action == .close || finalClosed.contains(reason)
            guard final else {
                plan.schedule = [.init(action: .close, when: .now, reason: reason)]
                break
            }
            plan.dropCalls = true
            if action == .close, call?.reason == nil {
                // A cancel's close: payment-worker has cancelled the payment already.
                plan.settle = .silent
            } else {
                let why = action == .close ? call?.reason ?? reason : reason
                plan.settle = .declined
                plan.answer = .init(status: .declined, amount: order.amount, reason: why)
            }
            plan.waitingAnswers = waiting.map {
                $0.requestType == .query ? .init(waiting: $0, status: .declined, amount: $0.amount, reason: call?.reason ?? reason)
                    : .init(waiting: $0, status: .approved, amount: $0.amount)
            }

        case .awaitingPayment:
            guard order.isOpen else { plan.dropCalls = true; break }
            plan.created = true
            if waiting.contains(where: { $0.requestType == .cancel }) {
                plan.schedule = [.init(action: .close, when: .now)]
            } else if !waiting.isEmpty {
                // payment-worker asked and the payer has not paid: close the trade, then decline.
                plan.schedule = [.init(action: .close, when: .now, reason: "not_paid")]
            } else {
                plan.schedule = [.init(action: .query, when: .poll)]
            }

        case .notFound:
            guard order.isOpen else { plan.dropCalls = true; break }
            if waiting.isEmpty {
                // Our own look after a create without an answer: it never arrived, so it is made
                // again (same number); after one that was answered, the payer has not scanned yet.
                plan.schedule = [order.created ? .init(action: .query, when: .poll) : .init(action: .create, when: .retry)]
                break
            }
            // Nothing was taken: the query learns `unknown` (payment-worker's expiry decides), a
            // cancel has nothing to void. A payment that still comes is answered late.
            plan.settle = .silent
            plan.dropCalls = true
            plan.waitingAnswers = waiting.map {
                $0.requestType == .query ? .init(waiting: $0, status: .unknown, amount: $0.amount)
                    : .init(waiting: $0, status: .approved, amount: $0.amount)
            }

        case .alreadyPaid:
            plan.created = true
            plan.schedule = [.init(action: .query, when: .now)]

        case .accepted:
            plan.created = true
            guard order.isOpen else { break }
            plan.schedule = [.init(action: .query, when: waiting.isEmpty ? .poll : .now)]

        case .refused(let code, _):
            guard action == .create else {
                if let action { plan.schedule = [.init(action: action, when: .retry)] }
                break
            }
            guard order.isOpen else { break }
            // The trade was never made: nothing can be paid.
            plan.dropCalls = true
            plan.settle = .declined
            plan.answer = .init(status: .declined, amount: order.amount, reason: code)
            plan.waitingAnswers = waiting.map {
                $0.requestType == .query ? .init(waiting: $0, status: .declined, amount: $0.amount, reason: code)
                    : .init(waiting: $0, status: .approved, amount: $0.amount)
            }

        case .unknown:
            // A create without an answer may have made the trade: ask before making it again.
            if let action { plan.schedule = [.init(action: action == .create ? .query : action, when: .retry)] }

        case .refunded, .refundPending:
            break
        }
        return plan
    }

    static func refundPlan(_ outcome: ChannelOutcome, after action: GatewayAction?, order: GatewayOrder) -> GatewayPlan {
        var plan = GatewayPlan()
        switch outcome {
        case .refunded(_, let reference, let at):
            plan.dropCalls = true
            guard order.isOpen else { break }
            // The refund's own amount: a notification may carry the trade's refunded total.
            plan.answer = .init(status: .approved, amount: order.amount, reference: reference, at: at)
            plan.settle = .approved
        case .refundPending:
            if action != nil { plan.schedule = [.init(action: .refundQuery, when: .retry)] }
        case .notFound:
            if action == .refundQuery { plan.schedule = [.init(action: .refund, when: .now)] }
        case .refused(let code, _):
            plan.dropCalls = true
            guard order.isOpen else { break }
            plan.answer = .init(status: .declined, amount: order.amount, reason: code)
            plan.settle = .declined
        case .unknown:
            if let action { plan.schedule = [.init(action: action, when: .retry)] }
        case .accepted, .paid, .awaitingPayment, .closed, .alreadyPaid:
            if let action { plan.schedule = [.init(action: action, when: .retry)] }
        }
        return plan
    }
}
