import Foundation
import Synchronization

/// The time format of every message and record: RFC 3339 in UTC with milliseconds, written and
/// read without Foundation's format styles on the hot path. The domain's rules quote times in it
/// (a rejection's "closes at"), and statement days are read with it; `Wire` writes it.
public enum Timestamp {
    /// RFC 3339 UTC time with milliseconds, e.g. `2026-11-24T10:00:00.000Z` (the millisecond is
    /// truncated, as `Date.ISO8601FormatStyle` does). A decision formats its batch's time many
    /// times: the last one formatted is kept.
    public static func text(_ date: Date) -> String {
        if let last = lastTimestamp.withLock({ $0 }), last.date == date { return last.text }
        let text = format(date)
        lastTimestamp.withLock { $0 = (date, text) }
        return text
    }

    /// The form `text` writes (`YYYY-MM-DDTHH:MM:SS.sssZ`), read without a format style;
    /// nil for anything else (the caller falls back to Foundation's parser).
    static func parseOwn(_ text: String) -> Date? {
        let utf8 = text.utf8
        guard utf8.count == 24 else { return nil }
        return utf8.withContiguousStorageIfAvailable { bytes -> Date? in
            func number(_ from: Int, _ count: Int) -> Int64? {
                var value: Int64 = 0
                for index in from..<(from + count) {
                    let digit = bytes[index] &- UInt8(ascii: "0")
                    guard digit < 10 else { return nil }
                    value = value * 10 + Int64(digit)
                }
                return value
            }
            guard bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
                  bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"), bytes[19] == UInt8(ascii: "."),
                  bytes[23] == UInt8(ascii: "Z"),
                  let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
                  let minute = number(14, 2), let second = number(17, 2), let millisecond = number(20, 3),
                  let date = LocalDate(year: Int(year), month: Int(month), day: Int(day)), hour < 24, minute < 60, second < 60
            else { return nil }
            let seconds = Int64(date.daysSinceEpoch) * 86_400 + hour * 3600 + minute * 60 + second
            // As Foundation computes it: seconds since 2001, then the fraction. Within weeks of
            // 2001-01-01 its result can differ in the last bit; there its parser decides.
            guard abs(seconds - 978_307_200) >= 1 << 23 else { return nil }
            return Date(timeIntervalSinceReferenceDate: Double(seconds - 978_307_200) + Double(millisecond) / 1000)
        } ?? nil
    }

    private static let lastTimestamp = Mutex<(date: Date, text: String)?>(nil)

    /// Civil date and time from the Unix epoch in integer arithmetic (`LocalDate`'s day count).
    static func format(_ date: Date) -> String {
        // As Foundation's style does: whole seconds, then the fraction's milliseconds truncated.
        let interval = date.timeIntervalSince1970
        let wholeSeconds = interval.rounded(.down)
        let milliseconds = min(999, Int(((interval - wholeSeconds) * 1000).rounded(.down)))
        let seconds = Int64(wholeSeconds)
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        let date = LocalDate(daysSinceEpoch: Int(days))
        let (year, month, day) = (Int64(date.year), Int64(date.month), Int64(date.day))
        var bytes = [UInt8]()
        bytes.reserveCapacity(24)
        func digits(_ value: Int64, _ count: Int) {
            var divisor: Int64 = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(year, 4); bytes.append(UInt8(ascii: "-"))
        digits(month, 2); bytes.append(UInt8(ascii: "-"))
        digits(day, 2); bytes.append(UInt8(ascii: "T"))
        digits(secondOfDay / 3600, 2); bytes.append(UInt8(ascii: ":"))
        digits(secondOfDay / 60 % 60, 2); bytes.append(UInt8(ascii: ":"))
        digits(secondOfDay % 60, 2); bytes.append(UInt8(ascii: "."))
        digits(Int64(milliseconds), 3); bytes.append(UInt8(ascii: "Z"))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Reads an RFC 3339 time with or without fractional seconds (`Z` or an offset); nil if it
    /// is not one.
    public static func parse(_ text: String) -> Date? {
        if let date = parseOwn(text) { return date }
        if let date = try? timestampStyle.parse(text) { return date }
        return try? Date.ISO8601FormatStyle(includingFractionalSeconds: false, timeZone: .gmt).parse(text)
    }

    private static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
}
