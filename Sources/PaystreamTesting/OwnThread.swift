import PaystreamRuntime

/// Runs a test's `body` on a thread of its own (`OwnThreadExecutor`).
///
/// A test that computes for many seconds without suspending holds a pool thread the whole time; two such tests on
/// this machine stop every other test's timers, process waits and broker polls until they finish, and those tests
/// then fail their timeouts for no fault of their own. CPU-bound tests (property runs, statistical samples) wrap
/// their body in this. The body stays in the test's task, so `#expect` and `Test.current` work inside it.
public func onOwnThread<T>(_ body: () async throws -> T) async rethrows -> T {
    try await onThreadOfItsOwn(name: "paystream-test-own-thread", body)
}
