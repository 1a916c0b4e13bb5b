import Foundation

/// Runs `body` on a thread of its own instead of Swift's cooperative pool, which has one thread
/// per core (two here): work that blocks for seconds (a shard's `VACUUM INTO`, a test's property
/// run) would otherwise hold a pool thread and stall every other task's timers and polls.
public func onThreadOfItsOwn<T>(name: String, _ body: () async throws -> T) async rethrows -> T {
    let executor = OwnThreadExecutor(name: name)
    defer { executor.finish() }
    return try await withTaskExecutorPreference(executor, operation: body)
}

/// A task executor with one dedicated thread, which ends when `finish()` is called and its queue is empty.
public final class OwnThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var finished = false

    public init(name: String) {
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.stackSize = 8 << 20
        thread.start()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    public func finish() {
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
