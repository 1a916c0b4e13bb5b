import ArgumentParser
import ChannelGateway
import Foundation
import PaystreamChannels
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime

struct StatementsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "statements", abstract: "Channel statements: load them for reconciliation.",
        subcommands: [Load.self])

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case auto, sandbox
        case wechatPay = "wechat_pay"
        case alipay
    }

    struct Load: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read channel statement files and publish their lines to channel.statements for the reconciler.",
            discussion: """
                Formats: the channel sandbox's daily CSVs (<dir>/<day>/<method>.p<N>.csv; the method comes from the file \\
                name or --method), WeChat Pay's trade bill of type ALL (UTF-8, backtick-prefixed values, a summary block), \\
                and Alipay's business detail CSV (GBK, a table between # lines). --format auto (default) tells them apart \\
                by their content. Every file is read before anything is published: a file that cannot be read stops the \\
                command (exit 1) naming the file and line, and nothing is published. Each line is published keyed by its \\
                payment id with a stable line id, so loading the same file again changes nothing.
                """)

        @OptionGroup var cluster: ClusterOptions
        @Option(help: "auto, sandbox, wechat_pay or alipay.") var format: Format = .auto
        @Option(help: "The method of a sandbox statement (default: from the file name).") var method: String?
        @Option(name: .customLong("state-dir"), help: "The daemons' state directory, where channel-gateway's shards map its numbers on real bills to payments (default: $PAYSTREAM_STATE_DIR).")
        var stateDirectory: String?
        @Option(name: .customLong("out-no-prefix"), help: "channel-gateway's out_no_prefix.") var outNoPrefix = "PS"
        @Argument(help: "Statement files, or directories searched for *.csv.") var files: [String]

        func run() async throws {
            var lines: [StatementLine] = []
            let paths = try Self.expand(files)
            guard !paths.isEmpty else { throw ValidationError("no statement files in \(files.joined(separator: ", "))") }
            for path in paths {
                let read: (format: Format, lines: [StatementLine])
                do { read = try StatementFile.read(path: path, format: format, method: method) } catch {
                    printError("paystream statements load: \(path): \(error)")
                    throw ExitCode(1)
                }
                let refunds = read.lines.filter { $0.type == "refund" }.count
                print("\(path): \(read.lines.count) lines (\(read.format.rawValue): \(read.lines.count - refunds) payments, \(refunds) refunds)")
                lines += read.lines
            }
            lines = try mapGatewayNumbers(lines)
            let topic = cluster.topics.channelStatements
            let outgoing = try lines.map { OutgoingMessage(topic: topic, key: Array($0.paymentId.utf8), value: Array(try Wire.encode($0))) }
            let results = try await cluster.send(outgoing)
            let failures = results.compactMap { if case .failure(let e) = $0 { e } else { nil } }
            print("published \(results.count - failures.count) of \(results.count) lines from \(paths.count) file\(paths.count == 1 ? "" : "s") to \(topic)")
            if let first = failures.first { throw first }
        }

        /// Lines of the channels' own bills name channel-gateway's numbers: each is given its payment.
        func mapGatewayNumbers(_ lines: [StatementLine]) throws -> [StatementLine] {
            let ours = Set(lines.filter { $0.source != "sandbox" && GatewayNumbers.isOurs($0.paymentId, prefix: outNoPrefix) }.map(\.paymentId))
            guard !ours.isEmpty else { return lines }
            guard let directory = stateDirectory ?? ProcessInfo.processInfo.environment["PAYSTREAM_STATE_DIR"], !directory.isEmpty else {
                printError("paystream statements load: \(ours.count) lines name channel-gateway's numbers (\(outNoPrefix)…): pass --state-dir to map them to payments")
                throw ExitCode(1)
            }
            let found = try GatewayNumbers.paymentIDs(of: ours, stateDirectory: directory, prefix: outNoPrefix)
            let missing = ours.subtracting(found.keys).sorted()
            guard missing.isEmpty else {
                printError("paystream statements load: \(missing.count) number(s) no channel-gateway shard under \(directory) knows: \(missing.prefix(5).joined(separator: ", "))")
                throw ExitCode(1)
            }
            print("mapped \(lines.filter { found[$0.paymentId] != nil }.count) lines from channel-gateway's numbers to their payments")
            return lines.map { line in
                var line = line
                if let payment = found[line.paymentId] { line.paymentId = payment }
                return line
            }
        }

        /// Files as given; directories searched (recursively) for `*.csv`, in name order.
        static func expand(_ arguments: [String]) throws -> [String] {
            var paths: [String] = []
            for argument in arguments {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
                    throw ValidationError("\(argument): no such file or directory")
                }
                guard isDirectory.boolValue else { paths.append(argument); continue }
                let found = (FileManager.default.enumerator(atPath: argument)?.allObjects as? [String] ?? [])
                    .filter { $0.hasSuffix(".csv") && !($0 as NSString).lastPathComponent.hasPrefix(".") }.sorted()
                paths += found.map { (argument as NSString).appendingPathComponent($0) }
            }
            return paths
        }
    }
}

/// Reading one statement file in any of the formats `StatementReader` knows.
enum StatementFile {
    struct Unreadable: Error, CustomStringConvertible {
        let description: String
    }

    static func read(path: String, format: StatementsCommand.Format, method: String?) throws -> (format: StatementsCommand.Format, lines: [StatementLine]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw Unreadable(description: "cannot read the file") }
        let chosen = format == .auto ? try detect(data) : format
        switch chosen {
        case .sandbox:
            let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            guard let method = method ?? name.split(separator: ".").first.map(String.init), !method.isEmpty else {
                throw Unreadable(description: "a sandbox statement needs its method: name the file <method>.p<N>.csv or pass --method")
            }
            guard let text = String(data: data, encoding: .utf8) else { throw Unreadable(description: "not UTF-8 text") }
            return (chosen, try StatementReader.sandbox(text, method: method))
        case .wechatPay:
            guard let text = String(data: data, encoding: .utf8) else { throw Unreadable(description: "not UTF-8 text") }
            return (chosen, try StatementReader.wechatPay(text))
        case .alipay, .auto:
            return (.alipay, try StatementReader.alipay(data))
        }
    }

    /// The sandbox's header, WeChat Pay's 微信订单号 column, or Alipay's `#` lines / GBK bytes.
    static func detect(_ data: Data) throws -> StatementsCommand.Format {
        if let text = String(data: data, encoding: .utf8) {
            let first = text.prefix { $0 != "\n" && $0 != "\r" }
            if first.hasPrefix("date,channel_reference,payment_id") { return .sandbox }
            if first.contains("微信订单号") { return .wechatPay }
            if !first.hasPrefix("#") {
                throw Unreadable(description: "not a statement this command knows (sandbox, wechat_pay, alipay); pass --format")
            }
        }
        return .alipay
    }
}
