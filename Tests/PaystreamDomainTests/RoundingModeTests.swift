import PaystreamDomain
import Testing

@Suite("Rounding modes")
struct RoundingModeTests {
    @Test("division rounds as each mode says", arguments: [
        // numerator, denominator, half_even, half_up, down
        (Int64(5), Int64(2), Int64(2), Int64(3), Int64(2)), (7, 2, 4, 4, 3), (-5, 2, -2, -3, -2), (-7, 2, -4, -4, -3),
        (10, 4, 2, 3, 2), (14, 4, 4, 4, 3), (1, 3, 0, 0, 0), (2, 3, 1, 1, 0), (-2, 3, -1, -1, 0), (9, 3, 3, 3, 3),
        (5, -2, -2, -3, -2), (119_994, 1000, 120, 120, 119), (119_500, 1000, 120, 120, 119), (118_500, 1000, 118, 119, 118),
    ])
    func divide(numerator: Int64, denominator: Int64, halfEven: Int64, halfUp: Int64, down: Int64) throws {
        #expect(try RoundingMode.halfEven.divide(numerator, by: denominator) == halfEven)
        #expect(try RoundingMode.halfUp.divide(numerator, by: denominator) == halfUp)
        #expect(try RoundingMode.down.divide(numerator, by: denominator) == down)
    }

    @Test("a × b / d uses a 128-bit product and still rounds", arguments: RoundingMode.allCases)
    func multiplyDivide(mode: RoundingMode) throws {
        // 9e18 × 3 / 4 overflows 64 bits in the product but not in the result.
        let expected: Int64 = 6_750_000_000_000_000_000
        #expect(try mode.multiplyDivide(9_000_000_000_000_000_000, 3, by: 4) == expected)
        #expect(try mode.multiplyDivide(-9_000_000_000_000_000_000, 3, by: 4) == -expected)
        #expect(throws: MoneyError.overflow) { try mode.multiplyDivide(Int64.max, 2, by: 1) }
        #expect(throws: MoneyError.divisionByZero) { try mode.multiplyDivide(1, 1, by: 0) }
        #expect(try mode.multiplyDivide(Int64.min, 1, by: 1) == Int64.min)
    }

    @Test("division errors are errors, never traps")
    func errors() {
        #expect(throws: MoneyError.divisionByZero) { try RoundingMode.down.divide(1, by: 0) }
        #expect(throws: MoneyError.overflow) { try RoundingMode.down.divide(Int64.min, by: -1) }
    }

    @Test("multiplyDivide agrees with divide when the product fits")
    func agreesWithDivide() {
        let failures = forAllCases("multiplyDivide = divide") { random, _ in
            let a = Int64.random(in: -3_000_000_000...3_000_000_000, using: &random)
            let b = Int64.random(in: -3_000_000_000...3_000_000_000, using: &random)
            var d = Int64.random(in: -1_000_000...1_000_000, using: &random)
            if d == 0 { d = 7 }
            for mode in RoundingMode.allCases {
                let viaFull = try? mode.multiplyDivide(a, b, by: d)
                let viaDivide = try? mode.divide(a * b, by: d)
                if viaFull != viaDivide { return "\(mode) \(a)×\(b)/\(d): \(String(describing: viaFull)) vs \(String(describing: viaDivide))" }
            }
            return nil
        }
        #expect(failures.isEmpty, "\(failures)")
    }
}

@Suite("Money arithmetic")
struct MoneyArithmeticTests {
    let cny = Currency.named("CNY")!
    let usd = Currency.named("USD")!

    @Test("checked arithmetic: overflow and mixed currencies are errors")
    func checkedArithmetic() throws {
        let a = Money(minorUnits: 100, currency: cny)
        #expect(try a.adding(a).minorUnits == 200)
        #expect(try a.subtracting(Money(minorUnits: 150, currency: cny)).minorUnits == -50)
        #expect(try a.multiplied(by: 3).minorUnits == 300)
        #expect(throws: MoneyError.overflow) { try Money(minorUnits: .max, currency: cny).adding(a) }
        #expect(throws: MoneyError.overflow) { try Money(minorUnits: .min, currency: cny).subtracting(a) }
        #expect(throws: MoneyError.overflow) { try Money(minorUnits: .max / 2 + 1, currency: cny).multiplied(by: 2) }
        #expect(throws: MoneyError.overflow) { try Money(minorUnits: .min, currency: cny).negated() }
        #expect(throws: MoneyError.currencyMismatch("CNY", "USD")) { try a.adding(Money(minorUnits: 1, currency: usd)) }
        #expect(try Money.sum([a, a, a], currency: cny).minorUnits == 300)
    }
}
