@testable import PaystreamRuntime
import Testing

@Suite("Reference replica settings")
struct ReferenceReplicaTests {
    @Test("the caught-up replica's fetches wait 500 ms, or the operator's fetch.wait.max.ms when that is longer")
    func followWait() {
        #expect(ReferenceReplica.followWaitMilliseconds(configured: nil) == 500)
        #expect(ReferenceReplica.followWaitMilliseconds(configured: "10") == 500)
        #expect(ReferenceReplica.followWaitMilliseconds(configured: "2000") == 2000)
        #expect(ReferenceReplica.followWaitMilliseconds(configured: "not a number") == 500)
    }
}
