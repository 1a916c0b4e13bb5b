import Foundation

/// Runs `body` on a thread of its own instead of Swift's cooperative pool, which has one thread per core (two here).
///
/// A test that computes for many seconds without suspending holds a pool thread the whole time; two such tests on
/// this machine stop every other test's timers, process waits and broker polls until they finish, and those tests
/// then fail their timeouts for no fault of their own. CPU-bound tests (property runs, statistical samples) wrap
/// their body in this. The body stays in the test's task, so `#expect` and `Test.current` work inside it.
public func onOwnThread<T>(_ body: () async throws -> T) async rethrows -> T {
    let executor = OwnThreadExecutor()
    defer { executor.finish() }
    return try await withTaskExecutorPreference(executor, operation: body)
}

/// A task executor with one dedicated thread, which ends when `finish()` is called and its queue is empty.
final class OwnThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var finished = false

    init() {
        let thread = Thread { [self] in run() }
        thread.name = "paystream-test-own-thread"
        thread.stackSize = 8 << 20
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    func finish() {
        condition.lock()
        finished = true
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty && !finished { condition.wait() }
            if jobs.isEmpty && finished {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
