import Foundation
import Synchronization

/// When a merchant is paid for a capture: T+N in the merchant's time zone.
///
/// Rules:
/// - The trade date T is the date the wall calendar in `timeZone` shows at the capture; a capture
///   at or after `cutoff` that day counts for the next day. The cut-off is the first instant the
///   clock shows that time, so on a DST change it falls on the earlier of a repeated hour, or at
///   the end of a skipped one.
/// - `.business`: the payout is the N-th business day after T (Saturdays, Sundays and `holidays`
///   are not business days; T itself need not be one). With N = 0 it is T, or the next business
///   day when T is not one. A Saturday capture at T+1 is paid on Monday.
/// - `.calendar`: the payout is T + N days, weekends and holidays included.
///
/// JSON: `{"delay_days": 1, "day_count": "business", "cutoff": "22:00", "time_zone": "Asia/Shanghai",
/// "holidays": ["2026-10-01"]}`; only `delay_days` and `time_zone` are required.
public struct PayoutCalendar: Sendable, Hashable, Codable {
    public enum DayCount: String, Sendable, Hashable, Codable, CaseIterable {
        case business, calendar
    }

    public static let maximumDelayDays = 365

    /// N in T+N.
    public let delayDays: Int
    public let dayCount: DayCount
    /// nil: the trade day runs to midnight.
    public let cutoff: TimeOfDay?
    public let timeZone: TimeZone
    /// Dates that are not business days, in `timeZone`'s calendar.
    public let holidays: Set<LocalDate>

    /// `delayDays` is 0…365.
    public init(delayDays: Int, dayCount: DayCount = .business, cutoff: TimeOfDay? = nil, timeZone: TimeZone,
                holidays: Set<LocalDate> = []) throws(SettlementError) {
        guard (0...Self.maximumDelayDays).contains(delayDays) else {
            throw .invalidPlan("payout delay_days must be within 0…\(Self.maximumDelayDays), not \(delayDays)")
        }
        self.delayDays = delayDays
        self.dayCount = dayCount
        self.cutoff = cutoff
        self.timeZone = timeZone
        self.holidays = holidays
    }

    /// The date money can move: not a Saturday, Sunday or holiday.
    public func isBusinessDay(_ date: LocalDate) -> Bool {
        !date.isWeekend && !holidays.contains(date)
    }

    /// T: the date a capture at `capturedAt` counts for. Captures come in time order, mostly on
    /// the same local day: the day's bounds and cut-off instant in each time zone are kept
    /// (`TradeDays`), and a capture inside them is answered without Foundation's calendar.
    public func tradeDate(forCaptureAt capturedAt: Date) -> LocalDate {
        TradeDays.shared.tradeDate(capturedAt, timeZone: timeZone, cutoff: cutoff) ?? computedTradeDate(forCaptureAt: capturedAt)
    }

    /// `tradeDate` computed with Foundation's calendar each time.
    func computedTradeDate(forCaptureAt capturedAt: Date) -> LocalDate {
        let date = LocalDate(capturedAt, in: timeZone)
        guard let cutoff else { return date }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        // An instant, not a wall-clock comparison: in a repeated hour the wall clock goes back, and
        // a later capture must never count for an earlier day.
        let cutoffInstant = calendar.date(bySettingHour: cutoff.hour, minute: cutoff.minute, second: 0,
                                          of: calendar.startOfDay(for: capturedAt), matchingPolicy: .nextTime,
                                          repeatedTimePolicy: .first, direction: .forward)
        if let cutoffInstant {
            return capturedAt >= cutoffInstant ? date.adding(days: 1) : date
        }
        // Foundation found no such time that day; fall back to the wall clock.
        let clock = calendar.dateComponents([.hour, .minute], from: capturedAt)
        let reached = (clock.hour ?? 0, clock.minute ?? 0) >= (cutoff.hour, cutoff.minute)
        return reached ? date.adding(days: 1) : date
    }

    /// The payout date for a capture at `capturedAt`.
    public func payoutDate(forCaptureAt capturedAt: Date) -> LocalDate {
        payoutDate(forTradeDate: tradeDate(forCaptureAt: capturedAt))
    }

