import Synchronization

/// `work`'s result, or nil when `end` came first. At the deadline the work is cancelled but not
/// waited for: a peer that never finishes (a stalled body, a resolver that hangs) must not hold the
/// caller past its deadline, and whatever the cancelled work returns later is dropped.
public func untilDeadline<T: Sendable>(_ end: ContinuousClock.Instant,
                                       _ work: @escaping @Sendable () async -> T) async -> T? {
    let decided = FirstOnly()
    return await withCheckedContinuation { continuation in
        let worker = Task {
            let result = await work()
            if decided.take() { continuation.resume(returning: result) }
        }
        Task {
            try? await Task.sleep(until: end)
            if decided.take() {
                worker.cancel()
                continuation.resume(returning: nil)
            }
        }
    }
}

/// `work`'s result or its error, or nil when `end` came first (see the non-throwing form).
public func untilDeadline<T: Sendable>(_ end: ContinuousClock.Instant,
                                       _ work: @escaping @Sendable () async throws -> T) async throws -> T? {
    let outcome: Result<T, any Error>? = await untilDeadline(end) {
        do { return .success(try await work()) } catch { return .failure(error) }
    }
    return try outcome?.get()
}

/// True for the first caller only (which of the work and its deadline ends the wait).
private final class FirstOnly: Sendable {
    private let done = Mutex(false)

    func take() -> Bool {
        done.withLock { done in
            defer { done = true }
            return !done
        }
    }
}
