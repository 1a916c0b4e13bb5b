import Foundation
import ChannelSimulator
import PaystreamTesting

/// The fault run's daemon configurations: the sandbox misbehaving, short authorization timeouts,
/// FULL synchronous (the default).
enum FaultConfiguration {
    /// Where one host's channel gateway listens and the simulated channels it calls.
    struct Edge {
        var listen: String
        var alipay: String
        var weChat: String
    }

    /// `standby`: the daemon keeps standby copies of every partition it does not own. `edge`:
    /// alipay and wechat_pay go through channel-gateway (the sandbox leaves them alone).
    static func text(_ daemon: DaemonFleet.Daemon, seed: UInt64, sessionTimeoutMs: Int, standby: Bool = false, edge: Edge? = nil) -> String {
        // Small batches and quick polls keep records in flight when a kill lands; a killed
        // member's partitions move once its session times out.
        var text = """
            log:
              level: info
            batch:
              max_records: 200
              max_wait_ms: 20
            kafka:
              "fetch.wait.max.ms": "10"
              "session.timeout.ms": "\(sessionTimeoutMs)"
              "heartbeat.interval.ms": "\(max(100, sessionTimeoutMs / 12))"
            snapshot:
              every_mb: 0.1

            """
        // (Snapshots every 100 KiB of changelog, so that restores in the run start from them.)
        if standby { text += "standby:\n  partitions: all\n\n" }
        switch daemon {
        case .paymentWorker:
            // Unanswered authorizations are queried after 2 s and expire 3 s later, so that
            // expiry, queries and late captures happen within the run.
            text += """
                stage:
                  policy_file: \(packageRoot.appendingPathComponent("Config/payment-policy.json").path)
                  authorization:
                    query_after_seconds: 2
                    expire_after_seconds: 3
                    methods:
                      cash: { query_after_seconds: 2, expire_after_seconds: 3 }
                  expiry_check_interval_ms: 200

                """
        case .channelSandbox:
            // Every anomaly the sandbox has. Answers held back 6 s arrive after their payment was
            // queried, and some after it expired (late captures).
            text += """
                stage:
                  seed: \(seed % 1_000_000_000)
                  tick_interval_ms: 20
                  skip_methods: \(edge == nil ? "[]" : "[alipay, wechat_pay]")
                  methods:
                    default:
                      latency_ms: {min: 5, p50: 30, p99: 200, max: 400}
                      decline_rate: 0.05
                      no_answer_rate: 0.05
                      query_no_answer_rate: 0.3
                      duplicate_rate: 0.05
                      duplicate_delay_ms: 100
                      reorder_rate: 0.03
                      reorder_delay_ms: 6000
                      amount_mismatch_rate: 0.02
                      refund_decline_rate: 0.05

                """
        case .notifier:
            text += """
                stage:
                  templates_file: \(packageRoot.appendingPathComponent("Config/notification-templates.yaml").path)

                """
        case .settlementWorker:
            break
        case .channelGateway:
            // Keys from $CREDENTIALS_DIRECTORY (the fleet's credentials). Calls time out after
            // 1 s (the simulators hang some for 1.5 s); unknown outcomes are asked again soon.
            guard let edge else { break }
            text += """
                stage:
                  listen: "\(edge.listen)"
                  call_timeout_ms: 1000
                  retry_delays_ms: [200, 500, 1000]
                  poll_after_ms: 1000
                  tick_interval_ms: 20
                  alipay:
                    gateway_url: http://\(edge.alipay)/gateway.do
                    app_id: "2021000000000001"
                    notify_url: http://\(edge.listen)/alipay/notify
                  wechat_pay:
                    base_url: http://\(edge.weChat)
                    mchid: "1900000001"
                    appid: wx0000000000000001
                    notify_url: http://\(edge.listen)/wechatpay/notify
                    merchant_serial: \(SimulatorKeys.weChatMerchantSerial)
                    public_key_id: \(SimulatorKeys.weChatPublicKeyID)

                """
        }
        return text
    }

}
