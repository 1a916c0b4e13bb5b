import Foundation
import PaystreamDomain
import PaystreamWire

/// Writes ledgers as a plain-text journal that hledger (1.25, Debian's) reads and checks with
/// `hledger check -s ordereddates`: a `commodity` directive per currency at its ISO 4217 exponent,
/// every account declared, one transaction per posting (its entries as postings, debits positive),
/// tagged with its posting id and side, in date order. Accounts are named `<side>:<account id>`
/// (`payer:wallet:user-42:CNY`, `merchant:fee_revenue:CNY`); characters hledger would misread
/// in a name are written as `%XX`.
public enum HledgerJournal {
    /// The postings of one side of the business, from one or more shards.
    public struct Side: Sendable {
        /// `payer` or `merchant`: the first component of every account name.
        public let name: String
        public let ledgers: [Ledger]

        public init(name: String, ledgers: [Ledger]) {
            self.name = name
            self.ledgers = ledgers
        }
    }

    /// What was written: transactions, and the accounts and currencies declared.
    public struct Summary: Sendable, Equatable {
        public var transactions = 0
        public var accounts = 0
        public var currencies = 0
    }

    /// The journal of `sides`, keeping postings booked on or after `from` and before `until`
    /// (UTC dates; nil for no bound).
    public static func render(_ sides: [Side], from: Date? = nil, until: Date? = nil, title: String = "Paystream ledger export")
        -> (text: String, summary: Summary) {
        var currencies: [String: Currency] = [:]
        var accounts: Set<String> = []
        var transactions: [(date: Date, order: Int, text: String)] = []
        var order = 0
        for side in sides {
            for ledger in side.ledgers {
                for account in ledger.accounts.values {
                    accounts.insert(name(side.name, account.id))
                    currencies[account.currency.code] = account.currency
                }
                for posting in ledger.postings {
                    order += 1
                    if let from, posting.postedAt < from { continue }
                    if let until, posting.postedAt >= until { continue }
                    var lines = ["\(day(posting.postedAt)) \(description(posting.id.rawValue))  ; posting:\(tagValue(posting.id.rawValue)), side:\(side.name)"]
                    for conversion in posting.conversions {
                        let rate = conversion.rate
                        lines.append("    ; rate \(rate.pair) \(rate.decimalString) from \(tagValue(rate.source)) as of \(Wire.timestamp(rate.asOf)), "
                            + "\(conversion.rounding.rawValue): \(amount(conversion.source)) → \(amount(conversion.converted))")
                    }
                    for entry in posting.entries {
                        let account = name(side.name, entry.account)
                        accounts.insert(account)
                        currencies[entry.amount.currency.code] = entry.amount.currency
                        lines.append("    \(account)  \(amount(entry.amount))")
                    }
                    transactions.append((posting.postedAt, order, lines.joined(separator: "\n")))
                }
            }
        }
        // Stable by date: `ordereddates` wants dates that never go back; within a day, booking order.
        transactions.sort { day($0.date) != day($1.date) ? $0.date < $1.date : $0.order < $1.order }

        var out = ["; \(title)", "; \(sides.map(\.name).joined(separator: ", ")) side(s); amounts in each currency's ISO 4217 minor units", ""]
        for code in currencies.keys.sorted() {
            let digits = currencies[code]!.minorUnits
            out.append("commodity 1,000." + String(repeating: "0", count: digits) + " \(code)")
        }
        out.append("")
        for account in accounts.sorted() { out.append("account \(account)") }
        out.append("")
        for transaction in transactions { out.append(transaction.text + "\n") }
        return (out.joined(separator: "\n"),
                Summary(transactions: transactions.count, accounts: accounts.count, currencies: currencies.count))
    }

    /// `amount` as hledger reads it with the directives above: `-1234.50 CNY`, `500 JPY`.
    public static func amount(_ money: Money) -> String {
        let digits = money.currency.minorUnits
        let magnitude = String(money.minorUnits.magnitude)
        let sign = money.minorUnits < 0 ? "-" : ""
        guard digits > 0 else { return "\(sign)\(magnitude) \(money.currency.code)" }
        let padded = String(repeating: "0", count: max(0, digits + 1 - magnitude.count)) + magnitude
        return "\(sign)\(padded.dropLast(digits)).\(padded.suffix(digits)) \(money.currency.code)"
    }

    /// The hledger account of `account` on `side`.
    public static func name(_ side: String, _ account: AccountID) -> String { "\(side):" + escaped(account.rawValue, keeping: ":") }

    static func day(_ date: Date) -> String { String(Wire.timestamp(date).prefix(10)) }

    /// Letters, digits and `-_.@/` (and `keeping`) as they are; anything else as `%XX` per UTF-8 byte.
    static func escaped(_ text: String, keeping extra: String = "") -> String {
        var out = ""
        for byte in text.utf8 {
            let scalar = Unicode.Scalar(byte)
            if byte < 0x80, (scalar.properties.isAlphabetic || ("0"..."9").contains(Character(scalar)) || "-_.@/".unicodeScalars.contains(scalar)
                             || extra.unicodeScalars.contains(scalar)) {
                out.unicodeScalars.append(scalar)
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    /// A transaction description: the posting id with its parts spaced, readable in reports.
    static func description(_ id: String) -> String { escaped(id, keeping: ":") }

    /// A tag value: no commas (they end a tag) and nothing hledger reads as syntax.
    static func tagValue(_ text: String) -> String { escaped(text, keeping: ":") }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
