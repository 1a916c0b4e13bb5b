import PaystreamAsync
import Synchronization
import Testing

/// The one deadline helper the webhook sender and the channel transport share.
@Suite("deadlines")
struct DeadlineTests {
    struct Refused: Error, Equatable {}

    @Test("work done before the deadline gives its result")
    func finishedInTime() async throws {
        let value = await untilDeadline(.now + .seconds(30)) { 42 }
        #expect(value == 42)
        let thrown = await #expect(throws: Refused.self) {
            _ = try await untilDeadline(.now + .seconds(30)) { () async throws -> Int in throw Refused() }
        }
        #expect(thrown == Refused())
    }

    @Test("work that never finishes gives nil at the deadline and is cancelled, not waited for")
    func neverFinishes() async throws {
        let cancelled = Mutex(false)
        let (seen, seenContinuation) = AsyncStream<Void>.makeStream()
        let value: Int? = await untilDeadline(.now + .milliseconds(50)) {
            // Ignores cancellation until it is told, like a read stuck on a peer.
            await withTaskCancellationHandler {
                for await _ in seen {}
                return 1
            } onCancel: {
                cancelled.withLock { $0 = true }
                seenContinuation.finish()
            }
        }
        #expect(value == nil)
        #expect(cancelled.withLock { $0 })
    }
}
