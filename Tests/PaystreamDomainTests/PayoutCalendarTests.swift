import Foundation
@testable import PaystreamDomain
import Testing

@Suite("Payout calendars")
struct PayoutCalendarTests {
    static func instant(_ text: String) -> Date { try! Date(text, strategy: .iso8601) }
    static func date(_ text: String) -> LocalDate { LocalDate(text)! }
    static func calendar(_ delay: Int, _ dayCount: PayoutCalendar.DayCount = .business, cutoff: String? = "22:00",
                         zone: String = "Asia/Shanghai", holidays: [String] = []) -> PayoutCalendar {
        try! PayoutCalendar(delayDays: delay, dayCount: dayCount, cutoff: cutoff.map { TimeOfDay($0)! },
                            timeZone: TimeZone(identifier: zone)!, holidays: Set(holidays.map(date)))
    }

    @Test("T+1 in Shanghai with a 22:00 cut-off (UTC+8: the cut-off is 14:00Z)", arguments: [
        // capture (UTC), trade date, payout date
        ("2026-11-24T13:59:59Z", "2026-11-24", "2026-11-25"),   // Tue 21:59:59
        ("2026-11-24T14:00:00Z", "2026-11-25", "2026-11-26"),   // exactly at the cut-off: the next day
        ("2026-11-24T14:00:01Z", "2026-11-25", "2026-11-26"),
        ("2026-11-24T15:59:59Z", "2026-11-25", "2026-11-26"),   // 23:59:59 local
        ("2026-11-24T16:00:00Z", "2026-11-25", "2026-11-26"),   // midnight local, Wed
        ("2026-11-23T16:30:00Z", "2026-11-24", "2026-11-25"),   // still Nov 23 in UTC, Nov 24 in Shanghai
        ("2026-11-27T13:00:00Z", "2026-11-27", "2026-11-30"),   // Fri before the cut-off → Mon
        ("2026-11-27T14:30:00Z", "2026-11-28", "2026-11-30"),   // Fri after the cut-off counts as Sat → Mon
        ("2026-11-28T03:00:00Z", "2026-11-28", "2026-11-30"),   // Sat → Mon
        ("2026-11-29T13:59:00Z", "2026-11-29", "2026-11-30"),   // Sun before the cut-off → Mon
        ("2026-11-29T14:00:00Z", "2026-11-30", "2026-12-01"),   // Sun after the cut-off counts as Mon → Tue
        ("2026-12-31T15:00:00Z", "2027-01-01", "2027-01-04"),   // New Year's Eve 23:00 → Fri Jan 1 → Mon
    ])
    func shanghai(capture: String, trade: String, payout: String) {
        let calendar = Self.calendar(1)
        #expect(calendar.tradeDate(forCaptureAt: Self.instant(capture)).description == trade)
        #expect(calendar.payoutDate(forCaptureAt: Self.instant(capture)).description == payout)
    }

    @Test("one millisecond before the cut-off is still the same day")
    func justBeforeCutoff() {
        let cutoff = Self.instant("2026-11-24T14:00:00Z")
        #expect(Self.calendar(1).tradeDate(forCaptureAt: cutoff.addingTimeInterval(-0.001)) == Self.date("2026-11-24"))
        #expect(Self.calendar(1).tradeDate(forCaptureAt: cutoff) == Self.date("2026-11-25"))
    }

    @Test("business days skip weekends and holidays; calendar days skip nothing", arguments: [
        // delay, day count, trade date, payout date
        (0, PayoutCalendar.DayCount.business, "2026-11-24", "2026-11-24"),
        (0, .business, "2026-11-28", "2026-11-30"),     // T+0 on a Saturday waits for Monday
        (0, .calendar, "2026-11-28", "2026-11-28"),
        (1, .calendar, "2026-11-27", "2026-11-28"),
        (2, .business, "2026-11-26", "2026-11-30"),     // Thu + 2 → Mon
        (5, .business, "2026-11-24", "2026-12-01"),
        (7, .calendar, "2026-11-24", "2026-12-01"),
        (1, .business, "2026-09-30", "2026-10-08"),     // Golden Week, Oct 1–7, are holidays
        (3, .business, "2026-09-28", "2026-10-08"),     // Mon + 3: Tue, Wed, (holidays), Thu Oct 8
        (0, .business, "2026-10-03", "2026-10-08"),
        (2, .calendar, "2026-09-30", "2026-10-02"),     // calendar days ignore holidays
        (1, .business, "2026-10-07", "2026-10-08"),
    ])
    func counting(delay: Int, dayCount: PayoutCalendar.DayCount, trade: String, payout: String) {
        let goldenWeek = (1...7).map { "2026-10-0\($0)" }
        let calendar = Self.calendar(delay, dayCount, holidays: goldenWeek)
        #expect(calendar.payoutDate(forTradeDate: Self.date(trade)).description == payout)
    }

