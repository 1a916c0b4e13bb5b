import PaystreamDomain
import Testing

@Suite("Payment state machine")
struct PaymentStateMachineTests {
    static let cny = Currency.named("CNY")!
    static let usd = Currency.named("USD")!
    static func yuan(_ minor: Int64) -> Money { Money(minorUnits: minor, currency: cny) }

    /// One state per status, plus expired and cancelled with a late capture already recorded.
    /// Every one authorizes 100.00 CNY; the partial refund so far is 40.00.
    static let states: [(String, PaymentState)] = {
        func state(_ status: PaymentStatus, captured: Int64 = 0, refunded: Int64 = 0,
                   late: PaymentState.ReportedAmount? = nil) -> PaymentState {
            try! PaymentState(status: status, authorized: status == .rejected ? yuan(0) : yuan(10_000),
                              captured: yuan(captured), refunded: yuan(refunded), sequence: 5, lateCapture: late)
        }
        let late = PaymentState.ReportedAmount(minorUnits: 10_000, currencyCode: "CNY")
        return [
            ("authorized", state(.authorized)),
            ("captured", state(.captured, captured: 10_000)),
            ("partially_refunded", state(.partiallyRefunded, captured: 10_000, refunded: 4_000)),
            ("refunded", state(.refunded, captured: 10_000, refunded: 10_000)),
            ("failed", state(.failed)),
            ("expired", state(.expired)),
            ("expired+late", state(.expired, late: late)),
            ("cancelled", state(.cancelled)),
            ("cancelled+late", state(.cancelled, late: late)),
            ("conflicted", state(.conflicted)),
            ("rejected", state(.rejected)),
        ]
    }()

    /// Every kind of event, with amounts on both sides of each boundary.
    static let events: [(String, PaymentState.Event)] = [
        ("approved", .channelApproved(amount: 10_000, currency: "CNY")),
        ("approved other amount", .channelApproved(amount: 9_999, currency: "CNY")),
        ("approved other currency", .channelApproved(amount: 10_000, currency: "USD")),
        ("declined", .channelDeclined(reason: "do_not_honor")),
        ("expired", .expired),
        ("cancelled", .cancelled),
        ("refund 10.00", .refunded(yuan(1_000))),
        ("refund 60.00", .refunded(yuan(6_000))),
        ("refund 100.00", .refunded(yuan(10_000))),
        ("refund 100.01", .refunded(yuan(10_001))),
        ("refund 0", .refunded(yuan(0))),
        ("refund in USD", .refunded(Money(minorUnits: 1_000, currency: usd))),
    ]

    enum Expected: Sendable, Equatable {
        /// Accepted: the new status and refunded total (minor units).
        case to(PaymentStatus, refunded: Int64 = 0)
        /// Accepted: the status stays, and the late capture is recorded.
        case late
        /// Refused with this code.
        case fails(String)

        static let state = Expected.fails("invalid_state")
        static let exceeds = Expected.fails("refund_exceeds_captured")
        static let amount = Expected.fails("invalid_request")
    }

    // Columns in `events` order:
    //   approved | other amount | other currency | declined | expired | cancelled |
    //   refund 10.00 | 60.00 | 100.00 | 100.01 | 0 | USD
    static let table: [String: [Expected]] = [
        "authorized": [.to(.captured), .to(.conflicted), .to(.conflicted), .to(.failed), .to(.expired), .to(.cancelled),
                       .state, .state, .state, .state, .state, .state],
        "captured": [.state, .state, .state, .state, .state, .state,
                     .to(.partiallyRefunded, refunded: 1_000), .to(.partiallyRefunded, refunded: 6_000),
                     .to(.refunded, refunded: 10_000), .exceeds, .amount, .amount],
        "partially_refunded": [.state, .state, .state, .state, .state, .state,
                               .to(.partiallyRefunded, refunded: 5_000), .to(.refunded, refunded: 10_000),
                               .exceeds, .exceeds, .amount, .amount],
        "refunded": [.state, .state, .state, .state, .state, .state,
                     .exceeds, .exceeds, .exceeds, .exceeds, .amount, .amount],
        "failed": Array(repeating: .state, count: 12),
        "expired": [.late, .late, .late, .state, .state, .state, .state, .state, .state, .state, .state, .state],
        "expired+late": Array(repeating: .state, count: 12),
        "cancelled": [.late, .late, .late, .state, .state, .state, .state, .state, .state, .state, .state, .state],
        "cancelled+late": Array(repeating: .state, count: 12),
        "conflicted": Array(repeating: .state, count: 12),
        "rejected": Array(repeating: .state, count: 12),
    ]

