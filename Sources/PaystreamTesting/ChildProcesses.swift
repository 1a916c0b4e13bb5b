import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The child processes this program started through `DaemonProcess` and `TansuBroker` and has not
/// seen end. A program that runs them outside a test (the benchmark) calls
/// `stopOnTermination()`: SIGINT or SIGTERM then kills every one of them before the program
/// exits, so no broker or daemon outlives it (a terminal's Ctrl-C reaches the whole process
/// group anyway; a `kill` or a job runner's stop reaches only the program).
public enum ChildProcesses {
    private static let live = Mutex<Set<Int32>>([])
    /// The signal sources, kept alive for the program's life.
    private final class Sources: @unchecked Sendable {  // dispatch sources are thread-safe
        let all: [DispatchSourceSignal]
        init(_ all: [DispatchSourceSignal]) { self.all = all }
    }
    private static let sources = Mutex<[Sources]>([])

    static func started(_ pid: Int32) { live.withLock { _ = $0.insert(pid) } }
    static func ended(_ pid: Int32) { live.withLock { _ = $0.remove(pid) } }

    /// The children still running, as far as their termination handlers have said.
    public static var running: [Int32] { live.withLock { $0.sorted() } }

    /// On SIGINT or SIGTERM: SIGKILL to every child still running, then exit with 128 + the
    /// signal's number.
    public static func stopOnTermination() {
        let made = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                for pid in running { kill(pid, SIGKILL) }
                exit(128 + number)
            }
            source.resume()
            return source
        }
        let kept = Sources(made)
        sources.withLock { $0.append(kept) }
    }
}