    @Test("the cut-off is local wall-clock time across New York's DST changes", arguments: [
        // Sun 2026-03-08 02:00 EST → 03:00 EDT: that evening 22:00 EDT is 02:00Z, not 03:00Z.
        ("2026-03-09T01:59:59Z", "2026-03-08", "2026-03-09"),
        ("2026-03-09T02:00:00Z", "2026-03-09", "2026-03-10"),
        ("2026-03-09T02:30:00Z", "2026-03-09", "2026-03-10"),
        // The Saturday before, still EST: 22:00 is 03:00Z.
        ("2026-03-08T02:59:59Z", "2026-03-07", "2026-03-09"),
        ("2026-03-08T03:00:00Z", "2026-03-08", "2026-03-09"),
        // Sun 2026-11-01 02:00 EDT → 01:00 EST: that evening 22:00 EST is 03:00Z.
        ("2026-11-02T02:30:00Z", "2026-11-01", "2026-11-02"),
        ("2026-11-02T02:59:59Z", "2026-11-01", "2026-11-02"),
        ("2026-11-02T03:00:00Z", "2026-11-02", "2026-11-03"),
        // The Saturday before, still EDT: 22:00 is 02:00Z.
        ("2026-11-01T01:59:59Z", "2026-10-31", "2026-11-02"),
        ("2026-11-01T02:00:00Z", "2026-11-01", "2026-11-02"),
    ])
    func newYorkDST(capture: String, trade: String, payout: String) {
        let calendar = Self.calendar(1, zone: "America/New_York")
        #expect(calendar.tradeDate(forCaptureAt: Self.instant(capture)).description == trade)
        #expect(calendar.payoutDate(forCaptureAt: Self.instant(capture)).description == payout)
    }

    @Test("a cut-off in the repeated hour is its first occurrence, so later captures never count for an earlier day", arguments: [
        // cut-off 01:30 on Sun 2026-11-01 in New York: 01:30 EDT (05:30Z), then 01:30 EST (06:30Z) again.
        ("2026-11-01T05:29:59Z", "2026-11-01"),   // 01:29:59 EDT
        ("2026-11-01T05:30:00Z", "2026-11-02"),   // 01:30 EDT
        ("2026-11-01T06:10:00Z", "2026-11-02"),   // 01:10 EST: the wall clock is earlier, the instant is later
        ("2026-11-01T06:40:00Z", "2026-11-02"),
    ])
    func repeatedHour(capture: String, trade: String) {
        let calendar = Self.calendar(1, cutoff: "01:30", zone: "America/New_York")
        #expect(calendar.tradeDate(forCaptureAt: Self.instant(capture)).description == trade)
    }

    @Test("a cut-off in the skipped hour falls at its end", arguments: [
        // cut-off 02:30 on Sun 2026-03-08 in New York, where 02:00–03:00 does not exist.
        ("2026-03-08T06:59:59Z", "2026-03-08"),   // 01:59:59 EST
        ("2026-03-08T07:00:00Z", "2026-03-09"),   // 03:00 EDT
    ])
    func skippedHour(capture: String, trade: String) {
        let calendar = Self.calendar(1, cutoff: "02:30", zone: "America/New_York")
        #expect(calendar.tradeDate(forCaptureAt: Self.instant(capture)).description == trade)
    }

    @Test("a day that starts at 01:00 (Santiago, DST from midnight) still has its cut-off")
    func midnightDST() {
        // 2026-09-06 starts at 01:00 -03; 22:00 that day is 01:00Z on the 7th.
        let calendar = Self.calendar(0, .calendar, zone: "America/Santiago")
        #expect(calendar.tradeDate(forCaptureAt: Self.instant("2026-09-06T04:00:00Z")) == Self.date("2026-09-06"))
        #expect(calendar.tradeDate(forCaptureAt: Self.instant("2026-09-07T00:59:59Z")) == Self.date("2026-09-06"))
        #expect(calendar.tradeDate(forCaptureAt: Self.instant("2026-09-07T01:00:00Z")) == Self.date("2026-09-07"))
    }

    @Test("without a cut-off the trade day runs to local midnight")
    func noCutoff() {
        let calendar = Self.calendar(1, cutoff: nil)
        #expect(calendar.tradeDate(forCaptureAt: Self.instant("2026-11-24T15:59:59Z")) == Self.date("2026-11-24"))
        #expect(calendar.tradeDate(forCaptureAt: Self.instant("2026-11-24T16:00:00Z")) == Self.date("2026-11-25"))
    }

    @Test("the same instant has different payout dates in different zones")
    func zones() {
        let capture = Self.instant("2026-11-27T20:00:00Z")   // Sat 04:00 Shanghai, Fri 15:00 New York
        #expect(Self.calendar(1).payoutDate(forCaptureAt: capture) == Self.date("2026-11-30"))
        #expect(Self.calendar(1, zone: "America/New_York").payoutDate(forCaptureAt: capture) == Self.date("2026-11-30"))
        #expect(Self.calendar(0, zone: "America/New_York").payoutDate(forCaptureAt: capture) == Self.date("2026-11-27"))
        #expect(Self.calendar(0).payoutDate(forCaptureAt: capture) == Self.date("2026-11-30"))
    }