    @Test("the table covers every state and every event")
    func tableIsComplete() {
        #expect(Set(Self.table.keys) == Set(Self.states.map(\.0)))
        for (name, row) in Self.table { #expect(row.count == Self.events.count, "row \(name)") }
        #expect(Set(Self.states.map(\.1.status)) == Set(PaymentStatus.allCases))
    }

    @Test("each state × event gives the table's answer", arguments: states.indices, events.indices)
    func transition(stateIndex: Int, eventIndex: Int) throws {
        let (stateName, state) = Self.states[stateIndex]
        let (eventName, event) = Self.events[eventIndex]
        let expected = try #require(Self.table[stateName]?[eventIndex])
        let context = "\(stateName) + \(eventName)"
        do {
            let next = try state.apply(event)
            #expect(next.sequence == state.sequence + 1, "\(context)")
            #expect(next.authorized == state.authorized, "\(context)")
            #expect(state.status.successors.contains(next.status), "\(context): \(next.status) is not a successor")
            switch expected {
            case .to(let status, let refunded):
                #expect(next.status == status, "\(context)")
                #expect(next.refunded == Self.yuan(refunded), "\(context)")
                #expect(next.captured == (status == .captured || refunded > 0 ? state.authorized : Self.yuan(0)), "\(context)")
                #expect(next.lateCapture == nil, "\(context)")
            case .late:
                #expect(next.status == state.status, "\(context)")
                #expect(next.captured.isZero && next.refunded.isZero, "\(context)")
                guard case .channelApproved(let amount, let currency) = event else { Issue.record("\(context)"); return }
                #expect(next.lateCapture == PaymentState.ReportedAmount(minorUnits: amount, currencyCode: currency), "\(context)")
            case .fails(let code):
                Issue.record("\(context): accepted as \(next.status), expected \(code)")
            }
        } catch {
            #expect(expected == .fails(error.code), "\(context): \(error)")
            #expect(error.rejection.reason.rawValue == error.code)
            #expect(!error.description.isEmpty)
        }
    }

    @Test("a payment's life adds exactly one to the sequence per accepted event")
    func sequence() throws {
        var state = try PaymentState(authorizing: Self.yuan(10_000))
        #expect(state.sequence == 1 && state.status == .authorized)
        state = try state.apply(.channelApproved(amount: 10_000, currency: "CNY"))
        #expect(state.sequence == 2 && state.status == .captured && state.captured == Self.yuan(10_000))
        #expect(throws: PaymentTransitionError.invalidState(.captured, event: "cancelled")) { try state.apply(.cancelled) }
        state = try state.apply(.refunded(Self.yuan(2_500)))
        #expect(state.sequence == 3 && state.status == .partiallyRefunded && state.refundable == Self.yuan(7_500))
        #expect(throws: PaymentTransitionError.refundExceedsCaptured(requested: Self.yuan(7_501), refundable: Self.yuan(7_500))) {
            try state.apply(.refunded(Self.yuan(7_501)))
        }
        state = try state.apply(.refunded(Self.yuan(7_500)))
        #expect(state.sequence == 4 && state.status == .refunded && state.refundable.isZero)
        #expect(PaymentState.rejected(currency: Self.cny).sequence == 1)
    }

