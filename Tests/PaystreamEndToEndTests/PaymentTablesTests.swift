import Foundation
@testable import PaymentWorker
import PaystreamDomain
import Testing

/// Reading back what older shards wrote.
@Suite("payment tables")
struct PaymentTablesTests {
    @Test("a payment's splits read back as written now (party_id) and as older shards wrote them (partyId)")
    func storedSplits() throws {
        #expect(try PaymentTables.storedSplits(#"[{"party_id":"a","amount":1},{"party_id":"partyId","amount":2}]"#)
                == [Split(partyId: "a", amount: 1), Split(partyId: "partyId", amount: 2)])
        #expect(try PaymentTables.storedSplits(#"[{"partyId":"b","amount":3}]"#) == [Split(partyId: "b", amount: 3)])
        #expect(try PaymentTables.storedSplits("[]") == [])
        #expect(throws: DecodingError.self) { try PaymentTables.storedSplits(#"[{"party":"c","amount":3}]"#) }
    }
}