    @Test("payout calendars read and write snake_case JSON and validate what they read")
    func codable() throws {
        let json = #"{"delay_days": 1, "day_count": "business", "cutoff": "22:00", "time_zone": "Asia/Shanghai", "holidays": ["2026-10-02", "2026-10-01"]}"#
        let calendar = try JSONDecoder().decode(PayoutCalendar.self, from: Data(json.utf8))
        #expect(calendar == Self.calendar(1, holidays: ["2026-10-01", "2026-10-02"]))
        let minimal = try JSONDecoder().decode(PayoutCalendar.self, from: Data(#"{"delay_days": 2, "time_zone": "UTC"}"#.utf8))
        #expect(minimal.dayCount == .business && minimal.cutoff == nil && minimal.holidays.isEmpty && minimal.delayDays == 2)

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let encoded = String(decoding: try encoder.encode(calendar), as: UTF8.self)
        #expect(encoded == #"{"cutoff":"22:00","day_count":"business","delay_days":1,"holidays":["2026-10-01","2026-10-02"],"time_zone":"Asia/Shanghai"}"#)
        #expect(try JSONDecoder().decode(PayoutCalendar.self, from: Data(encoded.utf8)) == calendar)

        for bad in [#"{"delay_days": -1, "time_zone": "UTC"}"#, #"{"delay_days": 1, "time_zone": "Mars/Olympus"}"#,
                    #"{"delay_days": 1, "time_zone": "UTC", "cutoff": "24:00"}"#,
                    #"{"delay_days": 1, "time_zone": "UTC", "day_count": "weekly"}"#,
                    #"{"delay_days": 1, "time_zone": "UTC", "holidays": ["2026-02-30"]}"#, #"{"time_zone": "UTC"}"#] {
            #expect(throws: DecodingError.self, "\(bad)") { try JSONDecoder().decode(PayoutCalendar.self, from: Data(bad.utf8)) }
        }
        #expect(throws: SettlementError.self) { try PayoutCalendar(delayDays: 366, timeZone: TimeZone(identifier: "UTC")!) }
    }

    @Test("times of day parse and print as HH:mm only", arguments: [
        ("22:00", true), ("00:00", true), ("23:59", true), ("09:30", true), ("24:00", false), ("12:60", false),
        ("9:30", false), ("22", false), ("22:00:00", false), ("", false), ("-1:00", false),
    ])
    func timeOfDay(text: String, valid: Bool) {
        let time = TimeOfDay(text)
        #expect((time != nil) == valid)
        if let time { #expect(time.description == text) }
    }

    @Test("the remembered trade days answer as Foundation's calendar does, across DST changes, in time order and out of it")
    func rememberedTradeDays() {
        var random = SystemRandomNumberGenerator()
        let zones = ["Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Sao_Paulo", "Pacific/Apia", "UTC"]
        let cutoffs: [String?] = [nil, "00:00", "01:30", "02:30", "12:00", "22:00", "23:59"]
        // 2011 (Samoa skipped a whole day) to 2027, hours apart in order, then anywhere at random.
        let start = Self.instant("2011-01-01T00:00:00Z").timeIntervalSince1970
        var ordered: [Date] = []
        var at = start
        while at < start + 17 * 365 * 86_400 {
            ordered.append(Date(timeIntervalSince1970: at))
            at += Double(Int.random(in: 1_800...40_000, using: &random))
        }
        let scattered = (0..<3_000).map { _ in Date(timeIntervalSince1970: start + Double(Int.random(in: 0..<(17 * 365 * 86_400), using: &random))) }
        var mismatches: [String] = []
        for zone in zones {
            for cutoff in cutoffs {
                let calendar = Self.calendar(1, cutoff: cutoff, zone: zone)
                for instant in ordered.filter({ _ in Int.random(in: 0..<16, using: &random) == 0 }) + scattered.prefix(150) {
                    let remembered = calendar.tradeDate(forCaptureAt: instant)
                    let computed = calendar.computedTradeDate(forCaptureAt: instant)
                    if remembered != computed { mismatches.append("\(zone) \(cutoff ?? "-") \(instant): \(remembered) vs \(computed)") }
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
        // The DST days by hand: New York's 2026-03-08 (02:00 skipped) and 2026-11-01 (01:00 twice), cut-off 01:30.
        let newYork = Self.calendar(1, cutoff: "01:30", zone: "America/New_York")
        for text in ["2026-03-08T06:29:59Z", "2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z", "2026-11-01T05:29:59Z", "2026-11-01T05:30:00Z",
                     "2026-11-01T06:29:59Z", "2026-11-01T06:30:00Z"] {
            #expect(newYork.tradeDate(forCaptureAt: Self.instant(text)) == newYork.computedTradeDate(forCaptureAt: Self.instant(text)), "\(text)")
        }
    }
}