    /// The payout date for trade date T.
    public func payoutDate(forTradeDate trade: LocalDate) -> LocalDate {
        switch dayCount {
        case .calendar:
            return trade.adding(days: delayDays)
        case .business:
            var date = trade
            if delayDays == 0 {
                while !isBusinessDay(date) { date = date.adding(days: 1) }
                return date
            }
            var counted = 0
            while counted < delayDays {
                date = date.adding(days: 1)
                if isBusinessDay(date) { counted += 1 }
            }
            return date
        }
    }

    enum CodingKeys: String, CodingKey {
        case delayDays = "delay_days", dayCount = "day_count", cutoff, timeZone = "time_zone", holidays
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let identifier = try c.decode(String.self, forKey: .timeZone)
        guard let timeZone = TimeZone(identifier: identifier) else {
            throw DecodingError.dataCorruptedError(forKey: .timeZone, in: c, debugDescription: "unknown time zone '\(identifier)'")
        }
        do {
            try self.init(delayDays: try c.decode(Int.self, forKey: .delayDays),
                          dayCount: try c.decodeIfPresent(DayCount.self, forKey: .dayCount) ?? .business,
                          cutoff: try c.decodeIfPresent(TimeOfDay.self, forKey: .cutoff),
                          timeZone: timeZone,
                          holidays: Set(try c.decodeIfPresent([LocalDate].self, forKey: .holidays) ?? []))
        } catch let error as SettlementError {
            throw DecodingError.dataCorruptedError(forKey: .delayDays, in: c, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(delayDays, forKey: .delayDays)
        try c.encode(dayCount, forKey: .dayCount)
        try c.encodeIfPresent(cutoff, forKey: .cutoff)
        try c.encode(timeZone.identifier, forKey: .timeZone)
        try c.encode(holidays.sorted(), forKey: .holidays)
    }
}

/// The last local day seen per time zone and cut-off: its bounds, its date and its cut-off
/// instant, as Foundation's calendar gives them. A capture inside the bounds counts for the date,
/// or the next one from the cut-off on; anything else (another day, a day without that cut-off
/// time) is computed and remembered. At most `limit` time zone and cut-off pairs are kept.
final class TradeDays: Sendable {
    static let shared = TradeDays()
    private static let limit = 512

    private struct Key: Hashable {
        let timeZone: String
        let cutoff: TimeOfDay?
    }

    private struct Day {
        let start: Date
        let end: Date
        let date: LocalDate
        /// nil: no cut-off (the day runs to its end).
        let cutoffInstant: Date?
    }

    private let days = Mutex<[Key: Day]>([:])

    /// The trade date of a capture at `instant`, or nil when Foundation finds no cut-off time that
    /// day (the caller falls back to the wall clock).
    func tradeDate(_ instant: Date, timeZone: TimeZone, cutoff: TimeOfDay?) -> LocalDate? {
        let key = Key(timeZone: timeZone.identifier, cutoff: cutoff)
        if let day = days.withLock({ $0[key] }), day.start <= instant, instant < day.end {
            return Self.answer(day, instant)
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        guard let bounds = calendar.dateInterval(of: .day, for: instant) else { return nil }
        var cutoffInstant: Date?
        if let cutoff {
            // An instant, not a wall-clock comparison: in a repeated hour the wall clock goes
            // back, and a later capture must never count for an earlier day.
            guard let found = calendar.date(bySettingHour: cutoff.hour, minute: cutoff.minute, second: 0, of: bounds.start,
                                            matchingPolicy: .nextTime, repeatedTimePolicy: .first, direction: .forward)
            else { return nil }
            cutoffInstant = found
        }
        let day = Day(start: bounds.start, end: bounds.end, date: LocalDate(bounds.start, in: timeZone), cutoffInstant: cutoffInstant)
        days.withLock { days in
            if days.count >= Self.limit { days.removeAll() }
            days[key] = day
        }
        return Self.answer(day, instant)
    }

    private static func answer(_ day: Day, _ instant: Date) -> LocalDate {
        guard let cutoff = day.cutoffInstant else { return day.date }
        return instant >= cutoff ? day.date.adding(days: 1) : day.date
    }
}
