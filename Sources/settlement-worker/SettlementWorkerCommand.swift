import ArgumentParser
import PaystreamRuntime
import PaystreamReference
import SettlementWorker

@main
struct SettlementWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settlement-worker",
        abstract: "Settles captured payments to merchants and suppliers on the merchant-side ledger.",
        discussion: "Configuration: flags, then PAYSTREAM_* environment variables, then the YAML file (--config), then defaults. See Config/README.md.")

    @OptionGroup var options: DaemonOptions

    func run() async throws {
        let code = await Daemon.run(name: "settlement-worker", options: options, stageDefaults: try SettlementStage.Settings()) { config in
            SettlementStage(topics: config.topics, settings: config.stage, reference: LiveReferenceData(topics: config.topics, bounds: config.stage.referenceBounds),
                            answers: try AnswerVerification.from(config.stage.answers, purpose: "check the bank's payout answers",
                                                                 accept: { $0 == AnswerSeal.bank }, daemon: "settlement-worker"))
        }
        if code != 0 { throw ExitCode(code) }
    }
}
