import ArgumentParser
import PaystreamRuntime
import PaymentWorker
import PaystreamReference

@main
struct PaymentWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "payment-worker",
        abstract: "Authorizes payment requests and confirms them with the payment channels.",
        discussion: "Configuration: flags, then PAYSTREAM_* environment variables, then the YAML file (--config), then defaults. See Config/README.md.")

    @OptionGroup var options: DaemonOptions

    func run() async throws {
        let code = await Daemon.run(name: "payment-worker", options: options, stageDefaults: PaymentStage.Settings()) { config in
            // A retry is answered by republishing the original events from the outbox, so the
            // outbox must keep them at least as long as request ids are remembered.
            let window = config.stage.idempotencyRetentionHours
            guard Double(window) * 3600 <= Double(config.worker.inboxRetention.components.seconds) else {
                throw ConfigurationError("stage.idempotency_retention_hours (\(window)) must not exceed inbox.retention_hours "
                    + "(\(config.worker.inboxRetention.components.seconds / 3600)): retries are answered from the outbox, kept that long")
            }
            return PaymentStage(topics: config.topics,
                         policy: try PaymentStage.loadPolicy(config.stage, configFile: config.configFile),
                         reference: LiveReferenceData(topics: config.topics, bounds: config.stage.referenceBounds),
                         settings: config.stage,
                         answers: try AnswerVerification.from(config.stage.answers, purpose: "check the channels' answers",
                                                              accept: PaymentStage.acceptsSigner, daemon: "payment-worker"))
        }
        if code != 0 { throw ExitCode(code) }
    }
}