    @Test("a late approval after expiry is recorded once, and the payment stays expired")
    func lateCapture() throws {
        let expired = try PaymentState(authorizing: Self.yuan(500)).apply(.expired)
        let late = try expired.apply(.channelApproved(amount: 500, currency: "CNY"))
        #expect(late.status == .expired && late.sequence == 3 && late.captured.isZero)
        #expect(late.lateCapture == PaymentState.ReportedAmount(minorUnits: 500, currencyCode: "CNY"))
        #expect(throws: PaymentTransitionError.invalidState(.expired, event: "channel_approved")) {
            try late.apply(.channelApproved(amount: 500, currency: "CNY"))
        }
    }

    @Test("a stored state the machine could not produce is refused", arguments: [
        (PaymentStatus.authorized, Int64(10_000), Int64(10_000), Int64(0)),
        (.captured, 10_000, 9_000, 0),
        (.partiallyRefunded, 10_000, 10_000, 0),
        (.partiallyRefunded, 10_000, 10_000, 10_000),
        (.refunded, 10_000, 10_000, 9_999),
        (.rejected, 100, 0, 0),
        (.failed, 0, 0, 0),
        (.captured, 10_000, 10_000, 10_001),
    ])
    func restoreChecks(status: PaymentStatus, authorized: Int64, captured: Int64, refunded: Int64) {
        #expect(throws: PaymentTransitionError.self) {
            try PaymentState(status: status, authorized: Self.yuan(authorized), captured: Self.yuan(captured),
                             refunded: Self.yuan(refunded), sequence: 2)
        }
    }

    @Test("restoring refuses mixed currencies, sequence 0 and a misplaced late capture; authorizing refuses 0")
    func restoreEdges() {
        #expect(throws: PaymentTransitionError.self) {
            try PaymentState(status: .captured, authorized: Self.yuan(5), captured: Money(minorUnits: 5, currency: Self.usd),
                             refunded: Self.yuan(0), sequence: 2)
        }
        #expect(throws: PaymentTransitionError.self) {
            try PaymentState(status: .authorized, authorized: Self.yuan(5), captured: Self.yuan(0), refunded: Self.yuan(0), sequence: 0)
        }
        #expect(throws: PaymentTransitionError.self) {
            try PaymentState(status: .failed, authorized: Self.yuan(5), captured: Self.yuan(0), refunded: Self.yuan(0), sequence: 2,
                             lateCapture: .init(minorUnits: 5, currencyCode: "CNY"))
        }
        #expect(throws: PaymentTransitionError.invalidAmount("an authorization must be positive, not 0")) {
            try PaymentState(authorizing: Self.yuan(0))
        }
    }

    @Test("a sequence at Int.max refuses to grow instead of trapping")
    func sequenceCeiling() throws {
        let state = try PaymentState(status: .authorized, authorized: Self.yuan(5), captured: Self.yuan(0),
                                     refunded: Self.yuan(0), sequence: .max)
        #expect(throws: PaymentTransitionError.invalidState(.authorized, event: "expired")) { try state.apply(.expired) }
    }

    @Test("refunds near Int64.max are refused, not overflowed")
    func refundOverflow() throws {
        let big = Money(minorUnits: .max, currency: Self.cny)
        let state = try PaymentState(status: .partiallyRefunded, authorized: big, captured: big,
                                     refunded: Self.yuan(1), sequence: 3)
        #expect(throws: PaymentTransitionError.self) { try state.apply(.refunded(big)) }
        #expect(try state.apply(.refunded(Money(minorUnits: .max - 1, currency: Self.cny))).status == .refunded)
    }

    // MARK: property

    /// Transitions written out independently of `PaymentStatus.successors`.
    static let allowed: [PaymentStatus: Set<PaymentStatus>] = [
        .authorized: [.captured, .conflicted, .failed, .expired, .cancelled],
        .captured: [.partiallyRefunded, .refunded],
        .partiallyRefunded: [.partiallyRefunded, .refunded],
        .expired: [.expired], .cancelled: [.cancelled],
        .refunded: [], .failed: [], .conflicted: [], .rejected: [],
    ]

    @Test("successors agree with the independent list")
    func successors() {
        for status in PaymentStatus.allCases { #expect(status.successors == Self.allowed[status], "\(status)") }
    }

    /// An event in a few characters, for counterexample traces.
    static func short(_ event: PaymentState.Event) -> String {
        switch event {
        case .channelApproved(let amount, let currency): "approved \(amount) \(currency)"
        case .refunded(let money): "refund \(money.minorUnits) \(money.currency.code)"
        default: event.name
        }
    }

    static func randomEvent(_ random: inout SeededRandom, authorized: Int64) -> PaymentState.Event {
        func amount() -> Int64 {
            switch Int.random(in: 0..<6, using: &random) {
            case 0: authorized
            case 1: Int64.random(in: 1...max(1, authorized), using: &random)
            case 2: Int64.random(in: -2...2, using: &random)
            case 3: Int64.random(in: 1...max(1, authorized / 4), using: &random)
            case 4: Int64.max - Int64.random(in: 0...2, using: &random)
            default: Int64.random(in: authorized...(authorized > .max - 3 ? .max : authorized + 3), using: &random)
            }
        }
        let currency = Int.random(in: 0..<10, using: &random) == 0 ? "USD" : "CNY"
        switch Int.random(in: 0..<6, using: &random) {
        case 0: return .channelApproved(amount: Int.random(in: 0..<3, using: &random) == 0 ? amount() : authorized, currency: currency)
        case 1: return .channelDeclined(reason: "declined")
        case 2: return .expired
        case 3: return .cancelled
        default: return .refunded(Money(minorUnits: amount(), currency: Currency.named(currency)!))
        }
    }

    @Test("random event sequences keep refunds within captures, leave final states only as allowed, and count every accepted event")
    func randomSequences() {
        let failures = forAllCases("payment state machine") { random, _ in
            let authorized = Int.random(in: 0..<4, using: &random) == 0
                ? Int64.max - Int64.random(in: 0...3, using: &random)
                : Int64.random(in: 1...1_000_000, using: &random)
            var state: PaymentState
            if Int.random(in: 0..<20, using: &random) == 0 {
                state = .rejected(currency: Self.cny)
            } else {
                guard let first = try? PaymentState(authorizing: Self.yuan(authorized)) else { return "authorizing \(authorized) failed" }
                state = first
            }
            var accepted = 0
            var trace: [String] = []
            for _ in 0..<Int.random(in: 1...40, using: &random) {
                let event = Self.randomEvent(&random, authorized: authorized)
                let before = state
                do {
                    state = try state.apply(event)
                    accepted += 1
                    trace.append("\(Self.short(event)) → \(state.status.rawValue)")
                } catch {
                    if state != before { return "a refused event changed the state" }
                    continue
                }
                if state.sequence != 1 + accepted { return "sequence \(state.sequence) after \(accepted) accepted events: \(trace)" }
                if state.refunded > state.captured {
                    return "refunded \(state.refunded.minorUnits) > captured \(state.captured.minorUnits): \(trace)"
                }
                if state.captured > state.authorized { return "captured above authorized: \(trace)" }
                if state.refunded.isNegative || state.captured.isNegative { return "negative totals: \(trace)" }
                if !(Self.allowed[before.status] ?? []).contains(state.status) {
                    return "\(before.status) → \(state.status) is not allowed: \(trace)"
                }
                if before.status.isFinal && state.status != before.status { return "left final \(before.status): \(trace)" }
                if before.lateCapture != nil && state.lateCapture != before.lateCapture { return "late capture rewritten: \(trace)" }
                // The state must be one the restoring initializer accepts: the machine stays
                // inside its own invariants.
                if (try? PaymentState(status: state.status, authorized: state.authorized, captured: state.captured,
                                      refunded: state.refunded, sequence: state.sequence,
                                      lateCapture: state.lateCapture)) != state {
                    return "reached a state that cannot be restored after \(trace)"
                }
            }
            if state.sequence != 1 + accepted { return "sequence \(state.sequence) after \(accepted) accepted events" }
            return nil
        }
        #expect(failures.isEmpty, "\(failures)")
    }
}
