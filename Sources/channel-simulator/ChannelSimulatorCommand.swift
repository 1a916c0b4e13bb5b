import ArgumentParser
import ChannelSimulator
import Foundation
import Logging
import PaystreamChannels
import PaystreamRuntime

@main
struct ChannelSimulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "channel-simulator",
        abstract: "A local Alipay or WeChat Pay APIv3 that speaks the real wire formats with test keys (development, tests, fault runs).",
        subcommands: [Serve.self, Keys.self])

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Serve one simulated channel until SIGTERM/SIGINT.")

        @Option(help: "alipay or wechat_pay.") var channel: String
        @Option(help: "HOST:PORT to listen on (port 0: any free one; the address is printed).") var listen = "127.0.0.1:0"
        @Option(help: "The folder `channel-simulator keys` wrote.") var keys: String
        @Option(help: "The merchant's id: Alipay app_id or WeChat Pay mchid.") var merchantId: String
        @Option(help: "Behaviour as JSON, e.g. '{\"pay_delay_ms\":100,\"duplicate_notifies\":2,\"time_scale\":0.01}'.") var behaviour = "{}"
        @Option(help: "Also write the bound address to this file.") var addressFile: String?

        func run() async throws {
            guard let kind = ChannelKind(rawValue: channel) else { throw ValidationError("--channel is alipay or wechat_pay") }
            let settings: SimulatorBehaviour
            do {
                settings = try JSONDecoder().decode(SimulatorBehaviour.self, from: Data(behaviour.utf8))
            } catch {
                throw ValidationError("--behaviour: \(error)")
            }
            Daemon.bootstrapLogging(level: .info, format: .logfmt)
            let logger = Logger(label: "channel-simulator-\(channel)")
            let simulator = ChannelSimulator(kind: kind, behaviour: settings,
                                             identity: try SimulatorKeys.identity(kind, folder: keys, merchantId: merchantId), logger: logger)
            let server = try await HTTPListener.start(listen: listen, maxBody: 1 << 20, idleTimeout: .seconds(30)) { request in
                await simulator.handle(request)
            }
            if let addressFile { try Data((server.address + "\n").utf8).write(to: URL(fileURLWithPath: addressFile)) }
            FileHandle.standardOutput.write(Data("listening on \(server.address)\n".utf8))
            logger.info("simulator listening", metadata: ["channel": "\(channel)", "address": "\(server.address)"])
            await waitForTermination()
            simulator.stop()
            await server.stop()
            let stats = simulator.stats
            logger.info("simulator stopped", metadata: [
                "trades_created": "\(stats.tradesCreated)", "trades_paid": "\(stats.tradesPaid)", "notifies_sent": "\(stats.notifiesSent)",
                "notifies_accepted": "\(stats.notifiesAccepted)", "bad_signatures": "\(stats.badSignatures)"])
        }
    }

    struct Keys: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a fresh set of test keys for the gateway and both simulators (files 0600).")
        @Option(help: "The folder to write.") var out: String

        func run() throws {
            try SimulatorKeys.generate(into: out)
            print("test keys written to \(out)")
        }
    }
}

/// Returns on SIGTERM or SIGINT.
func waitForTermination() async {
    let (stream, continuation) = AsyncStream<Void>.makeStream()
    let sources = [SIGTERM, SIGINT].map { signalNumber -> any DispatchSourceSignal in
        signal(signalNumber, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: signalNumber)
        source.setEventHandler { continuation.yield() }
        source.resume()
        return source
    }
    for await _ in stream { break }
    sources.forEach { $0.cancel() }
}
