import Foundation
import PaystreamBench
import PaystreamStore

// The benchmark's offline stage run (`OfflineStageBench`: card payments through each stage on
// temporary shards, no Kafka), once, from a synchronous entry point: Deploy/instructions.sh runs
// it under valgrind's callgrind, which cannot run Swift's async main on this platform.
//
//   paystream-instructions [--payments N] [--partitions P] [--batch B]

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("paystream-instructions: \(message)\n".utf8))
    exit(2)
}

// As a daemon does before it opens anything (Daemon.run).
SQLiteProcess.prepare()

var payments = 1000
var partitions: Int32 = 4
var batch = 500
var arguments = Array(CommandLine.arguments.dropFirst())
while !arguments.isEmpty {
    let name = arguments.removeFirst()
    guard !arguments.isEmpty else { fail("\(name) needs a value") }
    let value = arguments.removeFirst()
    switch name {
    case "--payments":
        guard let number = Int(value), number > 0 else { fail("--payments must be a positive number, not \(value)") }
        payments = number
    case "--partitions":
        guard let number = Int32(value), number > 0 else { fail("--partitions must be a positive number, not \(value)") }
        partitions = number
    case "--batch":
        guard let number = Int(value), number > 0 else { fail("--batch must be a positive number, not \(value)") }
        batch = number
    default:
        fail("unknown argument \(name) (--payments N, --partitions P, --batch B)")
    }
}
do {
    for figure in try OfflineStageBench(payments: payments, partitions: partitions, repeats: 1, batch: batch).run() {
        print("\(figure.stage): \(figure.records) records")
    }
} catch {
    FileHandle.standardError.write(Data("paystream-instructions: \(error)\n".utf8))
    exit(1)
}
