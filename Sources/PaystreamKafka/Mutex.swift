import Foundation

/// A value guarded by a lock. (Synchronization.Mutex needs newer deployment targets on Apple
/// platforms; this works everywhere Foundation does.)
final class Mutex<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()

    init(_ value: Value) { self.value = value }

    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
